"""The chronology's options on an incident or action (section 7): edit (every version kept),
delete with a reason and restore, pin, merge an incident into another (it becomes an action
there), split an action out as an incident, add alerts and linked students after the fact.

Editing content, deleting, restoring, merging, splitting and adding linked students need the
edit permission (``access.can_edit_records``). Status and assignee may be changed by any
elevated caller who may view the incident (or it is assigned to them), so My Assigned can be
closed by its assignee. Pinning needs elevated access and the right to view it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import Viewer, require_edit, viewer
from services.records.actions import action_view, open_action
from services.records.agencies import agencies_to_tag
from services.records.alerts import (
    automatic_recipients,
    raise_alerts,
    resolve_recipients,
    warnings_for,
)
from services.records.chronology import (
    ActionView,
    IncidentView,
    open_incident,
    reads_by_category,
    view_one,
)
from services.records.incidents import (
    MAX_LINKED,
    assignee,
    author_name,
    categories_to_add,
    clean_occurred,
    clean_status,
    clean_text,
    dedupe,
    incident_categories,
    new_incident,
    next_numbers,
    tag_agencies,
)
from services.records.models import (
    Action,
    Alert,
    Category,
    Incident,
    IncidentCategory,
    RecordAgency,
)
from services.records.monitoring import start_monitoring
from services.records.ports import RecordsEvents
from services.records.students import pickable_student
from services.records.versions import ensure_baseline, snapshot
from shared.context import current_claims
from shared.db import new_id, utcnow
from shared.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

INCIDENT_CONTENT = {"text", "occurred_at", "category_ids", "agency_ids"}
INCIDENT_FIELDS = INCIDENT_CONTENT | {"status", "assigned_to"}
ACTION_FIELDS = {"text", "occurred_at", "agency_ids"}
MAX_REASON = 500


def _editor(session: Session, v: Viewer, incident: Incident, what: str) -> None:
    """Editing (section 7) needs the edit permission and the elevated way in to this incident:
    a category the caller may view and the pupil in their classes. An incident reached only
    through an alert or an assignment can be read, not rewritten, deleted or restored."""
    try:
        require_edit(v.claims)
        if not reads_by_category(session, v, incident):
            raise PermissionDenied("You may not edit this incident.")
    except PermissionDenied as exc:
        raise audit.refuse(exc, student_id=incident.student_id, detail=what) from None


def _reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidArgument("Say why it is being deleted.", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidArgument(f"At most {MAX_REASON} characters, please.", field="reason")
    return reason


def _fields(update_names: Iterable[str], allowed: set[str]) -> set[str]:
    names = {u.strip() for u in update_names if u and u.strip()}
    if not names or names - allowed:
        raise InvalidArgument(f"Say what to change: {', '.join(sorted(allowed))}.",
                              field="update")
    return names


def _check_version(record, expected: int) -> None:
    if expected and expected != record.version:
        raise Conflict("Someone else changed this meanwhile; reload it and try again.",
                       field="expected_version")


def _replace_agencies(session: Session, record_incident_id: str, action_id: str | None,
                      school_id: str, agency_ids: Iterable[str]) -> bool:
    current = list(session.scalars(select(RecordAgency).where(
        RecordAgency.school_id == school_id, RecordAgency.incident_id == record_incident_id,
        RecordAgency.action_id == action_id if action_id else RecordAgency.action_id.is_(None))))
    held = {r.agency_id for r in current}
    wanted = dedupe(agency_ids)
    new = agencies_to_tag(session, school_id, [a for a in wanted if a not in held])
    if set(wanted) == held:
        return False
    for r in current:
        if r.agency_id not in wanted:
            session.delete(r)
    tag_agencies(session, school_id, record_incident_id, action_id, new)
    return True


# ---- incidents ----------------------------------------------------------------------------------


def update_incident(
    session: Session, events: RecordsEvents, *, incident_id: str, update_fields: Iterable[str],
    text: str = "", occurred_at: dt.datetime | None = None, category_ids: Iterable[str] = (),
    agency_ids: Iterable[str] = (), status: str = "", assigned_to: str = "",
    expected_version: int = 0,
) -> IncidentView:
    claims = current_claims()
    v = viewer(session, claims)
    names = _fields(update_fields, INCIDENT_FIELDS)
    incident = open_incident(session, v, incident_id)
    if names & INCIDENT_CONTENT:
        _editor(session, v, incident, f"incident.edit {incident.id}")
    elif not (v.full_access and (reads_by_category(session, v, incident)
                                 or incident.assigned_to == v.account_id)):
        raise audit.refuse(PermissionDenied(
            "Changing the status or assignee needs elevated access to this incident."),
            student_id=incident.student_id, detail=f"incident {incident.id}")
    if incident.deleted_at is not None:
        raise FailedPrecondition("This incident is deleted; restore it first.")
    _check_version(incident, expected_version)
    ensure_baseline(session, incident)
    now = utcnow()
    changes = []
    if "text" in names:
        new_text = clean_text(text)
        if new_text != incident.text:
            incident.text = new_text
            changes.append("text")
    if "occurred_at" in names:
        occurred = clean_occurred(occurred_at, now)
        if occurred != incident.occurred_at:
            incident.occurred_at = occurred
            changes.append("occurred_at")
    if "category_ids" in names:
        changes += _replace_categories(session, events, v, incident, category_ids, now)
    if "agency_ids" in names and _replace_agencies(session, incident.id, None, v.school_id,
                                                    agency_ids):
        changes.append("agencies")
    if "status" in names:
        new_status = clean_status(status)
        if new_status != incident.status:
            incident.status = new_status
            changes.append("status")
    assigned_now = None
    if "assigned_to" in names:
        staff = assignee(session, v.school_id, assigned_to)
        new_id_ = staff.account_id if staff else None
        if new_id_ != incident.assigned_to:
            incident.assigned_to = new_id_
            incident.assigned_to_name = staff.display_name if staff else ""
            changes.append("assigned")
            assigned_now = staff
    if changes:
        incident.version += 1
        incident.updated_at = now
        by_name = author_name(session, claims)
        snapshot(session, incident, "edited", by=claims.account_id, by_name=by_name, at=now)
        categories = incident_categories(session, incident)
        change = "edited" if set(changes) & {"text", "occurred_at", "categories", "agencies"} \
            else changes[0]
        events.incident_updated(session, incident, categories, change)
        if assigned_now is not None:
            events.incident_assigned(session, incident, categories, by_name)
        audit.record(session, "incident.edited", student_id=incident.student_id,
                     detail=f"incident {incident.id} v{incident.version}: {', '.join(changes)}")
    return view_one(session, v, incident)


def _replace_categories(session: Session, events: RecordsEvents, v: Viewer, incident: Incident,
                        category_ids: Iterable[str], now: dt.datetime) -> list[str]:
    """The incident's own categories become these (those actions added stay)."""
    wanted = dedupe(category_ids)
    if not wanted:
        raise InvalidArgument("Choose at least one category.", field="category_ids")
    own = list(session.scalars(select(IncidentCategory).where(
        IncidentCategory.school_id == v.school_id, IncidentCategory.incident_id == incident.id,
        IncidentCategory.action_id.is_(None)).order_by(IncidentCategory.position)))
    if [r.category_id for r in own] == wanted:
        return []
    held = {r.category_id for r in own}
    new = categories_to_add(session, v, [c for c in wanted if c not in held],
                            incident.student_id, required=False)
    by_action = {r.category_id: r for r in session.scalars(select(IncidentCategory).where(
        IncidentCategory.school_id == v.school_id, IncidentCategory.incident_id == incident.id,
        IncidentCategory.action_id.is_not(None)))}
    for r in own:
        session.delete(r)
    for c in wanted:
        if c in by_action:
            session.delete(by_action[c])
    session.flush()
    for position, c in enumerate(wanted):
        session.add(IncidentCategory(school_id=v.school_id, incident_id=incident.id,
                                     student_id=incident.student_id,
                                     category_id=c, position=position))
    session.flush()
    if new:
        start_monitoring(session, events, school_id=v.school_id, student_id=incident.student_id,
                         category_ids=[c.id for c in new], at=now, by=v.account_id,
                         source="incident")
    return ["categories"]


