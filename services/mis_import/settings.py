"""A school's import settings and its saved CSV column mappings (Admin > Imports)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.mis_import import csv_source
from services.mis_import.access import require_admin
from services.mis_import.config import ImportConfig
from services.mis_import.models import CsvMapping, ImportSettings
from shared.context import Claims
from shared.db import utcnow
from shared.errors import InvalidArgument

MAX_HOURS = 24 * 90


@dataclass(frozen=True)
class Thresholds:
    amber_after_hours: int
    red_after_hours: int


def school_settings(session: Session, school_id: str) -> ImportSettings | None:
    return session.scalars(select(ImportSettings).where(
        ImportSettings.school_id == school_id)).first()


def thresholds(session: Session, school_id: str, config: ImportConfig) -> Thresholds:
    row = school_settings(session, school_id)
    amber = (row.amber_after_hours if row and row.amber_after_hours
             else config.health_amber_hours)
    red = row.red_after_hours if row and row.red_after_hours else config.health_red_hours
    if red <= amber:  # a school override of one bound only: keep them ordered
        red = amber + max(1, config.health_red_hours - config.health_amber_hours)
    return Thresholds(amber, red)


def get_settings(session: Session, claims: Claims) -> ImportSettings:
    require_admin(claims)
    row = school_settings(session, claims.school_id)
    return row or ImportSettings(school_id=claims.school_id, amber_after_hours=0,
                                 red_after_hours=0, source_lea="", source_estab="")


def update_settings(session: Session, claims: Claims, *, amber_after_hours: int,
                    red_after_hours: int, source_lea: str, source_estab: str,
                    ) -> ImportSettings:
    require_admin(claims)
    for name, value in (("amber_after_hours", amber_after_hours),
                        ("red_after_hours", red_after_hours)):
        if value < 0 or value > MAX_HOURS:
            raise InvalidArgument(f"{name} must be between 0 and {MAX_HOURS} hours.",
                                  field=name)
    if amber_after_hours and red_after_hours and red_after_hours <= amber_after_hours:
        raise InvalidArgument("Red must come after amber.", field="red_after_hours")
    lea, estab = source_lea.strip(), source_estab.strip()
    if bool(lea) != bool(estab):
        raise InvalidArgument("Give both the LA number and the establishment number, or "
                              "neither.", field="source_lea")
    if lea and not re.fullmatch(r"\d{3}", lea):
        raise InvalidArgument("The LA number is 3 digits.", field="source_lea")
    if estab and not re.fullmatch(r"\d{4}", estab):
        raise InvalidArgument("The establishment number is 4 digits.", field="source_estab")
    row = school_settings(session, claims.school_id)
    if row is None:
        row = ImportSettings(school_id=claims.school_id)
        session.add(row)
    row.amber_after_hours = amber_after_hours
    row.red_after_hours = red_after_hours
    row.source_lea = lea
    row.source_estab = estab
    row.updated_by = claims.account_id
    row.updated_at = utcnow()
    session.flush()
    return row


def pin_source_school(session: Session, school_id: str, lea: str, estab: str) -> None:
    """The first successful CTF import says which school's MIS this school's files come from."""
    if not lea or not estab:
        return
    row = school_settings(session, school_id)
    if row is None:
        session.add(ImportSettings(school_id=school_id, amber_after_hours=0, red_after_hours=0,
                                   source_lea=lea, source_estab=estab, updated_by="system"))
    elif not row.source_lea:
        row.source_lea, row.source_estab = lea, estab


# ---- CSV mappings -------------------------------------------------------------------------


def mapping_entity(entity: str) -> str:
    """The CSV mapping's entity, checked ("" is students)."""
    entity = (entity or "students").strip()
    if entity not in csv_source.ENTITIES:
        raise InvalidArgument("A CSV mapping is for students or staff.", field="entity")
    return entity


def get_mapping(session: Session, claims: Claims, entity: str) -> CsvMapping | None:
    require_admin(claims)
    return find_mapping(session, claims.school_id, mapping_entity(entity))


def find_mapping(session: Session, school_id: str, entity: str) -> CsvMapping | None:
    return session.scalars(select(CsvMapping).where(
        CsvMapping.school_id == school_id, CsvMapping.entity == entity)).first()


def update_mapping(session: Session, claims: Claims, *, entity: str, columns: dict[str, str],
                   date_format: str) -> CsvMapping:
    require_admin(claims)
    entity = mapping_entity(entity)
    date_format = (date_format or "auto").strip()
    if date_format not in csv_source.DATE_FORMATS:
        raise InvalidArgument("The date format is auto, iso, dmy or mdy.", field="date_format")
    known = csv_source.known_fields(entity)
    cleaned: dict[str, str] = {}
    for field, column in columns.items():
        if field not in known:
            raise InvalidArgument(f"{field!r} is not a field Haven imports for {entity}.",
                                  field="columns")
        column = " ".join((column or "").split())
        if not column:
            continue
        if len(column) > 100:
            raise InvalidArgument(f"The column name for {field} is too long.", field="columns")
        cleaned[field] = column
    missing = [f for f in csv_source.required_fields(entity) if f not in cleaned]
    if missing:
        raise InvalidArgument("Map a column to each required field: " + ", ".join(missing)
                              + ".", field="columns")
    row = find_mapping(session, claims.school_id, entity)
    if row is None:
        row = CsvMapping(school_id=claims.school_id, entity=entity)
        session.add(row)
    row.columns = cleaned
    row.date_format = date_format
    row.updated_by = claims.account_id
    row.updated_at = utcnow()
    session.flush()
    return row
