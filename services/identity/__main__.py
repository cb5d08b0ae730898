"""``python -m services.identity api|worker|migrate|makemigrations``.

``api`` also serves the OAuth2/OIDC provider over HTTP on ``IDENTITY_HTTP_PORT``.
"""

import sys

from services.identity.app import build, start_http
from shared.service import main


def _build_and_serve_http(settings):
    spec = build(settings)
    start_http(spec)
    return spec


_api = len(sys.argv) > 1 and sys.argv[1] == "api"
sys.exit(main(_build_and_serve_http if _api else build, "identity"))