def delete_incident(session: Session, events: RecordsEvents, *, incident_id: str, reason: str
                    ) -> IncidentView:
    """Others see nothing of it any more; editors see a marker with the reason and history."""
    claims = current_claims()
    v = viewer(session, claims)
    incident = open_incident(session, v, incident_id)
    _editor(session, v, incident, f"incident.delete {incident.id}")
    reason = _reason(reason)
    if incident.deleted_at is None:
        ensure_baseline(session, incident)
        now = utcnow()
        by_name = author_name(session, claims)
        incident.deleted_at, incident.deleted_by = now, claims.account_id
        incident.deleted_by_name, incident.deleted_reason = by_name, reason
        incident.version += 1
        incident.updated_at = now
        snapshot(session, incident, "deleted", reason=reason, by=claims.account_id,
                 by_name=by_name, at=now)
        events.incident_updated(session, incident, incident_categories(session, incident),
                                "deleted")
        audit.record(session, "incident.deleted", student_id=incident.student_id,
                     detail=f"incident {incident.id}: {reason}")
    return view_one(session, v, incident)


def restore_incident(session: Session, events: RecordsEvents, *, incident_id: str
                     ) -> IncidentView:
    claims = current_claims()
    v = viewer(session, claims)
    incident = open_incident(session, v, incident_id)
    _editor(session, v, incident, f"incident.restore {incident.id}")
    if incident.deleted_at is not None:
        now = utcnow()
        by_name = author_name(session, claims)
        incident.deleted_at = incident.deleted_by = None
        incident.deleted_by_name = incident.deleted_reason = ""
        incident.version += 1
        incident.updated_at = now
        snapshot(session, incident, "restored", by=claims.account_id, by_name=by_name, at=now)
        events.incident_updated(session, incident, incident_categories(session, incident),
                                "restored")
        audit.record(session, "incident.restored", student_id=incident.student_id,
                     detail=f"incident {incident.id}")
    return view_one(session, v, incident)


