"""Tables of the transfers database only."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import SchoolScoped, new_id, utcnow
from shared.events import event_tables


class Base(DeclarativeBase):
    pass


EVENTS = event_tables(Base.metadata)


class Transfer(SchoolScoped, Base):
    """A pupil's file moving in or out of this school. The process comes in its own issue."""

    __tablename__ = "transfers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    upn: Mapped[str] = mapped_column(String(13), index=True)
    direction: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
