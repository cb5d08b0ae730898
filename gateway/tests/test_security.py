"""CSRF on every form, security headers on every response, cookie flags."""

from __future__ import annotations

import pytest

from gateway.app import close_app, create_app
from gateway.security import CONTENT_SECURITY_POLICY
from gateway.tests.conftest import csrf, log_in, login_form
from gateway.tests.fakes import AVA, CAT_BULLYING, PASSWORD, TEACHER


def _incident_form(**extra):
    return {"student_id": AVA, "text": "Upset at break.", "category_ids": [CAT_BULLYING],
            "occurred_date": "2026-03-02", "occurred_time": "10:15", "status": "active",
            "request_id": "6f1f3a8e-6c8e-4a5e-9d0a-0d4f9f0b1a11", **extra}


def test_login_without_identitys_csrf_token_is_refused_and_nobody_logged_in(client, platform):
    authorize, _page = login_form(client)
    response = client.post(authorize, data={"email": TEACHER.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "Your form expired. Please try again." in response.get_data(as_text=True)
    forged = client.post(authorize, data={"email": TEACHER.email, "password": PASSWORD,
                                          "csrf_token": "forged-token"})
    assert forged.status_code == 400 and "Location" not in forged.headers
    assert platform.oidc.logins == []
    # the gateway has no password form of its own to post to
    assert client.post("/login", data={"email": TEACHER.email,
                                       "password": PASSWORD}).status_code == 405


@pytest.mark.parametrize("token", [None, "forged-token", "IjA3YjQ.aaaa.bbbb"])
def test_incident_post_without_a_valid_token_is_refused(teacher, platform, token):
    data = _incident_form()
    if token:
        data["csrf_token"] = token
    response = teacher.post(f"/incidents/new?student={AVA}", data=data)
    assert response.status_code == 400
    assert platform.records.called("CreateIncident") == []


def test_a_token_from_another_session_is_refused(app, platform):
    other = app.test_client()
    log_in(other, TEACHER)
    stolen = csrf(other, "/")
    victim = app.test_client()
    log_in(victim, TEACHER)
    response = victim.post(f"/incidents/new?student={AVA}",
                           data=_incident_form(csrf_token=stolen))
    assert response.status_code == 400
    assert platform.records.called("CreateIncident") == []


def test_mark_read_and_logout_need_the_token_too(teacher, platform):
    assert teacher.post("/alerts/x/read").status_code == 400
    assert teacher.post("/logout").status_code == 400
    assert platform.records.called("MarkAlertRead") == []
    assert platform.identity.called("Logout") == []


def test_the_api_needs_no_csrf_token(client, platform):
    response = client.post("/api/v1/auth/login",
                           json={"email": TEACHER.email, "password": PASSWORD})
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/login", "/", "/healthz", "/api/v1/openapi.json",
                                  "/no-such-page", "/api/v1/nothing"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    h = response.headers
    assert h["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in h["Content-Security-Policy"]
    assert "script-src 'self'" in h["Content-Security-Policy"]
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "same-origin"
    assert h["X-Frame-Options"] == "DENY"
    assert "camera=()" in h["Permissions-Policy"]
    assert h["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in h


def test_authenticated_pages_are_not_stored(teacher):
    assert teacher.get("/").headers["Cache-Control"] == "no-store"
    static = teacher.get("/static/css/haven.css")
    assert static.status_code == 200 and static.headers.get("Cache-Control") != "no-store"
    static.close()


def test_pages_carry_no_inline_script(teacher):
    html = teacher.get("/").get_data(as_text=True)
    assert "<script>" not in html and "onclick" not in html and " style=" not in html
    assert '<script src="/static/js/haven.js" defer></script>' in html


def test_secure_cookies_and_hsts_when_configured(platform):
    app = create_app(platform.gateway_settings(secure_cookies=True, TESTING=True))
    try:
        client = app.test_client()
        response = log_in(client, TEACHER, base_url="https://localhost")
        assert "Secure" in response.headers["Set-Cookie"]
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        [exchange] = platform.oidc.requests_to("/oauth/token")
        assert exchange.form["redirect_uri"] == "https://localhost/auth/callback"
    finally:
        close_app(app)


def test_colour_sheet_accepts_only_hex_colours(client):
    response = client.get("/colours.css?c=d97706,zzz,};body{x:1,d97706,B91C1C")
    css = response.get_data(as_text=True)
    assert response.mimetype == "text/css"
    assert ".c-d97706{" in css and "body" not in css and "zzz" not in css
    assert css.count(".c-d97706") == 1 and ".c-b91c1c{" in css  # upper case is fine
    assert "immutable" in response.headers["Cache-Control"]
