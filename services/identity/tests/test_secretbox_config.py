"""Secrets sealed at rest; IDENTITY_* configuration."""

from __future__ import annotations

import pytest

from services.identity.config import DEV_KEY_SECRET, load_config
from services.identity.secretbox import SecretBox
from shared.config import ConfigError
from shared.errors import FailedPrecondition


def test_sealed_secrets_open_only_with_the_same_key_and_purpose():
    box = SecretBox("a-long-deployment-secret-value")
    sealed = box.seal("JBSWY3DPEHPK3PXP", purpose="totp:device-1")
    assert "JBSWY3DP" not in sealed
    assert sealed != box.seal("JBSWY3DPEHPK3PXP", purpose="totp:device-1")  # fresh nonce
    assert box.open(sealed, purpose="totp:device-1") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(FailedPrecondition):
        box.open(sealed, purpose="totp:device-2")  # copied into another row
    with pytest.raises(FailedPrecondition, match="IDENTITY_KEY_SECRET"):
        SecretBox("another-deployment-secret").open(sealed, purpose="totp:device-1")


def test_defaults(monkeypatch):
    for name in ("IDENTITY_KEY_SECRET", "IDENTITY_TOKEN_TTL", "IDENTITY_SESSION_IDLE_SECONDS",
                 "IDENTITY_SESSION_MAX_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    config = load_config()
    assert config.key_secret == DEV_KEY_SECRET and config.uses_dev_key_secret
    assert (config.token_ttl, config.session_idle_seconds, config.session_max_seconds) == (
        600, 1800, 43200
    )
    assert (config.login_account_failures, config.login_address_failures,
            config.login_window_seconds) == (5, 20, 900)


def test_environment_overrides_and_validation(monkeypatch):
    monkeypatch.setenv("IDENTITY_KEY_SECRET", "s" * 40)
    monkeypatch.setenv("IDENTITY_TOKEN_TTL", "300")
    monkeypatch.setenv("IDENTITY_SESSION_IDLE_SECONDS", "900")
    config = load_config()
    assert (config.token_ttl, config.session_idle_seconds) == (300, 900)
    assert not config.uses_dev_key_secret
    monkeypatch.setenv("IDENTITY_TOKEN_TTL", "ten minutes")
    with pytest.raises(ConfigError, match="IDENTITY_TOKEN_TTL"):
        load_config()
    monkeypatch.setenv("IDENTITY_TOKEN_TTL", "0")
    with pytest.raises(ConfigError, match="IDENTITY_TOKEN_TTL"):
        load_config()
    monkeypatch.setenv("IDENTITY_TOKEN_TTL", "600")
    monkeypatch.setenv("IDENTITY_KEY_SECRET", "short")
    with pytest.raises(ConfigError, match="IDENTITY_KEY_SECRET"):
        load_config()


def test_the_oidc_and_webauthn_settings(monkeypatch):
    monkeypatch.setenv("IDENTITY_HTTP_PORT", "9443")
    monkeypatch.setenv("IDENTITY_ISSUER_URL", "https://id.haven.example/")
    monkeypatch.setenv("IDENTITY_GATEWAY_REDIRECT_URIS",
                       "https://haven.example/auth/callback, https://b.haven.example/cb")
    monkeypatch.setenv("IDENTITY_WEBAUTHN_RP_ID", "haven.example")
    monkeypatch.setenv("IDENTITY_WEBAUTHN_ORIGINS", "https://haven.example")
    config = load_config()
    assert (config.http_port, config.issuer_url) == (9443, "https://id.haven.example")
    assert config.gateway_redirect_uris == ("https://haven.example/auth/callback",
                                            "https://b.haven.example/cb")
    assert (config.webauthn_rp_id, config.webauthn_origins) == (
        "haven.example", ("https://haven.example",))
    monkeypatch.setenv("IDENTITY_GATEWAY_REDIRECT_URIS", "/auth/callback")
    with pytest.raises(ConfigError, match="IDENTITY_GATEWAY_REDIRECT_URIS"):
        load_config()
    monkeypatch.delenv("IDENTITY_GATEWAY_REDIRECT_URIS")
    monkeypatch.setenv("IDENTITY_WEBAUTHN_RP_ID", "https://haven.example")
    with pytest.raises(ConfigError, match="IDENTITY_WEBAUTHN_RP_ID"):
        load_config()
