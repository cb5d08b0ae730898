"""The OAuth2/OIDC provider over HTTP, driven by an independent client (authlib's requests
client): discovery, JWKS, authorization code + PKCE (required, S256), the ID token checked
against the JWKS, refresh tokens, and client credentials for integrations (one school, one
scope, and nothing to read)."""

from __future__ import annotations

import dataclasses
import re
import shutil

import grpc
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from haven.identity.v1 import identity_pb2 as pb
from services.identity.app import start_http
from services.identity.models import SecurityLogEntry
from services.identity.seed import DEMO_PASSWORD, DEMO_SCHOOL_ID
from services.identity.tests.conftest import OTHER_DSL, OTHER_SCHOOL_ID, TEST_CONFIG, serve
from services.identity.tests.conftest import refused as rpc_refused
from services.identity.tests.test_users_admin import ADMIN, DSL, TEACHER1
from shared.auth import TokenVerifier
from shared.testing import free_port

CLIENT_ID = "haven-gateway"
REDIRECT = "http://127.0.0.1:8080/auth/callback"


@pytest.fixture()
def oidc(seeded_template, tmp_path):
    path = tmp_path / "identity.db"
    shutil.copyfile(seeded_template, path)
    port = free_port()
    config = dataclasses.replace(TEST_CONFIG, issuer_url=f"http://127.0.0.1:{port}",
                                 gateway_redirect_uris=(REDIRECT,))
    served, channel, running = serve(f"sqlite:///{path}", config=config)
    http = start_http(served.spec, host="127.0.0.1", port=port, loop_timeout=0.05)
    served.base = config.issuer_url
    served.discovery = requests.get(f"{served.base}/.well-known/openid-configuration",
                                    timeout=5).json()
    yield served
    http.stop()
    channel.close()
    running.stop()
    served.db.dispose()


def log(oidc, event: str) -> list[SecurityLogEntry]:
    with oidc.db.read() as s:
        rows = list(s.scalars(select(SecurityLogEntry).where(SecurityLogEntry.event == event)))
        s.expunge_all()
        return rows


def sign_in(page_url: str, email: str, password: str = DEMO_PASSWORD,
            browser: requests.Session | None = None) -> requests.Response:
    """What a person does on the provider's login page."""
    browser = browser or requests.Session()
    page = browser.get(page_url, timeout=5)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return browser.post(page_url, data={"csrf_token": csrf, "email": email,
                                        "password": password},
                        allow_redirects=False, timeout=5)


def authorize(oidc, email: str = DSL, **extra):
    client = OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT, scope="openid profile email",
                           token_endpoint_auth_method="none", code_challenge_method="S256")
    verifier = generate_token(48)
    nonce = generate_token(20)
    uri, state = client.create_authorization_url(
        oidc.discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra)
    return client, verifier, nonce, state, sign_in(uri, email)


def test_discovery_and_jwks(oidc):
    d = oidc.discovery
    assert d["issuer"] == oidc.base
    assert d["authorization_endpoint"] == f"{oidc.base}/oauth/authorize"
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert "client_credentials" in d["grant_types_supported"]
    assert d["id_token_signing_alg_values_supported"] == ["ES256"]
    jwks = requests.get(d["jwks_uri"], timeout=5).json()
    assert jwks["keys"] and all("d" not in k for k in jwks["keys"])


