"""Request metrics (RED per URL rule), /metrics, and OpenTelemetry for Flask.

Under gunicorn each worker is a process: with ``PROMETHEUS_MULTIPROC_DIR`` set, /metrics
aggregates every worker's files (``gateway/gunicorn.conf.py`` marks dead workers); without
it the process's default registry is served.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from shared.telemetry import metrics

UNTRACED = "healthz,readyz,metrics,static/.*,colours.css"


def route_label() -> str:
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_timer():
        g.started_at = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.pop("started_at", None)
        route = route_label()
        metrics.HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        if started is not None:
            metrics.HTTP_LATENCY.labels(route, request.method).observe(
                time.perf_counter() - started)
        return response

    FlaskInstrumentor().instrument_app(app, excluded_urls=UNTRACED)


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
