"""`python -m haven run` (what `make run` starts): serves the demo, and a restart keeps data."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Haven-demo-2026!"


def _start(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "haven", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _wait_serving(proc, base: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"haven run exited:\n{proc.stdout.read()[-4000:]}")
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError("haven run did not serve in time")


def _stop(proc) -> str:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out


def _teacher(base: str) -> dict:
    r = requests.post(f"{base}/api/v1/auth/login", timeout=10,
                      json={"email": "teacher1@demo.haven.test", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _web_login(base: str, email: str) -> requests.Session:
    """The browser's login: identity's page (through the gateway, on whatever port), the form,
    the callback, the dashboard."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=10)
    assert page.status_code == 200 and page.url.startswith(f"{base}/oauth/authorize?")
    assert "Email address" in page.text and "Password" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    home = browser.post(page.url, data={"email": email, "password": PASSWORD,
                                        "csrf_token": csrf}, timeout=30)
    assert home.status_code == 200 and home.url == f"{base}/", home.text[-2000:]
    assert [r.url.split("?")[0] for r in home.history][-1] == f"{base}/auth/callback"
    assert "Log out" in home.text
    return browser


def test_run_serves_the_demo_and_keeps_data_across_a_restart(allinone_env):
    env = dict(os.environ, **allinone_env)
    base = f"http://127.0.0.1:{allinone_env['HAVEN_PORT']}"
    proc = _start(env)
    try:
        _wait_serving(proc, base)
        _web_login(base, "teacher1@demo.haven.test")
        headers = _teacher(base)
        student = requests.get(f"{base}/api/v1/students", params={"q": "e"}, headers=headers,
                               timeout=10).json()["students"][0]
        category = next(c for c in requests.get(f"{base}/api/v1/categories", headers=headers,
                                                timeout=10).json()["categories"] if c["can_add"])
        marker = f"Restart check {uuid.uuid4().hex[:8]}"
        r = requests.post(f"{base}/api/v1/incidents", headers=headers, timeout=10, json={
            "student_id": student["id"], "text": marker, "category_ids": [category["id"]],
            "request_id": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
    finally:
        out = _stop(proc)
    assert "dsl@demo.haven.test" in out and "make totp" in out  # the banner

    proc = _start(env)
    try:
        _wait_serving(proc, base)
        history = requests.get(f"{base}/api/v1/me/history", headers=_teacher(base),
                               timeout=10).json()["incidents"]
        assert marker in [i["text"] for i in history]
    finally:
        _stop(proc)
    assert (Path(allinone_env["HAVEN_VAR_DIR"]) / "records.db").exists()


def test_make_totp_prints_the_code_the_dsl_can_elevate_with(allinone_env):
    """`make totp` (python -m haven totp) reads the all-in-one's own sealed secret."""
    import pyotp

    from haven import allinone
    from services.identity.seed import DEMO_TOTP_SECRETS
    from shared.events.memory import reset_broker

    reset_broker()
    app = allinone.start(int(allinone_env["HAVEN_PORT"]))
    app.stop()
    reset_broker()
    env = dict(os.environ, **allinone_env)
    env.pop("IDENTITY_KEY_SECRET", None)
    out = subprocess.run([sys.executable, "-m", "haven", "totp"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    code = out.stdout.strip().splitlines()[-1]
    assert pyotp.TOTP(DEMO_TOTP_SECRETS["dsl@demo.haven.test"]).verify(code, valid_window=1)