def test_an_independent_client_completes_code_and_pkce_and_verifies_the_id_token(oidc):
    client, verifier, nonce, state, resp = authorize(oidc)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT + "?") and f"state={state}" in location
    token = client.fetch_token(oidc.discovery["token_endpoint"], authorization_response=location,
                               code_verifier=verifier)
    assert token["token_type"].lower() == "bearer" and token["refresh_token"]
    # The ID token, checked against the published keys as any relying party would.
    keys = KeySet.import_key_set(requests.get(oidc.discovery["jwks_uri"], timeout=5).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["ES256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": oidc.base},
        aud={"essential": True, "value": CLIENT_ID},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True, "value": "00000000-0000-4000-8000-000000000102"},
        exp={"essential": True},
    ).validate(id_token.claims)
    claims = id_token.claims
    assert (claims["email"], claims["name"], claims["school"], claims["acr"]) == (
        DSL, "Dana Lead", DEMO_SCHOOL_ID, "pwd")
    assert claims["at_hash"] and claims["sid"]
    # The access token is Haven's: every service verifies it; the refresh token is the
    # session, which the gRPC elevation steps up like any other.
    access = oidc.spec.verifier.verify(token["access_token"])
    assert (access.school_id, access.access, access.session_id) == (
        DEMO_SCHOOL_ID, "restricted", claims["sid"])
    elevated = oidc.elevate(token["refresh_token"], oidc.code(DSL))
    assert elevated.access == "full"
    refreshed = client.refresh_token(oidc.discovery["token_endpoint"],
                                     refresh_token=elevated.session_id)
    assert oidc.spec.verifier.verify(refreshed["access_token"]).access == "full"
    # The secret from before the elevation refreshes nothing.
    with pytest.raises(Exception, match="invalid_grant"):
        client.refresh_token(oidc.discovery["token_endpoint"],
                             refresh_token=token["refresh_token"])
    [ok] = [e for e in log(oidc, "login_ok") if e.email == DSL]
    assert ok.client_ip == "127.0.0.1"


def test_pkce_is_required_and_only_s256(oidc):
    base = oidc.discovery["authorization_endpoint"]
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT,
              "scope": "openid", "state": "s1"}
    missing = requests.get(base, params=params, allow_redirects=False, timeout=5)
    assert missing.status_code == 302 and "error=invalid_request" in missing.headers["Location"]
    plain = requests.get(base, params=dict(params, code_challenge="a" * 43,
                                           code_challenge_method="plain"),
                         allow_redirects=False, timeout=5)
    assert "error=invalid_request" in plain.headers["Location"]
    # An unknown client or redirect never gets a login page.
    wrong = requests.get(base, params=dict(params, redirect_uri="https://evil.example/cb",
                                           code_challenge=create_s256_code_challenge("v" * 50),
                                           code_challenge_method="S256"),
                         allow_redirects=False, timeout=5)
    assert wrong.status_code == 400 and "evil.example" not in wrong.headers.get("Location", "")


def test_a_wrong_verifier_or_a_replayed_code_gets_nothing(oidc):
    client, verifier, _nonce, _state, resp = authorize(oidc)
    location = resp.headers["Location"]
    with pytest.raises(Exception, match="invalid_grant"):
        client.fetch_token(oidc.discovery["token_endpoint"], authorization_response=location,
                           code_verifier=generate_token(48))
    # The code was spent by that attempt; and a replay ends the session it opened.
    client2, verifier2, _n, _s, resp2 = authorize(oidc)
    location2 = resp2.headers["Location"]
    token = client2.fetch_token(oidc.discovery["token_endpoint"],
                                authorization_response=location2, code_verifier=verifier2)
    with pytest.raises(Exception, match="invalid_grant"):
        client2.fetch_token(oidc.discovery["token_endpoint"], authorization_response=location2,
                            code_verifier=verifier2)
    assert rpc_refused(oidc.refresh, token["refresh_token"]).code() == (
        grpc.StatusCode.UNAUTHENTICATED)
    assert verifier and client  # the first code went with the wrong verifier


def test_the_login_page_refuses_bad_passwords_and_forged_forms(oidc):
    client = OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT, scope="openid",
                           code_challenge_method="S256")
    uri, _ = client.create_authorization_url(oidc.discovery["authorization_endpoint"],
                                             code_verifier=generate_token(48))
    wrong = sign_in(uri, TEACHER1, "not-the-password")
    assert wrong.status_code == 401 and "Email or password is incorrect." in wrong.text
    assert log(oidc, "login_failed")[0].email == TEACHER1
    forged = requests.post(uri, data={"email": TEACHER1, "password": DEMO_PASSWORD},
                           allow_redirects=False, timeout=5)
    assert forged.status_code == 400 and "Location" not in forged.headers
    assert wrong.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in wrong.headers["Content-Security-Policy"]


