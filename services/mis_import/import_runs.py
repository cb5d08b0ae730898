"""Import runs: the history of a school's MIS imports."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.mis_import.models import ImportRun
from shared.context import current_claims
from shared.errors import PermissionDenied


def list_import_runs(session: Session, *, limit: int = 100) -> list[ImportRun]:
    claims = current_claims()
    if not claims.full_access:
        raise PermissionDenied("MIS imports need elevated access.")
    if not claims.has("administration"):
        raise PermissionDenied("MIS imports are for administrators.")
    limit = max(1, min(limit or 100, 500))
    return list(
        session.scalars(
            select(ImportRun)
            .where(ImportRun.school_id == claims.school_id)
            .order_by(ImportRun.started_at.desc(), ImportRun.id)
            .limit(limit)
        )
    )
