"""Alert and assignment emails say who and which categories, with a link; never the text or
the student. Password emails carry their link and when it stops working, in school time."""

from __future__ import annotations

import datetime as dt
import inspect

import pytest

from haven.identity.v1 import identity_pb2
from haven.records.v1 import records_pb2
from services.notifications import links, templates


def render(**overrides):
    values = dict(
        recipient_name="Tom Teacher",
        raised_by_name="Dana Lead",
        category_names=["Bullying", "Online safety"],
        kind="incident",
        incident_id="5b0c7d1e-0000-4000-8000-000000000042",
        public_url="https://haven.example.test/",
    )
    values.update(overrides)
    return templates.alert_email(**values)


def test_says_who_and_which_categories_and_links_to_the_incident():
    email = render()
    assert "Dana Lead" in email.subject
    assert "Dana Lead has alerted you to an incident" in email.body
    assert "Categories: Bullying, Online safety" in email.body
    assert (
        "https://haven.example.test/incidents/5b0c7d1e-0000-4000-8000-000000000042" in email.body
    )
    assert email.body.startswith("Hello Tom Teacher,")
    assert "action" in render(kind="action").subject


def test_the_event_has_no_text_and_no_student_name_and_the_template_takes_none():
    # Keep it that way: adding such a field to AlertRaised must fail here first.
    fields = set(records_pb2.AlertRaised.DESCRIPTOR.fields_by_name)
    assert fields == {
        "alert_id", "school_id", "recipient_account_id", "raised_by_name", "categories",
        "incident_id", "kind", "action_id", "reason",
    }
    assert set(records_pb2.CategoryRef.DESCRIPTOR.fields_by_name) == {"id", "name", "parent_id"}
    params = set(inspect.signature(templates.alert_email).parameters)
    assert params == {
        "recipient_name", "raised_by_name", "category_names", "kind", "incident_id", "public_url",
        "reason",
    }
    assert set(records_pb2.IncidentAssigned.DESCRIPTOR.fields_by_name) == {
        "incident_id", "school_id", "assigned_to", "assigned_by_name", "categories",
    }
    assert set(inspect.signature(templates.assignment_email).parameters) == {
        "recipient_name", "assigned_by_name", "category_names", "incident_id", "public_url",
    }


def test_the_rendered_email_holds_only_what_it_was_given():
    email = render(raised_by_name="R-SENTINEL", category_names=["C-SENTINEL"],
                   recipient_name="N-SENTINEL", incident_id="I-SENTINEL")
    words = set((email.subject + " " + email.body).replace("/", " ").split())
    sentinels = {w for w in words if "SENTINEL" in w}
    assert sentinels == {"R-SENTINEL", "C-SENTINEL", "N-SENTINEL,", "I-SENTINEL"}


def test_names_cannot_inject_headers_or_lines():
    email = render(raised_by_name="Eve\r\nBcc: victim@example.test", category_names=["A\nB"])
    assert "\n" not in email.subject and "\r" not in email.subject
    assert "Categories: A B" in email.body
    assert not any(line.startswith("Bcc:") for line in email.body.splitlines())


def test_incident_id_is_url_quoted():
    assert templates.incident_link("https://h.test", "a/b?c") == "https://h.test/incidents/a%2Fb%3Fc"


# ---- action alerts and reasons ----


def test_an_action_alert_says_an_action_was_added_and_why_when_automatic():
    chosen = render(kind="action", reason="chosen")
    assert chosen.subject == "Haven alert: Dana Lead added an action to an incident"
    assert "Dana Lead added an action to an incident in Haven and alerted you." in chosen.body
    automatic = render(kind="action", reason="automatic")
    assert automatic.subject == (
        "Haven alert: Dana Lead added an action to an incident (automatic alert)")
    assert "Dana Lead added an action to an incident in Haven." in automatic.body
    assert "alerted you" not in automatic.body
    assert "automatic alert: your alert settings" in automatic.body
    grouped = render(kind="action", reason="group")
    assert "member of an alert group" in grouped.body
    earlier = render(kind="action", reason="incident_recipients")
    assert "told about this incident before" in earlier.body


def test_incident_alerts_keep_their_wording_and_automatic_ones_say_so():
    chosen = render(reason="chosen")
    assert chosen.subject == "Haven alert: Dana Lead has alerted you to an incident"
    assert render(reason="").subject == render(reason="chosen").subject
    automatic = render(reason="automatic")
    assert automatic.subject == "Haven alert: Dana Lead recorded an incident (automatic alert)"
    assert render(reason="something new").body == render().body  # unknown reasons add nothing


