"""School scoping in the data layer: on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import String, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.context import school_scope
from shared.db import Database, SchoolScoped, new_id
from shared.errors import PermissionDenied
from shared.testing import postgres_database


class Base(DeclarativeBase):
    pass


class Note(SchoolScoped, Base):
    __tablename__ = "notes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    text: Mapped[str] = mapped_column(String(100))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path}/scope.db")
        Base.metadata.create_all(database.engine)
        yield database
        database.dispose()
    else:
        with postgres_database("haven_scope") as url:
            database = Database(url)
            Base.metadata.create_all(database.engine)
            yield database
            database.dispose()


def _seed(db):
    for school, text in (("A", "a1"), ("A", "a2"), ("B", "b1")):
        with school_scope(school), db.transaction() as s:
            s.add(Note(school_id=school, text=text))


def test_queries_see_only_the_school_in_context(db):
    _seed(db)
    with school_scope("A"), db.read() as s:
        assert sorted(n.text for n in s.scalars(select(Note))) == ["a1", "a2"]
    with school_scope("B"), db.read() as s:
        assert [n.text for n in s.scalars(select(Note))] == ["b1"]
        # Even asking for another school's row by its content finds nothing.
        assert s.scalars(select(Note).where(Note.text == "a1")).first() is None


def test_updates_cannot_reach_another_school(db):
    _seed(db)
    with school_scope("B"), db.transaction() as s:
        s.execute(update(Note).values(text="changed"))
    with school_scope("A"), db.read() as s:
        assert sorted(n.text for n in s.scalars(select(Note))) == ["a1", "a2"]


def test_writing_a_row_for_another_school_is_refused_and_nothing_is_kept(db):
    with pytest.raises(PermissionDenied), school_scope("A"), db.transaction() as s:
        s.add(Note(school_id="A", text="mine"))
        s.add(Note(school_id="B", text="smuggled"))
    with db.read() as s:  # no school in context: the operator's view of everything
        assert list(s.scalars(select(Note))) == []


def test_postgres_row_level_security_is_a_second_wall_for_raw_sql():
    """Even SQL that forgets the school filter sees only the school of its transaction."""
    import psycopg
    from sqlalchemy import text

    from shared.db import apply_school_rls
    from shared.testing import PG_HOST, PG_PORT

    with postgres_database("haven_rls") as owner_url:
        owner = Database(owner_url)
        Base.metadata.create_all(owner.engine)
        with owner.engine.begin() as conn:
            assert apply_school_rls(conn, Base.metadata) == ["notes"]
        role = "haven_rls_app"
        dbname = owner_url.rsplit("/", 1)[1]
        with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname={dbname}",
                             autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                conn.execute(f"CREATE ROLE {role} LOGIN")
            conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        app = Database(owner_url.replace("postgres@", f"{role}@"))
        _seed(app)
        with school_scope("A"), app.transaction() as s:
            rows = s.execute(text("SELECT text FROM notes ORDER BY text")).scalars().all()
            assert rows == ["a1", "a2"]
        with pytest.raises(Exception, match="row-level security"), school_scope("A"), \
                app.transaction() as s:
            s.execute(text("INSERT INTO notes (id, school_id, text) VALUES ('x', 'B', 'evil')"))
        with app.transaction() as s:  # no school: the operator's view
            assert s.execute(text("SELECT count(*) FROM notes")).scalar_one() == 3
        app.dispose()
        owner.dispose()
        with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname={dbname}",
                             autocommit=True) as conn:
            conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
