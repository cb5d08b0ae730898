"""Tables of the notifications database only."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import SchoolScoped, utcnow
from shared.events import event_tables


class Base(DeclarativeBase):
    pass


EVENTS = event_tables(Base.metadata)


class Recipient(SchoolScoped, Base):
    """A staff account of one school that emails may go to (from identity.account.upserted).

    An SSO account has one row per school it belongs to, each with that school's address.
    """

    __tablename__ = "recipients"

    school_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    # Where this school's alerts go instead of ``email`` when set (an SSO account's address
    # at this school).
    alert_email: Mapped[str] = mapped_column(String(320), default="", server_default="")
    display_name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When identity said so (the event's occurred_at): an older event never overwrites a newer.
    source_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Delivery(SchoolScoped, Base):
    """One email to one recipient, from the event that asked for it to its outcome.

    status: pending -> sending -> sent; sending -> pending (retry) -> ... -> failed;
    or skipped at once (unknown or inactive recipient) with the reason.

    kind: "alert" and "assigned" go to a recipient of the school (looked up again when sent);
    "welcome" and "password_reset" to the address the event named, and carry a secret link
    that the body keeps only until the delivery is settled.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_status_due", "status", "next_attempt_at"),
        Index("ix_deliveries_school_created", "school_id", "created_at"),
        # One email per alert, even if records published the alert twice.
        Index("ux_deliveries_school_alert", "school_id", "alert_id", unique=True),
        # One email per password link (sha256 of its path), whatever the event ids.
        Index("ux_deliveries_school_dedupe", "school_id", "dedupe_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    alert_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recipient_account_id: Mapped[str] = mapped_column(String(36))
    recipient: Mapped[str] = mapped_column(String(320), default="")
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Not worth sending after this (a password link that has expired).
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
