"""Environment-only configuration helpers.

Each service's ``config.py`` reads its own prefixed variables through these helpers; the
variables shared by every process (event transport, peers' addresses) are read here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


class ConfigError(ValueError):
    """A configuration variable is present but unusable."""


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


# Default gRPC ports in the all-in-one layout (each service still has its own port).
DEFAULT_PORTS = {
    "identity": 50051,
    "records": 50052,
    "reporting": 50053,
    "mis_import": 50054,
    "transfers": 50055,
    "notifications": 50056,
}
DEFAULT_METRICS_PORTS = {
    "identity": 9101,
    "records": 9102,
    "reporting": 9103,
    "mis_import": 9104,
    "transfers": 9105,
    "notifications": 9106,
}


@dataclass(frozen=True)
class PlatformSettings:
    """Variables every process reads (prefix ``HAVEN_``)."""

    events_url: str
    identity_addr: str
    records_addr: str
    reporting_addr: str
    mis_import_addr: str
    transfers_addr: str
    notifications_addr: str
    log_level: str
    var_dir: str
    rpc_timeout: float

    @classmethod
    def from_env(cls) -> PlatformSettings:
        def addr(svc: str) -> str:
            return env_str(f"HAVEN_{svc.upper()}_ADDR", f"127.0.0.1:{DEFAULT_PORTS[svc]}")

        return cls(
            events_url=env_str("HAVEN_EVENTS_URL", "memory://"),
            identity_addr=addr("identity"),
            records_addr=addr("records"),
            reporting_addr=addr("reporting"),
            mis_import_addr=addr("mis_import"),
            transfers_addr=addr("transfers"),
            notifications_addr=addr("notifications"),
            log_level=env_str("HAVEN_LOG_LEVEL", "INFO"),
            var_dir=env_str("HAVEN_VAR_DIR", "var"),
            rpc_timeout=float(env_str("HAVEN_RPC_TIMEOUT", "5")),
        )


@dataclass(frozen=True)
class ServiceSettings:
    """The variables every service reads under its own prefix (``RECORDS_DATABASE_URL``...)."""

    name: str
    database_url: str
    grpc_port: int
    metrics_port: int
    platform: PlatformSettings

    @classmethod
    def from_env(cls, name: str) -> ServiceSettings:
        prefix = name.upper()
        platform = PlatformSettings.from_env()
        return cls(
            name=name,
            database_url=env_str(
                f"{prefix}_DATABASE_URL", f"sqlite:///{platform.var_dir}/{name}.db"
            ),
            grpc_port=env_int(f"{prefix}_GRPC_PORT", DEFAULT_PORTS[name]),
            metrics_port=env_int(f"{prefix}_METRICS_PORT", DEFAULT_METRICS_PORTS[name]),
            platform=platform,
        )
