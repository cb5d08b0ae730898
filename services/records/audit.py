"""Audit trail: every view and change, and every refused attempt.

A view or change is audited inside the transaction that does it (``record``). A refusal is
audited in a transaction of its own, after the refused work has rolled back, so the refusal is
kept while nothing of the attempt is: ``unit_of_work`` does that for every domain error raised
inside it. Domain code may say more about a refusal (which student it concerned) with
``refuse``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.records.models import AuditEntry
from shared.context import current_claims, current_request, optional_claims
from shared.db import Database, new_id, utcnow
from shared.errors import DomainError, InvalidArgument, NotFound, PermissionDenied

log = logging.getLogger(__name__)

ACCESS_DENIED = "access.denied"
REQUEST_REJECTED = "request.rejected"


_AUDIT_INSERT = insert(AuditEntry.__table__)


def record(
    session: Session, action: str, *, student_id: str | None = None, detail: str = ""
) -> None:
    """Audit what the current caller does, in the caller's transaction: one INSERT, sent
    now on the transaction's connection (no ORM object to flush later)."""
    claims = optional_claims()
    if claims is None:
        raise RuntimeError("audit.record needs a caller in context")
    session.connection().execute(_AUDIT_INSERT, {
        "id": new_id(),
        "school_id": claims.school_id,
        "account_id": claims.account_id,
        "student_id": student_id,
        "action": action,
        "detail": detail[:500],
        "client_ip": current_request().client_ip[:64],
        "at": utcnow(),
    })


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


INTEGRATION_ACCESS = "integration"


def admit(integration_scope: str | None) -> None:
    """The one place records refuses integration tokens (access "integration"): they may
    call only an operation that names a scope they hold (``AddIntegrationConcern``)."""
    claims = optional_claims()
    if claims is not None and claims.access == INTEGRATION_ACCESS and (
            integration_scope is None or integration_scope not in claims.scopes):
        raise PermissionDenied("Integrations may only add concerns to a student's chronology.")


@contextmanager
def unit_of_work(db: Database, operation: str, *,
                 integration_scope: str | None = None) -> Iterator[Session]:
    """One transaction for one request; a refusal rolls it back, then is audited.
    Integration tokens are refused unless ``integration_scope`` names one they hold."""
    try:
        admit(integration_scope)
        with db.transaction() as session:
            yield session
    except DomainError as exc:
        record_refusal(db, operation, exc)
        raise


# ---- reading the trail ---------------------------------------------------------------------------

DEFAULT_ENTRIES = 200
MAX_ENTRIES = 1000


@dataclass(frozen=True)
class AuditLine:
    entry: AuditEntry
    account_name: str


def list_entries(
    session: Session, *, student_id: str = "", account_id: str = "",
    from_date: dt.date | None = None, to_date: dt.date | None = None, limit: int = 0,
) -> list[AuditLine]:
    """Every view and change about one student (Audit Report) or by one user (Admin > Users >
    Audits), newest first. Per student: elevated with student details, and the student visible
    to the caller; per user: administrators."""
    from services.records.access import require_admin, require_full_access, viewer
    from services.records.models import StaffMember
    from services.records.students import visible_student

    claims = current_claims()
    student_id, account_id = (student_id or "").strip(), (account_id or "").strip()
    if bool(student_id) == bool(account_id):
        raise InvalidArgument("Ask for one student's or one user's audit trail.",
                              field="student_id")
    query = select(AuditEntry).where(AuditEntry.school_id == claims.school_id)
    if student_id:
        try:
            require_full_access(claims, "view_student_details", "A student's audit report")
        except PermissionDenied as exc:
            raise refuse(exc, student_id=None, detail=f"student {student_id[:40]}") from None
        student = visible_student(session, viewer(session, claims), student_id)
        query = query.where(AuditEntry.student_id == student.id)
    else:
        try:
            require_admin(claims, "A user's audit trail")
        except PermissionDenied as exc:
            raise refuse(exc, detail=f"account {account_id[:40]}") from None
        query = query.where(AuditEntry.account_id == account_id)
    if from_date:
        query = query.where(AuditEntry.at >= dt.datetime.combine(from_date, dt.time()))
    if to_date:
        query = query.where(
            AuditEntry.at < dt.datetime.combine(to_date + dt.timedelta(days=1), dt.time()))
    limit = max(1, min(limit or DEFAULT_ENTRIES, MAX_ENTRIES))
    entries = list(session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id).limit(limit)))
    names = dict(session.execute(
        select(StaffMember.account_id, StaffMember.display_name).where(
            StaffMember.school_id == claims.school_id,
            StaffMember.account_id.in_({e.account_id for e in entries}),
        )
    ).all()) if entries else {}
    record(session, "audit.viewed", student_id=student_id or None,
           detail=f"account {account_id}" if account_id else "")
    return [AuditLine(entry=e, account_name=names.get(e.account_id, "")) for e in entries]
