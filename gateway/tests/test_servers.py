"""The gateway as it is really run: gunicorn (several workers, multiprocess metrics) and
``python -m gateway`` (waitress), in subprocesses, in front of the fakes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from gateway.tests.fakes import PASSWORD, TEACHER

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(platform, port: int, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GATEWAY_", "PROMETHEUS_"))}
    env.update(platform.env())
    env.update({"GATEWAY_PORT": str(port), "HAVEN_LOG_LEVEL": "WARNING", **extra})
    return env


def _wait_until_up(proc: subprocess.Popen, url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"server exited with {proc.returncode}: {out[-2000:]}")
        try:
            if requests.get(url, timeout=3).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.1)
    pytest.fail("server did not start in time")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _log_in(session: requests.Session, base: str, platform) -> None:
    """The web login as a browser does it: to identity's page (through the gateway), the
    form, back to the gateway's callback, home."""
    platform.oidc.redirect_uris.append(f"{base}/auth/callback")
    page = session.get(f"{base}/login", timeout=5)
    assert page.status_code == 200 and page.url.startswith(f"{base}/oauth/authorize?")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = session.post(page.url, data={
        "email": TEACHER.email, "password": PASSWORD, "csrf_token": token}, timeout=5)
    assert response.status_code == 200 and response.url == f"{base}/", response.text
    assert [r.headers["Location"].split("?")[0] for r in response.history] == [
        f"{base}/auth/callback", "/"]


def test_gunicorn_workers_share_sessions_and_metrics(platform, tmp_path):
    port = _free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"stale")  # emptied at start
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "gateway/gunicorn.conf.py", "gateway.app:create_app()"],
        cwd=ROOT, env=_env(platform, port, GATEWAY_WORKERS="2", GATEWAY_THREADS="2",
                           PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, f"{base}/healthz")
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        session = requests.Session()
        _log_in(session, base, platform)  # no GATEWAY_SECRET_KEY: one generated key for all workers
        for _ in range(6):
            page = session.get(f"{base}/", allow_redirects=False, timeout=5)
            assert page.status_code == 200
        text = requests.get(f"{base}/metrics", timeout=5).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        samples = [s for s in families["haven_http_requests"].samples
                   if s.name.endswith("_total") and s.labels["route"] == "/"]
        assert sum(s.value for s in samples) == 7  # the login landed on / once too
        assert not (metrics_dir / "counter_99999.db").exists()
    finally:
        _stop(proc)


def test_python_m_gateway_serves_with_waitress(platform):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway"], cwd=ROOT,
        env=_env(platform, port, GATEWAY_SECRET_KEY="local-dev-key"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, f"{base}/healthz")
        session = requests.Session()
        _log_in(session, base, platform)
        assert "Tom Teacher" in session.get(f"{base}/", timeout=5).text
    finally:
        _stop(proc)
