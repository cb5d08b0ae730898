"""Agencies involved with pupils (Admin > Agencies, section 18): add, rename (applies to every
past incident, action and student it was tagged on: they refer to it by id), disable, enable.
A disabled agency is no longer offered but stays on the records it was tagged on."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import require_admin
from services.records.models import Agency
from shared.context import current_claims
from shared.db import new_id
from shared.errors import Conflict, InvalidArgument, NotFound, PermissionDenied

MAX_AGENCIES = 50


def list_agencies(session: Session, *, include_disabled: bool = False) -> list[Agency]:
    claims = current_claims()
    query = select(Agency).where(Agency.school_id == claims.school_id)
    if not include_disabled:
        query = query.where(Agency.enabled.is_(True))
    return list(session.scalars(query.order_by(func.lower(Agency.name), Agency.id)))


def agency_names(session: Session, school_id: str) -> dict[str, Agency]:
    return {a.id: a for a in session.scalars(select(Agency).where(Agency.school_id == school_id))}


def agencies_to_tag(session: Session, school_id: str, agency_ids: Iterable[str]) -> list[Agency]:
    """Enabled agencies of the school, in the order given (duplicates dropped)."""
    ids = list(dict.fromkeys(a.strip() for a in agency_ids if a and a.strip()))
    if not ids:
        return []
    if len(ids) > MAX_AGENCIES:
        raise InvalidArgument("Too many agencies.", field="agency_ids")
    found = {a.id: a for a in session.scalars(select(Agency).where(
        Agency.school_id == school_id, Agency.id.in_(ids)))}
    if any(i not in found for i in ids):
        raise InvalidArgument("Unknown agency.", field="agency_ids")
    disabled = [found[i].name for i in ids if not found[i].enabled]
    if disabled:
        raise InvalidArgument(f"{', '.join(disabled)} is disabled.", field="agency_ids")
    return [found[i] for i in ids]


def _admin(operation: str) -> str:
    claims = current_claims()
    try:
        require_admin(claims, "Managing agencies")
    except PermissionDenied as exc:
        raise audit.refuse(exc, detail=operation) from None
    return claims.school_id


def _name(session: Session, school_id: str, name: str, exclude: str = "") -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise InvalidArgument("An agency needs a name of at most 100 characters.", field="name")
    clash = session.scalars(select(Agency.id).where(
        Agency.school_id == school_id, func.lower(Agency.name) == name.lower(),
        Agency.id != exclude)).first()
    if clash:
        raise Conflict("There is already an agency with that name.", field="name")
    return name


def _agency(session: Session, school_id: str, agency_id: str) -> Agency:
    agency = session.get(Agency, (agency_id or "").strip())
    if agency is None or agency.school_id != school_id:
        raise NotFound("No such agency.")
    return agency


def create_agency(session: Session, *, name: str, agency_id: str = "") -> Agency:
    school_id = _admin("agency.create")
    agency = Agency(id=agency_id or new_id(), school_id=school_id,
                    name=_name(session, school_id, name), enabled=True)
    session.add(agency)
    session.flush()
    audit.record(session, "agency.created", detail=f"agency {agency.id} {agency.name!r}")
    return agency


def rename_agency(session: Session, *, agency_id: str, name: str) -> Agency:
    school_id = _admin("agency.update")
    agency = _agency(session, school_id, agency_id)
    new = _name(session, school_id, name, exclude=agency.id)
    if new != agency.name:
        audit.record(session, "agency.renamed",
                     detail=f"agency {agency.id} {agency.name!r} -> {new!r}")
        agency.name = new
    return agency


def set_agency_enabled(session: Session, *, agency_id: str, enabled: bool) -> Agency:
    school_id = _admin("agency.enable" if enabled else "agency.disable")
    agency = _agency(session, school_id, agency_id)
    if agency.enabled != enabled:
        agency.enabled = enabled
        audit.record(session, "agency.enabled" if enabled else "agency.disabled",
                     detail=f"agency {agency.id}")
    return agency
