"""/api/v1 routes for identity: my second factors (authenticator apps, security keys), my
schools and switching school, elevation with a security key, password links, and Admin
(users, user groups, alert groups, school settings, integrations). Registered on the API
blueprint of ``gateway.api.routes`` (same token check and errors); described in
``gateway.openapi_identity``."""

from __future__ import annotations

import json
from typing import Any

from flask import jsonify, url_for

from gateway.api.routes import (
    BEARER,
    PUBLIC_ENDPOINTS,
    ApiError,
    _body,
    _bool_arg,
    _limit_arg,
    _no_content,
    _text_arg,
    bp,
)
from gateway.backends import call, client_ip, user_agent
from gateway.present import iso
from haven.identity.v1 import identity_pb2

PUBLIC_ENDPOINTS.update({
    "api.switch_school", "api.begin_key_elevation", "api.finish_key_elevation",
    "api.request_password_reset", "api.check_password_reset", "api.confirm_password_reset",
    "api.password_strength",
})
MAX_CREDENTIAL = 64 * 1024


# ---- JSON shapes --------------------------------------------------------------------------

def factor_json(f) -> dict[str, Any]:
    return {"id": f.id, "kind": f.kind, "name": f.name, "verified": f.verified,
            "created_at": iso(f.created_at), "last_used_at": iso(f.last_used_at)}


def user_json(u) -> dict[str, Any]:
    return {"account_id": u.account_id, "display_name": u.display_name, "email": u.email,
            "job_title": u.job_title, "user_group_id": u.user_group_id,
            "user_group_name": u.user_group_name, "key_holder": u.key_holder,
            "active": u.active, "has_second_factor": u.has_second_factor,
            "last_login_at": iso(u.last_login_at), "from_mis": u.from_mis,
            "other_schools": u.other_schools, "alert_email": u.alert_email,
            "deactivated_at": iso(u.deactivated_at)}


def group_json(g) -> dict[str, Any]:
    return {"user_group_id": g.user_group_id, "name": g.name, "key_holder": g.key_holder,
            "permissions": list(g.permissions), "active_users": g.active_users,
            "deactivated_users": g.deactivated_users}


def alert_group_json(a) -> dict[str, Any]:
    return {"alert_group_id": a.alert_group_id, "name": a.name,
            "members": [{"account_id": m.account_id, "display_name": m.display_name,
                         "active": m.active} for m in a.members]}


def settings_json(s) -> dict[str, Any]:
    return {"email_domains": list(s.email_domains),
            "disable_missing_from_mis": s.disable_missing_from_mis,
            "use_legal_names": s.use_legal_names,
            "idle_timeout_minutes": s.idle_timeout_minutes}


def client_json(c) -> dict[str, Any]:
    return {"client_id": c.client_id, "name": c.name, "scope": c.scope,
            "created_at": iso(c.created_at), "revoked_at": iso(c.revoked_at),
            "last_used_at": iso(c.last_used_at)}


def ceremony_json(c) -> dict[str, Any]:
    return {"challenge_id": c.challenge_id, "options": json.loads(c.options_json),
            "expires_at": iso(c.expires_at)}


def login_json(reply) -> dict[str, Any]:
    return {"access_token": reply.access_token, "token_type": BEARER,
            "expires_in": int(reply.expires_in), "session_id": reply.session_id,
            "can_elevate": reply.can_elevate, "school_id": reply.school_id,
            "school_name": reply.school_name, "other_schools": int(reply.other_schools)}


def _created(body: dict[str, Any]):
    response = jsonify(body)
    response.status_code = 201
    return response


def _credential(body: dict[str, Any]) -> str:
    text = json.dumps(body["credential"])
    if len(text) > MAX_CREDENTIAL:
        raise ApiError(400, "Field 'credential' is too large.", "invalid_request")
    return text


# ---- my second factors, my schools --------------------------------------------------------

@bp.get("/me/second-factors")
def my_second_factors():
    reply = call("identity", "ListMySecondFactors", identity_pb2.ListMySecondFactorsRequest())
    return jsonify(factors=[factor_json(f) for f in reply.factors])


@bp.delete("/me/second-factors/<factor_id>")
def remove_my_second_factor(factor_id: str):
    call("identity", "RemoveMySecondFactor",
         identity_pb2.RemoveMySecondFactorRequest(factor_id=factor_id))
    return _no_content()


