from __future__ import annotations

import pytest

from shared.config import ConfigError, PlatformSettings, ServiceSettings, env_bool, env_int


def test_service_settings_default_to_the_embedded_layout(monkeypatch):
    for key in ("RECORDS_DATABASE_URL", "RECORDS_GRPC_PORT", "HAVEN_VAR_DIR", "HAVEN_EVENTS_URL"):
        monkeypatch.delenv(key, raising=False)
    s = ServiceSettings.from_env("records")
    assert s.database_url == "sqlite:///var/records.db"
    assert s.grpc_port == 50052
    assert s.platform.events_url == "memory://"


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("RECORDS_DATABASE_URL", "postgresql+psycopg://db/records")
    monkeypatch.setenv("HAVEN_RECORDS_ADDR", "records:50051")
    s = ServiceSettings.from_env("records")
    assert s.database_url == "postgresql+psycopg://db/records"
    assert PlatformSettings.from_env().records_addr == "records:50051"


def test_bad_values_are_reported_by_name(monkeypatch):
    monkeypatch.setenv("X_PORT", "eighty")
    with pytest.raises(ConfigError, match="X_PORT"):
        env_int("X_PORT", 1)
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ConfigError, match="X_FLAG"):
        env_bool("X_FLAG", False)