def pin_incident(session: Session, *, incident_id: str, pinned: bool) -> IncidentView:
    """Pinned incidents sit at the top of the student's chronology, for everyone."""
    claims = current_claims()
    v = viewer(session, claims)
    incident = open_incident(session, v, incident_id)
    if not reads_by_category(session, v, incident):
        raise audit.refuse(PermissionDenied("Pinning needs elevated access to this incident."),
                           student_id=incident.student_id, detail=f"incident {incident.id}")
    if incident.deleted_at is not None:
        raise FailedPrecondition("This incident is deleted; restore it first.")
    if incident.pinned != pinned:
        incident.pinned = pinned
        incident.pinned_at = utcnow() if pinned else None
        audit.record(session, "incident.pinned" if pinned else "incident.unpinned",
                     student_id=incident.student_id, detail=f"incident {incident.id}")
    return view_one(session, v, incident)


# ---- actions ------------------------------------------------------------------------------------


def update_action(
    session: Session, *, action_id: str, update_fields: Iterable[str], text: str = "",
    occurred_at: dt.datetime | None = None, agency_ids: Iterable[str] = (),
    expected_version: int = 0,
) -> ActionView:
    claims = current_claims()
    v = viewer(session, claims)
    names = _fields(update_fields, ACTION_FIELDS)
    action, incident = open_action(session, v, action_id)
    _editor(session, v, incident, f"action.edit {action.id}")
    if action.deleted_at is not None or incident.deleted_at is not None:
        raise FailedPrecondition("This action is deleted; restore it first.")
    _check_version(action, expected_version)
    ensure_baseline(session, action)
    now = utcnow()
    changes = []
    if "text" in names:
        new_text = clean_text(text, what="Describe the action taken.")
        if new_text != action.text:
            action.text = new_text
            changes.append("text")
    if "occurred_at" in names:
        occurred = clean_occurred(occurred_at, now)
        if occurred != action.occurred_at:
            action.occurred_at = occurred
            changes.append("occurred_at")
    if "agency_ids" in names and _replace_agencies(session, incident.id, action.id,
                                                    v.school_id, agency_ids):
        changes.append("agencies")
    if changes:
        action.version += 1
        action.updated_at = now
        snapshot(session, action, "edited", by=claims.account_id,
                 by_name=author_name(session, claims), at=now)
        audit.record(session, "action.edited", student_id=action.student_id,
                     detail=f"action {action.id} v{action.version}: {', '.join(changes)}")
    return action_view(session, v, action)


