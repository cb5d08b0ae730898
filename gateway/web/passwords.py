"""First and forgotten passwords: ask for a link (the same answer whether or not the email is
a user's), then set a password on the page the emailed link opens."""

from __future__ import annotations

import grpc
from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from gateway.backends import call, client_ip, user_agent
from gateway.errors import grpc_code, json_error
from gateway.web.account import rpc_json_error
from haven.identity.v1 import identity_pb2

bp = Blueprint("passwords", __name__)

SENT = ("If that email address belongs to a user of Haven, a link to set a password is on its "
        "way. The link works once, until midnight today.")
MAX_PASSWORD = 1024
MAX_TOKEN = 200


def _details(exc: grpc.RpcError) -> str:
    return (exc.details() if hasattr(exc, "details") else "") or ""


@bp.route("/forgotten-password", methods=["GET", "POST"])
def request_link():
    if request.method == "GET":
        return render_template("password/request.html", email="", sent=False)
    email = request.form.get("email", "").strip()[:320]
    if not email or "@" not in email:
        return render_template("password/request.html", email=email, sent=False,
                               error="Enter your email address."), 422
    try:
        reply = call("identity", "RequestPasswordReset", identity_pb2.RequestPasswordResetRequest(
            email=email, school_slug=request.form.get("school", "")[:100],
            client_ip=client_ip(), user_agent=user_agent()), token="")
    except grpc.RpcError as exc:
        if grpc_code(exc) == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return render_template("password/request.html", email=email, sent=False,
                                   error=_details(exc) or "Too many requests. Please wait a "
                                   "while and try again."), 429
        if grpc_code(exc) != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        return render_template("password/request.html", email=email, sent=False,
                               error=_details(exc) or "Enter your email address."), 422
    return render_template("password/request.html", email="", sent=True,
                           message=reply.message or SENT)


def _link(token: str):
    """Who the link is for, or None when it has expired or was used."""
    try:
        return call("identity", "CheckPasswordResetLink",
                    identity_pb2.CheckPasswordResetLinkRequest(token=token), token="")
    except grpc.RpcError as exc:
        if grpc_code(exc) in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
            return None
        raise


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset(token: str):
    token = token[:MAX_TOKEN]
    link = _link(token)
    if link is None:
        return render_template("password/expired.html"), 410
    if request.method == "GET":
        return render_template("password/reset.html", link=link, token=token, error=None)
    password = request.form.get("password", "")[:MAX_PASSWORD]
    confirm = request.form.get("confirm", "")[:MAX_PASSWORD]
    error = None
    if not password:
        error = "Choose a password."
    elif password != confirm:
        error = "The two passwords are not the same."
    else:
        try:
            call("identity", "ResetPassword", identity_pb2.ResetPasswordRequest(
                token=token, password=password, client_ip=client_ip(),
                user_agent=user_agent()), token="")
        except grpc.RpcError as exc:
            if grpc_code(exc) != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            if _link(token) is None:
                return render_template("password/expired.html"), 410
            error = _details(exc) or "That password was not accepted."
        else:
            flash("Your password is set. Log in with it now.", "success")
            return redirect(url_for("auth.login"))
    return render_template("password/reset.html", link=link, token=token, error=error), 422


@bp.post("/reset-password/<token>/strength")
def strength(token: str):
    """Reasons a password would be refused, for the form as the user types."""
    body = request.get_json(silent=True)
    password = body.get("password") if isinstance(body, dict) else None
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        return json_error(400, "Send the password to check.")
    try:
        reply = call("identity", "CheckPasswordStrength", identity_pb2.CheckPasswordStrengthRequest(
            password=password, token=token[:MAX_TOKEN]), token="")
    except grpc.RpcError as exc:
        return rpc_json_error(exc)
    return jsonify(ok=reply.ok, problems=list(reply.problems))
