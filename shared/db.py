"""Per-service database: engine, sessions, school scoping, Alembic runner.

One ``Database`` per service process. SQLite (embedded default) and PostgreSQL (production)
run the same models. School scoping is enforced here on every ORM query: when a school is in
context (``shared.context``), every SELECT over a ``SchoolScoped`` model gets
``school_id = :school`` added, and flushing a row of another school is refused.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import String, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker, with_loader_criteria

from shared.context import current_school
from shared.errors import PermissionDenied


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class SchoolScoped:
    """Mixin for every model whose rows belong to one school."""

    school_id: Mapped[str] = mapped_column(String(36), index=True, nullable=False)


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 10, immediate: bool = True) -> Engine:
    if _is_sqlite(url):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=True,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            # Let SQLAlchemy own BEGIN (pysqlite's implicit transactions are unreliable).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            # Writers: IMMEDIATE takes the write lock up front so two writers never deadlock
            # on upgrade. Readers (Database.read) begin deferred and run beside writers (WAL).
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # hide_parameters: a database error in a log never carries the values (pupils' data,
    # secrets), only the statement.
    engine = create_engine(
        url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size, future=True,
        hide_parameters=True,
    )

    @event.listens_for(engine, "begin")
    def _pg_school_setting(conn):
        # Row-level security's input (see apply_school_rls): the school of this transaction.
        conn.exec_driver_sql(
            "SELECT set_config('haven.school_id', %(school)s, true)",
            {"school": current_school() or ""},
        )

    return engine


class Database:
    """Engine + session factory for one service's own database."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        install_school_scope(self.Session)
        if _is_sqlite(url):
            self.read_engine = make_engine(url, pool_size=pool_size, immediate=False)
            self.ReadSession = sessionmaker(self.read_engine, expire_on_commit=False)
            install_school_scope(self.ReadSession)
        else:
            self.read_engine = self.engine
            self.ReadSession = self.Session

    @property
    def is_sqlite(self) -> bool:
        return _is_sqlite(self.url)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any exception."""
        with self.Session() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (rolled back at the end; never blocks writers)."""
        with self.ReadSession() as session:
            yield session
            session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def install_school_scope(factory: sessionmaker) -> None:
    @event.listens_for(factory, "do_orm_execute")
    def _scope_selects(state):
        school = current_school()
        if school is None or state.execution_options.get("all_schools"):
            return
        if state.is_select or state.is_update or state.is_delete:
            state.statement = state.statement.options(
                with_loader_criteria(
                    SchoolScoped,
                    lambda cls: cls.school_id == school,
                    include_aliases=True,
                    track_closure_variables=False,
                )
            )

    @event.listens_for(factory, "before_flush")
    def _refuse_other_schools(session, _ctx, _instances):
        school = current_school()
        if school is None:
            return
        for obj in list(session.new) + list(session.dirty):
            if isinstance(obj, SchoolScoped) and obj.school_id != school:
                raise PermissionDenied("That record belongs to another school.")


def run_migrations(url: str, script_location: str | os.PathLike[str]) -> None:
    """Upgrade the database at ``url`` to the newest revision in ``script_location``."""
    from alembic import command
    from alembic.config import Config

    if _is_sqlite(url):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


def make_revision(url: str, script_location: str | os.PathLike[str], message: str) -> None:
    """Autogenerate a new migration from the models (developer command)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")
    command.revision(cfg, message=message, autogenerate=True)


RLS_POLICY = "haven_school_scope"
_UNSCOPED_TABLES = {"event_outbox", "event_inbox"}


def apply_school_rls(connection, metadata) -> list[str]:
    """Row-level security as the second wall on PostgreSQL (DESIGN.md §5).

    Every table with a ``school_id`` column gets a policy: a transaction whose school is set
    (``haven.school_id``, set on BEGIN from the request's school) sees and writes only that
    school's rows. Transactions with no school (migrations, the outbox relay, operator
    commands) are unscoped. FORCE makes the table owner subject to it too; a superuser still
    bypasses RLS, so production services connect as an ordinary role.
    """
    if connection.dialect.name != "postgresql":
        return []
    from sqlalchemy import inspect

    existing = set(inspect(connection).get_table_names())
    done = []
    for table in metadata.sorted_tables:
        if "school_id" not in table.c or table.name in _UNSCOPED_TABLES:
            continue
        if table.name not in existing:  # e.g. after a downgrade
            continue
        name = table.name.replace('"', "")
        rule = (
            "coalesce(current_setting('haven.school_id', true), '') = '' "
            "OR school_id = current_setting('haven.school_id', true)"
        )
        connection.exec_driver_sql(f'ALTER TABLE "{name}" ENABLE ROW LEVEL SECURITY')
        connection.exec_driver_sql(f'ALTER TABLE "{name}" FORCE ROW LEVEL SECURITY')
        connection.exec_driver_sql(f'DROP POLICY IF EXISTS {RLS_POLICY} ON "{name}"')
        connection.exec_driver_sql(
            f'CREATE POLICY {RLS_POLICY} ON "{name}" USING ({rule}) WITH CHECK ({rule})'
        )
        done.append(name)
    return done


def alembic_env(target_metadata) -> None:
    """Body of every service's ``migrations/env.py``."""
    from alembic import context

    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    sqlite = _is_sqlite(url)
    connectable = create_engine(url) if not sqlite else make_engine(url)
    with connectable.connect() as connection:
        if sqlite:
            # A batch migration rebuilds a table (copy, drop, rename); with foreign keys on,
            # dropping a table other rows refer to fails. Off for the migration (the pragma
            # only takes effect outside a transaction), then every reference is checked
            # before the migration commits.
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            compare_type=True,
            # SQLite's DDL is transactional too: one migration run commits whole or not at all.
            transactional_ddl=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            apply_school_rls(connection, target_metadata)
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(
                        f"the migration leaves {len(broken)} row(s) referring to rows that do "
                        f"not exist (first: table {broken[0][0]}, row {broken[0][1]})")
    connectable.dispose()
