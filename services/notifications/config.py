"""Variables the notifications service reads (prefix NOTIFICATIONS_); shared ones in shared.config.

- NOTIFICATIONS_DATABASE_URL (sqlite:///var/notifications.db): this service's database.
- NOTIFICATIONS_MAIL_URL (file://var/mail): ``file://<dir>`` writes one .eml per message;
  ``smtp://[user:pass@]host:port[?starttls=true&timeout=30]`` or ``smtps://...`` sends by SMTP.
- NOTIFICATIONS_MAIL_FROM (Haven <no-reply@haven.test>): the From header.
- NOTIFICATIONS_PUBLIC_URL (http://127.0.0.1:8080): where staff open Haven; email links start
  with it.
- NOTIFICATIONS_MAX_ATTEMPTS (8): hand-overs to the mail transport before a delivery "failed".
- NOTIFICATIONS_RETRY_SECONDS (30): first retry delay; doubles with every attempt.
- NOTIFICATIONS_RETRY_MAX_SECONDS (3600): the longest retry delay.
- NOTIFICATIONS_POLL_SECONDS (5): how often the sender looks for due deliveries when not woken.
- NOTIFICATIONS_SEND_LEASE_SECONDS (300): a delivery left "sending" this long (its sender
  crashed mid-send) goes back to pending.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import ConfigError, ServiceSettings, env_int, env_str


@dataclass(frozen=True)
class NotificationsConfig:
    mail_url: str
    mail_from: str
    public_url: str
    max_attempts: int = 8
    retry_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    poll_seconds: float = 5.0
    send_lease_seconds: float = 300.0

    @classmethod
    def from_env(cls, settings: ServiceSettings) -> NotificationsConfig:
        config = cls(
            mail_url=env_str("NOTIFICATIONS_MAIL_URL", f"file://{settings.platform.var_dir}/mail"),
            mail_from=env_str("NOTIFICATIONS_MAIL_FROM", "Haven <no-reply@haven.test>"),
            public_url=env_str("NOTIFICATIONS_PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/"),
            max_attempts=env_int("NOTIFICATIONS_MAX_ATTEMPTS", 8),
            retry_seconds=_seconds("NOTIFICATIONS_RETRY_SECONDS", 30),
            retry_max_seconds=_seconds("NOTIFICATIONS_RETRY_MAX_SECONDS", 3600),
            poll_seconds=_seconds("NOTIFICATIONS_POLL_SECONDS", 5),
            send_lease_seconds=_seconds("NOTIFICATIONS_SEND_LEASE_SECONDS", 300),
        )
        if config.max_attempts < 1:
            raise ConfigError("NOTIFICATIONS_MAX_ATTEMPTS must be at least 1")
        if not config.public_url.startswith(("http://", "https://")):
            raise ConfigError("NOTIFICATIONS_PUBLIC_URL must start with http:// or https://")
        return config


def _seconds(name: str, default: float) -> float:
    raw = env_str(name, str(default))
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0")
    return value


def load() -> ServiceSettings:
    return ServiceSettings.from_env("notifications")
