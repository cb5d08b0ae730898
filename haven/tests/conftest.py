from __future__ import annotations

import pytest

from shared.testing import free_port

SERVICES = ("identity", "records", "reporting", "mis_import", "transfers", "notifications")


@pytest.fixture()
def allinone_env(tmp_path, monkeypatch):
    """Environment for an all-in-one platform of the test's own (ports, var dir)."""
    env = {"HAVEN_VAR_DIR": str(tmp_path / "var"), "HAVEN_EVENTS_URL": "memory://"}
    for svc in SERVICES:
        port = free_port()
        env[f"{svc.upper()}_GRPC_PORT"] = str(port)
        env[f"HAVEN_{svc.upper()}_ADDR"] = f"127.0.0.1:{port}"
        monkeypatch.delenv(f"{svc.upper()}_DATABASE_URL", raising=False)
    for key in ("NOTIFICATIONS_MAIL_URL", "NOTIFICATIONS_PUBLIC_URL", "GATEWAY_SECRET_KEY",
                "IDENTITY_KEY_SECRET", "IDENTITY_ISSUER_URL", "IDENTITY_GATEWAY_REDIRECT_URIS",
                "GATEWAY_IDENTITY_HTTP_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    env["HAVEN_PORT"] = str(free_port())
    monkeypatch.setenv("HAVEN_PORT", env["HAVEN_PORT"])
    return env
