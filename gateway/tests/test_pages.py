"""Dashboard, student search, chronology, a single incident, marking alerts as read."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from gateway.tests.conftest import csrf
from gateway.tests.fakes import (
    AVA,
    BEN,
    CARA,
    CAT_BULLYING,
    CAT_CP,
    CAT_CYBER,
    DSL,
    TEACHER,
    TUTOR,
)


def _alert_for(platform, recipient, author=TUTOR, student=AVA, text="Seen crying at lunch."):
    return platform.records.add_incident(
        student_id=student, text=text, category_ids=[CAT_BULLYING, CAT_CYBER],
        author=author, alert=[recipient.account_id])


def test_full_access_dashboard_has_search_alerts_and_add_button(dsl, platform):
    incident = _alert_for(platform, DSL)
    html = dsl.get("/").get_data(as_text=True)
    assert "Quick student search" in html
    assert 'action="/students"' in html and 'name="archived"' in html
    assert "Add incident" in html
    assert "My History" not in html and "Elevate your access" not in html
    # the alert: who, which student, categories, when, a link to the incident, mark as read
    assert "Tess Tutor" in html and "Ava Smith" in html
    assert "Bullying" in html and "Online bullying" in html
    assert f'href="/incidents/{incident.id}">Incident</a>' in html
    alert_id = next(iter(platform.records.alerts))
    assert f'action="/alerts/{alert_id}/read"' in html
    # lozenge colours come from the same-origin sheet, never from inline style
    assert re.search(r'<link rel="stylesheet" href="/colours.css\?c=[0-9a-f,]+"', html)
    assert 'class="lozenge c-d97706"' in html


def test_restricted_dashboard_has_alerts_history_search_and_elevate(teacher, platform):
    _alert_for(platform, TEACHER, text="secret text")
    platform.records.add_incident(student_id=BEN, text="Mine", category_ids=[CAT_CP],
                                  author=TEACHER)
    html = teacher.get("/").get_data(as_text=True)
    assert "Alerts" in html and "My History" in html
    assert "Ben Jones" in html  # my history
    assert "Ava Smith" in html  # alert
    assert "secret text" not in html  # the dashboard never shows incident text
    assert "Elevate your access" in html
    assert 'action="/students"' in html
    assert "Quick student search" not in html
    assert platform.records.called("ListMyHistory")


def test_student_search_for_full_access_links_names_and_plus(dsl, platform):
    html = dsl.get("/students?q=smith").get_data(as_text=True)
    assert f'href="/students/{AVA}">Ava Smith</a>' in html
    assert f'href="/incidents/new?student={AVA}"' in html
    assert "Add an incident for Ava Smith" in html
    call = platform.records.called("SearchStudents")[-1]
    assert call.request.query == "smith" and not call.request.include_archived


def test_student_search_archived_flag(dsl, platform):
    html = dsl.get("/students?q=cara&archived=1").get_data(as_text=True)
    assert "Cara Oldham" in html and "Archived" in html
    assert platform.records.called("SearchStudents")[-1].request.include_archived


def test_student_search_for_restricted_access_has_plus_but_no_chronology_link(teacher):
    html = teacher.get("/students?q=ben").get_data(as_text=True)
    assert f'href="/incidents/new?student={BEN}"' in html
    assert f'href="/students/{BEN}"' not in html
    assert "Ben Jones" in html


def test_empty_search_calls_nothing(teacher, platform):
    html = teacher.get("/students?q=%20").get_data(as_text=True)
    assert "Type any part" in html
    assert platform.records.called("SearchStudents") == []


def test_chronology_newest_first_with_highlight(dsl, platform):
    old = platform.records.add_incident(
        student_id=AVA, text="Older concern", category_ids=[CAT_CP], author=TEACHER,
        occurred_at=datetime(2025, 11, 3, 9, 30, tzinfo=UTC))
    new = platform.records.add_incident(
        student_id=AVA, text="Newer concern\nsecond line", category_ids=[CAT_BULLYING],
        author=TUTOR, occurred_at=datetime(2026, 2, 10, 14, 5, tzinfo=UTC))
    platform.records.add_incident(student_id=BEN, text="Other pupil", category_ids=[CAT_CP],
                                  author=TUTOR)
    html = dsl.get(f"/students/{AVA}?highlight={old.id}").get_data(as_text=True)
    assert "Ava Smith" in html and "7A" in html and "1 May 2014" in html
    assert html.index("Newer concern") < html.index("Older concern")
    assert "Other pupil" not in html
    assert f'id="incident-{old.id}" class="incident panel highlight"' in html
    assert f'id="incident-{new.id}" class="incident panel"' in html
    assert "Tess Tutor" in html and "Tom Teacher" in html
    assert "Tue 10 Feb 2026, 14:05" in html  # GMT in February
    assert "Mon 3 Nov 2025, 09:30" in html
    assert 'class="status status-active"' in html
    assert f'href="/incidents/new?student={AVA}"' in html


def test_a_chronology_longer_than_a_page_links_to_the_older_entries(dsl, platform, monkeypatch):
    from gateway.web import students

    made = [platform.records.add_incident(
        student_id=AVA, text=f"Concern {n}", category_ids=[CAT_CP], author=TEACHER,
        occurred_at=datetime(2026, 1, 10 + n, 9, 0, tzinfo=UTC)) for n in range(5)]
    html = dsl.get(f"/students/{AVA}").get_data(as_text=True)
    assert "chronology-older-link" not in html and "chronology-older" not in html
    monkeypatch.setattr(students, "CHRONOLOGY_LIMIT", 2)
    seen, url = [], f"/students/{AVA}?actions=1"
    for _ in range(3):
        html = dsl.get(url).get_data(as_text=True)
        shown = [m.id for m in made if f'id="incident-{m.id}"' in html]
        seen += sorted(shown, key=lambda x: html.index(f'id="incident-{x}"'))
        link = re.search(r'id="chronology-older-link" rel="next" href="([^"]+)"', html)
        if link is None:
            break
        assert "Older entries" in html
        url = link.group(1).replace("&amp;", "&")
        assert "actions=1" in url and "page=" in url
    assert seen == [m.id for m in reversed(made)]  # every entry once, newest first
    assert 'id="chronology-older"' in html and "Back to the newest entries" in html
    requests = platform.records.called("GetChronology")[-3:]
    assert [r.request.limit for r in requests] == [2, 2, 2]
    assert requests[0].request.page_token == "" and requests[2].request.page_token


def test_a_highlight_on_an_older_page_opens_that_page_highlighted(dsl, platform, monkeypatch):
    from gateway.web import students

    made = [platform.records.add_incident(
        student_id=AVA, text=f"Concern {n}", category_ids=[CAT_CP], author=TEACHER,
        occurred_at=datetime(2026, 1, 10 + n, 9, 0, tzinfo=UTC)) for n in range(5)]
    newest_first = list(reversed(made))
    monkeypatch.setattr(students, "CHRONOLOGY_LIMIT", 2)

    def shown(html):
        return sorted((m.id for m in made if f'id="incident-{m.id}"' in html),
                      key=lambda x: html.index(f'id="incident-{x}"'))

    # the oldest entry, as an alert's link gives it: the third page, with it highlighted
    oldest = newest_first[4]
    html = dsl.get(f"/students/{AVA}?highlight={oldest.id}").get_data(as_text=True)
    assert shown(html) == [oldest.id]
    assert f'id="incident-{oldest.id}" class="incident panel highlight"' in html
    assert 'id="chronology-older"' in html and "Back to the newest entries" in html
    assert "chronology-older-link" not in html
    request = platform.records.called("GetChronology")[-1].request
    assert (request.highlight_incident_id, request.page_token) == (oldest.id, "")
    # one in the middle: its page, and the way on to the older entries still there
    middle = newest_first[2]
    html = dsl.get(f"/students/{AVA}?highlight={middle.id}&open_highlight=1"
                   ).get_data(as_text=True)
    assert shown(html) == [newest_first[2].id, newest_first[3].id]
    assert f'id="incident-{middle.id}" class="incident panel highlight"' in html
    link = re.search(r'id="chronology-older-link" rel="next" href="([^"]+)"', html).group(1)
    html = dsl.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert shown(html) == [oldest.id]
    # on the first page nothing moves
    html = dsl.get(f"/students/{AVA}?highlight={newest_first[1].id}").get_data(as_text=True)
    assert shown(html) == [newest_first[0].id, newest_first[1].id]
    assert 'id="chronology-older"' not in html
    # an explicit page wins over the highlight
    html = dsl.get(f"/students/{AVA}?highlight={oldest.id}&page={newest_first[1].id}"
                   ).get_data(as_text=True)
    assert shown(html) == [newest_first[2].id, newest_first[3].id]


def test_a_highlight_the_caller_cannot_see_there_reveals_nothing(dsl, platform, monkeypatch):
    from gateway.web import students

    for n in range(3):
        platform.records.add_incident(
            student_id=AVA, text=f"Concern {n}", category_ids=[CAT_CP], author=TEACHER,
            occurred_at=datetime(2026, 1, 10 + n, 9, 0, tzinfo=UTC))
    other = platform.records.add_incident(student_id=BEN, text="Ben's own", author=TUTOR,
                                          category_ids=[CAT_CP])
    monkeypatch.setattr(students, "CHRONOLOGY_LIMIT", 2)
    plain = dsl.get(f"/students/{AVA}").get_data(as_text=True)
    for highlight in (other.id, "00000000-0000-4000-8000-00000000dead", "not-an-id"):
        response = dsl.get(f"/students/{AVA}?highlight={highlight}")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "Ben's own" not in html and "panel highlight" not in html
        assert 'id="chronology-older"' not in html and "chronology-older-link" in html
        assert re.findall(r'id="incident-([^"]+)"', html) == re.findall(
            r'id="incident-([^"]+)"', plain)


def test_a_bad_page_link_is_refused_plainly(dsl, platform):
    response = dsl.get(f"/students/{AVA}?page=nonsense")
    assert response.status_code == 422
    assert "That page link is not valid." in response.get_data(as_text=True)


def test_chronology_shows_mark_as_read_for_my_unread_alert(dsl, platform):
    incident = _alert_for(platform, DSL)
    alert_id = next(iter(platform.records.alerts))
    html = dsl.get(f"/students/{AVA}?highlight={incident.id}").get_data(as_text=True)
    assert f'action="/alerts/{alert_id}/read"' in html


def test_chronology_refused_for_restricted_access(teacher):
    response = teacher.get(f"/students/{AVA}")
    assert response.status_code == 403
    assert "Elevate your access to see a chronology." in response.get_data(as_text=True)


def test_unknown_student_is_a_404_page(dsl):
    response = dsl.get("/students/nope")
    assert response.status_code == 404
    assert "No such student." in response.get_data(as_text=True)


def test_alert_link_for_full_access_goes_to_the_highlighted_chronology(dsl, platform):
    incident = _alert_for(platform, DSL)
    response = dsl.get(f"/incidents/{incident.id}")
    assert response.status_code == 302
    assert response.headers["Location"] == (
        f"/students/{AVA}?highlight={incident.id}#incident-{incident.id}")


def test_alert_link_for_restricted_access_shows_the_incident_alone(teacher, platform):
    incident = _alert_for(platform, TEACHER, text="Said she is scared to go home.")
    alert_id = next(iter(platform.records.alerts))
    html = teacher.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Said she is scared to go home." in html
    assert "Ava Smith" in html and "Tess Tutor" in html
    assert f'action="/alerts/{alert_id}/read"' in html
    assert "you will not be able to open this incident again" in html


def test_mark_as_read_goes_back_and_removes_the_alert(teacher, platform):
    _alert_for(platform, TEACHER)
    alert_id = next(iter(platform.records.alerts))
    response = teacher.post(f"/alerts/{alert_id}/read",
                            data={"csrf_token": csrf(teacher, "/"), "next": "/"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert platform.records.called("MarkAlertRead")[-1].request.alert_id == alert_id
    html = teacher.get("/").get_data(as_text=True)
    assert "Alert marked as read." in html and "You have no unread alerts." in html


def test_mark_as_read_without_next_goes_back_to_the_referring_page(dsl, platform):
    _alert_for(platform, DSL)
    _alert_for(platform, DSL)
    first, second = list(platform.records.alerts)
    response = dsl.post(f"/alerts/{first}/read", data={"csrf_token": csrf(dsl, "/")},
                        headers={"Referer": f"http://localhost/students/{AVA}?x=1"})
    assert response.headers["Location"] == f"/students/{AVA}?x=1"
    response = dsl.post(f"/alerts/{second}/read", data={"csrf_token": csrf(dsl, "/")},
                        headers={"Referer": "https://evil.example/students"})
    assert response.headers["Location"] == "/"


def test_mark_as_read_of_someone_elses_alert_is_a_404(teacher, platform):
    _alert_for(platform, DSL)
    alert_id = next(iter(platform.records.alerts))
    response = teacher.post(f"/alerts/{alert_id}/read", data={"csrf_token": csrf(teacher, "/")})
    assert response.status_code == 404


def test_reporting_page_table_and_svg_chart(dsl, platform):
    html = dsl.get("/reporting?from=2025-09-01&to=2026-02-28").get_data(as_text=True)
    assert "<svg" in html and "<rect" in html and "<script" not in html.split("<main")[1]
    assert "Bullying" in html and "Online bullying" in html and "Child protection" in html
    assert 'class="subcategory"' in html
    assert "<strong>9</strong> incidents" in html
    request = platform.reporting.called("GetOverview")[-1].request
    start = getattr(request, "from").ToDatetime(tzinfo=UTC)
    end = request.to.ToDatetime(tzinfo=UTC)
    assert start == datetime(2025, 8, 31, 23, 0, tzinfo=UTC)  # 1 Sep, BST
    assert end == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)  # end of 28 Feb, GMT


def test_reporting_rejects_bad_dates_without_calling(dsl, platform):
    assert dsl.get("/reporting?from=yesterday").status_code == 400
    response = dsl.get("/reporting?from=2026-03-01&to=2026-01-01")
    assert response.status_code == 400
    assert "start date is after the end date" in response.get_data(as_text=True)
    assert platform.reporting.called("GetOverview") == []


def test_reporting_link_only_for_full_access_with_reports(dsl):
    assert 'href="/reporting"' in dsl.get("/").get_data(as_text=True)


def test_reporting_hidden_for_restricted(teacher):
    assert 'href="/reporting"' not in teacher.get("/").get_data(as_text=True)
    assert teacher.get("/reporting").status_code == 403


def test_archived_student_in_fake(platform):
    assert CARA in platform.records.students


def test_reporting_dates_at_the_edge_of_the_calendar_are_a_400(dsl, platform):
    assert dsl.get("/reporting?from=2026-01-01&to=9999-12-31").status_code == 400
    assert platform.reporting.called("GetOverview") == []