@bp.post("/me/second-factors/totp")
def begin_totp():
    r = call("identity", "BeginTotpRegistration", identity_pb2.BeginTotpRegistrationRequest())
    return _created({"enrolment_id": r.enrolment_id, "otpauth_uri": r.otpauth_uri,
                     "secret": r.secret, "qr_svg": r.qr_svg, "expires_at": iso(r.expires_at)})


@bp.post("/me/second-factors/totp/confirm")
def confirm_totp():
    body = _body("ConfirmTotpRequest")
    factor = call("identity", "ConfirmTotpRegistration",
                  identity_pb2.ConfirmTotpRegistrationRequest(
                      enrolment_id=body["enrolment_id"], name=body["name"],
                      code=body["code"].replace(" ", "")))
    return _created(factor_json(factor))


@bp.post("/me/second-factors/security-keys/begin")
def begin_security_key():
    body = _body("BeginSecurityKeyRequest")
    reply = call("identity", "BeginSecurityKeyRegistration",
                 identity_pb2.BeginSecurityKeyRegistrationRequest(name=body["name"]))
    return jsonify(ceremony_json(reply))


@bp.post("/me/second-factors/security-keys/finish")
def finish_security_key():
    body = _body("FinishSecurityKeyRequest")
    factor = call("identity", "FinishSecurityKeyRegistration",
                  identity_pb2.FinishSecurityKeyRegistrationRequest(
                      challenge_id=body["challenge_id"], credential_json=_credential(body)))
    return _created(factor_json(factor))


@bp.get("/me/schools")
def my_schools():
    reply = call("identity", "ListMySchools", identity_pb2.ListMySchoolsRequest())
    return jsonify(schools=[{"school_id": s.school_id, "name": s.name, "slug": s.slug,
                             "user_group_name": s.user_group_name, "current": s.current}
                            for s in reply.schools])


# ---- sessions: switch school, elevate with a security key (public: the session secret) ----

@bp.post("/auth/switch-school")
def switch_school():
    body = _body("SwitchSchoolRequest")
    reply = call("identity", "SwitchSchool", identity_pb2.SwitchSchoolRequest(
        session_id=body["session_id"], school_id=body["school_id"], client_ip=client_ip(),
        user_agent=user_agent()))
    return jsonify(login_json(reply))


@bp.post("/auth/elevate/security-key/begin")
def begin_key_elevation():
    body = _body("SessionRequest")
    reply = call("identity", "BeginSecurityKeyElevation",
                 identity_pb2.BeginSecurityKeyElevationRequest(
                     session_id=body["session_id"], client_ip=client_ip(),
                     user_agent=user_agent()))
    return jsonify(ceremony_json(reply))


@bp.post("/auth/elevate/security-key/finish")
def finish_key_elevation():
    body = _body("FinishKeyElevationRequest")
    reply = call("identity", "FinishSecurityKeyElevation",
                 identity_pb2.FinishSecurityKeyElevationRequest(
                     session_id=body["session_id"], challenge_id=body["challenge_id"],
                     credential_json=_credential(body), client_ip=client_ip(),
                     user_agent=user_agent()))
    return jsonify(access_token=reply.access_token, token_type=BEARER,
                   expires_in=int(reply.expires_in), session_id=reply.session_id)


# ---- password links (public) --------------------------------------------------------------

@bp.post("/auth/password-reset")
def request_password_reset():
    body = _body("PasswordResetRequest")
    reply = call("identity", "RequestPasswordReset", identity_pb2.RequestPasswordResetRequest(
        email=body["email"].strip(), school_slug=body.get("school_slug", ""),
        client_ip=client_ip(), user_agent=user_agent()), token="")
    response = jsonify(message=reply.message)
    response.status_code = 202
    return response


@bp.post("/auth/password-reset/check")
def check_password_reset():
    body = _body("PasswordResetLinkRequest")
    r = call("identity", "CheckPasswordResetLink",
             identity_pb2.CheckPasswordResetLinkRequest(token=body["token"]), token="")
    return jsonify(email=r.email, display_name=r.display_name, school_name=r.school_name,
                   welcome=r.welcome, expires_at=iso(r.expires_at))


@bp.post("/auth/password-reset/confirm")
def confirm_password_reset():
    body = _body("PasswordResetConfirmRequest")
    r = call("identity", "ResetPassword", identity_pb2.ResetPasswordRequest(
        token=body["token"], password=body["password"], client_ip=client_ip(),
        user_agent=user_agent()), token="")
    return jsonify(email=r.email)


