"""Prometheus metrics of the import worker (served on MIS_IMPORT_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS_FINISHED = Counter(
    "haven_mis_import_runs_total", "MIS import runs finished", ["source", "status"])
RECORDS = Counter(
    "haven_mis_import_records_total", "Records handled by MIS imports (imported, unchanged "
    "or rejected)", ["source"])
BATCH_SECONDS = Histogram(
    "haven_mis_import_batch_seconds", "Time to apply and commit one batch of records",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
RUNS_WAITING = Gauge(
    "haven_mis_import_runs_waiting", "Import runs queued or in progress (all schools)")
