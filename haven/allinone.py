"""All-in-one mode: every service (each behind its own gRPC port), their workers and the
gateway in one process, on the embedded defaults (SQLite per service under var/, in-process
events, mail written to var/mail/). Restarting keeps the data."""

from __future__ import annotations

import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from haven.platform import Platform
from shared.service import Running, start_api, start_worker

log = logging.getLogger(__name__)

DEMO_LOGINS = (
    ("DSL (key holder, TOTP)", "dsl@demo.haven.test"),
    ("Admin (key holder, TOTP)", "admin@demo.haven.test"),
    ("Teacher", "teacher1@demo.haven.test"),
    ("Teacher", "teacher2@demo.haven.test"),
)
DEMO_PASSWORD = "Haven-demo-2026!"  # noqa: S105 - the demo school's published password


def embedded_defaults(port: int) -> None:
    """Fill in the all-in-one defaults for anything the environment does not set."""
    var = Path(os.environ.setdefault("HAVEN_VAR_DIR", "var"))
    var.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HAVEN_EVENTS_URL", "memory://")
    os.environ.setdefault("NOTIFICATIONS_MAIL_URL", f"file://{var}/mail")
    os.environ.setdefault("NOTIFICATIONS_PUBLIC_URL", f"http://127.0.0.1:{port}")
    # The web login: identity's OIDC provider is reached through the gateway on this port.
    os.environ.setdefault("IDENTITY_ISSUER_URL", f"http://127.0.0.1:{port}")
    os.environ.setdefault("IDENTITY_GATEWAY_REDIRECT_URIS", ",".join(
        f"http://{host}:{port}/auth/callback" for host in ("127.0.0.1", "localhost")))
    # Secrets of this installation, made once and kept in var/ so a restart keeps sessions,
    # sealed TOTP secrets and signing keys readable.
    for variable, filename in (("GATEWAY_SECRET_KEY", "gateway-secret"),
                               ("IDENTITY_KEY_SECRET", "identity-key-secret")):
        if not os.environ.get(variable):
            key_file = var / filename
            if not key_file.exists():
                key_file.write_text(secrets.token_urlsafe(48))
                key_file.chmod(0o600)
            os.environ[variable] = key_file.read_text().strip()


@dataclass
class AllInOne:
    platform: Platform
    running: Running
    http_server: object
    port: int

    def stop(self) -> None:
        try:
            self.http_server.close()
        except Exception:
            log.debug("closing the web server failed", exc_info=True)
        self.running.stop()
        self.platform.dispose()


def start(port: int, *, host: str = "127.0.0.1", seed: bool = True) -> AllInOne:
    embedded_defaults(port)
    platform = Platform.from_env()
    platform.migrate()
    running = Running()
    for spec in platform:
        start_api(spec, running, host="127.0.0.1")
    from services.identity.app import start_http

    oidc = start_http(platform["identity"], host="127.0.0.1")
    running.background.append(oidc)
    for spec in platform:
        start_worker(spec, running)
    if seed:  # the workers are running: records lists the pupils when this returns
        platform.seed_demo(wait_for_pupils=120)

    from waitress import create_server

    from gateway.app import create_app

    # identity's HTTP side as it was really bound (8101 may be taken: then a free port)
    app = create_app({"identity_http_url": f"http://127.0.0.1:{oidc.port}"})
    server = create_server(app, host=host, port=port, threads=8, ident="haven")
    bound = server.effective_port
    threading.Thread(target=server.run, name="gateway-http", daemon=True).start()
    return AllInOne(platform=platform, running=running, http_server=server, port=bound)


def banner(port: int) -> str:
    lines = [
        "",
        f"Haven is running on http://127.0.0.1:{port}",
        "",
        f"Demo logins (password for all: {DEMO_PASSWORD}):",
    ]
    lines += [f"  {who:26} {email}" for who, email in DEMO_LOGINS]
    lines += [
        "",
        "The DSL and the admin are key holders: after the password, 'Elevate your access'",
        "asks for the authenticator code. Print the DSL's current code with:  make totp",
        "Mail is written to var/mail/ (one .eml file per message). Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)
