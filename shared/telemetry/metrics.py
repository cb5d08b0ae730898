"""Prometheus metrics shared by every process, and the tiny HTTP server that exposes them.

gRPC services are one process with threads (the default registry); the gateway under
gunicorn uses multiprocess mode (see ``gateway/gunicorn.conf.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

RPC_REQUESTS = Counter(
    "haven_rpc_requests_total", "gRPC calls served", ["service", "method", "code"]
)
RPC_LATENCY = Histogram(
    "haven_rpc_duration_seconds", "gRPC call latency", ["service", "method"]
)
HTTP_REQUESTS = Counter(
    "haven_http_requests_total", "HTTP requests served by the gateway",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "haven_http_request_duration_seconds", "Gateway request latency", ["route", "method"]
)
EVENTS_PUBLISHED = Counter(
    "haven_events_published_total", "Events published from the outbox", ["service", "type"]
)
OUTBOX_BACKLOG = Gauge(
    "haven_outbox_backlog", "Committed events not yet published", ["service"],
    multiprocess_mode="max",
)
EVENTS_CONSUMED = Counter(
    "haven_events_consumed_total", "Events handled by consumers", ["queue", "type", "outcome"]
)
MAIL_SENT = Counter("haven_mail_sent_total", "Emails handed to the mail transport", ["outcome"])


def render(registry: CollectorRegistry = REGISTRY) -> bytes:
    return generate_latest(registry)


class _Handler(BaseHTTPRequestHandler):
    health: Callable[[], bool] = staticmethod(lambda: True)

    def do_GET(self):  # noqa: N802 - http.server API
        if self.path.startswith("/metrics"):
            body, status, ctype = render(), 200, CONTENT_TYPE_LATEST
        elif self.path.startswith("/healthz"):
            ok = self.health()
            body = b"ok\n" if ok else b"unhealthy\n"
            status, ctype = (200 if ok else 503), "text/plain"
        else:
            body, status, ctype = b"not found\n", 404, "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):  # quiet
        return


def start_metrics_server(port: int, *, health: Callable[[], bool] | None = None,
                         host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve /metrics and /healthz on ``port`` (0 picks a free port) in a daemon thread."""
    handler = type("MetricsHandler", (_Handler,), {})
    if health is not None:
        handler.health = staticmethod(health)
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