def delete_action(session: Session, *, action_id: str, reason: str) -> ActionView:
    claims = current_claims()
    v = viewer(session, claims)
    action, incident = open_action(session, v, action_id)
    _editor(session, v, incident, f"action.delete {action.id}")
    reason = _reason(reason)
    if action.deleted_at is None:
        ensure_baseline(session, action)
        now = utcnow()
        by_name = author_name(session, claims)
        action.deleted_at, action.deleted_by = now, claims.account_id
        action.deleted_by_name, action.deleted_reason = by_name, reason
        action.version += 1
        action.updated_at = now
        snapshot(session, action, "deleted", reason=reason, by=claims.account_id,
                 by_name=by_name, at=now)
        audit.record(session, "action.deleted", student_id=action.student_id,
                     detail=f"action {action.id}: {reason}")
    return action_view(session, v, action)


def restore_action(session: Session, *, action_id: str) -> ActionView:
    claims = current_claims()
    v = viewer(session, claims)
    action, incident = open_action(session, v, action_id)
    _editor(session, v, incident, f"action.restore {action.id}")
    if action.deleted_at is not None:
        now = utcnow()
        action.deleted_at = action.deleted_by = None
        action.deleted_by_name = action.deleted_reason = ""
        action.version += 1
        action.updated_at = now
        snapshot(session, action, "restored", by=claims.account_id,
                 by_name=author_name(session, claims), at=now)
        audit.record(session, "action.restored", student_id=action.student_id,
                     detail=f"action {action.id}")
    return action_view(session, v, action)


# ---- merge and split ----------------------------------------------------------------------------


def _merge_pair(session: Session, v: Viewer, incident_id: str, *, target_id: str = "",
                target_number: int = 0) -> tuple[Incident, Incident]:
    source = open_incident(session, v, incident_id)
    _editor(session, v, source, f"incident.merge {source.id}")
    if source.deleted_at is not None:
        raise FailedPrecondition("This incident is deleted; restore it first.")
    target = None
    if target_id:
        target = session.scalars(select(Incident).where(
            Incident.school_id == v.school_id, Incident.id == target_id.strip())).first()
    elif target_number:
        target = session.scalars(select(Incident).where(
            Incident.school_id == v.school_id, Incident.number == int(target_number))).first()
    else:
        raise InvalidArgument("Give the number of the incident to merge into.",
                              field="target_number")
    if target is None or target.deleted_at is not None or target.merged_into_id:
        raise audit.refuse(NotFound("No incident with that number."),
                           student_id=source.student_id, detail=f"merge {source.id}")
    if target.id == source.id:
        raise InvalidArgument("An incident cannot be merged into itself.", field="target_number")
    if target.student_id != source.student_id:
        raise InvalidArgument("Only incidents about the same student can be merged.",
                              field="target_number")
    if not reads_by_category(session, v, target):
        raise audit.refuse(PermissionDenied("You may not open the incident to merge into."),
                           student_id=target.student_id, detail=f"merge into {target.id}")
    return source, target


def preview_merge(session: Session, *, incident_id: str, target_number: int) -> IncidentView:
    """The incident a merge would go into, with its actions, before anything changes."""
    v = viewer(session)
    _source, target = _merge_pair(session, v, incident_id, target_number=target_number)
    audit.record(session, "incident.viewed", student_id=target.student_id,
                 detail=f"incident {target.id} (merge preview)")
    return view_one(session, v, target)


