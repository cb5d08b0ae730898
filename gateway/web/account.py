"""Account Settings (every user): profile, Security Keys (authenticator apps, security keys /
passkeys), elevation with a security key, and the school menu of SSO accounts.

The WebAuthn ceremonies run in the browser (static/js/identity.js): it asks the JSON routes
here for the options identity made, calls ``navigator.credentials.create`` / ``.get`` and sends
``credential.toJSON()`` back; identity checks everything (challenge, origin, counter).
"""

from __future__ import annotations

import json
import logging
import re
from html import escape
from typing import Any

import grpc
from defusedxml import ElementTree
from flask import (
    Blueprint,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from gateway.backends import call, client_ip, user_agent
from gateway.errors import grpc_code, json_error, map_rpc_error, session_ended_redirect
from gateway.web.session import (
    SessionEnded,
    load_claims,
    login_required,
    safe_next,
    session_id,
    store_token,
)
from haven.identity.v1 import identity_pb2

log = logging.getLogger(__name__)
bp = Blueprint("account", __name__)

SSO, SCHOOL_NAME, ENROLMENT, IDLE = "sso", "school", "totp_enrolment", "idle"
DEFAULT_IDLE_MINUTES = 15  # identity's default, for a reply that does not say
MAX_NAME = 60
_CODE = re.compile(r"^\d{6}$")
KIND_LABELS = {"totp": "Authenticator app", "security_key": "Security key"}


# ---- shared by the login page and the school switch ---------------------------------------

def remember_login(reply: identity_pb2.LoginResponse) -> None:
    """What the header needs from a LoginResponse: the school's name, whether to offer the
    school menu (the account has other schools)."""
    session[SSO] = int(reply.other_schools or 0)
    session[SCHOOL_NAME] = reply.school_name
    session[IDLE] = int(reply.idle_timeout_minutes or DEFAULT_IDLE_MINUTES)


def rpc_json_error(exc: grpc.RpcError):
    mapped = map_rpc_error(exc)
    return json_error(mapped.http_status, mapped.message, mapped.code)


def _details(exc: grpc.RpcError) -> str:
    return (exc.details() if hasattr(exc, "details") else "") or ""


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _clean_name(value: Any, default: str) -> str:
    text = " ".join(str(value or "").split())[:MAX_NAME]
    return text or default


# ---- QR code: identity's SVG, rebuilt from an allow-list (no script, no style, no links) ----

_SVG_NS = "{http://www.w3.org/2000/svg}"
_ALLOWED = {
    "svg": {"width", "height", "viewBox"},
    "path": {"d", "transform", "stroke", "fill", "stroke-width"},
    "rect": {"x", "y", "width", "height", "fill", "transform"},
    "g": {"transform", "fill", "stroke"},
    "title": set(),
}
_SAFE_VALUE = re.compile(r"^[#0-9A-Za-z .,()\-]*$")


def safe_qr_svg(markup: str, label: str = "QR code for your authenticator app") -> str:
    """The QR code as inline SVG with only drawing elements and plain attribute values.
    Anything else (script, event handlers, style, links, foreign elements) is dropped."""
    try:
        root = ElementTree.fromstring(markup)
    except Exception:  # malformed or hostile XML: show no picture (the secret is shown too)
        return ""

    def build(node, depth: int = 0) -> str:
        tag = node.tag.replace(_SVG_NS, "")
        if tag not in _ALLOWED or depth > 6:
            return ""
        attrs = [f'{k}="{escape(v)}"' for k, v in sorted(node.attrib.items())
                 if k in _ALLOWED[tag] and _SAFE_VALUE.match(v) and len(v) < 20000]
        if tag == "svg":
            attrs = ['xmlns="http://www.w3.org/2000/svg"', 'role="img"',
                     f'aria-label="{escape(label)}"', 'class="qr"', *attrs]
        if tag == "title":
            return f"<title>{escape(label)}</title>"
        inner = "".join(build(child, depth + 1) for child in node)
        return f"<{tag} {' '.join(attrs)}>{inner}</{tag}>"

    if root.tag.replace(_SVG_NS, "") != "svg":
        return ""
    return build(root)


# ---- profile ------------------------------------------------------------------------------

def _my_email(claims) -> str:
    try:
        staff = call("identity", "ListStaff", identity_pb2.ListStaffRequest(
            query=claims.name, limit=50)).staff
    except grpc.RpcError:
        return ""
    return next((s.email for s in staff if s.account_id == claims.account_id), "")


def _my_schools() -> list:
    try:
        return list(call("identity", "ListMySchools",
                         identity_pb2.ListMySchoolsRequest()).schools)
    except grpc.RpcError as exc:
        log.info("ListMySchools failed: %s", grpc_code(exc).name)
        return []


@bp.get("/account")
@login_required
def profile():
    claims = load_claims()
    schools = _my_schools()
    current = next((s for s in schools if s.current), None)
    return render_template("account/profile.html", email=_my_email(claims), schools=schools,
                           current=current, section="profile")


# ---- Security Keys ------------------------------------------------------------------------

def my_factors() -> list:
    return list(call("identity", "ListMySecondFactors",
                     identity_pb2.ListMySecondFactorsRequest()).factors)


@bp.get("/account/security-keys")
@login_required
def security_keys():
    factors = my_factors()
    return render_template(
        "account/security_keys.html", section="keys",
        apps=[f for f in factors if f.kind == "totp"],
        keys=[f for f in factors if f.kind == "security_key"],
        has_factor=bool(factors), elevated=load_claims().acr == "mfa")


def _refused_to_add(exc: grpc.RpcError):
    code = grpc_code(exc)
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION):
        flash(_details(exc) or "Elevate your access before adding another key.", "warning")
        return redirect(url_for("account.security_keys"))
    raise exc


