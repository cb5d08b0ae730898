"""What notification emails say.

An alert or assignment email tells a colleague *that* something needs them: who, under which
categories, and a link to log in and read it. It never carries the incident or action text
nor the student's name; the events it is built from (records.alert.raised,
records.incident.assigned) do not contain them, and the functions here take nothing that
could.

A password email (identity.password_reset.requested) carries a link that sets a password:
a secret. It goes only into the email itself; the delivery log keeps the body until the mail
is sent (``links.hide_links`` then removes it) and never shows it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SUBJECT_MAX = 200
FOOTER = [
    "This message was sent automatically; please do not reply to it.",
    "",
]

# Why a colleague was alerted (AlertRaised.reason), as a sentence of the email.
ALERT_REASONS = {
    "group": "You were alerted as a member of an alert group.",
    "automatic": "This is an automatic alert: your alert settings in Haven cover it.",
    "incident_recipients": "You were alerted because you were told about this incident before.",
}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str


def _one_line(value: str, limit: int = 200) -> str:
    """Collapse whitespace (no header injection through CR/LF) and cap the length."""
    cleaned = " ".join(str(value).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _greeting(recipient_name: str) -> str:
    name = _one_line(recipient_name)
    return f"Hello {name}," if name else "Hello,"


def _categories(category_names: list[str]) -> str:
    names = [_one_line(n, 100) for n in category_names if _one_line(n, 100)]
    return ", ".join(names) if names else "no category given"


def incident_link(public_url: str, incident_id: str) -> str:
    return f"{public_url.rstrip('/')}/incidents/{quote(incident_id, safe='')}"


def _read_it_after_login(public_url: str, incident_id: str) -> list[str]:
    """The end of every incident email: the link, why the details are not in it, the footer."""
    return [
        "Log in to Haven to read it:",
        incident_link(public_url, incident_id),
        "",
        "For the safety of the pupils concerned, this email never contains the details;",
        "they are only shown to you after you log in.",
        "",
        *FOOTER,
    ]


def alert_email(
    *,
    recipient_name: str,
    raised_by_name: str,
    category_names: list[str],
    kind: str,
    incident_id: str,
    public_url: str,
    reason: str = "",
) -> RenderedEmail:
    """The email for records.alert.raised (an incident, or an action added to one)."""
    raised_by = _one_line(raised_by_name) or "A colleague"
    automatic = reason == "automatic"
    if kind == "action":
        what = f"{raised_by} added an action to an incident"
        said = f"{what} in Haven." if automatic else f"{what} in Haven and alerted you."
    elif automatic:
        what = f"{raised_by} recorded an incident"
        said = f"{what} in Haven."
    else:
        what = f"{raised_by} has alerted you to an incident"
        said = f"{what} in Haven."
    subject = f"Haven alert: {what}" + (" (automatic alert)" if automatic else "")
    why = ALERT_REASONS.get(reason, "")
    body = [
        _greeting(recipient_name),
        "",
        said,
        *([why] if why else []),
        "",
        f"Categories: {_categories(category_names)}",
        "",
        *_read_it_after_login(public_url, incident_id),
    ]
    return RenderedEmail(subject=_one_line(subject, SUBJECT_MAX), body="\n".join(body))


def assignment_email(
    *,
    recipient_name: str,
    assigned_by_name: str,
    category_names: list[str],
    incident_id: str,
    public_url: str,
) -> RenderedEmail:
    """The email for records.incident.assigned: who gave it to them, the categories, a link."""
    who = _one_line(assigned_by_name) or "A colleague"
    categories = _categories(category_names)
    subject = _one_line(f"Haven: {who} assigned you an incident ({categories})", SUBJECT_MAX)
    body = [
        _greeting(recipient_name),
        "",
        f"{who} assigned you an incident in Haven ({categories}).",
        "It stays in My Assigned on your dashboard until it is closed.",
        "",
        *_read_it_after_login(public_url, incident_id),
    ]
    return RenderedEmail(subject=subject, body="\n".join(body))


def _zone(time_zone: str) -> tuple[dt.tzinfo, str]:
    try:
        return ZoneInfo(time_zone), time_zone
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC, "UTC"


def format_expiry(expires_at: dt.datetime, time_zone: str) -> str:
    """When a link stops working, in the school's time zone ("midnight at the end of ...")."""
    zone, label = _zone(time_zone)
    moment = expires_at.replace(tzinfo=dt.UTC) if expires_at.tzinfo is None else expires_at
    local = moment.astimezone(zone)
    if (local.hour, local.minute) == (0, 0):
        day = local - dt.timedelta(days=1)
        when = f"midnight at the end of {day:%A} {day.day} {day:%B %Y}"
    else:
        when = f"{local:%H:%M} on {local:%A} {local.day} {local:%B %Y}"
    return f"{when} ({label} time)"


def password_link_email(
    *,
    recipient_name: str,
    school_name: str,
    link: str,
    expires_at: dt.datetime | None,
    time_zone: str,
    welcome: bool,
) -> RenderedEmail:
    """The email for identity.password_reset.requested: a first password or a reset."""
    school = _one_line(school_name)
    at_school = f" at {school}" if school else ""
    until = (
        f"The link works once, until {format_expiry(expires_at, time_zone)}."
        if expires_at is not None else "The link works once."
    )
    if welcome:
        subject = f"Set your first Haven password{at_school}"
        lines = [
            f"An account has been made for you in Haven{at_school}.",
            "To choose your password, open this link:",
            link,
            "",
            until,
            "After that, ask for a new one from the Haven login page",
            "(\"Forgotten your password or using Haven for the first time?\").",
        ]
    else:
        subject = f"Reset your Haven password{at_school}"
        lines = [
            f"A new password was asked for your Haven account{at_school}.",
            "To choose it, open this link:",
            link,
            "",
            until,
            "If you did not ask for this, ignore this email: your password has not changed.",
        ]
    body = [
        _greeting(recipient_name),
        "",
        *lines,
        "Never forward this email: anyone with the link can set your password.",
        "",
        *FOOTER,
    ]
    return RenderedEmail(subject=_one_line(subject, SUBJECT_MAX), body="\n".join(body))
