"""Migrations on SQLite and PostgreSQL: upgrade keeps existing runs, downgrade undoes it."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from services.mis_import.app import MIGRATIONS
from shared.testing import alembic_config, migration_database

FIRST = "f1014cb5b78e"


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                             marks=pytest.mark.integration)])
def test_upgrade_keeps_old_runs_and_downgrade_undoes_it(backend, tmp_path):
    with migration_database(backend, "mis", tmp_path) as url:
        cfg = alembic_config(MIGRATIONS, url)
        command.upgrade(cfg, FIRST)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO import_runs (id, source, status, started_at, counts, school_id) "
                "VALUES ('r1', 'csv', 'succeeded', :at, '{}', 's1')"),
                {"at": dt.datetime(2026, 1, 5, 6, 0)})
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            row = conn.execute(text(
                "SELECT phase, total, rejected, full_extract, error FROM import_runs")).one()
        assert tuple(row) == ("done", 0, 0, False, "")
        tables = set(inspect(engine).get_table_names())
        assert {"students", "student_attendance", "staff", "groups", "import_files",
                "import_file_parts", "import_rejections", "csv_mappings",
                "import_settings"} <= tables
        engine.dispose()
        command.downgrade(cfg, FIRST)
        engine = create_engine(url)
        assert "students" not in set(inspect(engine).get_table_names())
        engine.dispose()