def merge_incident(session: Session, events: RecordsEvents, *, incident_id: str,
                   target_incident_id: str = "", target_number: int = 0) -> IncidentView:
    """The incident becomes an action of the target (same author, text and date); its
    actions, categories, agencies and alerts move along. Returns the target."""
    claims = current_claims()
    v = viewer(session, claims)
    source, target = _merge_pair(session, v, incident_id, target_id=target_incident_id,
                                 target_number=target_number)
    ensure_baseline(session, source)
    now = utcnow()
    by_name = author_name(session, claims)
    action = Action(
        id=new_id(), school_id=v.school_id, incident_id=target.id, student_id=target.student_id,
        text=source.text, occurred_at=source.occurred_at, created_at=source.created_at,
        created_by=source.created_by, created_by_name=source.created_by_name, version=1,
        merged_from_incident_id=source.id, merged_from_number=source.number,
    )
    session.add(action)
    session.flush()
    # The source's own agencies go with the action it becomes; its actions (and theirs) move.
    session.execute(update(RecordAgency).where(
        RecordAgency.school_id == v.school_id, RecordAgency.incident_id == source.id,
        RecordAgency.action_id.is_(None),
    ).values(incident_id=target.id, action_id=action.id)
        .execution_options(synchronize_session=False))
    session.execute(update(RecordAgency).where(
        RecordAgency.school_id == v.school_id, RecordAgency.incident_id == source.id,
    ).values(incident_id=target.id).execution_options(synchronize_session=False))
    session.execute(update(Action).where(
        Action.school_id == v.school_id, Action.incident_id == source.id, Action.id != action.id,
    ).values(incident_id=target.id).execution_options(synchronize_session=False))
    session.execute(update(Alert).where(
        Alert.school_id == v.school_id, Alert.incident_id == source.id,
        Alert.action_id.is_(None),
    ).values(incident_id=target.id, action_id=action.id, kind="action")
        .execution_options(synchronize_session=False))
    session.execute(update(Alert).where(
        Alert.school_id == v.school_id, Alert.incident_id == source.id,
    ).values(incident_id=target.id).execution_options(synchronize_session=False))
    held = set(session.scalars(select(IncidentCategory.category_id).where(
        IncidentCategory.school_id == v.school_id, IncidentCategory.incident_id == target.id)))
    moved_cats = []
    for row in session.scalars(select(IncidentCategory).where(
            IncidentCategory.school_id == v.school_id,
            IncidentCategory.incident_id == source.id).order_by(IncidentCategory.position)):
        if row.category_id not in held:
            session.add(IncidentCategory(school_id=v.school_id, incident_id=target.id,
                                         student_id=target.student_id,
                                         category_id=row.category_id,
                                         position=200 + len(moved_cats),
                                         action_id=row.action_id or action.id))
            held.add(row.category_id)
            moved_cats.append(row.category_id)
    session.expire_all()
    source = session.get(Incident, source.id)
    target = session.get(Incident, target.id)
    source.merged_into_id = target.id
    source.version += 1
    source.updated_at = now
    snapshot(session, source, "merged", reason=f"merged into incident {target.number}",
             by=claims.account_id, by_name=by_name, at=now)
    snapshot(session, action, "merged", reason=f"was incident {source.number}",
             by=claims.account_id, by_name=by_name, at=now)
    target.updated_at = now
    events.incident_updated(session, source, incident_categories(session, source), "merged")
    events.incident_updated(session, target, incident_categories(session, target), "categories")
    events.action_created(session, action)
    audit.record(session, "incident.merged", student_id=target.student_id,
                 detail=f"incident {source.id} (#{source.number}) into {target.id} "
                        f"(#{target.number}) as action {action.id}")
    return view_one(session, v, target)