def test_the_login_page_looks_like_haven_and_names_the_schools_page(oidc):
    client = OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT, scope="openid",
                           code_challenge_method="S256")
    uri, _ = client.create_authorization_url(oidc.discovery["authorization_endpoint"],
                                             code_verifier=generate_token(48))
    page = requests.get(uri, timeout=5)
    html = page.text
    assert page.status_code == 200
    # The gateway's stylesheet (the page is served through the gateway, same origin)
    assert '<link rel="stylesheet" href="/static/css/haven.css">' in html
    assert '<label for="email">Email address</label>' in html
    assert '<label for="password">Password</label>' in html
    assert ">Log in</button>" in html and 'href="/forgotten-password"' in html
    assert "Oakfield Primary" not in html and 'id="login-school"' not in html
    policy = page.headers["Content-Security-Policy"]
    assert "style-src 'self'" in policy and "form-action 'self'" in policy
    assert "'unsafe-inline'" not in policy and "<style" not in html and " style=" not in html
    # A school's own login page names it, and the login lands in that school.
    school_uri, _ = client.create_authorization_url(
        oidc.discovery["authorization_endpoint"], code_verifier=generate_token(48),
        school="oakfield")
    assert '<p class="muted" id="login-school">Oakfield Primary</p>' in requests.get(
        school_uri, timeout=5).text
    unknown, _ = client.create_authorization_url(
        oidc.discovery["authorization_endpoint"], code_verifier=generate_token(48),
        school="no-such-school")
    assert 'id="login-school"' not in requests.get(unknown, timeout=5).text


def test_a_schools_login_page_opens_the_session_in_that_school(oidc):
    from services.identity.tests.conftest import BOTH_SCHOOLS

    verifier = generate_token(48)
    client = OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT, scope="openid",
                           token_endpoint_auth_method="none", code_challenge_method="S256")
    for slug, school_id in (("oakfield", OTHER_SCHOOL_ID), ("demo", DEMO_SCHOOL_ID)):
        uri, _ = client.create_authorization_url(oidc.discovery["authorization_endpoint"],
                                                 code_verifier=verifier, school=slug)
        resp = sign_in(uri, BOTH_SCHOOLS)
        token = client.fetch_token(oidc.discovery["token_endpoint"],
                                   authorization_response=resp.headers["Location"],
                                   code_verifier=verifier)
        assert oidc.spec.verifier.verify(token["access_token"]).school_id == school_id, slug


def test_the_client_address_the_gateway_forwards_is_the_one_logged_and_throttled(oidc):
    client = OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT, scope="openid",
                           code_challenge_method="S256")
    uri, _ = client.create_authorization_url(oidc.discovery["authorization_endpoint"],
                                             code_verifier=generate_token(48))
    browser = requests.Session()
    # The gateway appends the address it saw to whatever the client sent.
    browser.headers["X-Forwarded-For"] = "198.51.100.66, 203.0.113.7"
    wrong = sign_in(uri, TEACHER1, "not-the-password", browser=browser)
    assert wrong.status_code == 401
    assert [e.client_ip for e in log(oidc, "login_failed")] == ["203.0.113.7"]


# ---- integrations -----------------------------------------------------------------------------


def integration(oidc, scope: str = "incidents:add", email: str = ADMIN):
    admin, _ = oidc.elevated(email)
    created = oidc.call("CreateIntegrationClient", pb.CreateIntegrationClientRequest(
        name="Web filter vendor", scope=scope), admin)
    assert created.token_endpoint == oidc.discovery["token_endpoint"]
    return admin, created


