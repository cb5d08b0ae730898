"""The migrations build what the models describe, and upgrade a read model holding rows
(SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from services.reporting.models import Base
from shared.testing import alembic_config, migration_database, models_match

MIGRATIONS = Path(__file__).parents[1] / "migrations"
BEFORE = "eb8a107d8d07"  # the read model before incident updates and monitoring


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def url(request, tmp_path):
    with migration_database(request.param, "reporting", tmp_path) as db:
        yield db


def test_upgrading_keeps_the_rows_counted_and_matches_the_models(url):
    cfg = alembic_config(MIGRATIONS, url)
    command.upgrade(cfg, BEFORE)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO report_categories (school_id, id, name, parent_id, colour, enabled,"
                " updated_at) VALUES ('s', 'c', 'Bullying', '', '', :t, :now)"),
                {"t": True, "now": dt.datetime(2026, 1, 1)})
            conn.execute(text(
                "INSERT INTO report_incidents (school_id, id, student_id, occurred_at, status,"
                " created_by, recorded_at) VALUES ('s', 'i', 'st', :now, 'active', 'a', :now)"),
                {"now": dt.datetime(2026, 1, 1)})
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            incident = conn.execute(text(
                "SELECT deleted, merged_into_id, version, state_at, assigned_to"
                " FROM report_incidents")).one()
            category = conn.execute(text(
                "SELECT deleted, merged_into_id FROM report_categories")).one()
            assert (bool(incident[0]), *incident[1:]) == (False, "", 0, None, "")
            assert (bool(category[0]), category[1]) == (False, "")
            assert models_match(conn, Base.metadata) == []
        command.downgrade(cfg, BEFORE)
        command.upgrade(cfg, "head")
    finally:
        engine.dispose()
