"""Steps of the foundation journey shared by the API and browser tests."""

from __future__ import annotations

import time

import pyotp
import requests

PASSWORD = "Haven-demo-2026!"  # noqa: S105 - the demo school's published password
DSL_EMAIL = "dsl@demo.haven.test"
TEACHER_EMAIL = "teacher1@demo.haven.test"

_used_steps: dict[str, set[int]] = {}


def dsl_totp_secret() -> str:
    from services.identity.seed import DEMO_TOTP_SECRETS

    return DEMO_TOTP_SECRETS[DSL_EMAIL]


def fresh_totp(secret: str) -> str:
    """A code for a time step not used yet in this run (a code is never accepted twice)."""
    totp = pyotp.TOTP(secret)
    used = _used_steps.setdefault(secret, set())
    while True:
        step = int(time.time()) // 30
        if step not in used:
            used.add(step)
            return totp.at(step * 30)
        time.sleep(1)


class Api:
    def __init__(self, base_url: str) -> None:
        self.base = base_url + "/api/v1"
        self.http = requests.Session()
        self.session_id = ""

    def login(self, email: str, password: str = PASSWORD) -> requests.Response:
        r = self.http.post(f"{self.base}/auth/login", json={"email": email, "password": password},
                           timeout=10)
        if r.status_code == 200:
            body = r.json()
            self.session_id = body["session_id"]
            self.http.headers["Authorization"] = f"Bearer {body['access_token']}"
        return r

    def elevate(self, code: str) -> requests.Response:
        r = self.http.post(f"{self.base}/auth/elevate",
                           json={"session_id": self.session_id, "code": code}, timeout=10)
        if r.status_code == 200:
            body = r.json()
            self.http.headers["Authorization"] = f"Bearer {body['access_token']}"
            self.session_id = body.get("session_id") or self.session_id
        return r

    def refresh(self) -> requests.Response:
        r = self.http.post(f"{self.base}/auth/refresh", json={"session_id": self.session_id},
                           timeout=10)
        if r.status_code == 200:
            self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        return r

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(f"{self.base}{path}", params=params, timeout=10)

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        return self.http.post(f"{self.base}{path}", json=body or {}, timeout=10)


def wait_until(fn, *, timeout: float = 30, interval: float = 0.3, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def create_incident(api: Api, body: dict, timeout: float = 30) -> requests.Response:
    """POST an incident; while records has not yet learned of a colleague from identity's
    events it refuses the alert with 422, so retry with the same request_id (idempotent)."""
    deadline = time.monotonic() + timeout
    while True:
        r = api.post("/incidents", body)
        if r.status_code != 422 or time.monotonic() > deadline:
            return r
        time.sleep(0.5)
