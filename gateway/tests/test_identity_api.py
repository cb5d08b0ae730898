"""identity's /api/v1 routes answer what gateway/openapi_identity.py says; the OAuth2 endpoints
are passed through to identity's HTTP app."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.app import close_app, create_app
from gateway.openapi import API_PREFIX
from gateway.tests.fakes import DSL, PASSWORD, TEACHER, TEACHER_GROUP, TOTP
from gateway.tests.fakes_identity import ENROLMENT_CODE, RESET_TOKEN, SCHOOL2, STRONG_PASSWORD
from gateway.tests.test_openapi import _check

P = API_PREFIX
CREDENTIAL = {"id": "a2V5", "type": "public-key", "response": {"clientDataJSON": "e30"}}


def _login(client, account, *, elevate: bool = False) -> tuple[dict, str]:
    r = client.post(f"{P}/auth/login", json={"email": account.email, "password": PASSWORD})
    sid, token = r.json["session_id"], r.json["access_token"]
    if elevate:
        r = client.post(f"{P}/auth/elevate", json={"session_id": sid, "code": TOTP})
        sid, token = r.json["session_id"], r.json["access_token"]
    return {"Authorization": f"Bearer {token}"}, sid


def test_my_second_factors_and_registration(client):
    teacher, _sid = _login(client, TEACHER)
    listed = client.get(f"{P}/me/second-factors", headers=teacher)
    _check(listed, f"{P}/me/second-factors", "get")
    assert listed.json == {"factors": []}
    begun = client.post(f"{P}/me/second-factors/totp", headers=teacher)
    _check(begun, f"{P}/me/second-factors/totp", "post")
    assert begun.status_code == 201 and begun.json["otpauth_uri"].startswith("otpauth://")
    path = f"{P}/me/second-factors/totp/confirm"
    wrong = client.post(path, headers=teacher, json={
        "enrolment_id": begun.json["enrolment_id"], "name": "Phone", "code": "000000"})
    _check(wrong, path, "post")
    assert wrong.status_code == 422
    _check(client.post(path, headers=teacher, json={"name": "x"}), path, "post")
    saved = client.post(path, headers=teacher, json={
        "enrolment_id": begun.json["enrolment_id"], "name": "Phone", "code": ENROLMENT_CODE})
    _check(saved, path, "post")
    assert saved.status_code == 201 and saved.json["verified"] is False

    # the second factor needs an elevated session (teachers cannot elevate: refused)
    refused = client.post(f"{P}/me/second-factors/security-keys/begin", headers=teacher,
                          json={"name": "Key"})
    _check(refused, f"{P}/me/second-factors/security-keys/begin", "post")
    assert refused.status_code == 403
    delete = client.delete(f"{P}/me/second-factors/{saved.json['id']}", headers=teacher)
    _check(delete, f"{P}/me/second-factors/{{factor_id}}", "delete")
    assert delete.status_code == 403


def test_security_key_registration_and_elevation_over_the_api(client):
    dsl, _sid = _login(client, DSL, elevate=True)
    begin = f"{P}/me/second-factors/security-keys/begin"
    finish = f"{P}/me/second-factors/security-keys/finish"
    begun = client.post(begin, headers=dsl, json={"name": "Key"})
    _check(begun, begin, "post")
    assert "publicKey" in begun.json["options"]
    done = client.post(finish, headers=dsl, json={"challenge_id": begun.json["challenge_id"],
                                                  "credential": CREDENTIAL})
    _check(done, finish, "post")
    assert done.status_code == 201 and done.json["kind"] == "security_key"
    _check(client.post(finish, headers=dsl, json={"challenge_id": "x", "credential": "no"}),
           finish, "post")

    _restricted, sid = _login(client, DSL)
    path = f"{P}/auth/elevate/security-key/begin"
    ceremony = client.post(path, json={"session_id": sid})
    _check(ceremony, path, "post")
    path = f"{P}/auth/elevate/security-key/finish"
    elevated = client.post(path, json={"session_id": sid, "credential": CREDENTIAL,
                                       "challenge_id": ceremony.json["challenge_id"]})
    _check(elevated, path, "post")
    assert elevated.status_code == 200 and elevated.json["session_id"] != sid
    me = client.get(f"{P}/me", headers={
        "Authorization": f"Bearer {elevated.json['access_token']}"})
    assert me.json["access"] == "full"
    stale = client.post(path, json={"session_id": elevated.json["session_id"],
                                    "credential": CREDENTIAL,
                                    "challenge_id": ceremony.json["challenge_id"]})
    _check(stale, path, "post")
    assert stale.status_code == 422


def test_schools_and_switching(client):
    dsl, sid = _login(client, DSL)
    schools = client.get(f"{P}/me/schools", headers=dsl)
    _check(schools, f"{P}/me/schools", "get")
    assert [s["current"] for s in schools.json["schools"]] == [True, False]
    path = f"{P}/auth/switch-school"
    switched = client.post(path, json={"session_id": sid, "school_id": SCHOOL2})
    _check(switched, path, "post")
    assert switched.json["school_name"] == "Second School"
    refused = client.post(path, json={"session_id": switched.json["session_id"],
                                      "school_id": "nowhere"})
    _check(refused, path, "post")
    assert refused.status_code == 403


def test_password_links_over_the_api(client, platform):
    path = f"{P}/auth/password-reset"
    known = client.post(path, json={"email": TEACHER.email})
    unknown = client.post(path, json={"email": "nobody@x.test"})
    _check(known, path, "post")
    assert known.status_code == unknown.status_code == 202 and known.json == unknown.json
    _check(client.post(path, json={"email": 3}), path, "post")
    check = client.post(f"{P}/auth/password-reset/check", json={"token": RESET_TOKEN})
    _check(check, f"{P}/auth/password-reset/check", "post")
    assert check.json["email"] == TEACHER.email
    path = f"{P}/auth/password-strength"
    strength = client.post(path, json={"password": "abc", "token": RESET_TOKEN})
    _check(strength, path, "post")
    assert strength.json["ok"] is False
    path = f"{P}/auth/password-reset/confirm"
    weak = client.post(path, json={"token": RESET_TOKEN, "password": "abc"})
    _check(weak, path, "post")
    assert weak.status_code == 422
    done = client.post(path, json={"token": RESET_TOKEN, "password": STRONG_PASSWORD})
    _check(done, path, "post")
    assert done.json == {"email": TEACHER.email}
    assert client.post(path, json={"token": RESET_TOKEN,
                                   "password": STRONG_PASSWORD}).status_code == 422


def test_admin_over_the_api(client, platform):
    admin, _sid = _login(client, DSL, elevate=True)
    teacher, _ = _login(client, TEACHER)
    checks = []

    def run(method: str, path: str, template: str, *, headers=admin, **kwargs):
        response = getattr(client, method)(path, headers=headers, **kwargs)
        checks.append((response, template, method))
        return response

    users = run("get", f"{P}/admin/users", f"{P}/admin/users")
    assert {u["email"] for u in users.json["users"]} >= {DSL.email, TEACHER.email}
    assert run("get", f"{P}/admin/users", f"{P}/admin/users", headers=teacher).status_code == 403
    run("get", f"{P}/admin/users?deactivated=maybe", f"{P}/admin/users")
    run("get", f"{P}/admin/mis-staff", f"{P}/admin/mis-staff")
    created = run("post", f"{P}/admin/users", f"{P}/admin/users", json={
        "display_name": "Nora Nurse", "email": "nora@demo.haven.test",
        "user_group_id": TEACHER_GROUP})
    assert created.status_code == 201 and created.headers["Location"].endswith(
        created.json["account_id"])
    uid = created.json["account_id"]
    u = f"{P}/admin/users/{{account_id}}"
    run("post", f"{P}/admin/users", f"{P}/admin/users", json={"email": "x"})
    run("get", f"{P}/admin/users/{uid}", u)
    run("get", f"{P}/admin/users/nobody", u)
    run("put", f"{P}/admin/users/{uid}/email", f"{u}/email", json={"email": "n@demo.haven.test"})
    run("put", f"{P}/admin/users/{uid}/email", f"{u}/email", json={"email": "bad"})
    run("put", f"{P}/admin/users/{uid}/user-group", f"{u}/user-group",
        json={"user_group_id": TEACHER_GROUP})
    run("put", f"{P}/admin/users/{uid}/alert-email", f"{u}/alert-email",
        json={"alert_email": ""})
    run("post", f"{P}/admin/users/{uid}/password-email", f"{u}/password-email")
    run("post", f"{P}/admin/users/{uid}/second-factors/remove", f"{u}/second-factors/remove",
        json={"confirm": False})
    removed = run("post", f"{P}/admin/users/{uid}/second-factors/remove",
                  f"{u}/second-factors/remove", json={"confirm": True})
    assert removed.json == {"removed": 0}
    run("get", f"{P}/admin/users/{uid}/security-log", f"{u}/security-log")
    deact = run("post", f"{P}/admin/users/{uid}/deactivate", f"{u}/deactivate")
    assert deact.json["active"] is False
    run("post", f"{P}/admin/users/{DSL.account_id}/deactivate", f"{u}/deactivate")
    react = run("post", f"{P}/admin/users/{uid}/reactivate", f"{u}/reactivate",
                json={"email": "n@demo.haven.test", "user_group_id": TEACHER_GROUP})
    assert react.json["active"] is True

    groups = run("get", f"{P}/admin/user-groups", f"{P}/admin/user-groups")
    assert "administration" in groups.json["system_permissions"]
    g = run("post", f"{P}/admin/user-groups", f"{P}/admin/user-groups",
            json={"name": "Pastoral", "key_holder": True, "permissions": ["run_reports"]})
    gid = g.json["user_group_id"]
    run("put", f"{P}/admin/user-groups/{gid}", f"{P}/admin/user-groups/{{group_id}}",
        json={"name": "Pastoral team", "permissions": ["nonsense"]})
    refused = run("delete", f"{P}/admin/user-groups/{TEACHER_GROUP}",
                  f"{P}/admin/user-groups/{{group_id}}")
    assert refused.status_code == 409 and "Move them" in refused.json["error"]["message"]
    assert run("delete", f"{P}/admin/user-groups/{gid}",
               f"{P}/admin/user-groups/{{group_id}}").status_code == 204

    ag = run("post", f"{P}/admin/alert-groups", f"{P}/admin/alert-groups",
             json={"name": "DSLs", "member_account_ids": [DSL.account_id],
                   "add_user_group_ids": [TEACHER_GROUP]})
    assert len(ag.json["members"]) == 4
    agid = ag.json["alert_group_id"]
    listed = run("get", f"{P}/alert-groups", f"{P}/alert-groups", headers=teacher)
    assert listed.json["alert_groups"][0]["name"] == "DSLs"
    a = f"{P}/admin/alert-groups/{{alert_group_id}}"
    run("put", f"{P}/admin/alert-groups/{agid}", a, json={"name": "Leads"})
    run("put", f"{P}/admin/alert-groups/{agid}", a, headers=teacher, json={"name": "Mine"})
    run("delete", f"{P}/admin/alert-groups/{agid}", a)

    run("get", f"{P}/school-settings", f"{P}/school-settings", headers=teacher)
    body = {"email_domains": ["demo.haven.test"], "disable_missing_from_mis": False,
            "use_legal_names": True, "idle_timeout_minutes": 30}
    saved = run("put", f"{P}/admin/school-settings", f"{P}/admin/school-settings", json=body)
    assert saved.json == body
    run("put", f"{P}/admin/school-settings", f"{P}/admin/school-settings",
        json={**body, "idle_timeout_minutes": "30"})

    made = run("post", f"{P}/admin/integrations", f"{P}/admin/integrations",
               json={"name": "MIS connector", "scope": "mis.import"})
    assert made.status_code == 201 and made.json["client_secret"]
    assert made.json["token_endpoint"].endswith("/oauth/token")
    run("get", f"{P}/admin/integrations", f"{P}/admin/integrations")
    run("post", f"{P}/admin/integrations/{made.json['client']['client_id']}/revoke",
        f"{P}/admin/integrations/{{client_id}}/revoke")
    run("post", f"{P}/admin/integrations/nope/revoke",
        f"{P}/admin/integrations/{{client_id}}/revoke")

    for response, template, method in checks:
        _check(response, template, method)
    assert {r.status_code for r, _t, _m in checks} >= {200, 201, 204, 400, 403, 404, 409, 422}


# ---- the OAuth2 endpoints, passed through ---------------------------------------------------

class _Identity(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server API
        self.seen.append({"method": "GET", "path": self.path})
        if self.path.startswith("/.well-known/openid-configuration"):
            self._answer(200, {"issuer": "http://gw", "token_endpoint": "http://gw/oauth/token"})
        elif self.path == "/oauth/jwks":
            self._answer(200, {"keys": []})
        else:
            self._answer(404, {"error": "not_found"})

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.seen.append({"method": "POST", "path": self.path, "body": body,
                          "auth": self.headers.get("Authorization"),
                          "type": self.headers.get("Content-Type"),
                          "xff": self.headers.get("X-Forwarded-For")})
        if "client_secret=right" in body:
            self._answer(200, {"access_token": "t", "token_type": "Bearer"})
        else:
            self._answer(401, {"error": "invalid_client"})

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture()
def identity_http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Identity)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Identity.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_oauth_endpoints_are_passed_through(platform, identity_http):
    app = create_app(platform.gateway_settings(TESTING=True, identity_http_url=identity_http))
    try:
        client = app.test_client()
        ok = client.post("/oauth/token", data={"grant_type": "client_credentials",
                                               "client_id": "c", "client_secret": "right"},
                         headers={"Authorization": "Basic abc"})
        assert ok.status_code == 200 and ok.json["access_token"] == "t"
        seen = _Identity.seen[-1]
        assert seen["path"] == "/oauth/token" and "grant_type=client_credentials" in seen["body"]
        assert seen["auth"] == "Basic abc"
        assert seen["type"] == "application/x-www-form-urlencoded"
        assert seen["xff"] == "127.0.0.1"
        bad = client.post("/oauth/token", data={"client_secret": "wrong"})
        assert bad.status_code == 401 and bad.json == {"error": "invalid_client"}
        discovery = client.get("/.well-known/openid-configuration")
        assert discovery.status_code == 200 and discovery.json["issuer"] == "http://gw"
        assert client.get("/oauth/jwks").json == {"keys": []}
        assert client.get("/.well-known/jwks.json").status_code == 404
    finally:
        close_app(app)


def test_oauth_proxy_when_identity_does_not_answer(platform):
    app = create_app(platform.gateway_settings(TESTING=True,
                                               identity_http_url="http://127.0.0.1:9"))
    try:
        response = app.test_client().post("/oauth/token", data={"grant_type": "x"})
        assert response.status_code == 503 and "not answering" in response.json["error"][
            "message"]
    finally:
        close_app(app)


def test_the_identity_http_address_comes_from_the_environment(monkeypatch):
    from gateway.config import GatewayConfig

    monkeypatch.setenv("GATEWAY_IDENTITY_HTTP_URL", "http://identity:8101/")
    assert GatewayConfig.from_env().identity_http_url == "http://identity:8101"
    monkeypatch.delenv("GATEWAY_IDENTITY_HTTP_URL")
    assert GatewayConfig.from_env().identity_http_url == "http://127.0.0.1:8101"