def client_token(oidc, created, scope: str | None = None) -> dict:
    session = OAuth2Session(created.client.client_id, created.client_secret,
                            scope=scope if scope is not None else created.client.scope)
    return session.fetch_token(oidc.discovery["token_endpoint"], grant_type="client_credentials")


def test_an_integration_gets_a_token_for_its_school_and_scope_only(oidc):
    admin, created = integration(oidc)
    assert created.client.client_id.startswith("hvi_") and len(created.client_secret) > 30
    token = client_token(oidc, created)
    assert token["scope"] == "incidents:add" and "refresh_token" not in token
    # As records would: the JWKS over HTTP, then a local check.
    jwks = oidc.discovery["jwks_uri"]
    claims = TokenVerifier(lambda: requests.get(jwks, timeout=5).text).verify(
        token["access_token"])
    assert (claims.account_id, claims.school_id, claims.access, claims.scopes,
            claims.permissions) == (created.client.client_id, DEMO_SCHOOL_ID, "integration",
                                    {"incidents:add"}, frozenset())
    listed = oidc.call("ListIntegrationClients", pb.ListIntegrationClientsRequest(), admin)
    assert listed.clients[0].last_used_at.seconds > 0
    issued = log(oidc, "token_issued")
    assert issued[0].school_id == DEMO_SCHOOL_ID and created.client.client_id in issued[0].detail


def test_attack_an_integration_token_cannot_read_anything(oidc):
    _admin, created = integration(oidc)
    token = client_token(oidc, created)["access_token"]
    for method, request in (("ListStaff", pb.ListStaffRequest()),
                            ("ListUsers", pb.ListUsersRequest()),
                            ("ListAlertGroups", pb.ListAlertGroupsRequest()),
                            ("GetSchoolSettings", pb.GetSchoolSettingsRequest()),
                            ("ListMySchools", pb.ListMySchoolsRequest())):
        error = rpc_refused(oidc.call, method, request, token)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, method
    refusals = [e for e in log(oidc, "token_refused") if "staff RPC" in e.detail]
    assert len(refusals) == 5 and {e.school_id for e in refusals} == {DEMO_SCHOOL_ID}
    assert created.client.client_id in refusals[0].detail
    info = requests.get(f"{oidc.base}/oauth/userinfo",
                        headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert info.status_code == 403


def test_attack_an_integration_token_is_for_its_own_school_only(oidc):
    _admin, created = integration(oidc)
    token = client_token(oidc, created)["access_token"]
    # Whatever it asks, the token names the school that created the client...
    claims = oidc.spec.verifier.verify(token)
    assert claims.school_id == DEMO_SCHOOL_ID != OTHER_SCHOOL_ID
    # ...and another school's admin cannot see or revoke it.
    oak_admin, _ = oidc.elevated(OTHER_DSL)
    assert oidc.call("ListIntegrationClients", pb.ListIntegrationClientsRequest(),
                     oak_admin).clients == []
    assert rpc_refused(oidc.call, "RevokeIntegrationClient", pb.RevokeIntegrationClientRequest(
        client_id=created.client.client_id), oak_admin).code() == grpc.StatusCode.NOT_FOUND


def test_attack_wrong_scope_secret_or_revoked_client_gets_no_token(oidc):
    admin, created = integration(oidc)
    with pytest.raises(Exception, match="invalid_scope"):
        client_token(oidc, created, scope="mis.import")
    with pytest.raises(Exception, match="invalid_scope"):
        client_token(oidc, created, scope="openid")
    wrong = OAuth2Session(created.client.client_id, "not-the-secret", scope="incidents:add")
    with pytest.raises(Exception, match="invalid_client"):
        wrong.fetch_token(oidc.discovery["token_endpoint"], grant_type="client_credentials")
    oidc.call("RevokeIntegrationClient", pb.RevokeIntegrationClientRequest(
        client_id=created.client.client_id), admin)
    with pytest.raises(Exception, match="invalid_client"):
        client_token(oidc, created)
    refusals = log(oidc, "token_refused")
    assert len(refusals) == 4
    assert [r.school_id for r in refusals][:3] == [DEMO_SCHOOL_ID] * 3
    # The gateway (a public client) cannot use client credentials either.
    public = requests.post(oidc.discovery["token_endpoint"], data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID}, timeout=5)
    assert public.status_code in (400, 401)