def split_action(session: Session, events: RecordsEvents, *, action_id: str,
                 category_ids: Iterable[str] = ()) -> IncidentView:
    """The action becomes an incident of its own (same author, text and date), filed under
    the chosen categories (or the incident's own)."""
    claims = current_claims()
    v = viewer(session, claims)
    action, incident = open_action(session, v, action_id)
    _editor(session, v, incident, f"action.split {action.id}")
    if action.deleted_at is not None or incident.deleted_at is not None:
        raise FailedPrecondition("A deleted action cannot be split; restore it first.")
    chosen = categories_to_add(session, v, category_ids, incident.student_id, required=False)
    if not chosen:
        chosen = [c for c in session.scalars(select(Category).join(
            IncidentCategory, IncidentCategory.category_id == Category.id).where(
            IncidentCategory.school_id == v.school_id,
            IncidentCategory.incident_id == incident.id,
            IncidentCategory.action_id.is_(None)).order_by(IncidentCategory.position))
            if c.enabled]
    if not chosen:
        raise InvalidArgument("Choose at least one category.", field="category_ids")
    ensure_baseline(session, action)
    now = utcnow()
    by_name = author_name(session, claims)
    (number,) = next_numbers(session, v.school_id)
    student = incident.student
    new = new_incident(
        session, claims, student=student, text=action.text, occurred=action.occurred_at,
        now=now, status="active", categories=chosen, number=number, staff=None,
        by_name=by_name, created_by=action.created_by, created_by_name=action.created_by_name,
        created_at=action.created_at)
    new.split_from_action_id = action.id
    session.add(new)
    session.flush()
    session.execute(update(RecordAgency).where(
        RecordAgency.school_id == v.school_id, RecordAgency.action_id == action.id,
    ).values(incident_id=new.id, action_id=None).execution_options(synchronize_session=False))
    session.execute(update(Alert).where(
        Alert.school_id == v.school_id, Alert.action_id == action.id,
    ).values(incident_id=new.id, action_id=None, kind="incident")
        .execution_options(synchronize_session=False))
    session.execute(delete(IncidentCategory).where(
        IncidentCategory.school_id == v.school_id, IncidentCategory.action_id == action.id,
    ).execution_options(synchronize_session=False))
    action.split_into_incident_id = new.id
    action.version += 1
    action.updated_at = now
    snapshot(session, action, "split", reason=f"became incident {number}",
             by=claims.account_id, by_name=by_name, at=now)
    snapshot(session, new, "split", reason=f"was an action of incident {incident.number}",
             by=claims.account_id, by_name=by_name, at=now)
    start_monitoring(session, events, school_id=v.school_id, student_id=new.student_id,
                     category_ids=[c.id for c in chosen], at=now, by=claims.account_id,
                     source="incident")
    events.incident_created(session, new, chosen)
    audit.record(session, "action.split", student_id=new.student_id,
                 detail=f"action {action.id} of incident {incident.id} became incident {new.id}")
    return view_one(session, v, new)


# ---- after the fact: alerts and linked students -------------------------------------------------


def add_alerts(
    session: Session, events: RecordsEvents, *, incident_id: str = "", action_id: str = "",
    account_ids: Iterable[str] = (), alert_group_ids: Iterable[str] = (),
    incident_recipients: bool = False,
) -> tuple[list[str], list[str]]:
    """Alert more colleagues to an incident or one of its actions. Returns (newly alerted,
    those of them who could not normally view it)."""
    claims = current_claims()
    v = viewer(session, claims)
    incident_id, action_id = (incident_id or "").strip(), (action_id or "").strip()
    if bool(incident_id) == bool(action_id):
        raise InvalidArgument("Alert colleagues to one incident or one action.",
                              field="incident_id")
    action = None
    if action_id:
        action, incident = open_action(session, v, action_id)
    else:
        incident = open_incident(session, v, incident_id)
    if not (v.full_access and reads_by_category(session, v, incident)):
        raise audit.refuse(PermissionDenied("Adding alerts needs elevated access to this "
                                            "incident."),
                           student_id=incident.student_id, detail=f"incident {incident.id}")
    if incident.deleted_at is not None or (action is not None and action.deleted_at):
        raise FailedPrecondition("It is deleted; restore it first.")
    recipients = resolve_recipients(
        session, v.school_id, claims.account_id, account_ids=account_ids,
        alert_group_ids=alert_group_ids,
        incident_recipients_of=incident.id if incident_recipients else "")
    if not recipients:
        raise InvalidArgument("Choose someone to alert.", field="account_ids")
    categories = incident_categories(session, incident)
    made = raise_alerts(session, events, incident=incident, action=action,
                        recipients=recipients, raised_by=claims.account_id,
                        raised_by_name=author_name(session, claims), categories=categories,
                        now=utcnow())
    alerted = [a.recipient_account_id for a in made]
    if alerted:
        audit.record(session, "alerts.added", student_id=incident.student_id,
                     detail=f"{'action ' + action.id if action else 'incident ' + incident.id}"
                            f": {len(alerted)}")
    warnings = warnings_for(session, v.school_id, student_id=incident.student_id,
                            category_ids=[c.id for c in categories], account_ids=alerted)
    return alerted, warnings