@bp.route("/account/security-keys/authenticator", methods=["GET", "POST"])
@login_required
def add_authenticator():
    if request.method == "GET":
        try:
            reply = call("identity", "BeginTotpRegistration",
                         identity_pb2.BeginTotpRegistrationRequest())
        except grpc.RpcError as exc:
            return _refused_to_add(exc)
        # Only the enrolment's id is remembered: the secret never goes into the cookie, so
        # after a wrong code the page asks for the code again without showing the QR code.
        session[ENROLMENT] = reply.enrolment_id
        return render_template("account/add_authenticator.html", section="keys",
                               enrolment=reply, qr=safe_qr_svg(reply.qr_svg), name="",
                               error=None)
    enrolment = session.get(ENROLMENT) or ""
    if not enrolment or request.form.get("enrolment_id") != enrolment:
        flash("That set-up has expired. Start again.", "warning")
        return redirect(url_for("account.security_keys"))
    name = _clean_name(request.form.get("name"), "")
    code = re.sub(r"\s+", "", request.form.get("code", ""))
    error = None
    if not name:
        error = "Give this device a name, for example “My phone”."
    elif not _CODE.match(code):
        error = "Enter the 6-digit code your authenticator app shows now."
    else:
        try:
            call("identity", "ConfirmTotpRegistration", identity_pb2.ConfirmTotpRegistrationRequest(
                enrolment_id=enrolment, name=name, code=code))
        except grpc.RpcError as exc:
            if grpc_code(exc) not in (grpc.StatusCode.INVALID_ARGUMENT,
                                      grpc.StatusCode.PERMISSION_DENIED,
                                      grpc.StatusCode.FAILED_PRECONDITION):
                raise
            error = _details(exc) or "That code was not accepted."
        else:
            session.pop(ENROLMENT, None)
            flash(f"“{name}” is saved. It shows as unverified until you first use it to "
                  "elevate your access.", "success")
            return redirect(url_for("account.security_keys"))
    return render_template("account/add_authenticator.html", section="keys",
                           enrolment={"enrolment_id": enrolment}, qr="", name=name,
                           error=error), 422


@bp.post("/account/security-keys/webauthn/begin")
@login_required
def begin_security_key():
    name = _clean_name(_json_body().get("name"), "Security key")
    try:
        reply = call("identity", "BeginSecurityKeyRegistration",
                     identity_pb2.BeginSecurityKeyRegistrationRequest(name=name))
    except grpc.RpcError as exc:
        return rpc_json_error(exc)
    return jsonify(challenge_id=reply.challenge_id, options=json.loads(reply.options_json))


def _credential_json(body: dict[str, Any]) -> str | None:
    credential = body.get("credential")
    if not isinstance(credential, dict) or not isinstance(body.get("challenge_id"), str):
        return None
    text = json.dumps(credential)
    return text if len(text) < 64 * 1024 else None


@bp.post("/account/security-keys/webauthn/finish")
@login_required
def finish_security_key():
    body = _json_body()
    credential = _credential_json(body)
    if credential is None:
        return json_error(400, "The security key's answer was incomplete. Try again.")
    try:
        factor = call("identity", "FinishSecurityKeyRegistration",
                      identity_pb2.FinishSecurityKeyRegistrationRequest(
                          challenge_id=body["challenge_id"], credential_json=credential))
    except grpc.RpcError as exc:
        return rpc_json_error(exc)
    flash(f"Security key “{factor.name}” is registered.", "success")
    return jsonify(redirect=url_for("account.security_keys"))


