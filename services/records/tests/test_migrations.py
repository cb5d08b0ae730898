"""The migrations build exactly what the models describe (SQLite here; PostgreSQL in
test_postgres.py), and upgrade from nothing with the service's own command."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from services.records.models import Base


def no_drift(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()


def test_migrations_match_the_models_on_sqlite(db_url):
    assert no_drift(db_url) == []


def test_the_migrate_command(tmp_path):
    url = f"sqlite:///{tmp_path}/records.db"
    done = subprocess.run(
        [sys.executable, "-m", "services.records", "migrate"],
        env={"RECORDS_DATABASE_URL": url, "PATH": "/usr/bin:/bin",
             "HAVEN_LOG_LEVEL": "WARNING"},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"students", "incidents", "alerts", "audit_entries", "event_outbox"} <= tables