# ---- assignments ----


def test_an_assignment_says_who_and_which_categories_with_a_link():
    email = templates.assignment_email(
        recipient_name="Dana Lead", assigned_by_name="Alex Admin",
        category_names=["Bullying", "Online safety"], incident_id="i-1",
        public_url="https://haven.example.test",
    )
    assert email.subject == "Haven: Alex Admin assigned you an incident (Bullying, Online safety)"
    assert email.body.startswith("Hello Dana Lead,")
    assert "Alex Admin assigned you an incident in Haven (Bullying, Online safety)." in email.body
    assert "https://haven.example.test/incidents/i-1" in email.body
    anonymous = templates.assignment_email(
        recipient_name="", assigned_by_name=" ", category_names=[], incident_id="i",
        public_url="https://h.test")
    assert anonymous.subject == "Haven: A colleague assigned you an incident (no category given)"


# ---- password links ----

LINK = "https://haven.example.test/reset-password/s3cr3t-t0ken"


def password(**overrides):
    values = dict(
        recipient_name="Nia Newbie", school_name="Haven Demo Academy", link=LINK,
        expires_at=dt.datetime(2026, 3, 3, 0, 0), time_zone="Europe/London", welcome=True,
    )
    values.update(overrides)
    return templates.password_link_email(**values)


def test_a_welcome_email_sets_a_first_password_until_midnight_school_time():
    email = password()
    assert email.subject == "Set your first Haven password at Haven Demo Academy"
    assert email.body.startswith("Hello Nia Newbie,")
    assert LINK in email.body.splitlines()
    assert ("until midnight at the end of Monday 2 March 2026 (Europe/London time)"
            in email.body)
    assert LINK not in email.subject


def test_a_reset_email_says_to_ignore_it_if_not_asked_for():
    email = password(welcome=False)
    assert email.subject == "Reset your Haven password at Haven Demo Academy"
    assert "If you did not ask for this" in email.body and LINK in email.body


@pytest.mark.parametrize(
    ("expires_at", "zone", "said"),
    [
        # British Summer Time: midnight in London is 23:00 UTC the day before
        (dt.datetime(2026, 6, 30, 23, 0), "Europe/London",
         "midnight at the end of Tuesday 30 June 2026 (Europe/London time)"),
        (dt.datetime(2026, 6, 30, 12, 5), "Europe/London",
         "13:05 on Tuesday 30 June 2026 (Europe/London time)"),
        (dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC), "Asia/Tokyo",
         "18:00 on Monday 5 January 2026 (Asia/Tokyo time)"),
        (dt.datetime(2026, 1, 5, 9, 0), "Not/AZone", "09:00 on Monday 5 January 2026 (UTC time)"),
        (dt.datetime(2026, 1, 5, 9, 0), "", "09:00 on Monday 5 January 2026 (UTC time)"),
    ],
)
def test_the_expiry_is_shown_in_the_schools_time_zone(expires_at, zone, said):
    assert templates.format_expiry(expires_at, zone) == said


def test_the_pinned_password_event_and_template():
    assert set(identity_pb2.PasswordResetRequested.DESCRIPTOR.fields_by_name) == {
        "school_id", "account_id", "email", "display_name", "reset_url_path", "expires_at",
        "welcome", "school_name", "time_zone",
    }
    email = password(school_name="", expires_at=None)
    assert email.subject == "Set your first Haven password"
    assert "The link works once." in email.body


# ---- links ----


def test_password_links_are_plain_paths_on_the_public_url():
    assert links.password_link("https://h.test/", "/reset-password/abc_-.~") == (
        "https://h.test/reset-password/abc_-.~")
    for bad in ("", "reset-password/x", "//evil.test/x", "/a b", "/a\r\nBcc: x", "/a?x=1",
                "/a#f", '/a"b', "/a<b>"):
        assert links.password_link("https://h.test", bad) is None, bad


def test_hide_links_keeps_only_the_origin():
    text = f"open {LINK} now, or http://other.test/x?y=1; plain https://h.test and /path"
    assert links.hide_links(text) == (
        "open https://haven.example.test/[link hidden] now, or http://other.test/[link hidden] "
        "plain https://h.test and /path")
    assert "s3cr3t" not in links.hide_links(password().body)
    assert links.link_key("/reset-password/a") == links.link_key("/reset-password/a")
    assert len(links.link_key("/x")) == 64
