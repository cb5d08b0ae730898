"""The "edit incidents" permission migration: groups that could edit through administration
keep that right, others gain nothing; on SQLite and on PostgreSQL."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic import command

from services.identity.tests.conftest import MIGRATIONS
from shared.testing import alembic_config, postgres_database

BEFORE = "71ad63b5fd52"
SCHOOL = "00000000-0000-4000-8000-0000000000f1"


def _permissions(engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, permissions FROM user_groups")).all()
    return {name: json.loads(p) if isinstance(p, str) else p for name, p in rows}


def _check(url: str) -> None:
    cfg = alembic_config(MIGRATIONS, url)
    command.upgrade(cfg, BEFORE)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO schools (id, name, postcode, slug, time_zone, created_at) "
            "VALUES (:id, 'Old School', 'AB1 2CD', 'old-school', 'Europe/London', "
            "CURRENT_TIMESTAMP)"), {"id": SCHOOL})
        for i, (name, permissions) in enumerate((
                ("Admin", ["add_incidents", "administration", "view_student_details"]),
                ("Teachers", ["add_incidents", "view_student_list"]))):
            conn.execute(sa.text(
                "INSERT INTO user_groups (id, school_id, name, key_holder, permissions, "
                "created_at) VALUES (:id, :school, :name, :kh, :p, CURRENT_TIMESTAMP)"),
                {"id": f"00000000-0000-4000-8000-00000000000{i}", "school": SCHOOL,
                 "name": name, "kh": i == 0, "p": json.dumps(permissions)})
    command.upgrade(cfg, "head")
    assert _permissions(engine) == {
        "Admin": ["add_incidents", "administration", "edit_incidents", "view_student_details"],
        "Teachers": ["add_incidents", "view_student_list"],
    }
    command.downgrade(cfg, BEFORE)
    assert _permissions(engine)["Admin"] == ["add_incidents", "administration",
                                             "view_student_details"]
    engine.dispose()


def test_administrators_keep_the_right_to_edit_on_sqlite(tmp_path):
    _check(f"sqlite:///{tmp_path / 'identity.db'}")


@pytest.mark.integration
def test_administrators_keep_the_right_to_edit_on_postgres():
    with postgres_database("haven_identity_migration_test") as url:
        _check(url)
