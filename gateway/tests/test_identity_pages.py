"""Identity's pages: Account Settings (profile, Security Keys, authenticator apps, security
keys), elevation with a security key, password links, the school menu of SSO accounts."""

from __future__ import annotations

import json

from gateway.tests.conftest import csrf, log_in, login_form
from gateway.tests.fakes import DSL, PASSWORD, TEACHER
from gateway.tests.fakes_identity import (
    ENROLMENT_CODE,
    RESET_TOKEN,
    SCHOOL,
    SCHOOL2,
    STRONG_PASSWORD,
)
from gateway.web.account import safe_qr_svg
from haven.identity.v1 import identity_pb2

CREDENTIAL = {"id": "a2V5", "rawId": "a2V5", "type": "public-key",
              "response": {"clientDataJSON": "e30", "attestationObject": "o2Nm"}}


def _json_post(client, path: str, body: dict, page: str = "/account/security-keys"):
    return client.post(path, json=body, headers={"X-CSRFToken": csrf(client, page)})


def _text(response) -> str:
    return response.get_data(as_text=True)


# ---- passwords ----------------------------------------------------------------------------

def test_login_page_links_to_the_password_page(client):
    _authorize, login_page = login_form(client)  # identity's page, through the gateway
    page = _text(login_page)
    assert "Forgotten your password or using Haven for the first time?" in page
    assert 'href="/forgotten-password"' in page
    assert client.get("/forgotten-password").status_code == 200  # the link's page is ours


def test_asking_for_a_link_answers_the_same_whatever_the_email(client, platform):
    answers = []
    for email in (TEACHER.email, "nobody@nowhere.test"):
        response = client.post("/forgotten-password", data={
            "email": email, "csrf_token": csrf(client, "/forgotten-password")})
        assert response.status_code == 200
        answers.append(_text(response).split('id="reset-sent">')[1].split("<")[0])
    assert answers[0] == answers[1]
    assert platform.identity.reset_requests == [TEACHER.email, "nobody@nowhere.test"]
    assert client.post("/forgotten-password", data={
        "email": "", "csrf_token": csrf(client, "/forgotten-password")}).status_code == 422


def test_a_throttled_request_says_so(client, platform):
    from shared import errors

    platform.identity.fail("RequestPasswordReset", errors.TooManyRequests("Slow down."))
    response = client.post("/forgotten-password", data={
        "email": TEACHER.email, "csrf_token": csrf(client, "/forgotten-password")})
    assert response.status_code == 429 and "Slow down." in _text(response)


def test_setting_a_password_with_the_link(client, platform):
    path = f"/reset-password/{RESET_TOKEN}"
    page = client.get(path)
    assert page.status_code == 200 and TEACHER.name in _text(page)
    assert "data-strength-url" in _text(page)

    mismatch = client.post(path, data={"password": STRONG_PASSWORD, "confirm": "other",
                                       "csrf_token": csrf(client, path)})
    assert mismatch.status_code == 422 and "not the same" in _text(mismatch)
    weak = client.post(path, data={"password": "short", "confirm": "short",
                                   "csrf_token": csrf(client, path)})
    assert weak.status_code == 422 and "at least 10 characters" in _text(weak)

    done = client.post(path, data={"password": STRONG_PASSWORD, "confirm": STRONG_PASSWORD,
                                   "csrf_token": csrf(client, path)})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert platform.identity.passwords_set == [(TEACHER.email, STRONG_PASSWORD)]
    again = client.get(path)
    assert again.status_code == 410 and "Ask for a new link" in _text(again)


def test_password_strength_as_you_type(client):
    path = f"/reset-password/{RESET_TOKEN}"
    weak = _json_post(client, f"{path}/strength", {"password": "abc"}, page=path)
    assert weak.status_code == 200 and weak.json["ok"] is False and weak.json["problems"]
    strong = _json_post(client, f"{path}/strength", {"password": STRONG_PASSWORD}, page=path)
    assert strong.json == {"ok": True, "problems": []}
    assert client.post(f"{path}/strength", json={"password": "x"}).status_code == 400  # CSRF


# ---- Account Settings ---------------------------------------------------------------------

