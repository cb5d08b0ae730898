# ruff: noqa: N999 (gunicorn reads a file of this name)
"""gunicorn settings: ``gunicorn -c gateway/gunicorn.conf.py "gateway.app:create_app()"``.

Each worker builds its own app (no preload: gRPC channels must be created after the fork).
Prometheus runs in multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set: the directory is
emptied when the server starts, and a worker's files are marked dead when it exits.
"""

from __future__ import annotations

import glob
import logging
import os
import secrets

from gateway.config import GatewayConfig

_config = GatewayConfig.from_env()
if _config.secret_key_generated:
    # One key for all workers (else a cookie signed by one worker is refused by another).
    os.environ["GATEWAY_SECRET_KEY"] = secrets.token_urlsafe(32)
    logging.getLogger("gateway").warning(
        "GATEWAY_SECRET_KEY is not set: generated one for this server's lifetime; set it in "
        "production.")

bind = f"0.0.0.0:{_config.port}"
workers = max(1, _config.workers)
threads = max(1, _config.threads)
worker_class = "gthread" if threads > 1 else "sync"
preload_app = False
timeout = 60
graceful_timeout = 25
keepalive = 5
# No runtime control socket (gunicorn >= 25): the root filesystem is read-only in the chart.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
loglevel = _config.log_level.lower()


def on_starting(server):
    """Start with an empty metrics directory (files of a previous run would be summed)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for path in glob.glob(os.path.join(directory, "*.db")):
            os.remove(path)


def post_fork(server, worker):
    from shared.telemetry.logs import setup_logging

    setup_logging("gateway", _config.log_level)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