def add_linked_students(session: Session, events: RecordsEvents, *, incident_id: str,
                        student_ids: Iterable[str], monitor: bool = False) -> IncidentView:
    """Copy the incident to more students after the fact (they join its link group)."""
    claims = current_claims()
    v = viewer(session, claims)
    incident = open_incident(session, v, incident_id)
    _editor(session, v, incident, f"incident.link {incident.id}")
    if incident.deleted_at is not None:
        raise FailedPrecondition("This incident is deleted; restore it first.")
    ids = [i for i in dedupe(student_ids) if i != incident.student_id]
    if not ids:
        raise InvalidArgument("Choose at least one other student.", field="student_ids")
    if len(ids) > MAX_LINKED:
        raise InvalidArgument(f"At most {MAX_LINKED} linked students.", field="student_ids")
    students = [pickable_student(session, v, i, what="linked student") for i in ids]
    if incident.link_group_id is None:
        incident.link_group_id = new_id()
    already = set(session.scalars(select(Incident.student_id).where(
        Incident.school_id == v.school_id, Incident.link_group_id == incident.link_group_id,
        Incident.deleted_at.is_(None), Incident.merged_into_id.is_(None))))
    students = [s for s in students if s.id not in already]
    categories = [c for c in session.scalars(select(Category).join(
        IncidentCategory, IncidentCategory.category_id == Category.id).where(
        IncidentCategory.school_id == v.school_id, IncidentCategory.incident_id == incident.id,
        IncidentCategory.action_id.is_(None)).order_by(IncidentCategory.position))]
    agencies_rows = list(session.scalars(select(RecordAgency).where(
        RecordAgency.school_id == v.school_id, RecordAgency.incident_id == incident.id,
        RecordAgency.action_id.is_(None))))
    now = utcnow()
    by_name = author_name(session, claims)
    numbers = next_numbers(session, v.school_id, len(students)) if students else []
    staff = None
    for student, number in zip(students, numbers, strict=True):
        copy = new_incident(
            session, claims, student=student, text=incident.text, occurred=incident.occurred_at,
            now=now, status=incident.status, categories=categories, number=number, staff=staff,
            by_name=by_name, link_group_id=incident.link_group_id,
            created_by=incident.created_by, created_by_name=incident.created_by_name,
            created_at=now)
        copy.assigned_to, copy.assigned_to_name = incident.assigned_to, incident.assigned_to_name
        session.add(copy)
        session.flush()
        for r in agencies_rows:
            session.add(RecordAgency(id=new_id(), school_id=v.school_id, incident_id=copy.id,
                                     action_id=None, agency_id=r.agency_id))
        snapshot(session, copy, "created", by=claims.account_id, by_name=by_name, at=now)
        events.incident_created(session, copy, categories)
        audit.record(session, "incident.created", student_id=student.id,
                     detail=f"incident {copy.id} (linked copy of {incident.id})")
        if monitor:
            start_monitoring(session, events, school_id=v.school_id, student_id=student.id,
                             category_ids=[c.id for c in categories], at=now,
                             by=claims.account_id, source="linked")
        raise_alerts(session, events, incident=copy, action=None,
                     recipients=automatic_recipients(
                         session, v.school_id, claims.account_id, student_id=student.id,
                         category_ids=[c.id for c in categories]),
                     raised_by=claims.account_id, raised_by_name=by_name,
                     categories=categories, now=now)
    if students:
        audit.record(session, "incident.linked", student_id=incident.student_id,
                     detail=f"incident {incident.id}: {len(students)} students")
    return view_one(session, v, incident)
