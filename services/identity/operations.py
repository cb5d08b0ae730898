"""Operator functions: what the launcher CLI (and the demo seed) do to an identity database.

Each runs in its own transaction and publishes its events through the given outbox. They are
idempotent where that makes sense (creating what exists changes nothing and announces
nothing). Settings come from ``IDENTITY_*`` (``config.load_config``) unless ``config`` is
given; time from ``now`` (naive UTC) or the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy.orm import Session

from services.identity import directory, integrations, sessions, tokens, totp
from services.identity import security_log as slog
from services.identity.config import IdentityConfig, load_config
from services.identity.events import OutboxPublisher
from services.identity.models import Account
from services.identity.passwords import Passwords, check_strength
from services.identity.secretbox import SecretBox
from shared.db import Database, utcnow
from shared.errors import NotFound
from shared.events import Outbox

OPERATOR = "operator"

# Groups made by ``create_school(..., with_default_groups=True)``.
DEFAULT_GROUPS: tuple[tuple[str, bool, tuple[str, ...]], ...] = (
    ("DSL", True, directory.SYSTEM_PERMISSIONS),
    ("Admin", True, directory.SYSTEM_PERMISSIONS),
    ("Teachers", False, ("view_student_list", "add_incidents")),
)


def passwords_for(config: IdentityConfig) -> Passwords:
    return Passwords(
        time_cost=config.argon2_time_cost,
        memory_kib=config.argon2_memory_kib,
        parallelism=config.argon2_parallelism,
    )


def _config(config: IdentityConfig | None) -> IdentityConfig:
    return config or load_config()


def create_school(
    db: Database,
    outbox: Outbox,
    *,
    name: str,
    slug: str,
    time_zone: str = "Europe/London",
    school_id: str | None = None,
    with_default_groups: bool = False,
    postcode: str = "",
    actor: str = OPERATOR,
    now: dt.datetime | None = None,
) -> str:
    """Create a school (and, if asked, the DSL / Admin / Teachers groups); returns its id."""
    now = now or utcnow()
    publisher = OutboxPublisher(outbox)
    with db.transaction() as session:
        school, _ = directory.create_school(
            session, publisher, name=name, slug=slug, time_zone=time_zone,
            school_id=school_id, now=now, actor=actor, postcode=postcode,
        )
        if with_default_groups:
            for group_name, key_holder, permissions in DEFAULT_GROUPS:
                directory.upsert_user_group(
                    session, publisher, school_id=school.id, name=group_name,
                    key_holder=key_holder, permissions=permissions, now=now, actor=actor,
                )
        return school.id


def create_user_group(
    db: Database,
    outbox: Outbox,
    *,
    school_id: str,
    name: str,
    key_holder: bool,
    permissions: Iterable[str],
    user_group_id: str | None = None,
    actor: str = OPERATOR,
    now: dt.datetime | None = None,
) -> str:
    """Create or update a user group (by id, else by name); returns its id."""
    with db.transaction() as session:
        group, _ = directory.upsert_user_group(
            session, OutboxPublisher(outbox), school_id=school_id, name=name,
            key_holder=key_holder, permissions=permissions, user_group_id=user_group_id,
            now=now or utcnow(), actor=actor,
        )
        return group.id


def _set_password(
    session: Session,
    passwords: Passwords,
    account: Account,
    password: str,
    *,
    now: dt.datetime,
    check: bool,
) -> None:
    if check:
        check_strength(password, user_inputs=(account.email, account.display_name))
    account.password_hash = passwords.hash(password)
    account.password_changed_at = now
    sessions.revoke_all(
        session, account_id=account.id, now=now, reason=sessions.REVOKED_PASSWORD
    )
    slog.record(session, event=slog.PASSWORD_SET, account_id=account.id,
                email=account.email, at=now, detail="set by an operator")


def create_account(
    db: Database,
    outbox: Outbox,
    *,
    school_id: str,
    email: str,
    display_name: str,
    user_group: str,
    password: str | None = None,
    job_title: str | None = None,
    active: bool = True,
    account_id: str | None = None,
    check_password: bool = True,
    config: IdentityConfig | None = None,
    actor: str = OPERATOR,
    now: dt.datetime | None = None,
) -> str:
    """Create an account (or find the one with that email) and make it a member of the school
    in ``user_group`` (an id or a name). An existing account keeps its password (and an
    existing membership its job title) unless one is given. Returns the account id."""
    now = now or utcnow()
    publisher = OutboxPublisher(outbox)
    with db.transaction() as session:
        account, _ = directory.upsert_account(
            session, publisher, email=email, display_name=display_name,
            account_id=account_id, now=now, actor=actor,
        )
        group = directory.find_user_group(session, school_id=school_id, ref=user_group)
        directory.upsert_membership(
            session, publisher, account=account, group=group, active=active,
            job_title=job_title, now=now, actor=actor,
        )
        if password is not None:
            _set_password(session, passwords_for(_config(config)), account, password,
                          now=now, check=check_password)
        return account.id


def set_membership_active(
    db: Database,
    outbox: Outbox,
    *,
    email: str,
    school_id: str,
    active: bool,
    actor: str = OPERATOR,
    now: dt.datetime | None = None,
) -> None:
    """Deactivate (or reactivate) an account's membership of a school; deactivating ends its
    sessions there."""
    now = now or utcnow()
    with db.transaction() as session:
        account = directory.get_account(session, email)
        found = [m for m in directory.memberships_of(session, account.id)
                 if m.school_id == school_id]
        if not found:
            raise NotFound("That account is not a member of that school.")
        group = directory.find_user_group(
            session, school_id=school_id, ref=found[0].user_group_id
        )
        directory.upsert_membership(
            session, OutboxPublisher(outbox), account=account, group=group, active=active,
            now=now, actor=actor,
        )


def set_password(
    db: Database,
    *,
    email: str,
    password: str,
    check_strength: bool = True,
    config: IdentityConfig | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Set an account's password (checked for strength unless told not to); ends its
    sessions."""
    passwords = passwords_for(_config(config))
    with db.transaction() as session:
        account = directory.get_account(session, email)
        _set_password(session, passwords, account, password, now=now or utcnow(),
                      check=check_strength)


