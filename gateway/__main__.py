"""``python -m gateway``: serve the gateway with waitress (local runs; production uses
gunicorn with gateway/gunicorn.conf.py)."""

from __future__ import annotations

import argparse
import logging
import sys

from gateway.config import GatewayConfig
from shared.telemetry.logs import setup_logging

log = logging.getLogger("gateway")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--host", help="bind address (default GATEWAY_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default GATEWAY_PORT or 8080)")
    args = parser.parse_args(argv)

    config = GatewayConfig.from_env()
    setup_logging("gateway", config.log_level)
    import waitress

    from gateway.app import create_app

    app = create_app(config)
    host = args.host or config.host
    port = args.port if args.port is not None else config.port
    log.info("gateway serving on http://%s:%s", host, port)
    waitress.serve(app, host=host, port=port, threads=max(config.threads, 4),
                   ident="haven", clear_untrusted_proxy_headers=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
