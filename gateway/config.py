"""Variables the gateway reads (prefix GATEWAY_); peers' addresses come from shared.config.

GATEWAY_SECRET_KEY       signs the session cookie (generated with a warning if unset:
                         sessions then end on restart; always set it in production)
GATEWAY_SECURE_COOKIES   false; true sends cookies over HTTPS only, and HSTS
GATEWAY_PORT             8080, gunicorn's and ``python -m gateway``'s port
GATEWAY_HOST             127.0.0.1, bind address of ``python -m gateway`` (waitress)
GATEWAY_TRUSTED_PROXIES  0; n > 0 trusts X-Forwarded-For/-Proto from n proxies in front
GATEWAY_WORKERS          2 gunicorn worker processes
GATEWAY_THREADS          4 threads per worker (and waitress)
GATEWAY_TIME_ZONE        Europe/London: school time for dates shown and entered
GATEWAY_REFRESH_MARGIN   60: refresh the access token this many seconds before expiry
GATEWAY_IDENTITY_HTTP_URL  http://127.0.0.1:8101: identity's OAuth2/OIDC HTTP app, proxied at
                         /oauth/authorize, /oauth/token, /oauth/jwks, /oauth/userinfo and
                         /.well-known/...; the web login's back channel (code -> tokens)
GATEWAY_PUBLIC_URL       empty: the address people use (https://haven.example.org); the web
                         login's redirect URI is <it>/auth/callback. Empty: the request's own
                         scheme and host. Identity's IDENTITY_GATEWAY_REDIRECT_URIS must list it
GATEWAY_OIDC_CLIENT_ID   haven-gateway: the gateway's client id at identity (=
                         IDENTITY_GATEWAY_CLIENT_ID)
GATEWAY_OIDC_CLIENT_SECRET empty: a public client (PKCE alone); set it to the same value as
                         IDENTITY_GATEWAY_CLIENT_SECRET to make the gateway a confidential one
GATEWAY_OIDC_ISSUER      empty: the ``iss`` ID tokens must carry; empty takes the issuer named by
                         identity's discovery document (read over the back channel)
GATEWAY_MAX_UPLOAD_BYTES 52428800 (50 MB): the largest MIS file (CTF, CSV) accepted in Admin >
                         Imports and POST /api/v1/mis/uploads; keep it equal to
                         MIS_IMPORT_MAX_UPLOAD_BYTES (other pages accept 1 MB bodies)
GATEWAY_MAX_FEED_PART_BYTES 3145728 (3 MB): the largest JSON feed part POSTed to
                         /api/v1/mis/feeds (one gRPC message; bigger feeds come in parts)
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.config import ConfigError, PlatformSettings, env_bool, env_int, env_str

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewayConfig:
    secret_key: str
    secure_cookies: bool = False
    port: int = 8080
    host: str = "127.0.0.1"
    trusted_proxies: int = 0
    workers: int = 2
    threads: int = 4
    time_zone: str = "Europe/London"
    refresh_margin: int = 60
    identity_addr: str = "127.0.0.1:50051"
    records_addr: str = "127.0.0.1:50052"
    reporting_addr: str = "127.0.0.1:50053"
    rpc_timeout: float = 5.0
    identity_http_url: str = "http://127.0.0.1:8101"
    public_url: str = ""
    oidc_client_id: str = "haven-gateway"
    oidc_client_secret: str = field(default="", repr=False)
    oidc_issuer: str = ""
    mis_import_addr: str = "127.0.0.1:50054"
    max_upload_bytes: int = 50 * 1024 * 1024
    max_feed_part_bytes: int = 3 * 1024 * 1024
    log_level: str = "INFO"
    secret_key_generated: bool = field(default=False, compare=False)

    @classmethod
    def from_env(cls) -> GatewayConfig:
        platform = PlatformSettings.from_env()
        secret = env_str("GATEWAY_SECRET_KEY", "")
        generated = not secret
        if generated:
            secret = secrets.token_urlsafe(32)
        time_zone = env_str("GATEWAY_TIME_ZONE", "Europe/London")
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"GATEWAY_TIME_ZONE is not a known time zone: {time_zone!r}") from exc
        config = cls(
            secret_key=secret,
            secure_cookies=env_bool("GATEWAY_SECURE_COOKIES", False),
            port=env_int("GATEWAY_PORT", 8080),
            host=env_str("GATEWAY_HOST", "127.0.0.1"),
            trusted_proxies=env_int("GATEWAY_TRUSTED_PROXIES", 0),
            workers=env_int("GATEWAY_WORKERS", 2),
            threads=env_int("GATEWAY_THREADS", 4),
            time_zone=time_zone,
            refresh_margin=env_int("GATEWAY_REFRESH_MARGIN", 60),
            identity_addr=platform.identity_addr,
            records_addr=platform.records_addr,
            reporting_addr=platform.reporting_addr,
            rpc_timeout=platform.rpc_timeout,
            identity_http_url=env_str("GATEWAY_IDENTITY_HTTP_URL",
                                      "http://127.0.0.1:8101").rstrip("/"),
            public_url=env_str("GATEWAY_PUBLIC_URL", "").rstrip("/"),
            oidc_client_id=env_str("GATEWAY_OIDC_CLIENT_ID", "haven-gateway"),
            oidc_client_secret=env_str("GATEWAY_OIDC_CLIENT_SECRET", ""),
            oidc_issuer=env_str("GATEWAY_OIDC_ISSUER", "").rstrip("/"),
            mis_import_addr=platform.mis_import_addr,
            max_upload_bytes=env_int("GATEWAY_MAX_UPLOAD_BYTES", 50 * 1024 * 1024),
            max_feed_part_bytes=env_int("GATEWAY_MAX_FEED_PART_BYTES", 3 * 1024 * 1024),
            log_level=platform.log_level,
            secret_key_generated=generated,
        )
        if config.trusted_proxies < 0:
            raise ConfigError("GATEWAY_TRUSTED_PROXIES must be 0 or more")
        for name, url in (("GATEWAY_PUBLIC_URL", config.public_url),
                          ("GATEWAY_IDENTITY_HTTP_URL", config.identity_http_url)):
            parts = urlsplit(url)
            if url and (parts.scheme not in ("http", "https") or not parts.netloc
                        or parts.query or parts.fragment):
                raise ConfigError(f"{name} must be an absolute http(s) URL, got {url!r}")
        if not config.oidc_client_id:
            raise ConfigError("GATEWAY_OIDC_CLIENT_ID must not be empty")
        if config.max_upload_bytes < 1 or config.max_feed_part_bytes < 1:
            raise ConfigError("GATEWAY_MAX_UPLOAD_BYTES and GATEWAY_MAX_FEED_PART_BYTES must "
                              "be positive")
        return config

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)