@bp.post("/auth/password-strength")
def password_strength():
    body = _body("PasswordStrengthRequest")
    r = call("identity", "CheckPasswordStrength", identity_pb2.CheckPasswordStrengthRequest(
        password=body["password"], token=body.get("token", ""), email=body.get("email", "")),
        token="")
    return jsonify(ok=r.ok, problems=list(r.problems))


# ---- Admin: users -------------------------------------------------------------------------

@bp.get("/admin/users")
def list_users():
    reply = call("identity", "ListUsers", identity_pb2.ListUsersRequest(
        deactivated=_bool_arg("deactivated"), query=_text_arg("q"),
        user_group_id=_text_arg("user_group_id")))
    return jsonify(users=[user_json(u) for u in reply.users])


@bp.post("/admin/users")
def create_user():
    body = _body("CreateUserRequest")
    user = call("identity", "CreateUser", identity_pb2.CreateUserRequest(
        mis_id=body.get("mis_id", ""), display_name=body.get("display_name", ""),
        email=body["email"], user_group_id=body["user_group_id"],
        job_title=body.get("job_title", ""),
        send_password_email=body.get("send_password_email", False)))
    response = _created(user_json(user))
    response.headers["Location"] = url_for("api.get_user", account_id=user.account_id)
    return response


@bp.get("/admin/users/<account_id>")
def get_user(account_id: str):
    detail = call("identity", "GetUser", identity_pb2.GetUserRequest(account_id=account_id))
    return jsonify(user=user_json(detail.user),
                   factors=[factor_json(f) for f in detail.factors])


@bp.get("/admin/mis-staff")
def list_mis_staff():
    reply = call("identity", "ListMisStaff", identity_pb2.ListMisStaffRequest())
    return jsonify(staff=[{"mis_id": m.mis_id, "display_name": m.display_name,
                           "email": m.email, "job_title": m.job_title,
                           "start_date": m.start_date or None} for m in reply.staff])


@bp.post("/admin/users/<account_id>/deactivate")
def deactivate_user(account_id: str):
    user = call("identity", "DeactivateUser",
                identity_pb2.DeactivateUserRequest(account_id=account_id))
    return jsonify(user_json(user))


@bp.post("/admin/users/<account_id>/reactivate")
def reactivate_user(account_id: str):
    body = _body("ReactivateUserRequest")
    user = call("identity", "ReactivateUser", identity_pb2.ReactivateUserRequest(
        account_id=account_id, email=body["email"], user_group_id=body["user_group_id"]))
    return jsonify(user_json(user))


@bp.put("/admin/users/<account_id>/email")
def change_user_email(account_id: str):
    body = _body("ChangeEmailRequest")
    user = call("identity", "ChangeUserEmail", identity_pb2.ChangeUserEmailRequest(
        account_id=account_id, email=body["email"]))
    return jsonify(user_json(user))


@bp.put("/admin/users/<account_id>/user-group")
def change_user_group(account_id: str):
    body = _body("ChangeGroupRequest")
    user = call("identity", "ChangeUserGroup", identity_pb2.ChangeUserGroupRequest(
        account_id=account_id, user_group_id=body["user_group_id"]))
    return jsonify(user_json(user))


@bp.put("/admin/users/<account_id>/alert-email")
def set_user_alert_email(account_id: str):
    body = _body("AlertEmailRequest")
    user = call("identity", "SetUserAlertEmail", identity_pb2.SetUserAlertEmailRequest(
        account_id=account_id, alert_email=body["alert_email"]))
    return jsonify(user_json(user))


@bp.post("/admin/users/<account_id>/password-email")
def send_password_email(account_id: str):
    reply = call("identity", "SendPasswordEmail",
                 identity_pb2.SendPasswordEmailRequest(account_id=account_id))
    response = jsonify(expires_at=iso(reply.expires_at))
    response.status_code = 202
    return response


@bp.post("/admin/users/<account_id>/second-factors/remove")
def remove_user_second_factors(account_id: str):
    body = _body("RemoveFactorsRequest")
    reply = call("identity", "RemoveUserSecondFactors",
                 identity_pb2.RemoveUserSecondFactorsRequest(account_id=account_id,
                                                             confirm=body["confirm"]))
    return jsonify(removed=int(reply.removed))


@bp.get("/admin/users/<account_id>/security-log")
def user_security_log(account_id: str):
    reply = call("identity", "ListSecurityLog", identity_pb2.ListSecurityLogRequest(
        account_id=account_id, limit=_limit_arg(50)))
    return jsonify(entries=[{"id": e.id, "account_id": e.account_id, "email": e.email,
                             "event": e.event, "factor": e.factor, "client_ip": e.client_ip,
                             "user_agent": e.user_agent, "at": iso(e.at),
                             "detail": e.detail} for e in reply.entries])


