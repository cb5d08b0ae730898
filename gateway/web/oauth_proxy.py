"""Identity's OAuth2 / OpenID Connect endpoints, reachable through the gateway (the only thing
reachable from outside): the authorization endpoint (identity's login page, which the web
login sends the browser to), the token endpoint (integrations' client credentials, refresh),
the discovery document, the JWKS and userinfo are passed through to identity's HTTP app
(``GATEWAY_IDENTITY_HTTP_URL``) as they are.

Identity sees the client's address in ``X-Forwarded-For`` (its throttling and security log).
Of the browser's cookies only identity's own (``haven_identity``: its login form's CSRF token)
goes to identity, never the gateway's session cookie; of identity's ``Set-Cookie`` answers
only that cookie comes back. The login form carries identity's CSRF token, so the gateway's
CSRF check does not apply to these routes.

For the discovery document to name these addresses, set identity's ``IDENTITY_ISSUER_URL`` to
the gateway's public URL.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from http.cookies import CookieError, SimpleCookie

from flask import Blueprint, Response, current_app, request

from gateway.errors import UNAVAILABLE_MESSAGE, error_page, json_error

log = logging.getLogger(__name__)
bp = Blueprint("oauth_proxy", __name__)

TIMEOUT = 10.0
MAX_BODY = 64 * 1024
_PASSED_REQUEST = ("Authorization", "Content-Type", "Accept", "User-Agent")
_PASSED_RESPONSE = ("Content-Type", "Cache-Control", "Pragma", "WWW-Authenticate")
# identity's login page: where it sends the browser, and its own page policy
_PASSED_PAGE = ("Location", "Content-Security-Policy")
IDENTITY_COOKIE = "haven_identity"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # pass 3xx answers back as they are
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def _identity_cookie(set_cookie: str) -> bool:
    """A Set-Cookie answer for identity's own cookie (nothing else may be set through us)."""
    try:
        parsed = SimpleCookie()
        parsed.load(set_cookie)
    except CookieError:
        return False
    return list(parsed) == [IDENTITY_COOKIE]


def _unavailable(page: bool):
    return error_page(503) if page else json_error(503, UNAVAILABLE_MESSAGE)


def _forward(path: str, *, page: bool = False):
    """Pass the request to identity and its answer back; ``page``: identity's login page
    (its cookie both ways, and its redirects)."""
    base = current_app.config["HAVEN_CONFIG"].identity_http_url.rstrip("/")
    body = request.get_data(cache=False)[:MAX_BODY] if request.method == "POST" else None
    headers = {k: request.headers[k] for k in _PASSED_REQUEST if k in request.headers}
    own = request.cookies.get(IDENTITY_COOKIE) if page else None
    if own and len(own) < 4096:
        headers["Cookie"] = f"{IDENTITY_COOKIE}={own}"
    forwarded = request.headers.get("X-Forwarded-For", "")
    client = request.remote_addr or ""
    headers["X-Forwarded-For"] = f"{forwarded}, {client}" if forwarded else client
    target = base + path
    if request.query_string:
        target += "?" + request.query_string.decode("latin-1")
    if not target.startswith(("http://", "https://")):
        log.error("GATEWAY_IDENTITY_HTTP_URL must be an http(s) URL")
        return _unavailable(page)
    upstream = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        target, data=body, headers=headers, method=request.method)
    try:
        reply = _OPENER.open(upstream, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:  # 4xx / 5xx from identity: pass it on
        reply = exc
    except (urllib.error.URLError, OSError) as exc:
        log.warning("identity's HTTP app did not answer %s: %s", path, exc)
        return _unavailable(page)
    with reply:
        content = reply.read(MAX_BODY * 4)
        response = Response(content, status=reply.status if hasattr(reply, "status")
                            else reply.code)
        for name in _PASSED_RESPONSE + (_PASSED_PAGE if page else ()):
            value = reply.headers.get(name)
            if value:
                response.headers[name] = value
        if page:
            for cookie in reply.headers.get_all("Set-Cookie") or []:
                if _identity_cookie(cookie):
                    response.headers.add("Set-Cookie", cookie)
    if page and response.status_code >= 500:
        log.warning("identity's login page answered %s", response.status_code)
        return _unavailable(page)
    if page and response.status_code == 400 and response.mimetype == "application/json":
        # authlib refused the request itself (unknown client or redirect URI: a setting that
        # does not match identity's, or a forged link): a page, not JSON, for the person.
        log.warning("identity refused an authorization request: %s",
                    response.get_data(as_text=True)[:300])
        return error_page(400, "This login link is not valid. Go back to Haven and log in "
                               "again.")
    return response


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize():
    """Identity's login page (the web login's first half; see gateway/oidc.py)."""
    return _forward("/oauth/authorize", page=True)


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
