"""Per-request context: who is calling, for which school, from where.

Set by the gRPC server interceptor (from the verified token and metadata) and read by the
data layer (school scope) and audit code. Context variables follow threads started with
``contextvars.copy_context``; a gRPC handler runs in its own pool thread, so the interceptor
sets them per call and resets them afterwards.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from shared.errors import Unauthenticated


@dataclass(frozen=True)
class Claims:
    """A verified access token, as services see it (DESIGN.md §4)."""

    account_id: str
    session_id: str
    school_id: str
    user_group_id: str
    acr: str  # "pwd" or "mfa"
    access: str  # "full" or "restricted"
    permissions: frozenset[str] = field(default_factory=frozenset)
    name: str = ""
    token: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def full_access(self) -> bool:
        return self.access == "full"

    def has(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass(frozen=True)
class RequestInfo:
    client_ip: str = ""
    user_agent: str = ""


_claims: contextvars.ContextVar[Claims | None] = contextvars.ContextVar("claims", default=None)
_NO_REQUEST = RequestInfo()
_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "request", default=None
)
_school: contextvars.ContextVar[str | None] = contextvars.ContextVar("school", default=None)


def current_claims() -> Claims:
    claims = _claims.get()
    if claims is None:
        raise Unauthenticated("Please log in.")
    return claims


def optional_claims() -> Claims | None:
    return _claims.get()


def current_request() -> RequestInfo:
    return _request.get() or _NO_REQUEST


def current_school() -> str | None:
    """The school the data layer scopes queries to, if any."""
    return _school.get()


@contextmanager
def acting_as(claims: Claims | None, request: RequestInfo | None = None) -> Iterator[None]:
    """Run a block as the given caller, scoped to the caller's school."""
    t1 = _claims.set(claims)
    t2 = _request.set(request or RequestInfo())
    t3 = _school.set(claims.school_id if claims else None)
    try:
        yield
    finally:
        _school.reset(t3)
        _request.reset(t2)
        _claims.reset(t1)


@contextmanager
def school_scope(school_id: str | None) -> Iterator[None]:
    """Scope the data layer to one school without a caller (event handlers, seeding)."""
    token = _school.set(school_id)
    try:
        yield
    finally:
        _school.reset(token)
