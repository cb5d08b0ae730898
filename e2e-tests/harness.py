"""The platform in real processes: every service's api and worker, and the gateway under
gunicorn, on PostgreSQL (one database per service), RabbitMQ (a virtual host of the run's
own) and a real SMTP server (aiosmtpd), configured only by environment variables."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import requests

from shared.testing import AMQP_URL, free_port, postgres_database, require_service

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("identity", "records", "reporting", "mis_import", "transfers", "notifications")




class MailSink:
    """A real SMTP server collecting what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 - aiosmtpd API
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def received(self) -> list[Message]:
        with self.lock:
            return list(self.messages)

    def wait_for(self, predicate, timeout: float = 30) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.received() if predicate(m)]
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"no matching mail within {timeout}s; got {len(self.received())}")


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    metrics_port: int | None = None
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.popen = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self) -> None:
        assert self.popen is not None
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                with suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class DistributedPlatform:
    workdir: Path
    base_url: str = ""
    mail: MailSink | None = None
    procs: dict[str, Proc] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack)
    vhost: str = ""

    # ---- set-up -------------------------------------------------------------------------
    def start(self) -> DistributedPlatform:
        require_service("RabbitMQ", "127.0.0.1", 5672)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HAVEN_", "GATEWAY_"))}
        env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'gen'}"
        env["HAVEN_LOG_LEVEL"] = "INFO"
        for svc in SERVICES:
            url = self._stack.enter_context(postgres_database(f"haven_e2e_{svc}"))
            env[f"{svc.upper()}_DATABASE_URL"] = url
            port = free_port()
            env[f"{svc.upper()}_GRPC_PORT"] = str(port)
            env[f"HAVEN_{svc.upper()}_ADDR"] = f"127.0.0.1:{port}"
        self.vhost = f"haven_e2e_{uuid.uuid4().hex[:8]}"
        rabbitmqctl("add_vhost", self.vhost)
        rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        base = AMQP_URL.rsplit("/", 1)[0]
        env["HAVEN_EVENTS_URL"] = f"{base}/{self.vhost}?retry_delay_ms=500&max_attempts=10"
        self.mail = MailSink()
        self.mail.start()
        env["NOTIFICATIONS_MAIL_URL"] = f"smtp://127.0.0.1:{self.mail.port}"
        gw_port = free_port()
        self.base_url = f"http://127.0.0.1:{gw_port}"
        env["NOTIFICATIONS_PUBLIC_URL"] = self.base_url
        env["GATEWAY_SECRET_KEY"] = uuid.uuid4().hex * 2
        env["GATEWAY_PORT"] = str(gw_port)
        env["IDENTITY_KEY_SECRET"] = uuid.uuid4().hex
        oidc_port = free_port()
        env["IDENTITY_HTTP_PORT"] = str(oidc_port)
        # identity's provider is public through the gateway (the web login's authorize page,
        # the token endpoint): its issuer is the gateway's address, its only client's
        # redirect URIs the gateway's callback (browser tests use localhost, for WebAuthn)
        env["IDENTITY_ISSUER_URL"] = self.base_url
        env["IDENTITY_GATEWAY_REDIRECT_URIS"] = ",".join(
            f"http://{host}:{gw_port}/auth/callback" for host in ("127.0.0.1", "localhost"))
        env["GATEWAY_IDENTITY_HTTP_URL"] = f"http://127.0.0.1:{oidc_port}"
        prom_dir = self.workdir / "prometheus"
        prom_dir.mkdir()
        self.env = env

        py = sys.executable
        for svc in SERVICES:
            self._run_once([py, "-m", f"services.{svc}", "migrate"], f"migrate-{svc}")
        self._run_once([py, "-m", "haven", "seed-demo"], "seed-demo")
        for svc in SERVICES:
            for kind in ("api", "worker"):
                self.add_proc(f"{svc}-{kind}", [py, "-m", f"services.{svc}", kind], svc=svc)
        gw_env = dict(env, PROMETHEUS_MULTIPROC_DIR=str(prom_dir))
        self.procs["gateway"] = Proc(
            "gateway",
            [py, "-m", "gunicorn", "-c", "gateway/gunicorn.conf.py", "--bind",
             f"127.0.0.1:{gw_port}", "--workers", "2", "gateway.app:create_app()"],
            gw_env, self.workdir / "gateway.log",
        )
        for proc in self.procs.values():
            proc.start()
        self.wait_ready()
        return self

    def add_proc(self, name: str, argv: list[str], *, svc: str) -> Proc:
        metrics_port = free_port()
        env = dict(self.env, **{f"{svc.upper()}_METRICS_PORT": str(metrics_port)})
        proc = Proc(name, argv, env, self.workdir / f"{name}.log", metrics_port)
        self.procs[name] = proc
        return proc

    def _run_once(self, argv: list[str], name: str) -> None:
        result = subprocess.run(argv, env=self.env, cwd=ROOT, capture_output=True, timeout=180)
        if result.returncode != 0:
            raise RuntimeError(
                f"{name} failed ({result.returncode}):\n{result.stdout.decode()[-3000:]}"
                f"\n{result.stderr.decode()[-3000:]}"
            )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for proc in self.procs.values():
                if proc.popen and proc.popen.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            try:
                r = requests.get(f"{self.base_url}/readyz", timeout=2)
                if r.status_code == 200 and self._staff_known() and self._pupils_known():
                    return
                last = f"readyz {r.status_code}: {r.text[:200]}"
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(f"platform not ready in {timeout}s: {last}\n{self.logs()}")

    def _staff_known(self) -> bool:
        """Identity's account events have reached records (alerts can name colleagues)."""
        r = requests.post(f"{self.base_url}/api/v1/auth/login", timeout=5,
                          json={"email": "teacher1@demo.haven.test",
                                "password": "Haven-demo-2026!"})
        return r.status_code == 200

    def _pupils_known(self) -> bool:
        """Records has consumed every event of the demo school's MIS import (seed-demo ran
        the import; mis_import's worker relays its events once it is up)."""
        from haven.platform import mis_events_pending
        from services.identity.seed import DEMO_SCHOOL_ID
        from shared.db import Database

        mis = Database(self.env["MIS_IMPORT_DATABASE_URL"])
        records = Database(self.env["RECORDS_DATABASE_URL"])
        try:
            return mis_events_pending(mis, records, DEMO_SCHOOL_ID) == 0
        finally:
            mis.dispose()
            records.dispose()

    # ---- operations ---------------------------------------------------------------------
    def restart(self, name: str) -> None:
        proc = self.procs[name]
        proc.start()

    def dead(self) -> list[Proc]:
        return [p for p in self.procs.values() if p.popen and p.popen.poll() is not None]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail(15)}" for p in self.procs.values())

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        if self.mail:
            self.mail.stop()
        if self.vhost:
            with suppress(subprocess.SubprocessError, OSError):  # best-effort clean-up
                rabbitmqctl("delete_vhost", self.vhost)
        self._stack.close()


def start_platform() -> DistributedPlatform:
    workdir = Path(tempfile.mkdtemp(prefix="haven-e2e-"))
    platform = DistributedPlatform(workdir=workdir)
    try:
        platform.start()
    except BaseException:
        platform.stop()
        raise
    return platform


def cleanup(platform: DistributedPlatform) -> None:
    platform.stop()
    shutil.rmtree(platform.workdir, ignore_errors=True)
