"""Probes and metrics: /healthz (the process answers), /readyz (identity and records answer
their gRPC health check), /metrics (Prometheus)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from gateway.backends import backends
from gateway.telemetry import metrics_response

bp = Blueprint("ops", __name__)

READY_NEEDS = ("identity", "records")


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    peers = {name: ("ok" if backends().healthy(name) else "down") for name in READY_NEEDS}
    down = [name for name, state in peers.items() if state != "ok"]
    body = {"status": "ok" if not down else "unavailable", "peers": peers}
    if down:
        body["down"] = down
    return jsonify(body), (503 if down else 200)


@bp.get("/metrics")
def prometheus_metrics():
    return metrics_response()