# ---- Admin: user groups -------------------------------------------------------------------

@bp.get("/admin/user-groups")
def list_user_groups():
    reply = call("identity", "ListUserGroups", identity_pb2.ListUserGroupsRequest())
    return jsonify(user_groups=[group_json(g) for g in reply.user_groups],
                   system_permissions=list(reply.system_permissions))


def _group_request(body: dict[str, Any], group_id: str = "") -> identity_pb2.SaveUserGroupRequest:
    return identity_pb2.SaveUserGroupRequest(
        user_group_id=group_id, name=body["name"], key_holder=body.get("key_holder", False),
        permissions=body.get("permissions", []))


@bp.post("/admin/user-groups")
def create_user_group():
    group = call("identity", "CreateUserGroup", _group_request(_body("SaveUserGroupRequest")))
    return _created(group_json(group))


@bp.put("/admin/user-groups/<group_id>")
def update_user_group(group_id: str):
    group = call("identity", "UpdateUserGroup",
                 _group_request(_body("SaveUserGroupRequest"), group_id))
    return jsonify(group_json(group))


@bp.delete("/admin/user-groups/<group_id>")
def delete_user_group(group_id: str):
    call("identity", "DeleteUserGroup", identity_pb2.DeleteUserGroupRequest(
        user_group_id=group_id))
    return _no_content()


# ---- alert groups -------------------------------------------------------------------------

@bp.get("/alert-groups")
def list_alert_groups():
    reply = call("identity", "ListAlertGroups", identity_pb2.ListAlertGroupsRequest())
    return jsonify(alert_groups=[alert_group_json(a) for a in reply.alert_groups])


def _alert_request(body: dict[str, Any], alert_group_id: str = ""):
    return identity_pb2.SaveAlertGroupRequest(
        alert_group_id=alert_group_id, name=body["name"],
        member_account_ids=body.get("member_account_ids", []),
        add_user_group_ids=body.get("add_user_group_ids", []))


@bp.post("/admin/alert-groups")
def create_alert_group():
    group = call("identity", "CreateAlertGroup", _alert_request(_body("SaveAlertGroupRequest")))
    return _created(alert_group_json(group))


@bp.put("/admin/alert-groups/<alert_group_id>")
def update_alert_group(alert_group_id: str):
    group = call("identity", "UpdateAlertGroup",
                 _alert_request(_body("SaveAlertGroupRequest"), alert_group_id))
    return jsonify(alert_group_json(group))


@bp.delete("/admin/alert-groups/<alert_group_id>")
def delete_alert_group(alert_group_id: str):
    call("identity", "DeleteAlertGroup",
         identity_pb2.DeleteAlertGroupRequest(alert_group_id=alert_group_id))
    return _no_content()


# ---- school settings ----------------------------------------------------------------------

@bp.get("/school-settings")
def get_school_settings():
    return jsonify(settings_json(call("identity", "GetSchoolSettings",
                                      identity_pb2.GetSchoolSettingsRequest())))


@bp.put("/admin/school-settings")
def update_school_settings():
    body = _body("SchoolSettings")
    saved = call("identity", "UpdateSchoolSettings", identity_pb2.SchoolSettings(
        email_domains=body["email_domains"],
        disable_missing_from_mis=body["disable_missing_from_mis"],
        use_legal_names=body["use_legal_names"],
        idle_timeout_minutes=body["idle_timeout_minutes"]))
    return jsonify(settings_json(saved))


# ---- integrations -------------------------------------------------------------------------

@bp.get("/admin/integrations")
def list_integrations():
    reply = call("identity", "ListIntegrationClients",
                 identity_pb2.ListIntegrationClientsRequest())
    return jsonify(clients=[client_json(c) for c in reply.clients])


@bp.post("/admin/integrations")
def create_integration():
    body = _body("CreateIntegrationRequest")
    reply = call("identity", "CreateIntegrationClient",
                 identity_pb2.CreateIntegrationClientRequest(name=body["name"],
                                                             scope=body["scope"]))
    return _created({"client": client_json(reply.client), "client_secret": reply.client_secret,
                     "token_endpoint": url_for("oauth_proxy.token", _external=True)})


@bp.post("/admin/integrations/<client_id>/revoke")
def revoke_integration(client_id: str):
    reply = call("identity", "RevokeIntegrationClient",
                 identity_pb2.RevokeIntegrationClientRequest(client_id=client_id))
    return jsonify(client_json(reply))
