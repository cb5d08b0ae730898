"""Log in (identity's OpenID Connect login, see gateway/oidc.py), log out, elevate access
(second factor)."""

from __future__ import annotations

import logging
import re
import secrets
import time

import grpc
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from gateway.backends import call, client_ip, user_agent
from gateway.errors import error_page, grpc_code, session_ended_redirect
from gateway.oidc import TRY_AGAIN, LoginFailed, OidcClient, pkce_pair
from gateway.web.account import remember_login
from gateway.web.session import (
    TOKEN,
    forget_session,
    load_claims,
    login_required,
    safe_next,
    session_id,
    start_session,
    store_token,
)
from haven.identity.v1 import identity_pb2

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
OIDC_EXTENSION = "haven.oidc"

PENDING = "oidc"  # state -> nonce, PKCE verifier, next page, school, started at
MAX_PENDING = 3
LOGIN_TIMEOUT = 15 * 60  # seconds from /login to the callback
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")  # identity's school short names
STALE_LOGIN = ("That login was not started here, has expired or was already used. "
               "Please log in again.")
LOGIN_CANCELLED = "The login was cancelled."
THROTTLED = "Too many attempts. Please wait a few minutes and try again."
BAD_CODE = "That code was not accepted. Check your authenticator app and try again."
_CODE = re.compile(r"^\d{6}$")


def _details(exc: grpc.RpcError) -> str:
    return (exc.details() if hasattr(exc, "details") else "") or ""


def oidc() -> OidcClient:
    return current_app.extensions[OIDC_EXTENSION]


def redirect_uri() -> str:
    """Where identity sends the browser back: GATEWAY_PUBLIC_URL's, or this request's host's
    (identity accepts only the addresses in IDENTITY_GATEWAY_REDIRECT_URIS)."""
    public = current_app.config["HAVEN_CONFIG"].public_url
    base = public or request.host_url.rstrip("/")
    return base + url_for("auth.callback")


@bp.get("/login")
def login():
    return _begin(safe_next(request.args.get("next")), request.args.get("school", ""))


@bp.get("/s/<slug>/login")
def school_login(slug: str):
    """A school's own login page (its name on the form; its membership chosen first)."""
    return _begin(safe_next(request.args.get("next")), slug)


def _begin(next_url: str, school: str):
    """Send the browser to identity's login form, remembering what the callback checks."""
    school = school.strip().lower()
    if school and not SLUG.match(school):
        return error_page(404, "There is no school with that address.")
    if session.get("_flashes") and not session.get(TOKEN):
        # "You have logged out", "Your session has ended": say it here, then log in.
        return render_template("login.html", next=next_url, school=school)
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    pending = {k: v for k, v in (session.get(PENDING) or {}).items()
               if isinstance(v, dict) and time.time() - v.get("at", 0) < LOGIN_TIMEOUT}
    # A few logins may be under way at once (two tabs); the oldest make way.
    while len(pending) >= MAX_PENDING:
        pending.pop(min(pending, key=lambda k: pending[k].get("at", 0)))
    pending[state] = {"nonce": nonce, "verifier": verifier, "next": next_url,
                      "school": school, "at": int(time.time())}
    session[PENDING] = pending
    query = oidc().authorize_query(redirect_uri=redirect_uri(), state=state, nonce=nonce,
                                   challenge=challenge, school=school)
    return redirect(f"{url_for('oauth_proxy.authorize')}?{query}")


