"""Flask app factory: ``gateway.app:create_app()`` (gunicorn) or ``python -m gateway``."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway import errors, ops, present, security, telemetry
from gateway.api import identity as _identity_api  # noqa: F401 - adds identity's /api/v1 routes
from gateway.api import integrations as _integrations_api  # noqa: F401 - integrations' routes
from gateway.api import mis as _mis_api  # noqa: F401 - adds the MIS import's /api/v1 routes
from gateway.api import records as _records_api  # noqa: F401 - adds records' /api/v1 routes
from gateway.api.routes import bp as api_bp
from gateway.backends import EXTENSION, Backends
from gateway.config import GatewayConfig
from gateway.oidc import OidcClient
from gateway.web import (
    account,
    admin,
    auth,
    colours,
    dashboard,
    entries,
    imports,
    incidents,
    oauth_proxy,
    passwords,
    profile,
    records_admin,
    reporting,
    students,
)
from haven.identity.v1 import identity_pb2
from shared.telemetry.tracing import setup_tracing

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


def _resolve(config: GatewayConfig | Mapping[str, Any] | None) -> tuple[GatewayConfig,
                                                                          dict[str, Any]]:
    """A GatewayConfig, or a mapping: lower-case keys override GatewayConfig fields (read
    from the environment), upper-case keys go to Flask's config as they are."""
    if isinstance(config, GatewayConfig):
        return config, {}
    overrides = dict(config or {})
    names = {f.name for f in dataclasses.fields(GatewayConfig)}
    fields = {k: v for k, v in overrides.items() if k in names}
    flask_keys = {k: v for k, v in overrides.items() if k.isupper()}
    unknown = set(overrides) - set(fields) - set(flask_keys)
    if unknown:
        raise ValueError(f"unknown gateway settings: {sorted(unknown)}")
    base = GatewayConfig.from_env()
    if "secret_key" in fields:
        fields.setdefault("secret_key_generated", False)
    return dataclasses.replace(base, **fields), flask_keys


def create_app(config: GatewayConfig | Mapping[str, Any] | None = None) -> Flask:
    cfg, flask_overrides = _resolve(config)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=cfg.secret_key,
        SESSION_COOKIE_NAME="haven_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg.secure_cookies,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        # A CSRF token lasts as long as the session: writing an incident may take a while.
        WTF_CSRF_TIME_LIMIT=None,
        HAVEN_CONFIG=cfg,
        HAVEN_REFRESH_MARGIN=cfg.refresh_margin,
    )
    app.config.update(flask_overrides)
    # JSON in the order it is built, not sorted: sorting every object's keys is a tenth of a
    # 200-incident chronology's encoding (bodies stay compact: Flask's default off debug).
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if cfg.secret_key_generated:
        log.warning("GATEWAY_SECRET_KEY is not set: using a generated key, so sessions end "
                    "when the gateway restarts and are not shared between processes. Set it "
                    "in production.")

    setup_tracing("haven-gateway")
    backends = app.extensions[EXTENSION] = Backends.connect(cfg)
    app.extensions[auth.OIDC_EXTENSION] = OidcClient(
        cfg, verify_access=backends.verifier.verify,
        # identity's public keys (the ID token's), as the access-token verifier reads them
        fetch_jwks=lambda: backends.identity.call(
            "GetJwks", identity_pb2.GetJwksRequest(), token="").jwks_json)
    # Telemetry first: its before_request hooks must run even when CSRF refuses a request.
    telemetry.init_app(app)
    security.csrf.init_app(app)
    security.init_app(app, secure=cfg.secure_cookies)

    app.register_blueprint(ops.bp)
    app.register_blueprint(colours.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(students.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(reporting.bp)
    app.register_blueprint(api_bp)
    security.csrf.exempt(api_bp)
    for identity_bp in (account.bp, passwords.bp, admin.bp, oauth_proxy.bp):
        app.register_blueprint(identity_bp)
    # OAuth2 clients authenticate themselves; identity's login form carries its own CSRF token
    security.csrf.exempt(oauth_proxy.bp)
    app.register_blueprint(imports.bp)  # Admin > Imports (MIS files, runs, health)
    for records_bp in (entries.bp, profile.bp, records_admin.bp):
        app.register_blueprint(records_bp)  # chronology options, profile tabs, records admin
    errors.register_error_handlers(app)
    _template_helpers(app)

    if cfg.trusted_proxies > 0:
        n = cfg.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    return app


def _template_helpers(app: Flask) -> None:
    zone = app.config["HAVEN_CONFIG"].zone
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def _context():
        return {"claims": g.get("claims")}

    def here() -> str:
        path = request.full_path
        return path[:-1] if path.endswith("?") else path

    app.jinja_env.globals.update(
        here=here,
        colour_class=colours.colour_class,
        colour_sheet_url=colours.colour_sheet_url,
        student_name=present.student_name,
    )
    app.jinja_env.filters.update(
        when=lambda ts: present.format_when(present.to_local(ts, zone)),
        day=lambda ts: present.format_day(present.to_local(ts, zone)),
        iso=present.iso,
        isodate=present.format_iso_date,
    )


def close_app(app: Flask) -> None:
    """Close the gRPC channels (tests, and the launcher on shutdown)."""
    backends = app.extensions.get(EXTENSION)
    if backends is not None:
        backends.close()
