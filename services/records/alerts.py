"""Alerts: who is asked to read an incident or action, the dashboard list, marking read.

An alert tells its recipient which student, which categories, who raised it and when; its
incident opens for the recipient while the alert is unread (see chronology.py). Marking read
is the recipient's own act: nobody can see or mark another person's alerts. An admin may clear
a user's dashboard alerts between two dates (they stay on record as cleared).

Recipients come from: colleagues chosen on the form, alert groups (kept from identity's
``identity.alert_group.upserted``), "incident alert recipients" (for an action: those alerted
to the incident), and automatic alerts (per student, and per user by category, student or
group). The author is never alerted. Colleagues who could not normally view the incident are
alerted all the same (the alert lets them read it), and named in ``alert_warnings``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import (
    colleague_could_view,
    colleagues,
    require_admin,
    viewer,
)
from services.records.categories import CategoryBook, CategoryView
from services.records.models import (
    Action,
    Alert,
    AlertGroup,
    AutoAlertRule,
    Category,
    GroupMembership,
    Incident,
    IncidentCategory,
    StaffMember,
    Student,
    StudentAlertStaff,
    StudentGroup,
)
from services.records.ports import RecordsEvents
from shared.context import current_claims
from shared.db import new_id, utcnow
from shared.errors import InvalidArgument, NotFound, PermissionDenied

MAX_ALERTS = 500
MAX_RECIPIENTS = 200
RULE_KINDS = ("category", "student", "group")


@dataclass(frozen=True)
class Recipient:
    account_id: str
    reason: str  # "chosen", "group", "automatic", "incident_recipients"


def _ids(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def _active_staff(session: Session, school_id: str, account_ids: list[str]) -> set[str]:
    if not account_ids:
        return set()
    return set(session.scalars(select(StaffMember.account_id).where(
        StaffMember.school_id == school_id, StaffMember.account_id.in_(account_ids),
        StaffMember.active.is_(True))))


def resolve_recipients(
    session: Session, school_id: str, author_id: str, *, account_ids: Iterable[str] = (),
    alert_group_ids: Iterable[str] = (), incident_recipients_of: str = "",
) -> list[Recipient]:
    """The colleagues a form asks to alert, in order, without duplicates or the author.

    Chosen colleagues must be active staff of the school and alert groups must exist (else
    INVALID_ARGUMENT); an alert group's members who have left are skipped.
    """
    chosen = _ids(account_ids)
    if len(chosen) > MAX_RECIPIENTS:
        raise InvalidArgument("Too many colleagues to alert.", field="alert_account_ids")
    active = _active_staff(session, school_id, chosen)
    if any(a not in active for a in chosen):
        raise InvalidArgument("Only active staff of this school can be alerted.",
                              field="alert_account_ids")
    out = [Recipient(a, "chosen") for a in chosen]
    group_ids = _ids(alert_group_ids)
    if group_ids:
        groups = {g.id: g for g in session.scalars(select(AlertGroup).where(
            AlertGroup.school_id == school_id, AlertGroup.id.in_(group_ids),
            AlertGroup.deleted.is_(False)))}
        if any(g not in groups for g in group_ids):
            raise InvalidArgument("Unknown alert group.", field="alert_group_ids")
        members = _ids(m for g in group_ids for m in groups[g].member_account_ids)
        active = _active_staff(session, school_id, members)
        out += [Recipient(m, "group") for m in members if m in active]
    if incident_recipients_of:
        earlier = _ids(session.scalars(select(Alert.recipient_account_id).where(
            Alert.school_id == school_id, Alert.incident_id == incident_recipients_of,
            Alert.action_id.is_(None)).order_by(Alert.created_at, Alert.id)))
        active = _active_staff(session, school_id, earlier)
        out += [Recipient(a, "incident_recipients") for a in earlier if a in active]
    return merge(out, author_id=author_id)


def merge(*lists: Iterable[Recipient], author_id: str) -> list[Recipient]:
    seen: dict[str, Recipient] = {}
    for items in lists:
        for r in items:
            if r.account_id != author_id and r.account_id not in seen:
                seen[r.account_id] = r
    out = list(seen.values())
    if len(out) > MAX_RECIPIENTS * 5:
        raise InvalidArgument("Too many colleagues to alert.", field="alert_account_ids")
    return out


def automatic_recipients(session: Session, school_id: str, author_id: str, *, student_id: str,
                         category_ids: Iterable[str]) -> list[Recipient]:
    """Who asked to be alerted about every incident like this one: staff named on the
    student (Edit information > Alerts), and users' rules by category (a rule on a parent
    category covers its sub-categories), student, or a group the student is in."""
    cats = set(category_ids)
    if cats:
        parents = set(session.scalars(select(Category.parent_id).where(
            Category.school_id == school_id, Category.id.in_(sorted(cats)),
            Category.parent_id.is_not(None))))
        cats |= parents
    groups = set(session.scalars(select(GroupMembership.group_id).join(
        StudentGroup, StudentGroup.id == GroupMembership.group_id).where(
        GroupMembership.school_id == school_id, GroupMembership.student_id == student_id,
        StudentGroup.active.is_(True))))
    conditions = [(AutoAlertRule.kind == "student") & (AutoAlertRule.target_id == student_id)]
    if cats:
        conditions.append((AutoAlertRule.kind == "category")
                          & AutoAlertRule.target_id.in_(sorted(cats)))
    if groups:
        conditions.append((AutoAlertRule.kind == "group")
                          & AutoAlertRule.target_id.in_(sorted(groups)))
    wanted = list(session.scalars(select(StudentAlertStaff.account_id).where(
        StudentAlertStaff.school_id == school_id, StudentAlertStaff.student_id == student_id
    ).order_by(StudentAlertStaff.id)))
    wanted += list(session.scalars(select(AutoAlertRule.account_id).where(
        AutoAlertRule.school_id == school_id, or_(*conditions)).order_by(AutoAlertRule.id)))
    wanted = _ids(wanted)
    active = _active_staff(session, school_id, wanted)
    return [Recipient(a, "automatic") for a in wanted if a in active and a != author_id]


def raise_alerts(
    session: Session, events: RecordsEvents, *, incident: Incident, action: Action | None,
    recipients: list[Recipient], raised_by: str, raised_by_name: str,
    categories: list[Category], now: dt.datetime,
) -> list[Alert]:
    """One alert per recipient (skipping who already has an unread one for the same thing),
    each announced (records.alert.raised: never the text nor the student's name)."""
    if not recipients:
        return []
    held = set(session.scalars(select(Alert.recipient_account_id).where(
        Alert.school_id == incident.school_id, Alert.incident_id == incident.id,
        Alert.action_id == action.id if action else Alert.action_id.is_(None),
        Alert.read_at.is_(None), Alert.cleared_at.is_(None))))
    made = []
    for r in recipients:
        if r.account_id in held:
            continue
        alert = Alert(id=new_id(), school_id=incident.school_id, incident_id=incident.id,
                      student_id=incident.student_id,
                      action_id=action.id if action else None,
                      recipient_account_id=r.account_id, raised_by=raised_by,
                      raised_by_name=raised_by_name, kind="action" if action else "incident",
                      # a microsecond apart, so they list in the order they were chosen
                      reason=r.reason, created_at=now + dt.timedelta(microseconds=len(made)))
        session.add(alert)
        made.append(alert)
    session.flush()
    for alert in made:
        events.alert_raised(session, alert, incident, categories)
    return made


def warnings_for(session: Session, school_id: str, *, student_id: str,
                 category_ids: list[str], account_ids: list[str]) -> list[str]:
    """Of these colleagues, those who could not normally view such an incident."""
    people = colleagues(session, school_id, account_ids)
    return [a for a in account_ids
            if a not in people or not colleague_could_view(
                session, school_id, people[a], student_id=student_id,
                category_ids=category_ids)]


@dataclass(frozen=True)
class RecipientCheck:
    account_id: str
    name: str
    can_view: bool
    active: bool


def check_recipients(
    session: Session, *, student_id: str = "", category_ids: Iterable[str] = (),
    account_ids: Iterable[str] = (), alert_group_ids: Iterable[str] = (), incident_id: str = "",
    incident_recipients: bool = False,
) -> list[RecipientCheck]:
    """For the form, before submitting: everyone who would be alerted, and whether each could
    normally view it (those who could not are shown in red)."""
    from services.records.chronology import open_incident
    from services.records.students import pickable_student

    claims = current_claims()
    v = viewer(session, claims)
    cats = _ids(category_ids)
    if incident_id:
        incident = open_incident(session, v, incident_id)
        student_id = incident.student_id
        cats = _ids(list(session.scalars(select(IncidentCategory.category_id).where(
            IncidentCategory.school_id == claims.school_id,
            IncidentCategory.incident_id == incident.id))) + cats)
    else:
        student_id = pickable_student(session, v, student_id).id
    recipients = resolve_recipients(
        session, claims.school_id, claims.account_id, account_ids=account_ids,
        alert_group_ids=alert_group_ids,
        incident_recipients_of=incident_id if incident_recipients else "")
    ids = [r.account_id for r in recipients]
    people = colleagues(session, claims.school_id, ids)
    out = []
    for a in ids:
        person = people.get(a)
        out.append(RecipientCheck(
            account_id=a, name=person.name if person else "",
            can_view=bool(person) and colleague_could_view(
                session, claims.school_id, person, student_id=student_id, category_ids=cats),
            active=bool(person and person.active)))
    return out


# ---- the dashboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertView:
    alert: Alert
    incident: Incident
    categories: list[CategoryView]

    @property
    def student_name(self) -> str:
        return self.incident.student.display_name


def list_alerts(session: Session, *, limit: int = MAX_ALERTS) -> list[AlertView]:
    """The caller's unread alerts, newest first (not cleared, not about deleted records)."""
    claims = current_claims()
    rows = session.scalars(
        select(Alert)
        .join(Incident, Incident.id == Alert.incident_id)
        .outerjoin(Action, Action.id == Alert.action_id)
        .where(
            Alert.school_id == claims.school_id,
            Alert.recipient_account_id == claims.account_id,
            Alert.read_at.is_(None),
            Alert.cleared_at.is_(None),
            Incident.deleted_at.is_(None),
            Incident.merged_into_id.is_(None),
            Action.deleted_at.is_(None),
        )
        .order_by(Alert.created_at.desc(), Alert.id)
        .limit(max(1, min(limit, MAX_ALERTS)))
    ).all()
    from services.records.access import category_rights

    book = CategoryBook(session, claims.school_id, category_rights(session, claims))
    return [
        AlertView(alert=a, incident=a.incident,
                  categories=book.views(link.category_id for link in a.incident.category_links))
        for a in rows
    ]


def mark_alert_read(session: Session, *, alert_id: str = "", incident_id: str = "") -> int:
    """Mark one of the caller's alerts read (or all of theirs for one incident).

    Idempotent: marking an alert already read changes nothing. Returns how many changed.
    """
    claims = current_claims()
    alert_id = (alert_id or "").strip()
    incident_id = (incident_id or "").strip()
    if not alert_id and not incident_id:
        raise InvalidArgument("Say which alert to mark read.", field="alert_id")
    query = select(Alert).where(
        Alert.school_id == claims.school_id, Alert.recipient_account_id == claims.account_id
    )
    if alert_id:
        query = query.where(Alert.id == alert_id)
    else:
        query = query.where(Alert.incident_id == incident_id)
    mine = list(session.scalars(query))
    if not mine:
        raise audit.refuse(NotFound("No such alert."),
                           detail=f"alert {alert_id[:40]!r} incident {incident_id[:40]!r}")
    now = utcnow()
    changed = 0
    for alert in mine:
        if alert.read_at is None:
            alert.read_at = now
            changed += 1
            audit.record(session, "alert.read", student_id=alert.incident.student_id,
                         detail=f"alert {alert.id} incident {alert.incident_id}")
    return changed


def list_alert_groups(session: Session) -> list[AlertGroup]:
    claims = current_claims()
    if not claims.has("add_incidents"):
        raise PermissionDenied("Your user group may not alert colleagues.")
    return list(session.scalars(select(AlertGroup).where(
        AlertGroup.school_id == claims.school_id, AlertGroup.deleted.is_(False)
    ).order_by(AlertGroup.name, AlertGroup.id)))


# ---- automatic alerts and clearing (Admin > Users > a user > Alerts) -----------------------------


@dataclass(frozen=True)
class AutomaticAlerts:
    account_id: str
    category_ids: list[str]
    student_ids: list[str]
    group_ids: list[str]


def _admin_or_self(account_id: str, operation: str) -> tuple[str, str]:
    claims = current_claims()
    account_id = (account_id or "").strip() or claims.account_id
    if account_id != claims.account_id or operation.endswith(".set"):
        try:
            require_admin(claims, "A user's automatic alerts")
        except PermissionDenied as exc:
            raise audit.refuse(exc, detail=f"{operation} account {account_id[:40]}") from None
    return claims.school_id, account_id


def get_automatic_alerts(session: Session, account_id: str = "") -> AutomaticAlerts:
    school_id, account_id = _admin_or_self(account_id, "alerts.automatic.get")
    rules = list(session.scalars(select(AutoAlertRule).where(
        AutoAlertRule.school_id == school_id, AutoAlertRule.account_id == account_id
    ).order_by(AutoAlertRule.id)))
    return AutomaticAlerts(
        account_id=account_id,
        category_ids=[r.target_id for r in rules if r.kind == "category"],
        student_ids=[r.target_id for r in rules if r.kind == "student"],
        group_ids=[r.target_id for r in rules if r.kind == "group"],
    )


def set_automatic_alerts(session: Session, *, account_id: str, category_ids: Iterable[str] = (),
                         student_ids: Iterable[str] = (), group_ids: Iterable[str] = ()
                         ) -> AutomaticAlerts:
    """Admin: the user is alerted to every new incident in these categories, about these
    students, or about students of these groups (replaces their rules)."""
    school_id, account_id = _admin_or_self(account_id, "alerts.automatic.set")
    if not _active_staff(session, school_id, [account_id]):
        raise InvalidArgument("Only active staff of this school get automatic alerts.",
                              field="account_id")
    wanted = {"category": _ids(category_ids), "student": _ids(student_ids),
              "group": _ids(group_ids)}
    for kind, model, fld in (("category", Category, "category_ids"),
                             ("student", Student, "student_ids"),
                             ("group", StudentGroup, "group_ids")):
        ids = wanted[kind]
        if ids:
            found = set(session.scalars(select(model.id).where(
                model.school_id == school_id, model.id.in_(ids))))
            if any(i not in found for i in ids):
                raise InvalidArgument(f"Unknown {kind}.", field=fld)
    current = list(session.scalars(select(AutoAlertRule).where(
        AutoAlertRule.school_id == school_id, AutoAlertRule.account_id == account_id)))
    keep = set()
    for rule in current:
        if rule.target_id in wanted.get(rule.kind, []) and (rule.kind, rule.target_id) not in keep:
            keep.add((rule.kind, rule.target_id))
        else:
            session.delete(rule)
    for kind, ids in wanted.items():
        for target in ids:
            if (kind, target) not in keep:
                session.add(AutoAlertRule(id=new_id(), school_id=school_id,
                                          account_id=account_id, kind=kind, target_id=target))
    session.flush()
    audit.record(session, "alerts.automatic.updated", detail=f"account {account_id}: " + ", ".join(
        f"{len(v)} {k}" for k, v in wanted.items()))
    return get_automatic_alerts(session, account_id)


def clear_user_alerts(session: Session, *, account_id: str, from_date: str, to_date: str) -> int:
    """Admin: take a user's dashboard alerts raised between two dates (inclusive) off their
    dashboard. They stay on record, marked cleared."""
    claims = current_claims()
    try:
        require_admin(claims, "Clearing a user's alerts")
    except PermissionDenied as exc:
        raise audit.refuse(exc, detail=f"alerts.clear account {account_id[:40]}") from None
    from services.records.settings import parse_date

    account_id = (account_id or "").strip()
    if not account_id:
        raise InvalidArgument("Say whose alerts to clear.", field="account_id")
    start = parse_date(from_date, "from_date")
    end = parse_date(to_date, "to_date")
    if start is None or end is None:
        raise InvalidArgument("Give both dates.", field="from_date")
    if end < start:
        raise InvalidArgument("The end date is before the start date.", field="to_date")
    rows = list(session.scalars(select(Alert).where(
        Alert.school_id == claims.school_id, Alert.recipient_account_id == account_id,
        Alert.read_at.is_(None), Alert.cleared_at.is_(None),
        Alert.created_at >= dt.datetime.combine(start, dt.time()),
        Alert.created_at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time()),
    )))
    now = utcnow()
    for alert in rows:
        alert.cleared_at = now
        alert.cleared_by = claims.account_id
    audit.record(session, "alerts.cleared",
                 detail=f"account {account_id} {start}..{end}: {len(rows)} alerts")
    return len(rows)
