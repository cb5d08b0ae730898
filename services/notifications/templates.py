"""What notification emails say.

An alert email tells a colleague *that* something needs them: who raised it, under which
categories, and a link to log in and read it. It never carries the incident or action text
nor the student's name; the event it is built from (records.alert.raised) does not contain
them, and the functions here take nothing that could.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

SUBJECT_MAX = 200


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str


def _one_line(value: str, limit: int = 200) -> str:
    """Collapse whitespace (no header injection through CR/LF) and cap the length."""
    cleaned = " ".join(str(value).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def incident_link(public_url: str, incident_id: str) -> str:
    return f"{public_url.rstrip('/')}/incidents/{quote(incident_id, safe='')}"


def alert_email(
    *,
    recipient_name: str,
    raised_by_name: str,
    category_names: list[str],
    kind: str,
    incident_id: str,
    public_url: str,
) -> RenderedEmail:
    """The email for records.alert.raised."""
    raised_by = _one_line(raised_by_name) or "A colleague"
    names = [_one_line(n, 100) for n in category_names if _one_line(n, 100)]
    categories = ", ".join(names) if names else "no category given"
    what = "an action on an incident" if kind == "action" else "an incident"
    subject = _one_line(f"Haven alert: {raised_by} has alerted you to {what}", SUBJECT_MAX)
    greeting = f"Hello {_one_line(recipient_name)}," if _one_line(recipient_name) else "Hello,"
    body = "\n".join(
        [
            greeting,
            "",
            f"{raised_by} has alerted you to {what} in Haven.",
            "",
            f"Categories: {categories}",
            "",
            "Log in to Haven to read it:",
            incident_link(public_url, incident_id),
            "",
            "For the safety of the pupils concerned, this email never contains the details;",
            "they are only shown to you after you log in.",
            "",
            "This message was sent automatically; please do not reply to it.",
            "",
        ]
    )
    return RenderedEmail(subject=subject, body=body)