@bp.post("/account/security-keys/<factor_id>/remove")
@login_required
def remove_factor(factor_id: str):
    try:
        call("identity", "RemoveMySecondFactor",
             identity_pb2.RemoveMySecondFactorRequest(factor_id=factor_id))
    except grpc.RpcError as exc:
        if grpc_code(exc) not in (grpc.StatusCode.PERMISSION_DENIED,
                                  grpc.StatusCode.NOT_FOUND,
                                  grpc.StatusCode.FAILED_PRECONDITION):
            raise
        flash(_details(exc) or "That key could not be removed.", "warning")
    else:
        flash("The key was removed.", "success")
    return redirect(url_for("account.security_keys"))


# ---- elevation with a security key (the elevate page's button) -----------------------------

@bp.post("/elevate/security-key/begin")
@login_required
def begin_key_elevation():
    try:
        reply = call("identity", "BeginSecurityKeyElevation",
                     identity_pb2.BeginSecurityKeyElevationRequest(
                         session_id=session_id(), client_ip=client_ip(),
                         user_agent=user_agent()))
    except grpc.RpcError as exc:
        return rpc_json_error(exc)
    return jsonify(challenge_id=reply.challenge_id, options=json.loads(reply.options_json))


@bp.post("/elevate/security-key/finish")
@login_required
def finish_key_elevation():
    body = _json_body()
    credential = _credential_json(body)
    if credential is None:
        return json_error(400, "The security key's answer was incomplete. Try again.")
    try:
        reply = call("identity", "FinishSecurityKeyElevation",
                     identity_pb2.FinishSecurityKeyElevationRequest(
                         session_id=session_id(), challenge_id=body["challenge_id"],
                         credential_json=credential, client_ip=client_ip(),
                         user_agent=user_agent()))
    except grpc.RpcError as exc:
        if grpc_code(exc) == grpc.StatusCode.UNAUTHENTICATED:
            session_ended_redirect()
            return json_error(401, "Your session has ended, please log in again.")
        return rpc_json_error(exc)
    store_token(reply.access_token, reply.expires_in, new_session_id=reply.session_id)
    flash("Your access is now elevated.", "success")
    return jsonify(redirect=safe_next(str(body.get("next") or "")))


# ---- school menu (SSO accounts) ------------------------------------------------------------

@bp.post("/switch-school")
@login_required
def switch_school():
    school_id = request.form.get("school_id", "")[:100]
    try:
        reply = call("identity", "SwitchSchool", identity_pb2.SwitchSchoolRequest(
            session_id=session_id(), school_id=school_id, client_ip=client_ip(),
            user_agent=user_agent()))
    except grpc.RpcError as exc:
        code = grpc_code(exc)
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return session_ended_redirect()
        if code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT,
                        grpc.StatusCode.NOT_FOUND):
            raise
        flash(_details(exc) or "You are not a user of that school.", "warning")
        return redirect(url_for("dashboard.index"))
    store_token(reply.access_token, reply.expires_in, new_session_id=reply.session_id)
    remember_login(reply)
    session.pop(ENROLMENT, None)
    g.pop("claims", None)
    flash(f"You are now working in {reply.school_name}. Your access there starts restricted: "
          "elevate again if you need more.", "info")
    return redirect(url_for("dashboard.index"))


@bp.app_context_processor
def _school_menu():
    def school_menu() -> list:
        """The account's schools for the header menu (SSO accounts only; once per page)."""
        if not session.get(SSO):
            return []
        if "my_schools" not in g:
            try:
                g.my_schools = _my_schools() if load_claims() else []
            except SessionEnded:
                g.my_schools = []
        return g.my_schools

    def my_factor_kinds() -> set[str]:
        """Kinds of second factor the caller has (the elevate page offers those)."""
        try:
            return {f.kind for f in my_factors()}
        except grpc.RpcError:
            return {"totp", "security_key"}

    def idle_minutes() -> int:
        """The school's idle timeout, after which the page blanks itself."""
        return int(session.get(IDLE) or DEFAULT_IDLE_MINUTES)

    return {"school_menu": school_menu, "current_school_name": session.get(SCHOOL_NAME, ""),
            "my_factor_kinds": my_factor_kinds, "factor_label": KIND_LABELS.get,
            "idle_minutes": idle_minutes}
