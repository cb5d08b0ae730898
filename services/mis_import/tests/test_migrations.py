"""Migrations on SQLite and PostgreSQL: upgrade keeps existing runs, downgrade undoes it."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from services.mis_import.app import MIGRATIONS
from shared.testing import postgres_database

FIRST = "f1014cb5b78e"


def alembic(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextlib.contextmanager
def database(backend: str, tmp_path):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/mis.db"
    else:
        with postgres_database("haven_mis_migrations") as url:
            yield url


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                             marks=pytest.mark.integration)])
def test_upgrade_keeps_old_runs_and_downgrade_undoes_it(backend, tmp_path):
    with database(backend, tmp_path) as url:
        cfg = alembic(url)
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
