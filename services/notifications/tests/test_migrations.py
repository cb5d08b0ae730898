"""The migrations build what the models describe, and upgrade a database holding deliveries
and recipients (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from services.notifications.models import Base
from shared.testing import alembic_config, migration_database, models_match

MIGRATIONS = Path(__file__).parents[1] / "migrations"
BEFORE = "22e909d9c6cb"  # alerts only


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def url(request, tmp_path):
    with migration_database(request.param, "notifications", tmp_path) as db:
        yield db


def test_upgrading_keeps_the_rows_and_matches_the_models(url):
    cfg = alembic_config(MIGRATIONS, url)
    command.upgrade(cfg, BEFORE)
    now = dt.datetime(2026, 1, 1)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO recipients (school_id, account_id, email, display_name, active,"
                " updated_at) VALUES ('s', 'a', 'tom@x.test', 'Tom', :t, :now)"),
                {"t": True, "now": now})
            conn.execute(text(
                "INSERT INTO deliveries (id, school_id, event_id, kind, recipient_account_id,"
                " recipient, recipient_name, subject, body, status, reason, attempts,"
                " created_at) VALUES ('d', 's', 'e', 'alert', 'a', 'tom@x.test', 'Tom', 'S',"
                " 'B', 'sent', '', 1, :now)"), {"now": now})
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT alert_email FROM recipients")).scalar_one() == ""
            assert conn.execute(text(
                "SELECT dedupe_key, expires_at FROM deliveries")).one() == (None, None)
            assert models_match(conn, Base.metadata) == []
        command.downgrade(cfg, BEFORE)
        command.upgrade(cfg, "head")
    finally:
        engine.dispose()
