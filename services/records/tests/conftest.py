"""Fixtures: a migrated SQLite database per test (copied from one migrated template)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.records.app import MIGRATIONS
from services.records.tests.factories import World, build_world
from shared.db import Database, run_migrations
from shared.testing import TokenFactory


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("records-template") / "records.db"
    run_migrations(f"sqlite:///{path}", MIGRATIONS)
    return path


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    return TokenFactory()


@pytest.fixture()
def db_url(tmp_path, migrated_template) -> str:
    path = tmp_path / "records.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture()
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture()
def world(db, tokens) -> World:
    return build_world(db, tokens)
