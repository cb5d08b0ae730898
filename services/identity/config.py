"""Variables the identity service reads (prefix IDENTITY_); shared ones in shared.config.

Every variable has a default that works for the all-in-one demo. ``IDENTITY_KEY_SECRET``
must be set to a long random value in any real deployment: it protects the TOTP secrets and
the token signing keys at rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.config import ConfigError, ServiceSettings, env_int, env_str

log = logging.getLogger(__name__)

# Development only: anyone who reads the source knows it. The service warns when it is used.
DEV_KEY_SECRET = "haven-identity-dev-only-key-secret-change-me"  # noqa: S105 - dev default


@dataclass(frozen=True)
class IdentityConfig:
    key_secret: str = DEV_KEY_SECRET
    token_ttl: int = 600  # access token lifetime, seconds
    session_idle_seconds: int = 30 * 60
    session_max_seconds: int = 12 * 60 * 60
    signing_key_max_age_days: int = 30  # the active key is replaced when older than this
    login_window_seconds: int = 15 * 60
    login_account_failures: int = 5  # per email address within the window
    login_address_failures: int = 20  # per client address within the window
    elevate_failures: int = 5  # wrong codes per account within the window
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 4
    reset_window_seconds: int = 60 * 60
    reset_email_limit: int = 5  # reset emails per address within the window (then silence)
    reset_address_limit: int = 20  # reset requests per client address within the window
    # The OIDC provider's HTTP side (served by the api process).
    http_port: int = 8101
    http_port_configured: bool = False  # IDENTITY_HTTP_PORT was set (then a busy port is fatal)
    issuer_url: str = "http://127.0.0.1:8101"
    gateway_client_id: str = "haven-gateway"
    gateway_client_secret: str = ""  # empty: a public client (PKCE alone)
    gateway_redirect_uris: tuple[str, ...] = field(
        default=("http://127.0.0.1:8080/auth/callback", "http://localhost:8080/auth/callback")
    )
    # WebAuthn: the relying party is the site people use (the gateway's host name).
    webauthn_rp_id: str = "localhost"
    webauthn_rp_name: str = "Haven"
    webauthn_origins: tuple[str, ...] = ()  # empty: any https (or http://localhost) origin
    #                                         whose host is the RP id or a subdomain of it

    @property
    def uses_dev_key_secret(self) -> bool:
        return self.key_secret == DEV_KEY_SECRET

    def validate(self) -> IdentityConfig:
        positive = {
            "IDENTITY_TOKEN_TTL": self.token_ttl,
            "IDENTITY_SESSION_IDLE_SECONDS": self.session_idle_seconds,
            "IDENTITY_SESSION_MAX_SECONDS": self.session_max_seconds,
            "IDENTITY_SIGNING_KEY_MAX_AGE_DAYS": self.signing_key_max_age_days,
            "IDENTITY_LOGIN_WINDOW_SECONDS": self.login_window_seconds,
            "IDENTITY_LOGIN_ACCOUNT_FAILURES": self.login_account_failures,
            "IDENTITY_LOGIN_ADDRESS_FAILURES": self.login_address_failures,
            "IDENTITY_ELEVATE_FAILURES": self.elevate_failures,
            "IDENTITY_ARGON2_TIME_COST": self.argon2_time_cost,
            "IDENTITY_ARGON2_MEMORY_KIB": self.argon2_memory_kib,
            "IDENTITY_ARGON2_PARALLELISM": self.argon2_parallelism,
            "IDENTITY_RESET_WINDOW_SECONDS": self.reset_window_seconds,
            "IDENTITY_RESET_EMAIL_LIMIT": self.reset_email_limit,
            "IDENTITY_RESET_ADDRESS_LIMIT": self.reset_address_limit,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value}")
        if len(self.key_secret) < 16:
            raise ConfigError("IDENTITY_KEY_SECRET must be at least 16 characters long")
        if self.session_idle_seconds > self.session_max_seconds:
            raise ConfigError(
                "IDENTITY_SESSION_IDLE_SECONDS cannot exceed IDENTITY_SESSION_MAX_SECONDS"
            )
        if not 0 <= self.http_port <= 65535:
            raise ConfigError(f"IDENTITY_HTTP_PORT must be a port number, got {self.http_port}")
        for name, url in [("IDENTITY_ISSUER_URL", self.issuer_url)] + [
            ("IDENTITY_GATEWAY_REDIRECT_URIS", u) for u in self.gateway_redirect_uris
        ] + [("IDENTITY_WEBAUTHN_ORIGINS", u) for u in self.webauthn_origins]:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"{name} must hold absolute http(s) URLs, got {url!r}")
        if not self.webauthn_rp_id or "/" in self.webauthn_rp_id or ":" in self.webauthn_rp_id:
            raise ConfigError("IDENTITY_WEBAUTHN_RP_ID is a host name, e.g. haven.example.org")
        return self


def load_config() -> IdentityConfig:
    d = IdentityConfig()
    return IdentityConfig(
        key_secret=env_str("IDENTITY_KEY_SECRET", d.key_secret),
        token_ttl=env_int("IDENTITY_TOKEN_TTL", d.token_ttl),
        session_idle_seconds=env_int("IDENTITY_SESSION_IDLE_SECONDS", d.session_idle_seconds),
        session_max_seconds=env_int("IDENTITY_SESSION_MAX_SECONDS", d.session_max_seconds),
        signing_key_max_age_days=env_int(
            "IDENTITY_SIGNING_KEY_MAX_AGE_DAYS", d.signing_key_max_age_days
        ),
        login_window_seconds=env_int("IDENTITY_LOGIN_WINDOW_SECONDS", d.login_window_seconds),
        login_account_failures=env_int(
            "IDENTITY_LOGIN_ACCOUNT_FAILURES", d.login_account_failures
        ),
        login_address_failures=env_int(
            "IDENTITY_LOGIN_ADDRESS_FAILURES", d.login_address_failures
        ),
        elevate_failures=env_int("IDENTITY_ELEVATE_FAILURES", d.elevate_failures),
        argon2_time_cost=env_int("IDENTITY_ARGON2_TIME_COST", d.argon2_time_cost),
        argon2_memory_kib=env_int("IDENTITY_ARGON2_MEMORY_KIB", d.argon2_memory_kib),
        argon2_parallelism=env_int("IDENTITY_ARGON2_PARALLELISM", d.argon2_parallelism),
        reset_window_seconds=env_int("IDENTITY_RESET_WINDOW_SECONDS", d.reset_window_seconds),
        reset_email_limit=env_int("IDENTITY_RESET_EMAIL_LIMIT", d.reset_email_limit),
        reset_address_limit=env_int("IDENTITY_RESET_ADDRESS_LIMIT", d.reset_address_limit),
        http_port=env_int("IDENTITY_HTTP_PORT", d.http_port),
        http_port_configured=bool(env_str("IDENTITY_HTTP_PORT", "")),
        issuer_url=env_str("IDENTITY_ISSUER_URL", d.issuer_url).rstrip("/"),
        gateway_client_id=env_str("IDENTITY_GATEWAY_CLIENT_ID", d.gateway_client_id),
        gateway_client_secret=env_str("IDENTITY_GATEWAY_CLIENT_SECRET", ""),
        gateway_redirect_uris=_list(env_str("IDENTITY_GATEWAY_REDIRECT_URIS", ""))
        or d.gateway_redirect_uris,
        webauthn_rp_id=env_str("IDENTITY_WEBAUTHN_RP_ID", d.webauthn_rp_id),
        webauthn_rp_name=env_str("IDENTITY_WEBAUTHN_RP_NAME", d.webauthn_rp_name),
        webauthn_origins=_list(env_str("IDENTITY_WEBAUTHN_ORIGINS", "")),
    ).validate()


def _list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())


def load() -> ServiceSettings:
    return ServiceSettings.from_env("identity")
