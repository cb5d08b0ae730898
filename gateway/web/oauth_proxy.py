"""Identity's OAuth2 / OpenID Connect endpoints, reachable through the gateway (the only thing
reachable from outside): the token endpoint (integrations' client credentials, refresh), the
discovery document, the JWKS and userinfo are passed through to identity's HTTP app
(``GATEWAY_IDENTITY_HTTP_URL``) as they are.

For the discovery document to name these addresses, set identity's ``IDENTITY_ISSUER_URL`` to
the gateway's public URL.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

from flask import Blueprint, Response, current_app, request

from gateway.errors import UNAVAILABLE_MESSAGE, json_error

log = logging.getLogger(__name__)
bp = Blueprint("oauth_proxy", __name__)

TIMEOUT = 10.0
MAX_BODY = 64 * 1024
_PASSED_REQUEST = ("Authorization", "Content-Type", "Accept", "User-Agent")
_PASSED_RESPONSE = ("Content-Type", "Cache-Control", "Pragma", "WWW-Authenticate")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # pass 3xx answers back as they are
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def _forward(path: str) -> Response:
    base = current_app.config["HAVEN_CONFIG"].identity_http_url.rstrip("/")
    body = request.get_data(cache=False)[:MAX_BODY] if request.method == "POST" else None
    headers = {k: request.headers[k] for k in _PASSED_REQUEST if k in request.headers}
    forwarded = request.headers.get("X-Forwarded-For", "")
    client = request.remote_addr or ""
    headers["X-Forwarded-For"] = f"{forwarded}, {client}" if forwarded else client
    target = base + path
    if request.query_string:
        target += "?" + request.query_string.decode("latin-1")
    if not target.startswith(("http://", "https://")):
        log.error("GATEWAY_IDENTITY_HTTP_URL must be an http(s) URL")
        return json_error(503, UNAVAILABLE_MESSAGE)
    upstream = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        target, data=body, headers=headers, method=request.method)
    try:
        reply = _OPENER.open(upstream, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:  # 4xx / 5xx from identity: pass it on
        reply = exc
    except (urllib.error.URLError, OSError) as exc:
        log.warning("identity's HTTP app did not answer %s: %s", path, exc)
        return json_error(503, UNAVAILABLE_MESSAGE)
    with reply:
        content = reply.read(MAX_BODY * 4)
        response = Response(content, status=reply.status if hasattr(reply, "status")
                            else reply.code)
        for name in _PASSED_RESPONSE:
            value = reply.headers.get(name)
            if value:
                response.headers[name] = value
    return response


@bp.post("/oauth/token")
def token():
    return _forward("/oauth/token")


@bp.get("/oauth/jwks")
def jwks():
    return _forward("/oauth/jwks")


@bp.get("/.well-known/jwks.json")
def well_known_jwks():
    return _forward("/.well-known/jwks.json")


@bp.get("/.well-known/openid-configuration")
def discovery():
    return _forward("/.well-known/openid-configuration")


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo():
    return _forward("/oauth/userinfo")
