"""Test support shared by every service's tests (no domain logic, never used in production).

- ``TokenFactory``: an ES256 key of its own that signs access tokens shaped like identity's,
  and a ``TokenVerifier`` that trusts it, so a service can be tested without identity.
- ``postgres_database`` / ``require_service``: real PostgreSQL and RabbitMQ for integration
  tests; when ``HAVEN_REQUIRE_SERVICES=1`` a missing server fails the test instead of
  skipping it.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from shared.auth import AUDIENCE, ISSUER, TokenVerifier, claims_from_payload
from shared.context import Claims

PG_HOST = os.environ.get("HAVEN_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HAVEN_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("HAVEN_TEST_PG_USER", "postgres")
AMQP_URL = os.environ.get("HAVEN_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

FULL_PERMISSIONS = (
    "view_student_list",
    "view_student_details",
    "add_incidents",
    "edit_incidents",
    "view_students_without_group",
    "run_reports",
    "planner",
    "files",
    "library_view",
    "library_add",
    "administration",
)


class TokenFactory:
    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": f"test-{uuid.uuid4().hex[:8]}"})

    def jwks_json(self) -> str:
        return json.dumps(KeySet([self.key]).as_dict(private=False))

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(self.jwks_json)

    def token(
        self,
        *,
        school_id: str,
        account_id: str | None = None,
        user_group_id: str = "group-1",
        access: str = "full",
        permissions: tuple[str, ...] = FULL_PERMISSIONS,
        name: str = "Test User",
        ttl: int = 300,
        scope: str = "",
        **extra,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": account_id or str(uuid.uuid4()),
            "sid": str(uuid.uuid4()),
            "school": school_id,
            "grp": user_group_id,
            "acr": "mfa" if access == "full" else "pwd",
            "access": access,
            "perms": list(permissions),
            "name": name,
            "iat": now,
            "exp": now + ttl,
        }
        if scope:
            payload["scope"] = scope
        payload.update(extra)
        return jwt.encode({"alg": "ES256", "kid": self.key.kid}, payload, self.key)

    def claims(self, **kwargs) -> Claims:
        """Verified claims for a fresh token (for calling domain code directly)."""
        token = self.token(**kwargs)
        return claims_from_payload(jwt.decode(token, self.key).claims, token)


def services_required() -> bool:
    return os.environ.get("HAVEN_REQUIRE_SERVICES") == "1"


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or fail, under HAVEN_REQUIRE_SERVICES=1) when a server is not reachable."""
    import pytest

    if port_open(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if services_required():
        pytest.fail(message + " and HAVEN_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


@contextmanager
def postgres_database(prefix: str = "haven_test") -> Iterator[str]:
    """Create a fresh PostgreSQL database; yield its SQLAlchemy URL; drop it afterwards."""
    import psycopg

    require_service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def amqp_url_for_test() -> str:
    """A RabbitMQ URL with an exchange of the test's own, so tests never see each other."""
    from urllib.parse import urlparse

    parsed = urlparse(AMQP_URL)
    require_service("RabbitMQ", parsed.hostname or "127.0.0.1", parsed.port or 5672)
    sep = "&" if "?" in AMQP_URL else "?"
    return f"{AMQP_URL}{sep}exchange=haven.test.{uuid.uuid4().hex[:10]}"


_PORTS_HANDED_OUT: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port for a server a test starts a moment later (often in another process).

    Chosen below the kernel's ephemeral range, so no outgoing connection (to PostgreSQL,
    RabbitMQ, a peer) can take it in between, never handed out twice in one test run, and
    checked free by binding it."""
    import random

    low, _high = _ephemeral_range()
    floor = 20000 if low > 21000 else 1024
    ceiling = low - 1 if low > floor + 1000 else 65535
    rng = random.Random()  # noqa: S311 - not security-sensitive
    for _ in range(1000):
        port = rng.randint(floor, ceiling)
        if port in _PORTS_HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port found")


# ---- migrations ------------------------------------------------------------------------------


def alembic_config(migrations, url: str):
    """An Alembic config for one service's ``migrations`` folder and a database URL (to move
    a test database to a chosen revision with ``alembic.command``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextmanager
def migration_database(kind: str, name: str, tmp_path) -> Iterator[str]:
    """An empty database to migrate: ``kind`` "sqlite" (a file in ``tmp_path``) or
    "postgresql" (a fresh database, dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/{name}.db"
    else:
        with postgres_database(f"haven_{name}_mig") as url:
            yield url


def models_match(connection, metadata) -> list:
    """What autogenerate would still change: [] when the migrations build the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    return compare_metadata(MigrationContext.configure(connection), metadata)
