"""Variables the mis_import service reads (prefix MIS_IMPORT_); shared ones in shared.config.

- MIS_IMPORT_DATABASE_URL (sqlite:///var/mis_import.db): this service's database.
- MIS_IMPORT_GRPC_PORT (50054), MIS_IMPORT_METRICS_PORT (9104).
- MIS_IMPORT_MAX_UPLOAD_BYTES (52428800 = 50 MB): largest CTF/CSV file, or JSON feed part.
- MIS_IMPORT_BATCH_SIZE (200): records applied per transaction (progress is committed with
  each batch, so a crash re-does at most one batch).
- MIS_IMPORT_WORKER_THREADS (2): imports run at once (never two of one school).
- MIS_IMPORT_SLICE_SECONDS (10): a worker thread hands a long import back to the queue after
  this long, so other schools' imports are not held up behind it.
- MIS_IMPORT_LEASE_SECONDS (120): a running import whose worker stopped renewing its lease
  for this long (a crash) is taken over by another worker, from its last committed batch.
- MIS_IMPORT_POLL_SECONDS (1.0): how often an idle worker looks for queued imports.
- MIS_IMPORT_BATCH_PAUSE_MS (0): pause between batches (throttling on a busy database).
- MIS_IMPORT_HEALTH_AMBER_HOURS (36), MIS_IMPORT_HEALTH_RED_HOURS (72): import health turns
  amber, then red, this long after the last successful import (per-school settings override).
- MIS_IMPORT_HEALTH_RED_FAILURES (3): consecutive failed runs that turn health red.
- MIS_IMPORT_MAX_ARCHIVE_SHARE (0.5): a full extract that would archive more than this share
  of the pupils (or staff) on roll archives nobody and warns instead (a truncated file).
- MIS_IMPORT_FEED_PART_HOURS (6): a JSON feed sent in parts whose last part never arrives
  fails after this long.
- MIS_IMPORT_KEEP_FILES_DAYS (30): uploaded files are deleted this long after their run ends
  (the run, its counts and rejections stay).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import ConfigError, ServiceSettings, env_int, env_str


@dataclass(frozen=True)
class ImportConfig:
    max_upload_bytes: int = 50 * 1024 * 1024
    batch_size: int = 200
    worker_threads: int = 2
    slice_seconds: float = 10.0
    lease_seconds: float = 120.0
    poll_seconds: float = 1.0
    batch_pause_ms: int = 0
    health_amber_hours: int = 36
    health_red_hours: int = 72
    health_red_failures: int = 3
    max_archive_share: float = 0.5
    feed_part_hours: int = 6
    keep_files_days: int = 30

    def validate(self) -> ImportConfig:
        positive = {
            "MIS_IMPORT_MAX_UPLOAD_BYTES": self.max_upload_bytes,
            "MIS_IMPORT_BATCH_SIZE": self.batch_size,
            "MIS_IMPORT_WORKER_THREADS": self.worker_threads,
            "MIS_IMPORT_SLICE_SECONDS": self.slice_seconds,
            "MIS_IMPORT_LEASE_SECONDS": self.lease_seconds,
            "MIS_IMPORT_POLL_SECONDS": self.poll_seconds,
            "MIS_IMPORT_HEALTH_AMBER_HOURS": self.health_amber_hours,
            "MIS_IMPORT_HEALTH_RED_HOURS": self.health_red_hours,
            "MIS_IMPORT_HEALTH_RED_FAILURES": self.health_red_failures,
            "MIS_IMPORT_FEED_PART_HOURS": self.feed_part_hours,
            "MIS_IMPORT_KEEP_FILES_DAYS": self.keep_files_days,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if self.batch_pause_ms < 0:
            raise ConfigError("MIS_IMPORT_BATCH_PAUSE_MS cannot be negative")
        if self.health_amber_hours >= self.health_red_hours:
            raise ConfigError(
                "MIS_IMPORT_HEALTH_AMBER_HOURS must be less than MIS_IMPORT_HEALTH_RED_HOURS")
        if not 0 < self.max_archive_share <= 1:
            raise ConfigError("MIS_IMPORT_MAX_ARCHIVE_SHARE must be in (0, 1]")
        return self


def _env_float(name: str, default: float) -> float:
    raw = env_str(name, "")
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def load_config() -> ImportConfig:
    d = ImportConfig()
    return ImportConfig(
        max_upload_bytes=env_int("MIS_IMPORT_MAX_UPLOAD_BYTES", d.max_upload_bytes),
        batch_size=env_int("MIS_IMPORT_BATCH_SIZE", d.batch_size),
        worker_threads=env_int("MIS_IMPORT_WORKER_THREADS", d.worker_threads),
        slice_seconds=_env_float("MIS_IMPORT_SLICE_SECONDS", d.slice_seconds),
        lease_seconds=_env_float("MIS_IMPORT_LEASE_SECONDS", d.lease_seconds),
        poll_seconds=_env_float("MIS_IMPORT_POLL_SECONDS", d.poll_seconds),
        batch_pause_ms=env_int("MIS_IMPORT_BATCH_PAUSE_MS", d.batch_pause_ms),
        health_amber_hours=env_int("MIS_IMPORT_HEALTH_AMBER_HOURS", d.health_amber_hours),
        health_red_hours=env_int("MIS_IMPORT_HEALTH_RED_HOURS", d.health_red_hours),
        health_red_failures=env_int("MIS_IMPORT_HEALTH_RED_FAILURES", d.health_red_failures),
        max_archive_share=_env_float("MIS_IMPORT_MAX_ARCHIVE_SHARE", d.max_archive_share),
        feed_part_hours=env_int("MIS_IMPORT_FEED_PART_HOURS", d.feed_part_hours),
        keep_files_days=env_int("MIS_IMPORT_KEEP_FILES_DAYS", d.keep_files_days),
    ).validate()


def load() -> ServiceSettings:
    return ServiceSettings.from_env("mis_import")
