"""The OIDC provider's HTTP server: a configured port must be free; the default one falls
back to a free port (side-by-side test runs on one machine) so the gRPC API still starts."""

from __future__ import annotations

import socket

import pytest
import requests
from flask import Flask

from services.identity.app import IdentitySpec, start_http
from services.identity.config import IdentityConfig


def _spec(config: IdentityConfig) -> IdentitySpec:
    spec = IdentitySpec.__new__(IdentitySpec)
    app = Flask("probe")
    app.add_url_rule("/healthz", "healthz", lambda: "ok")
    spec.http_app, spec.config = app, config
    return spec


def test_a_busy_default_port_falls_back_but_a_configured_one_fails():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = start_http(_spec(IdentityConfig(http_port=port)), host="127.0.0.1",
                            loop_timeout=0.05)
        try:
            assert server.port != port
            assert requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5).text == "ok"
        finally:
            server.stop()
        with pytest.raises(OSError):
            start_http(_spec(IdentityConfig(http_port=port, http_port_configured=True)),
                       host="127.0.0.1")