def test_integration_clients_need_an_admin_and_a_known_scope(oidc):
    teacher = oidc.login(TEACHER1).access_token
    assert rpc_refused(oidc.call, "CreateIntegrationClient", pb.CreateIntegrationClientRequest(
        name="Mine", scope="incidents:add"), teacher).code() == grpc.StatusCode.PERMISSION_DENIED
    admin, _ = oidc.elevated(ADMIN)
    assert rpc_refused(oidc.call, "CreateIntegrationClient", pb.CreateIntegrationClientRequest(
        name="Reader", scope="incidents:read"), admin).code() == grpc.StatusCode.INVALID_ARGUMENT
    mis = oidc.call("CreateIntegrationClient", pb.CreateIntegrationClientRequest(
        name="MIS connector", scope="mis.import"), admin)
    assert client_token(oidc, mis)["scope"] == "mis.import"


def test_an_operator_creates_a_connectors_client(oidc):
    from services.identity import operations

    client_id, secret = operations.create_integration_client(
        oidc.db, school_id=OTHER_SCHOOL_ID, name="Oakfield MIS", scope="mis.import")
    session = OAuth2Session(client_id, secret, scope="mis.import")
    token = session.fetch_token(oidc.discovery["token_endpoint"], grant_type="client_credentials")
    claims = oidc.spec.verifier.verify(token["access_token"])
    assert (claims.school_id, claims.scopes, claims.access) == (
        OTHER_SCHOOL_ID, {"mis.import"}, "integration")


def test_an_oauth_session_switched_to_another_school_stays_the_clients(oidc):
    from services.identity.tests.conftest import BOTH_SCHOOLS

    client, verifier, _nonce, _state, resp = authorize(oidc, email=BOTH_SCHOOLS)
    token = client.fetch_token(oidc.discovery["token_endpoint"],
                               authorization_response=resp.headers["Location"],
                               code_verifier=verifier)
    moved = oidc.stub.SwitchSchool(pb.SwitchSchoolRequest(session_id=token["refresh_token"],
                                                          school_id=DEMO_SCHOOL_ID))
    refreshed = client.refresh_token(oidc.discovery["token_endpoint"],
                                     refresh_token=moved.session_id)
    assert oidc.spec.verifier.verify(refreshed["access_token"]).school_id == DEMO_SCHOOL_ID


def test_spent_and_expired_codes_are_deleted_an_hour_after_they_expire(identity):
    """Each code holds a sealed session secret: it does not stay in the table for ever."""
    import datetime as dt

    from services.identity import integrations
    from services.identity.models import AuthorizationCode
    from services.identity.secretbox import SecretBox

    box = SecretBox("a-test-key-secret-of-some-length")
    t0 = dt.datetime(2026, 11, 29, 9, 0)

    def save(code: str, at: dt.datetime) -> None:
        with identity.db.transaction() as s:
            integrations.save_code(
                s, box, code=code, client_id="haven-gateway", redirect_uri="http://x/cb",
                scope="openid", nonce="n", code_challenge="c", code_challenge_method="S256",
                session_id="00000000-0000-4000-8000-00000000c0de", session_secret="secret",
                account_id="00000000-0000-4000-8000-000000000101", now=at)

    def held() -> int:
        with identity.db.read() as s:
            return s.query(AuthorizationCode).count()

    save("first", t0)
    save("second", t0 + dt.timedelta(minutes=30))
    assert held() == 2  # within the hour both stay (a replay still ends its session)
    save("third", t0 + dt.timedelta(hours=1, minutes=2))
    assert held() == 2  # the first expired over an hour ago: gone
