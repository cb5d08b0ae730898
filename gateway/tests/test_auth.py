"""Logging in and out, elevating access, and what happens when a session ends."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qsl, quote, urlsplit

import grpc

from gateway.tests.conftest import csrf, log_in, login_form, submit_login
from gateway.tests.fakes import DSL, PASSWORD, TEACHER, TOTP


def _login(client, email, password, **kwargs):
    """Identity's form, filled in and sent; its answer (a page, or the way back to us)."""
    authorize, page = login_form(client, **kwargs)
    return submit_login(client, authorize, page, email, password, **kwargs)


def test_login_sends_the_browser_to_identity_with_state_nonce_and_pkce(client):
    response = client.get("/login")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/oauth/authorize" and not target.netloc  # same origin (proxied)
    query = dict(parse_qsl(target.query))
    assert query["client_id"] == "haven-gateway" and query["response_type"] == "code"
    assert query["redirect_uri"] == "http://localhost/auth/callback"
    assert query["scope"] == "openid profile email"
    assert query["code_challenge_method"] == "S256" and "school" not in query
    with client.session_transaction() as session:
        pending = session["oidc"][query["state"]]
    assert pending["nonce"] == query["nonce"] and pending["next"] == "/"
    digest = hashlib.sha256(pending["verifier"].encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    again = dict(parse_qsl(urlsplit(client.get("/login").headers["Location"]).query))
    assert again["state"] != query["state"] and again["nonce"] != query["nonce"]


def test_the_login_form_is_identitys_page_in_havens_look(client):
    _authorize, page = login_form(client)
    html = page.get_data(as_text=True)
    assert '<label for="email">Email address</label>' in html
    assert '<label for="password">Password</label>' in html
    assert 'autocomplete="current-password"' in html and ">Log in</button>" in html
    assert 'href="/static/css/haven.css"' in html
    assert client.get("/static/css/haven.css").status_code == 200
    # identity's own page policy comes through: nothing but same-origin style and script
    policy = page.headers["Content-Security-Policy"]
    assert "style-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_login_ok_redirects_home_and_sends_client_address(client, platform):
    response = log_in(client, TEACHER, headers={"User-Agent": "Browser/1.0"})
    assert response.headers["Location"] == "/"
    login = platform.oidc.logins[-1]
    assert login["email"] == TEACHER.email
    assert (login["client_ip"], login["user_agent"]) == ("127.0.0.1", "Browser/1.0")
    [exchange] = platform.oidc.requests_to("/oauth/token")
    assert exchange.headers["X-Forwarded-For"] == "127.0.0.1"
    assert exchange.form["code_verifier"] and exchange.form["client_id"] == "haven-gateway"
    assert platform.identity.called("Login") == []  # the web login is OIDC, not gRPC Login
    page = client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Tom Teacher" in text and "Haven Demo Academy" in text


def test_session_cookie_holds_the_session_and_is_httponly_lax(client, platform):
    response = log_in(client, TEACHER)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("haven_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # local http by default
    with client.session_transaction() as session:
        # + the school's name, how many other schools the account has (the school menu) and
        # the school's idle timeout (the blank screen)
        assert set(session) == {"sid", "tok", "exp", "school", "sso", "idle"}
        # the refresh token is identity's session: what refresh, elevation, logout use
        assert platform.identity.sessions[session["sid"]].account == TEACHER
        assert session["school"] == "Haven Demo Academy" and session["sso"] == 0
        assert session["idle"] == 15


def test_bad_password_says_so_on_identitys_page_and_keeps_the_email(client):
    response = _login(client, TEACHER.email, "wrong")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "Email or password is incorrect." in html
    assert f'value="{TEACHER.email}"' in html
    with client.session_transaction() as session:
        assert "tok" not in session


def test_unknown_email_gets_the_same_message(client):
    response = _login(client, "nobody@example.org", PASSWORD)
    assert response.status_code == 401
    assert "Email or password is incorrect." in response.get_data(as_text=True)


def test_throttled_login_shows_the_wait_message(client, platform):
    platform.identity.throttled = True
    response = _login(client, TEACHER.email, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed attempts. Try again in 15 minutes." in response.get_data(
        as_text=True)


def test_empty_login_form_is_refused_and_nobody_is_logged_in(client, platform):
    response = _login(client, "", "")
    assert response.status_code == 422
    assert "Enter your email address and password." in response.get_data(as_text=True)
    assert platform.oidc.logins == []


def test_login_returns_to_a_local_next_page_only(client, platform):
    ok = log_in(client, TEACHER, start="/login?next=/students?q%3Dava")
    assert ok.headers["Location"] == "/students?q=ava"
    # the page to return to stays with the gateway: identity never sees it
    assert all("next" not in s.args for s in platform.oidc.requests_to("/oauth/authorize"))
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example",
                 "http:/evil.example"):
        client.post("/logout", data={"csrf_token": csrf(client, "/")})
        client.get("/login")  # "You have logged out."
        response = log_in(client, TEACHER, start=f"/login?next={quote(evil)}")
        assert response.headers["Location"] == "/", evil


def test_pages_need_a_login(client):
    response = client.get("/students?q=ava")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert client.get("/").headers["Location"] == "/login"


def test_logout_ends_the_session_at_identity_and_clears_the_cookie(teacher, platform):
    with teacher.session_transaction() as session:
        sid = session["sid"]
    response = teacher.post("/logout", data={"csrf_token": csrf(teacher, "/")})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert platform.identity.called("Logout")[-1].request.session_id == sid
    assert platform.identity.sessions[sid].ended
    assert teacher.get("/").status_code == 302
    page = teacher.get("/login")  # says so, and offers to log in again
    assert page.status_code == 200
    assert "You have logged out." in page.get_data(as_text=True)
    assert 'href="/login"' in page.get_data(as_text=True)
    assert teacher.get("/login").headers["Location"].startswith("/oauth/authorize?")


def test_elevate_gives_full_access_and_returns_to_the_page(client, platform):
    log_in(client, DSL)
    with client.session_transaction() as session:
        login_sid = session["sid"]
    page = client.get("/").get_data(as_text=True)
    assert "Restricted access" in page and "Elevate your access" in page
    form = client.get("/elevate?next=/students?q=ava")
    assert form.status_code == 200
    response = client.post("/elevate", data={"code": TOTP, "next": "/students?q=ava",
                                             "csrf_token": csrf(client, "/elevate")})
    assert response.status_code == 302
    assert response.headers["Location"] == "/students?q=ava"
    elevate = platform.identity.called("Elevate")[-1]
    assert elevate.request.totp_code == TOTP and elevate.request.client_ip == "127.0.0.1"
    assert elevate.metadata["authorization"].startswith("Bearer ")
    page = client.get("/").get_data(as_text=True)
    assert "Full access" in page and "Quick student search" in page
    # Identity rotated the session secret on elevation; later refreshes use the new one.
    with client.session_transaction() as session:
        assert session["sid"] != login_sid
        session["exp"] = 0  # the access token has run out
    assert "Full access" in client.get("/").get_data(as_text=True)
    assert platform.identity.called("RefreshSession")[-1].request.session_id != login_sid


def test_elevate_with_a_wrong_code_says_so(client, platform):
    log_in(client, DSL)
    response = client.post("/elevate", data={"code": "000000",
                                             "csrf_token": csrf(client, "/elevate")})
    assert response.status_code == 422
    assert "That code is not right." in response.get_data(as_text=True)
    response = client.post("/elevate", data={"code": "12", "csrf_token": csrf(client, "/elevate")})
    assert response.status_code == 422
    assert "6-digit code" in response.get_data(as_text=True)
    assert len(platform.identity.called("Elevate")) == 1


def test_elevate_on_an_ended_session_sends_the_user_to_log_in(client, platform):
    log_in(client, DSL)
    platform.identity.fail("Elevate", (grpc.StatusCode.UNAUTHENTICATED, "session ended"))
    response = client.post("/elevate", data={"code": TOTP,
                                             "csrf_token": csrf(client, "/elevate")})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert "Your session has ended" in client.get("/login").get_data(as_text=True)
    assert client.get("/").status_code == 302  # the gateway's session is gone too


def test_elevate_refused_for_a_non_key_holder(teacher):
    response = teacher.post("/elevate", data={"code": TOTP,
                                              "csrf_token": csrf(teacher, "/elevate")})
    assert response.status_code == 403
    assert "does not use elevated access" in response.get_data(as_text=True)


def test_token_near_expiry_is_refreshed(client, platform):
    platform.identity.token_ttl = 30  # inside the 60 s refresh margin
    log_in(client, TEACHER)
    with client.session_transaction() as session:
        old = session["tok"]
    assert client.get("/").status_code == 200
    refresh = platform.identity.called("RefreshSession")
    assert refresh and refresh[-1].request.session_id
    with client.session_transaction() as session:
        assert session["tok"] != old
    # the refreshed token is what records received
    assert platform.records.called("ListAlerts")[-1].metadata["authorization"] == (
        "Bearer " + session["tok"])


def test_ended_session_redirects_to_login_with_a_message(client, platform):
    platform.identity.token_ttl = 30
    log_in(client, TEACHER)
    for s in platform.identity.sessions.values():
        s.ended = True  # idle timeout, absolute timeout or revoked: identity refuses
    response = client.get("/students?q=ava")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/students?q%3Dava"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session has ended, please log in again." in page
    # "Log in" goes back to identity's form, and then to the page the person was on
    assert 'href="/login?next=/students?q%3Dava"' in page
    with client.session_transaction() as session:
        assert "tok" not in session
    assert platform.records.called("SearchStudents") == []


def test_refresh_when_identity_is_down_is_a_503_not_a_logout(client, platform):
    platform.identity.token_ttl = 30
    log_in(client, TEACHER)
    platform.identity.fail("RefreshSession", (grpc.StatusCode.UNAVAILABLE, "down"))
    response = client.get("/")
    assert response.status_code == 503
    with client.session_transaction() as session:
        assert "tok" in session


def test_a_service_refusing_the_token_ends_the_browser_session(teacher, platform):
    platform.records.fail("ListAlerts", (grpc.StatusCode.UNAUTHENTICATED, "token refused"))
    response = teacher.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Your session has ended" in teacher.get("/login").get_data(as_text=True)
