"""The web login's OpenID Connect callback refuses what it must (forged, replayed or stale
answers, ID tokens for someone or something else), a school's own login page, and what
crosses to identity (its own cookie, never the gateway's)."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from joserfc.jwk import ECKey

from gateway.tests.conftest import log_in, login_form, submit_login
from gateway.tests.fakes import DSL, TEACHER
from gateway.tests.fakes_identity import SCHOOL2
from gateway.web.auth import STALE_LOGIN

EXPIRED = "That login has expired or was already used. Please log in again."


def _text(response) -> str:
    return response.get_data(as_text=True)


def _code_for(client, account=TEACHER, start: str = "/login") -> tuple[str, dict]:
    """Log in at identity, but stop before the callback: its URL and query."""
    authorize, page = login_form(client, start)
    answer = submit_login(client, authorize, page, account.email)
    assert answer.status_code == 302, _text(answer)
    callback = answer.headers["Location"]
    return callback, dict(parse_qsl(urlsplit(callback).query))


def _logged_in(client) -> bool:
    with client.session_transaction() as session:
        return "tok" in session


def test_a_callback_with_a_state_it_did_not_start_is_refused(client, platform):
    _callback, query = _code_for(client)
    for state in ("", "forged-state", query["state"][:-1]):
        response = client.get("/auth/callback?" + urlencode({"code": query["code"],
                                                             "state": state}))
        assert response.status_code == 400, state
        assert STALE_LOGIN in _text(response)
    assert not _logged_in(client)
    assert platform.oidc.requests_to("/oauth/token") == []  # the code was never used


def test_a_callback_from_another_browser_is_refused(app, platform):
    """Login CSRF: an attacker's code, sent to the victim's browser, starts nothing."""
    attacker, victim = app.test_client(), app.test_client()
    callback, _query = _code_for(attacker)
    victim.get("/login")  # even with a login of its own under way
    response = victim.get(callback)
    assert response.status_code == 400 and STALE_LOGIN in _text(response)
    assert not _logged_in(victim)


def test_a_missing_or_forged_code_is_refused(client, platform):
    for code in (None, "forged-code"):
        _callback, query = _code_for(client)
        params = {"state": query["state"], **({"code": code} if code else {})}
        response = client.get("/auth/callback?" + urlencode(params))
        assert response.status_code == 400, code
        assert not _logged_in(client)
    assert EXPIRED in _text(response)  # identity refused the forged one: invalid_grant
    [exchange] = platform.oidc.requests_to("/oauth/token")
    assert exchange.form["code"] == "forged-code"


def test_a_replayed_callback_is_refused_and_opens_nothing(app, platform):
    client = app.test_client()
    callback, _query = _code_for(client)
    assert client.get(callback).status_code == 302 and _logged_in(client)
    sessions = len(platform.identity.sessions)
    again = client.get(callback)
    assert again.status_code == 400 and STALE_LOGIN in _text(again)
    other = app.test_client()  # nor anywhere else
    assert other.get(callback).status_code == 400 and not _logged_in(other)
    assert len(platform.oidc.requests_to("/oauth/token")) == 1
    assert len(platform.identity.sessions) == sessions


def test_a_login_left_too_long_is_refused(client):
    callback, query = _code_for(client)
    with client.session_transaction() as session:
        pending = session["oidc"]
        pending[query["state"]]["at"] -= 16 * 60
        session["oidc"] = pending
    response = client.get(callback)
    assert response.status_code == 400 and STALE_LOGIN in _text(response)


@pytest.mark.parametrize("claims", [
    {"nonce": "another-login"},
    {"nonce": None},
    {"aud": "another-client"},
    {"iss": "https://elsewhere.example"},
    {"exp": int(time.time()) - 3600},
    {"sub": "00000000-0000-4000-8000-000000000999"},
    {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"},
], ids=["nonce", "no-nonce", "aud", "iss", "expired", "sub", "at_hash"])
def test_an_id_token_for_another_login_or_client_is_refused(client, platform, claims):
    platform.oidc.id_token_claims = claims
    callback, _query = _code_for(client)
    response = client.get(callback)
    assert response.status_code == 502
    assert "Haven could not finish your login. Please log in again." in _text(response)
    assert not _logged_in(client)


def test_an_id_token_signed_with_another_key_is_refused(client, platform):
    # the same key id as identity's, but not identity's key
    platform.oidc.id_token_key = ECKey.generate_key(
        "P-256", parameters={"kid": platform.tokens.key.kid})
    callback, _query = _code_for(client)
    response = client.get(callback)
    assert response.status_code == 502 and not _logged_in(client)


def test_identity_refusing_the_login_is_said_plainly(client):
    _callback, query = _code_for(client)
    response = client.get("/auth/callback?" + urlencode({"error": "access_denied",
                                                         "state": query["state"]}))
    assert response.status_code == 403 and "The login was cancelled." in _text(response)
    assert 'href="/login"' in _text(response)  # try again


def test_token_endpoint_refusing_or_down_is_a_page_not_a_500(client, platform):
    platform.oidc.token_refusal = (401, "invalid_client")  # the client settings differ
    callback, _query = _code_for(client)
    refused = client.get(callback)
    assert refused.status_code == 502 and "could not finish your login" in _text(refused)
    platform.oidc.token_refusal = None
    callback, _query = _code_for(client)
    platform.oidc.stop()
    down = client.get(callback)
    assert down.status_code == 503 and "not answering" in _text(down)
    assert not _logged_in(client)


def test_a_schools_own_login_page_names_it_and_logs_into_it(client, platform):
    start = client.get("/s/second/login?next=/students")
    query = dict(parse_qsl(urlsplit(start.headers["Location"]).query))
    assert query["school"] == "second"
    page = client.get(start.headers["Location"])
    assert '<p class="muted" id="login-school">Second School</p>' in _text(page)
    callback = submit_login(client, start.headers["Location"], page, DSL.email)
    done = client.get(callback.headers["Location"])
    assert done.headers["Location"] == "/students"
    assert platform.oidc.logins[-1]["school"] == "second"
    with client.session_transaction() as session:
        assert platform.identity.session_school[session["sid"]] == SCHOOL2
        assert (session["school"], session["sso"]) == ("Second School", 1)
    assert client.get("/login?school=second").headers["Location"].endswith("&school=second")


@pytest.mark.parametrize("slug", ["sec ond", "-x", "a_b", "x" * 64, "a.b"])
def test_a_school_address_that_cannot_be_a_school_is_a_404(client, platform, slug):
    assert client.get(f"/s/{slug}/login").status_code == 404
    assert client.get(f"/login?school={slug}").status_code == 404
    assert platform.oidc.seen == []


def test_the_gateways_session_cookie_never_reaches_identity(client, platform):
    log_in(client, DSL, elevate=True)
    log_in(client, TEACHER)  # a second login, with a gateway session cookie in the jar
    seen = platform.oidc.seen
    assert seen and all("haven_session" not in s.headers.get("Cookie", "") for s in seen)
    posts = [s for s in platform.oidc.requests_to("/oauth/authorize") if s.method == "POST"]
    assert posts and all(s.headers["Cookie"].startswith("haven_identity=") for s in posts)
    assert all("Authorization" not in s.headers for s in platform.oidc.requests_to(
        "/oauth/authorize"))


def test_identity_may_set_only_its_own_cookie_through_the_gateway(client, platform):
    platform.oidc.extra_cookie = ("haven_session", "planted")
    _authorize, page = login_form(client)
    cookies = page.headers.getlist("Set-Cookie")
    assert cookies and all(c.startswith("haven_identity=") for c in cookies)
    assert "planted" not in " ".join(cookies)
