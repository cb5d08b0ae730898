"""Log in, log out, elevate access (second factor)."""

from __future__ import annotations

import logging
import re

import grpc
from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from gateway.backends import call, client_ip, user_agent
from gateway.errors import grpc_code, session_ended_redirect
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

BAD_LOGIN = "Email or password is incorrect."
THROTTLED = "Too many attempts. Please wait a few minutes and try again."
BAD_CODE = "That code was not accepted. Check your authenticator app and try again."
_CODE = re.compile(r"^\d{6}$")


def _details(exc: grpc.RpcError) -> str:
    return (exc.details() if hasattr(exc, "details") else "") or ""


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", email="", next=next_url)
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    error, status = None, 200
    if not email or not password:
        error, status = "Enter your email address and your password.", 422
    else:
        try:
            reply = call("identity", "Login", identity_pb2.LoginRequest(
                email=email, password=password, client_ip=client_ip(),
                user_agent=user_agent()), token="")
        except grpc.RpcError as exc:
            code = grpc_code(exc)
            if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND):
                error, status = BAD_LOGIN, 401
            elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                error, status = _details(exc) or THROTTLED, 429
            elif code == grpc.StatusCode.INVALID_ARGUMENT:
                error, status = _details(exc) or BAD_LOGIN, 422
            elif code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION):
                error, status = _details(exc) or BAD_LOGIN, 403
            else:
                raise
        else:
            start_session(reply.session_id, reply.access_token, reply.expires_in)
            remember_login(reply)  # school name, school menu for SSO accounts
            return redirect(next_url)
    return render_template("login.html", email=email, next=next_url, error=error), status


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
