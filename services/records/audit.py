"""Audit trail: every view and change, and every refused attempt.

A view or change is audited inside the transaction that does it (``record``). A refusal is
audited in a transaction of its own, after the refused work has rolled back, so the refusal is
kept while nothing of the attempt is: ``unit_of_work`` does that for every domain error raised
inside it. Domain code may say more about a refusal (which student it concerned) with
``refuse``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from services.records.models import AuditEntry
from shared.context import current_request, optional_claims
from shared.db import Database, utcnow
from shared.errors import DomainError, NotFound, PermissionDenied

log = logging.getLogger(__name__)

ACCESS_DENIED = "access.denied"
REQUEST_REJECTED = "request.rejected"


def record(
    session: Session, action: str, *, student_id: str | None = None, detail: str = ""
) -> AuditEntry:
    """Audit what the current caller does, in the caller's transaction."""
    claims = optional_claims()
    if claims is None:
        raise RuntimeError("audit.record needs a caller in context")
    entry = AuditEntry(
        school_id=claims.school_id,
        account_id=claims.account_id,
        student_id=student_id,
        action=action,
        detail=detail[:500],
        client_ip=current_request().client_ip[:64],
        at=utcnow(),
    )
    session.add(entry)
    return entry


def refuse(exc: DomainError, *, student_id: str | None = None, detail: str = "") -> DomainError:
    """Attach audit facts to a refusal: ``raise refuse(NotFound(...), student_id=...)``."""
    exc.audit_student_id = student_id  # type: ignore[attr-defined]
    exc.audit_detail = detail  # type: ignore[attr-defined]
    return exc


def refusal_action(exc: DomainError) -> str:
    return ACCESS_DENIED if isinstance(exc, PermissionDenied | NotFound) else REQUEST_REJECTED


def record_refusal(db: Database, operation: str, exc: DomainError) -> None:
    """Audit a refused attempt in its own transaction (the attempt itself has rolled back)."""
    if optional_claims() is None:
        return  # unauthenticated: nobody to attribute it to (the server logs it)
    detail = getattr(exc, "audit_detail", "") or exc.message
    try:
        with db.transaction() as session:
            record(
                session,
                refusal_action(exc),
                student_id=getattr(exc, "audit_student_id", None),
                detail=f"{operation}: {detail}",
            )
    except Exception:  # the refusal must still reach the caller
        log.exception("could not audit a refused %s", operation)


@contextmanager
def unit_of_work(db: Database, operation: str) -> Iterator[Session]:
    """One transaction for one request; a refusal rolls it back, then is audited."""
    try:
        with db.transaction() as session:
            yield session
    except DomainError as exc:
        record_refusal(db, operation, exc)
        raise
