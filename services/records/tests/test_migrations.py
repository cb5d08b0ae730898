"""The migrations build exactly what the models describe (SQLite here; PostgreSQL in
test_postgres.py), and upgrade from nothing with the service's own command."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import create_engine, inspect

from services.records.models import Base
from shared.testing import alembic_config, models_match


def no_drift(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return models_match(conn, Base.metadata)
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


def upgrade_with_rows_from_before(url: str) -> dict:
    """Upgrade a database holding the foundation's rows: they get numbers, a counter that
    continues them, and their student copied onto categories and alerts."""
    from alembic import command
    from sqlalchemy import text

    from services.records.app import MIGRATIONS

    cfg = alembic_config(MIGRATIONS, url)
    command.upgrade(cfg, "e3d49ccdc507")
    engine = create_engine(url)
    rows = [
        "INSERT INTO students (id, school_id, first_name, last_name, preferred_name, gender, "
        "year_group, tutor_group, archived, created_at, updated_at) VALUES ('s1', 'A', 'Ann', "
        "'Lee', '', '', '', '', false, '2026-01-01', '2026-01-01')",
        "INSERT INTO categories (id, school_id, name, colour, enabled, position) VALUES "
        "('c1', 'A', 'Bullying', 'e91e63', true, 1)",
    ]
    for n in ("1", "2"):  # bound parameters, not formatted SQL
        rows += [
            ("INSERT INTO incidents (id, school_id, student_id, text, occurred_at, created_at, "
             "created_by, created_by_name, status) VALUES (:i, 'A', 's1', 'x', :d, :d, 'u1', "
             "'U', 'active')", {"i": f"i{n}", "d": f"2026-01-0{n}"}),
            ("INSERT INTO incident_categories (incident_id, category_id, position, school_id) "
             "VALUES (:i, 'c1', 0, 'A')", {"i": f"i{n}"}),
            ("INSERT INTO alerts (id, school_id, incident_id, recipient_account_id, raised_by, "
             "raised_by_name, kind, created_at) VALUES (:a, 'A', :i, 'u2', 'u1', 'U', "
             "'incident', :d)", {"a": f"a{n}", "i": f"i{n}", "d": f"2026-01-0{n}"}),
        ]
    try:
        with engine.begin() as conn:
            for row in rows:
                sql, params = row if isinstance(row, tuple) else (row, {})
                conn.execute(text(sql), params)
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            return {
                "numbers": conn.execute(text(
                    "SELECT id, number FROM incidents ORDER BY id")).all(),
                "counter": conn.execute(text("SELECT id, value FROM counters")).all(),
                "students": conn.execute(text(
                    "SELECT DISTINCT student_id FROM incident_categories UNION "
                    "SELECT DISTINCT student_id FROM alerts")).all(),
                "linked": conn.execute(text(
                    "SELECT count(*) FROM students WHERE mis_linked")).scalar_one(),
            }
    finally:
        engine.dispose()


def test_upgrading_a_database_with_rows_on_sqlite(tmp_path):
    got = upgrade_with_rows_from_before(f"sqlite:///{tmp_path}/old.db")
    assert got == {"numbers": [("i1", 1), ("i2", 2)], "counter": [("A:incident", 2)],
                   "students": [("s1",)], "linked": 1}
