"""Refused administration requests go to the security log.

An administration RPC that is refused because the caller may not do it (no admin rights, not
elevated) or because what it names is not in the caller's school (another school's user,
group, alert group or integration) writes an ``admin_refused`` entry to the caller's school
log. When the named user belongs to other schools only, each of those schools' logs records
the attempt too, so their administrators see someone probing their staff. Nothing else
changes: the refusal is raised as it was.

Integration tokens are already logged as ``token_refused`` by the servicer's staff check and
are not logged twice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from services.identity import security_log as slog
from services.identity.access import STAFF_ACCESS
from services.identity.models import Membership
from shared.context import current_request, optional_claims, school_scope
from shared.errors import NotFound, PermissionDenied

_REFUSED = (PermissionDenied, NotFound)


def logged(operation: str) -> Callable:
    """Decorate an administration RPC of the identity servicer (which has ``db`` and
    ``auth.clock``): a refusal is logged, then raised unchanged."""

    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def rpc(self, request, context) -> Any:
            try:
                return method(self, request, context)
            except _REFUSED as refusal:
                _record(self, operation, request, refusal)
                raise

        return rpc

    return wrap


def _target(request) -> tuple[str, str]:
    for field in ("account_id", "user_group_id", "alert_group_id", "group_id", "client_id"):
        value = getattr(request, field, "") if hasattr(request, field) else ""
        if value:
            return field, str(value)[:64]
    return "", ""


def _record(servicer, operation: str, request, refusal: Exception) -> None:
    claims = optional_claims()
    if claims is None or claims.access not in STAFF_ACCESS:
        return
    meta = current_request()
    field, target = _target(request)
    reason = getattr(refusal, "message", "") or type(refusal).__name__
    detail = f"{operation} refused ({reason})"
    if target:
        detail += f"; {field} {target}"
    now = servicer.auth.clock()
    # Unscoped: the attempt may concern another school's membership (read only to log it).
    with school_scope(None), servicer.db.transaction() as session:
        slog.record(session, event=slog.ADMIN_REFUSED, school_id=claims.school_id,
                    account_id=claims.account_id, session_id=claims.session_id or None,
                    client_ip=meta.client_ip, user_agent=meta.user_agent, at=now,
                    detail=detail)
        if field != "account_id":
            return
        schools = set(session.scalars(select(Membership.school_id).where(
            Membership.account_id == target)).all())
        if claims.school_id in schools:  # the caller's own user: theirs to see in their log
            return
        for school_id in sorted(schools):
            slog.record(session, event=slog.ADMIN_REFUSED, school_id=school_id,
                        account_id=target, client_ip=meta.client_ip,
                        user_agent=meta.user_agent, at=now,
                        detail=f"{operation} on this user refused to an account of another "
                               f"school ({claims.account_id[:64]})")