def add_totp_device(
    db: Database,
    *,
    email: str,
    name: str = "Authenticator app",
    secret: str | None = None,
    verified: bool = False,
    config: IdentityConfig | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Register an authenticator app for an account; returns its base32 secret (a new random
    one unless given; a given one is normalised, e.g. 0 read as O)."""
    box = SecretBox(_config(config).key_secret)
    now = now or utcnow()
    with db.transaction() as session:
        account = directory.get_account(session, email)
        _device, stored = totp.add_device(
            session, box, account_id=account.id, name=name, secret=secret, now=now,
            verified=verified,
        )
        slog.record(session, event=slog.TOTP_DEVICE_ADDED, account_id=account.id,
                    email=account.email, factor=slog.FACTOR_TOTP, at=now, detail=name)
        return stored


def remove_totp_devices(
    db: Database, *, email: str, device_id: str | None = None, now: dt.datetime | None = None
) -> int:
    """Remove one (or every) authenticator of an account; returns how many were removed."""
    now = now or utcnow()
    with db.transaction() as session:
        account = directory.get_account(session, email)
        removed = totp.remove_devices(session, account_id=account.id, device_id=device_id)
        if removed:
            slog.record(session, event=slog.TOTP_DEVICE_REMOVED, account_id=account.id,
                        email=account.email, factor=slog.FACTOR_TOTP, at=now,
                        detail=f"{removed} removed by an operator")
        return removed


def current_totp(
    db: Database,
    email: str,
    *,
    config: IdentityConfig | None = None,
    now: dt.datetime | None = None,
) -> str:
    """The code an account's (first) authenticator app shows now (``make totp``)."""
    box = SecretBox(_config(config).key_secret)
    with db.read() as session:
        account = directory.get_account(session, email)
        devices = totp.devices_of(session, account.id)
        if not devices:
            raise NotFound(f"{account.email} has no authenticator app.")
        return totp.code_at(totp.secret_of(box, devices[0]), now or utcnow())


def rotate_signing_keys(
    db: Database, *, config: IdentityConfig | None = None, now: dt.datetime | None = None
) -> str:
    """Start signing with a new key; the old one stays in the JWKS until its tokens expire.
    Returns the new key's id."""
    config = _config(config)
    with db.transaction() as session:
        key = tokens.rotate_keys(
            session, SecretBox(config.key_secret), now=now or utcnow(),
            token_ttl=config.token_ttl,
        )
        return key.kid


def create_integration_client(
    db: Database,
    *,
    school_id: str,
    name: str,
    scope: str,
    actor: str = OPERATOR,
    now: dt.datetime | None = None,
) -> tuple[str, str]:
    """An OAuth2 client-credentials client of a school (e.g. an MIS connector with
    ``mis.import``); returns (client_id, client_secret). The secret is not kept."""
    with db.transaction() as session:
        directory.get_school(session, school_id)
        client, secret = integrations.create_client(
            session, school_id=school_id, name=name, scope=scope, now=now or utcnow(),
            actor=actor)
        return client.id, secret