def test_account_pages_need_a_login(client):
    for path in ("/account", "/account/security-keys", "/account/security-keys/authenticator"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_profile_shows_who_and_where(teacher):
    page = _text(teacher.get("/account"))
    assert TEACHER.name in page and TEACHER.email in page
    assert "Haven Demo Academy" in page and "Restricted access" in page


def test_security_keys_lists_my_factors(client):
    log_in(client, DSL)
    page = _text(client.get("/account/security-keys"))
    assert "Dana&#39;s phone" in page
    # DSL has a factor and is not elevated: elevate first to add or remove one
    assert "elevate your access" in page and "Add an authenticator app" not in page
    refused = client.get("/account/security-keys/authenticator")
    assert refused.status_code == 302
    assert "Elevate your access before" in _text(client.get("/account/security-keys"))


def test_adding_an_authenticator_app(teacher, platform):
    page = teacher.get("/account/security-keys/authenticator")
    html = _text(page)
    assert page.status_code == 200
    assert "JBSWY3DPEHPK3PXP" in html and "otpauth://totp/" in html
    assert "<svg" in html and "<script>alert" not in html and "onload" not in html
    enrolment = next(iter(platform.identity.enrolments))
    with teacher.session_transaction() as session:
        assert "JBSWY3DPEHPK3PXP" not in json.dumps(dict(session))  # no secret in the cookie

    token = csrf(teacher, "/account/security-keys")
    wrong = teacher.post("/account/security-keys/authenticator", data={
        "enrolment_id": enrolment, "name": "My phone", "code": "000000", "csrf_token": token})
    assert wrong.status_code == 422 and "not right" in _text(wrong)
    assert "start again" in _text(wrong)
    right = teacher.post("/account/security-keys/authenticator", data={
        "enrolment_id": enrolment, "name": "My phone", "code": ENROLMENT_CODE,
        "csrf_token": token})
    assert right.status_code == 302
    listed = _text(teacher.get("/account/security-keys"))
    assert "My phone" in listed and "Unverified" in listed
    stale = teacher.post("/account/security-keys/authenticator", data={
        "enrolment_id": enrolment, "name": "x", "code": ENROLMENT_CODE, "csrf_token": token})
    assert stale.status_code == 302  # set-up spent: back to the list


def test_registering_a_security_key(teacher, platform):
    begun = _json_post(teacher, "/account/security-keys/webauthn/begin", {"name": "Blue key"})
    assert begun.status_code == 200
    assert "publicKey" in begun.json["options"]
    bad = _json_post(teacher, "/account/security-keys/webauthn/finish",
                     {"challenge_id": begun.json["challenge_id"], "credential": {"type": "x"}})
    assert bad.status_code == 422 and "not accepted" in bad.json["error"]["message"]
    begun = _json_post(teacher, "/account/security-keys/webauthn/begin", {"name": "Blue key"})
    done = _json_post(teacher, "/account/security-keys/webauthn/finish",
                      {"challenge_id": begun.json["challenge_id"], "credential": CREDENTIAL})
    assert done.status_code == 200 and done.json["redirect"] == "/account/security-keys"
    assert "Blue key" in _text(teacher.get("/account/security-keys"))
    sent = platform.identity.called("FinishSecurityKeyRegistration")[-1].request
    assert json.loads(sent.credential_json) == CREDENTIAL
    assert _json_post(teacher, "/account/security-keys/webauthn/finish",
                      {"challenge_id": 1}).status_code == 400
    no_csrf = teacher.post("/account/security-keys/webauthn/begin", json={"name": "x"})
    assert no_csrf.status_code == 400


def test_elevating_with_a_security_key(client, platform):
    log_in(client, DSL, elevate=True)
    begun = _json_post(client, "/account/security-keys/webauthn/begin", {"name": "Key"})
    _json_post(client, "/account/security-keys/webauthn/finish",
               {"challenge_id": begun.json["challenge_id"], "credential": CREDENTIAL})
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    log_in(client, DSL)
    page = _text(client.get("/elevate"))
    assert "Use my security key" in page and "Authenticator code" in page
    with client.session_transaction() as session:
        before = session["sid"]
    begun = _json_post(client, "/elevate/security-key/begin", {}, page="/elevate")
    assert "publicKey" in begun.json["options"]
    done = _json_post(client, "/elevate/security-key/finish",
                      {"challenge_id": begun.json["challenge_id"], "credential": CREDENTIAL,
                       "next": "/students"}, page="/elevate")
    assert done.status_code == 200 and done.json["redirect"] == "/students"
    with client.session_transaction() as session:
        assert session["sid"] != before  # identity rotated the session secret
    assert "Full access" in _text(client.get("/"))
    replay = _json_post(client, "/elevate/security-key/finish",
                        {"challenge_id": begun.json["challenge_id"], "credential": CREDENTIAL})
    assert replay.status_code == 422


def test_elevate_page_without_a_key_offers_the_code_only(client):
    log_in(client, DSL)
    page = _text(client.get("/elevate"))
    assert "Use my security key" not in page and "Authenticator code" in page


def test_removing_a_factor_needs_an_elevated_session(client, platform):
    log_in(client, DSL)
    token = csrf(client, "/account/security-keys")
    refused = client.post("/account/security-keys/f-dsl-app/remove", data={"csrf_token": token})
    assert refused.status_code == 302
    assert "Elevate your access before removing" in _text(client.get("/account/security-keys"))
    assert platform.identity.factors[DSL.account_id]
    log_in(client, DSL, elevate=True)
    client.post("/account/security-keys/f-dsl-app/remove",
                data={"csrf_token": csrf(client, "/account/security-keys")})
    assert platform.identity.factors[DSL.account_id] == []


# ---- SSO school menu ----------------------------------------------------------------------

def test_an_sso_user_switches_school_from_the_header(client, platform):
    log_in(client, DSL, elevate=True)
    page = _text(client.get("/"))
    assert "Switch to Second School" in page and "Haven Demo Academy" in page
    with client.session_transaction() as session:
        before = session["sid"]
    response = client.post("/switch-school", data={"school_id": SCHOOL2,
                                                   "csrf_token": csrf(client, "/")})
    assert response.status_code == 302
    page = _text(client.get("/"))
    assert "You are now working in Second School" in page
    assert "Switch to Haven Demo Academy" in page and "Restricted access" in page
    with client.session_transaction() as session:
        assert session["sid"] != before and session["school"] == "Second School"
    token = platform.identity.called("ListMySchools")[-1].metadata["authorization"]
    claims = platform.tokens.verifier().verify(token.split(" ", 1)[1])
    assert claims.school_id == SCHOOL2 and not claims.full_access


def test_switching_to_a_school_without_membership_is_refused(client):
    log_in(client, DSL)
    response = client.post("/switch-school", data={"school_id": "elsewhere",
                                                   "csrf_token": csrf(client, "/")})
    assert response.status_code == 302
    assert "You are not a user of that school." in _text(client.get("/"))


def test_single_school_users_have_no_school_menu(teacher, platform):
    # read once at login (the header's school name, whether to offer a menu), not per page
    assert len(platform.identity.called("ListMySchools")) == 1
    page = _text(teacher.get("/"))
    assert "Switch to" not in page and "Haven Demo Academy" in page
    assert len(platform.identity.called("ListMySchools")) == 1


# ---- the QR code is drawn, never trusted ---------------------------------------------------

def test_qr_svg_keeps_only_drawing():
    hostile = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" onload="x()" '
               'style="a"><script>x()</script><a href="javascript:x()"><path d="M1 1"/></a>'
               '<path d="M2 2h1" fill="url(javascript:x)" stroke="#000"/>'
               '<foreignObject><div>hi</div></foreignObject></svg>')
    out = safe_qr_svg(hostile)
    assert out.startswith('<svg xmlns="http://www.w3.org/2000/svg" role="img"')
    for bad in ("script", "onload", "style", "javascript", "foreignObject", "<a", "url("):
        assert bad not in out
    assert '<path d="M2 2h1" stroke="#000">' in out
    assert safe_qr_svg("not xml <") == ""
    assert safe_qr_svg('<!DOCTYPE x [<!ENTITY a "b">]><svg>&a;</svg>') == ""
    assert safe_qr_svg("<html/>") == ""


def test_identity_pages_send_the_strict_csp(teacher):
    response = teacher.get("/account/security-keys/authenticator")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "<script>" not in _text(response)
    assert 'style="' not in _text(response)


def test_password_is_typed_only_in_password_fields(client):
    page = _text(client.get(f"/reset-password/{RESET_TOKEN}"))
    assert page.count('type="password"') == 2
    assert PASSWORD not in page


def test_pages_carry_the_schools_idle_timeout_and_the_blank_screen(client, platform):
    platform.identity.settings[SCHOOL] = identity_pb2.SchoolSettings(idle_timeout_minutes=7)
    log_in(client, TEACHER)
    html = client.get("/").get_data(as_text=True)
    assert 'data-idle-minutes="7"' in html
    assert 'id="blank-screen"' in html and "data-blank-screen" in html
    assert "after 7 minutes without activity" in html
    # Logged out: no timer and nothing to blank.
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    page = client.get("/login?school=demo").get_data(as_text=True)
    assert "data-idle-minutes" not in page and 'id="blank-screen"' not in page