@bp.get("/auth/callback")
def callback():
    """Identity's answer: check the state (once), swap the code for tokens, open the
    browser session."""
    state = request.args.get("state", "")[:200]
    pending = session.get(PENDING) or {}
    started = pending.pop(state, None) if state else None
    session[PENDING] = pending  # one use, whatever happens next
    if not isinstance(started, dict) or time.time() - started.get("at", 0) >= LOGIN_TIMEOUT:
        log.info("login callback refused: unknown, spent or stale state")
        return _failed(STALE_LOGIN, 400)
    next_url, school = safe_next(started.get("next")), started.get("school", "")
    error = request.args.get("error", "")[:60]
    if error:
        log.info("identity refused the login: %s", error)
        message = LOGIN_CANCELLED if error == "access_denied" else TRY_AGAIN
        return _failed(message, 400 if error != "access_denied" else 403, next_url, school)
    code = request.args.get("code", "")
    if not code or len(code) > 512:
        return _failed(TRY_AGAIN, 400, next_url, school)
    try:
        done = oidc().finish(code=code, redirect_uri=redirect_uri(),
                             verifier=started.get("verifier", ""),
                             nonce=started.get("nonce", ""), client_ip=client_ip(),
                             user_agent=user_agent())
    except LoginFailed as exc:
        (log.warning if exc.status >= 500 else log.info)("login not finished: %s", exc.reason)
        return _failed(exc.message, exc.status, next_url, school)
    start_session(done.session_secret, done.access_token, done.expires_in)
    _remember_schools(done.access_token)
    return redirect(next_url)


def _remember_schools(token: str) -> None:
    """The header's school name and school menu (what the gRPC Login answered)."""
    try:
        schools = call("identity", "ListMySchools", identity_pb2.ListMySchoolsRequest(),
                       token=token).schools
    except grpc.RpcError as exc:  # logged in all the same; the header lacks the name
        log.warning("schools of a new login not read: %s", grpc_code(exc).name)
        schools = []
    current = next((s for s in schools if s.current), None)
    remember_login(identity_pb2.LoginResponse(
        school_name=current.name if current else "",
        other_schools=sum(1 for s in schools if not s.current),
        idle_timeout_minutes=current.idle_timeout_minutes if current else 0))


def _failed(message: str, status: int, next_url: str = "/", school: str = ""):
    return render_template("login.html", error=message, next=next_url, school=school), status


@bp.post("/logout")
def logout():
    sid, token = session_id(), session.get(TOKEN, "")
    if sid:
        try:
            call("identity", "Logout", identity_pb2.LogoutRequest(session_id=sid), token=token)
        except grpc.RpcError as exc:  # the cookie goes anyway; identity's timeouts end it
            log.warning("logout of session failed: %s", grpc_code(exc).name)
    forget_session()
    flash("You have logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/elevate", methods=["GET", "POST"])
@login_required
def elevate():
    claims = load_claims()
    next_url = safe_next(request.values.get("next"))
    if claims is not None and claims.full_access:
        flash("You already have full access.", "info")
        return redirect(next_url)
    if request.method == "GET":
        return render_template("elevate.html", next=next_url)
    code = re.sub(r"\s+", "", request.form.get("code", ""))
    error, status = None, 200
    if not _CODE.match(code):
        error, status = "Enter the 6-digit code from your authenticator app.", 422
    else:
        try:
            reply = call("identity", "Elevate", identity_pb2.ElevateRequest(
                session_id=session_id(), totp_code=code, client_ip=client_ip(),
                user_agent=user_agent()))
        except grpc.RpcError as exc:
            rpc = grpc_code(exc)
            if rpc == grpc.StatusCode.INVALID_ARGUMENT:
                error, status = _details(exc) or BAD_CODE, 422
            elif rpc == grpc.StatusCode.UNAUTHENTICATED:
                # Identity no longer knows this session (timed out, revoked): log in again.
                return session_ended_redirect()
            elif rpc in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION):
                error, status = _details(exc) or "Your account cannot elevate its access.", 403
            elif rpc == grpc.StatusCode.RESOURCE_EXHAUSTED:
                error, status = _details(exc) or THROTTLED, 429
            else:
                raise
        else:
            store_token(reply.access_token, reply.expires_in, new_session_id=reply.session_id)
            flash("Your access is now elevated.", "success")
            return redirect(next_url)
    return render_template("elevate.html", next=next_url, error=error), status
