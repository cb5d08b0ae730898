"""Helpers shared by the records pages: reading form fields, the lists forms offer (staff,
categories, agencies, alert groups), refusals shown on the page, school-time dates."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time

import grpc
from flask import current_app, flash, request

from gateway.backends import call
from gateway.errors import grpc_code, map_rpc_error
from gateway.present import local_to_utc
from haven.identity.v1 import identity_pb2
from haven.records.v1 import records_pb2

STAFF_LIMIT = 500
MAX_IDS = 200
FIND_LIMIT = 20
_ID = re.compile(r"^[0-9A-Za-z_-]{1,100}$")
# Refusals meant for the user: the page says why and nothing changed.
REFUSALS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE,
            grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS,
            grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.ABORTED}


def zone():
    return current_app.config["HAVEN_CONFIG"].zone


def today() -> date:
    return datetime.now(zone()).date()


def form_text(name: str, limit: int = 200) -> str:
    return request.form.get(name, "").strip()[:limit]


def whole_number(raw: str, *, maximum: int = 2**31 - 1) -> int:
    """A form's whole number (ASCII digits, at most ``maximum``), else 0: '²' is a digit to
    Python but not a number to int(), and the proto fields are 32-bit."""
    raw = (raw or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return 0
    value = int(raw)
    return value if value <= maximum else 0


def form_ids(name: str, limit: int = MAX_IDS) -> list[str]:
    """Distinct well-formed ids from a multi-valued field, in the order given."""
    seen: list[str] = []
    for value in request.form.getlist(name):
        value = value.strip()
        if value and _ID.match(value) and value not in seen:
            seen.append(value)
        if len(seen) >= limit:
            break
    return seen


def arg_ids(name: str, limit: int = MAX_IDS) -> list[str]:
    seen: list[str] = []
    for raw in request.args.getlist(name):
        for value in raw.split(","):
            value = value.strip()
            if value and _ID.match(value) and value not in seen:
                seen.append(value)
    return seen[:limit]


def checked(name: str) -> bool:
    return request.form.get(name, "") in ("1", "on", "true", "yes")


def valid_id(value: str) -> bool:
    return bool(value and _ID.match(value))


def parse_iso_date(value: str) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def local_instant(day: str, at: str) -> datetime:
    """UTC instant of a school-time date and time (ValueError if unusable)."""
    return local_to_utc(date.fromisoformat(day.strip()), time.fromisoformat(at.strip()),
                        zone())


def now_local() -> datetime:
    return datetime.now(zone())


def tolerant(service: str, method: str, req, default):
    """For filling in a page: a refusal or a missing item leaves that part empty."""
    try:
        return call(service, method, req)
    except grpc.RpcError as exc:
        if grpc_code(exc) in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
                              grpc.StatusCode.INVALID_ARGUMENT,
                              grpc.StatusCode.UNIMPLEMENTED):
            return default
        raise


def refusal(exc: grpc.RpcError) -> str | None:
    """The message of a refusal meant for the user, or None (then the error propagates)."""
    if grpc_code(exc) not in REFUSALS:
        return None
    return map_rpc_error(exc).message


def attempt(fn: Callable[[], object], success: str | Callable[[object], str] | None = None):
    """Run a change; a refusal is flashed and None returned; failures propagate."""
    try:
        result = fn()
    except grpc.RpcError as exc:
        message = refusal(exc)
        if message is None:
            raise
        flash(message, "warning")
        return None
    if success:
        flash(success(result) if callable(success) else success, "success")
    return result


def staff(exclude: str = "") -> list:
    reply = tolerant("identity", "ListStaff", identity_pb2.ListStaffRequest(limit=STAFF_LIMIT),
                     identity_pb2.ListStaffResponse())
    return [s for s in reply.staff if s.account_id != exclude]


def staff_names() -> dict[str, str]:
    return {s.account_id: s.display_name for s in staff()}


def categories(include_disabled: bool = False) -> list:
    return list(tolerant("records", "ListCategories", records_pb2.ListCategoriesRequest(
        include_disabled=include_disabled), records_pb2.ListCategoriesResponse()).categories)


def agencies(include_disabled: bool = False) -> list:
    return list(tolerant("records", "ListAgencies", records_pb2.ListAgenciesRequest(
        include_disabled=include_disabled), records_pb2.ListAgenciesResponse()).agencies)


def alert_groups() -> list:
    return list(tolerant("records", "ListAlertGroups", records_pb2.ListAlertGroupsRequest(),
                         records_pb2.ListAlertGroupsResponse()).alert_groups)


def find_students(query: str, *, limit: int = FIND_LIMIT, include_archived: bool = False,
                  exclude: tuple[str, ...] = ()) -> list:
    query = (query or "").strip()[:100]
    if not query:
        return []
    reply = tolerant("records", "SearchStudents", records_pb2.SearchStudentsRequest(
        query=query, limit=limit, include_archived=include_archived),
        records_pb2.SearchStudentsResponse())
    return [s for s in reply.students if s.id not in exclude]


def students_by_id(ids: list[str]) -> dict[str, object]:
    """Cards of the given students (those the caller may see), for showing chosen ones."""
    out = {}
    for sid in ids[:50]:
        s = tolerant("records", "GetStudent", records_pb2.GetStudentRequest(student_id=sid),
                     None)
        if s is not None:
            out[sid] = s
    return out


def warning_names(account_ids, names: dict[str, str] | None = None) -> list[str]:
    names = names if names is not None else staff_names()
    return [names.get(a, "a colleague") for a in account_ids]
