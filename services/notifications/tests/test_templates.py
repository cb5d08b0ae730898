"""Alert emails say who and which categories, with a link; never the text or the student."""

from __future__ import annotations

import inspect

from haven.records.v1 import records_pb2
from services.notifications import templates


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
        "incident_id", "kind",
    }
    assert set(records_pb2.CategoryRef.DESCRIPTOR.fields_by_name) == {"id", "name", "parent_id"}
    params = set(inspect.signature(templates.alert_email).parameters)
    assert params == {
        "recipient_name", "raised_by_name", "category_names", "kind", "incident_id", "public_url",
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
