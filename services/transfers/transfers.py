"""Transfers domain: listing this school's transfers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.transfers.models import Transfer
from shared.context import current_claims
from shared.errors import PermissionDenied


def list_transfers(session: Session, *, limit: int = 100) -> list[Transfer]:
    claims = current_claims()
    if not claims.full_access:
        raise PermissionDenied("Transfers need elevated access.")
    limit = max(1, min(limit or 100, 500))
    return list(
        session.scalars(
            select(Transfer)
            .where(Transfer.school_id == claims.school_id)
            .order_by(Transfer.created_at.desc())
            .limit(limit)
        )
    )
