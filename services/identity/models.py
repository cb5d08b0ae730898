"""Tables of the identity database only.

Accounts are people (one email, one password, their second factors); a membership puts an
account in a school's user group, so one account can belong to several schools (SSO).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import SchoolScoped, new_id, utcnow
from shared.events import event_tables


class Base(DeclarativeBase):
    pass


EVENTS = event_tables(Base.metadata)


class School(Base):
    """A tenant."""

    __tablename__ = "schools"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Account(Base):
    """A person who logs in. ``email`` is stored lower-case; no password until one is set."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class UserGroup(SchoolScoped, Base):
    """A school's user group: whether its members hold a key, and its system permissions."""

    __tablename__ = "user_groups"
    __table_args__ = (
        UniqueConstraint("school_id", "name", name="uq_user_groups_school_name"),
        ForeignKeyConstraint(["school_id"], ["schools.id"], name="fk_user_groups_school"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    key_holder: Mapped[bool] = mapped_column(Boolean, default=False)
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Membership(SchoolScoped, Base):
    """An account's place in one school: its user group, and whether it may log in there."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("account_id", "school_id", name="uq_memberships_account_school"),
        ForeignKeyConstraint(["school_id"], ["schools.id"], name="fk_memberships_school"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    user_group_id: Mapped[str] = mapped_column(ForeignKey("user_groups.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    job_title: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class TotpDevice(Base):
    """An authenticator app ("soft key"). ``secret`` is sealed with the service's key secret."""

    __tablename__ = "totp_devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret: Mapped[str] = mapped_column(Text)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # The newest time step accepted; a code of this step or an earlier one is a replay.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LoginSession(Base):
    """A login. The client holds a random secret; only its SHA-256 is stored here.

    ``id`` is a public handle (the ``sid`` claim of tokens, the security log); it cannot be
    used to refresh or end the session.
    """

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    school_id: Mapped[str] = mapped_column(String(36), index=True)
    acr: Mapped[str] = mapped_column(String(8), default="pwd")
    totp_device_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    elevated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_reason: Mapped[str] = mapped_column(String(40), default="")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class SigningKey(Base):
    """An ES256 key that signs access tokens. The private JWK is sealed.

    The newest unretired key signs; a retired key stays published in the JWKS until
    ``publish_until`` (when every token it signed has expired).
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_jwk: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    publish_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class SecurityLogEntry(SchoolScoped, Base):
    """One authentication event. ``school_id`` is "" when no school is known (unknown email).

    ``email`` is the address that was typed, so admins also see attempts on unknown emails.
    """

    __tablename__ = "security_log"
    __table_args__ = (
        Index("ix_security_log_email_event_at", "email", "event", "at"),
        Index("ix_security_log_ip_event_at", "client_ip", "event", "at"),
        Index("ix_security_log_account_event_at", "account_id", "event", "at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    event: Mapped[str] = mapped_column(String(40))
    factor: Mapped[str] = mapped_column(String(20), default="")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    detail: Mapped[str] = mapped_column(String(300), default="")
