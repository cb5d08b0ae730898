"""The browser session: a signed cookie holding the identity session id, the current access
token and its expiry, and (for the header) the school's name and whether the account has
other schools; nothing else of the user's.

Before each page the token is refreshed through identity's ``RefreshSession`` when it is
close to expiry; identity refuses when the session hit its idle or absolute timeout or was
revoked, and the user is sent to the login page. The token is verified here only to read its
claims for rendering (name, access level, permissions); every service verifies it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

import grpc
from flask import current_app, g, redirect, request, session, url_for

from gateway.backends import backends, call
from gateway.errors import grpc_code, session_ended_redirect
from haven.identity.v1 import identity_pb2
from shared.context import Claims
from shared.errors import Unauthenticated

SESSION_ID, TOKEN, EXPIRES = "sid", "tok", "exp"
# Failures that say nothing about the session: let the error page say "try again".
_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
}


class SessionEnded(Exception):
    """Identity refused to refresh the session, or the token is no longer valid."""


def start_session(session_id: str, token: str, expires_in: int) -> None:
    session.clear()  # a fresh cookie (and CSRF token) for every login
    session[SESSION_ID] = session_id
    store_token(token, expires_in)


def store_token(token: str, expires_in: int, *, new_session_id: str = "") -> None:
    if new_session_id:  # identity rotated the session secret (elevation, school switch)
        session[SESSION_ID] = new_session_id
    session[TOKEN] = token
    session[EXPIRES] = int(time.time()) + int(expires_in)


def forget_session() -> None:
    session.clear()
    g.pop("claims", None)
    g.pop("token", None)


def session_id() -> str:
    return str(session.get(SESSION_ID, ""))


def load_claims() -> Claims | None:
    """The caller's verified claims (refreshing the token if due), or None if not logged in."""
    if "claims" in g:
        return g.claims
    token, sid = session.get(TOKEN), session.get(SESSION_ID)
    if not token or not sid:
        return None
    margin = current_app.config["HAVEN_REFRESH_MARGIN"]
    if int(session.get(EXPIRES, 0)) - time.time() <= margin:
        try:
            reply = call("identity", "RefreshSession",
                         identity_pb2.RefreshSessionRequest(session_id=sid), token=token)
        except grpc.RpcError as exc:
            if grpc_code(exc) in _TRANSIENT:
                raise
            raise SessionEnded() from exc
        store_token(reply.access_token, reply.expires_in)
        token = reply.access_token
    try:
        claims = backends().verifier.verify(token)
    except Unauthenticated as exc:
        raise SessionEnded() from exc
    g.claims, g.token = claims, token
    return claims


def current_claims() -> Claims:
    return g.claims


def login_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            claims = load_claims()
        except SessionEnded:
            return session_ended_redirect()
        if claims is None:
            target = request.full_path if request.method == "GET" else None
            if target and target.endswith("?"):
                target = target[:-1]
            return redirect(url_for("auth.login", next=target if target != "/" else None))
        return view(*args, **kwargs)

    return wrapper


def safe_next(value: str | None, default: str = "/") -> str:
    """A same-site path to go back to (never another host)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def referrer_path(default: str = "/") -> str:
    ref = request.referrer or ""
    parts = urlsplit(ref)
    if not ref or parts.netloc != request.host:
        return default
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_next(path, default)
