"""Migrations on SQLite (the all-in-one's databases): a batch migration that rebuilds a table
other rows refer to works with data in it, and a migration that leaves a reference dangling
is refused with nothing changed."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import pytest

from shared.db import run_migrations

ENV = """
import sqlalchemy as sa
from shared.db import alembic_env

metadata = sa.MetaData()
alembic_env(metadata)
"""

FIRST = '''
import sqlalchemy as sa
from alembic import op

revision = "a1"
down_revision = None


def upgrade():
    op.create_table("parents", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(20)))
    op.create_table("children", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("parent_id", sa.Integer, sa.ForeignKey("parents.id")))
    op.execute("INSERT INTO parents (id, name) VALUES (1, 'one'), (2, 'two')")
    op.execute("INSERT INTO children (id, parent_id) VALUES (10, 1), (20, 2)")
'''

REBUILD = '''
import sqlalchemy as sa
from alembic import op

revision = "b2"
down_revision = "a1"


def upgrade():
    # Changing a column's type makes SQLite rebuild the table the children refer to.
    with op.batch_alter_table("parents", recreate="always") as batch:
        batch.alter_column("name", type_=sa.String(80))
        batch.add_column(sa.Column("note", sa.String(40), server_default=""))
'''

DANGLING = '''
from alembic import op

revision = "c3"
down_revision = "b2"


def upgrade():
    op.execute("UPDATE parents SET note = 'changed'")
    op.execute("DELETE FROM parents WHERE id = 2")
'''


def _scripts(tmp_path: Path, *revisions: str) -> Path:
    root = tmp_path / "migrations"
    (root / "versions").mkdir(parents=True, exist_ok=True)
    (root / "env.py").write_text(textwrap.dedent(ENV))
    for n, text in enumerate(revisions):
        (root / "versions" / f"r{n}.py").write_text(textwrap.dedent(text))
    return root


def _rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_a_table_other_rows_refer_to_is_rebuilt_with_its_data(tmp_path):
    db = tmp_path / "svc.db"
    url = f"sqlite:///{db}"
    run_migrations(url, _scripts(tmp_path, FIRST))
    run_migrations(url, _scripts(tmp_path, FIRST, REBUILD))
    assert _rows(db, "SELECT id, name, note FROM parents ORDER BY id") == [
        (1, "one", ""), (2, "two", "")]
    assert _rows(db, "SELECT parent_id FROM children ORDER BY id") == [(1,), (2,)]
    assert _rows(db, "PRAGMA foreign_key_check") == []


def test_a_migration_that_leaves_a_dangling_reference_is_refused(tmp_path):
    db = tmp_path / "svc.db"
    url = f"sqlite:///{db}"
    run_migrations(url, _scripts(tmp_path, FIRST, REBUILD))
    with pytest.raises(RuntimeError, match="refer"):
        run_migrations(url, _scripts(tmp_path, FIRST, REBUILD, DANGLING))
    # Rolled back: both parents, no note changed, still at the previous revision.
    assert _rows(db, "SELECT id, note FROM parents ORDER BY id") == [(1, ""), (2, "")]
    assert _rows(db, "SELECT version_num FROM alembic_version") == [("b2",)]
