"""The OpenAPI description of identity's /api/v1 routes (``gateway.api.identity``), merged
into ``gateway.openapi`` by ``extend(PATHS, SCHEMAS)``; request schemas here are also what
those routes validate bodies against."""

from __future__ import annotations

from typing import Any


def extend(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    from gateway import openapi as o  # the helpers (called while gateway.openapi loads)

    s, ns, arr, obj, ref, op, js = (o._string, o._nullable_string, o._array, o._object, o._ref,
                                    o._op, o._json)
    boolean, integer = {"type": "boolean"}, {"type": "integer"}
    rid = o._REQUIRED_ID
    when = ns(format="date-time")
    email = s("email address", minLength=3, maxLength=320)
    name = s(minLength=1, maxLength=100)
    credential = obj({}, description="PublicKeyCredential.toJSON() of the browser's answer")

    schemas.update({
        "SecondFactor": obj({
            "id": s(), "kind": s(enum=["totp", "security_key"]), "name": s(),
            "verified": {"type": "boolean",
                         "description": "an authenticator app is unverified until first used"},
            "created_at": when, "last_used_at": when,
        }, ["id", "kind", "name", "verified"]),
        "SecondFactorList": obj({"factors": arr(ref("SecondFactor"))}, ["factors"]),
        "TotpEnrolment": obj({
            "enrolment_id": s(), "otpauth_uri": s("otpauth:// URI (the QR code's content)"),
            "secret": s("base32 secret, to type in by hand"),
            "qr_svg": s("the URI as an SVG QR code"), "expires_at": when,
        }, ["enrolment_id", "otpauth_uri", "secret"]),
        "ConfirmTotpRequest": obj({
            "enrolment_id": rid, "name": s("e.g. My phone", minLength=1, maxLength=60),
            "code": s("the code the app shows now", minLength=1, maxLength=16),
        }, ["enrolment_id", "name", "code"], closed=True),
        "BeginSecurityKeyRequest": obj({
            "name": s("e.g. Blue USB key", minLength=1, maxLength=60),
        }, ["name"], closed=True),
        "WebAuthnCeremony": obj({
            "challenge_id": s(),
            "options": obj({"publicKey": obj({})}, ["publicKey"],
                           "for PublicKeyCredential.parseCreationOptionsFromJSON / "
                           "parseRequestOptionsFromJSON (binary fields base64url)"),
            "expires_at": when,
        }, ["challenge_id", "options"]),
        "FinishSecurityKeyRequest": obj({
            "challenge_id": rid, "credential": credential,
        }, ["challenge_id", "credential"], closed=True),
        "FinishKeyElevationRequest": obj({
            "session_id": rid, "challenge_id": rid, "credential": credential,
        }, ["session_id", "challenge_id", "credential"], closed=True),
        "MySchool": obj({
            "school_id": s(), "name": s(), "slug": s(), "user_group_name": s(),
            "current": boolean,
        }, ["school_id", "name", "current"]),
        "MySchoolList": obj({"schools": arr(ref("MySchool"))}, ["schools"]),
        "SwitchSchoolRequest": obj({"session_id": rid, "school_id": rid},
                                   ["session_id", "school_id"], closed=True),
        "SwitchSchoolResponse": obj({
            "access_token": s(), "token_type": s(enum=["Bearer"]), "expires_in": integer,
            "session_id": s("the new session's secret (the old session has ended)"),
            "can_elevate": boolean, "school_id": s(), "school_name": s(),
            "other_schools": integer,
        }, ["access_token", "token_type", "expires_in", "session_id", "school_id"]),
        "PasswordResetRequest": obj({
            "email": email,
            "school_slug": s("the school whose page was used", maxLength=100),
        }, ["email"], closed=True),
        "Message": obj({"message": s("the same whether or not the email is a user's")},
                       ["message"]),
        "PasswordResetLinkRequest": obj({"token": s(minLength=1, maxLength=200)}, ["token"],
                                        closed=True),
        "PasswordResetLink": obj({
            "email": s(), "display_name": s(), "school_name": s(),
            "welcome": {"type": "boolean", "description": "a first password"},
            "expires_at": when,
        }, ["email"]),
        "PasswordResetConfirmRequest": obj({
            "token": s(minLength=1, maxLength=200), "password": s(minLength=1, maxLength=1024),
        }, ["token", "password"], closed=True),
        "PasswordResetDone": obj({"email": s()}, ["email"]),
        "PasswordStrengthRequest": obj({
            "password": s(maxLength=1024),
            "token": s("a reset link's token: its person's details count as weak words",
                       maxLength=200),
            "email": s(maxLength=320),
        }, ["password"], closed=True),
        "PasswordStrength": obj({"ok": boolean, "problems": arr(s())}, ["ok", "problems"]),
        "User": obj({
            "account_id": s(), "display_name": s(), "email": s(), "job_title": s(),
            "user_group_id": s(), "user_group_name": s(), "key_holder": boolean,
            "active": boolean,
            "has_second_factor": {"type": "boolean", "description": "the shield"},
            "last_login_at": when, "from_mis": boolean,
            "other_schools": {"type": "boolean", "description": "an SSO account"},
            "alert_email": s(), "deactivated_at": when,
        }, ["account_id", "display_name", "email", "active"]),
        "UserList": obj({"users": arr(ref("User"))}, ["users"]),
        "UserDetail": obj({"user": ref("User"), "factors": arr(ref("SecondFactor"))},
                          ["user", "factors"]),
        "MisStaffList": obj({"staff": arr(obj({
            "mis_id": s(), "display_name": s(), "email": s(), "job_title": s(),
            "start_date": ns(format="date"),
        }, ["mis_id", "display_name"]))}, ["staff"]),
        "CreateUserRequest": obj({
            "mis_id": s("from GET /admin/mis-staff; omit for a non-MIS user", maxLength=100),
            "display_name": s("non-MIS users only", maxLength=200),
            "email": email, "user_group_id": rid, "job_title": s(maxLength=200),
            "send_password_email": boolean,
        }, ["email", "user_group_id"], closed=True),
        "ReactivateUserRequest": obj({"email": email, "user_group_id": rid},
                                     ["email", "user_group_id"], closed=True),
        "ChangeEmailRequest": obj({"email": email}, ["email"], closed=True),
        "ChangeGroupRequest": obj({"user_group_id": rid}, ["user_group_id"], closed=True),
        "AlertEmailRequest": obj({"alert_email": s("empty: the account's email",
                                                   maxLength=320)},
                                 ["alert_email"], closed=True),
        "Expiry": obj({"expires_at": when}, ["expires_at"]),
        "RemoveFactorsRequest": obj({
            "confirm": {"type": "boolean", "description": "I confirm that I have read and "
                                                          "understand this notice"},
        }, ["confirm"], closed=True),
        "Removed": obj({"removed": integer}, ["removed"]),
        "SecurityLog": obj({"entries": arr(obj({
            "id": s(), "account_id": s(), "email": s(), "event": s(), "factor": s(),
            "client_ip": s(), "user_agent": s(), "at": when, "detail": s(),
        }, ["id", "event"]), "newest first")}, ["entries"]),
        "UserGroup": obj({
            "user_group_id": s(), "name": s(), "key_holder": boolean,
            "permissions": arr(s()), "active_users": integer, "deactivated_users": integer,
        }, ["user_group_id", "name", "key_holder", "permissions"]),
        "UserGroupList": obj({"user_groups": arr(ref("UserGroup")),
                              "system_permissions": arr(s(), "every permission a group "
                                                             "can have")},
                             ["user_groups", "system_permissions"]),
        "SaveUserGroupRequest": obj({
            "name": name, "key_holder": boolean,
            "permissions": arr(s(minLength=1, maxLength=64), "system permissions",
                               maxItems=50),
        }, ["name"], closed=True),
        "AlertGroup": obj({
            "alert_group_id": s(), "name": s(),
            "members": arr(obj({"account_id": s(), "display_name": s(), "active": boolean},
                               ["account_id"])),
        }, ["alert_group_id", "name", "members"]),
        "AlertGroupList": obj({"alert_groups": arr(ref("AlertGroup"))}, ["alert_groups"]),
        "SaveAlertGroupRequest": obj({
            "name": name,
            "member_account_ids": arr(s(minLength=1, maxLength=100), maxItems=2000),
            "add_user_group_ids": arr(s(minLength=1, maxLength=100),
                                      "every active user of these groups joins too",
                                      maxItems=100),
        }, ["name"], closed=True),
        "SchoolSettings": obj({
            "email_domains": arr(s(minLength=1, maxLength=253), "empty: any domain",
                                 maxItems=100),
            "disable_missing_from_mis": boolean, "use_legal_names": boolean,
            "idle_timeout_minutes": {"type": "integer", "minimum": 1, "maximum": 240},
        }, ["email_domains", "disable_missing_from_mis", "use_legal_names",
            "idle_timeout_minutes"], closed=True),
        "IntegrationClient": obj({
            "client_id": s(), "name": s(), "scope": s(enum=["incidents:add", "mis.import"]),
            "created_at": when, "revoked_at": when, "last_used_at": when,
        }, ["client_id", "name", "scope"]),
        "IntegrationClientList": obj({"clients": arr(ref("IntegrationClient"))},
                                     ["clients"]),
        "CreateIntegrationRequest": obj({
            "name": name, "scope": s(enum=["incidents:add", "mis.import"]),
        }, ["name", "scope"], closed=True),
        "CreatedIntegration": obj({
            "client": ref("IntegrationClient"),
            "client_secret": s("shown once: keep it safe"),
            "token_endpoint": s("POST grant_type=client_credentials here"),
        }, ["client", "client_secret", "token_endpoint"]),
    })

    def p(name_: str, text: str) -> dict[str, Any]:
        return o._path_param(name_, text)

    done = {"description": "Done"}
    me = ("401", "403", "503")
    fix = ("401", "403", "404", "409", "422", "503")
    auth = ("401", "403", "409", "422", "429", "503")
    user = [p("account_id", "the user's account id")]
    group = [p("group_id", "user group id")]
    alert = [p("alert_group_id", "alert group id")]
    paths.update({
        "/me/second-factors": {"get": op(
            "listMySecondFactors", "The caller's authenticator apps and security keys", "200",
            js("SecondFactorList", "Their second factors"), tag="account", errors=me)},
        "/me/second-factors/{factor_id}": {"delete": op(
            "removeMySecondFactor", "Remove one of the caller's second factors (needs an "
            "elevated session)", "204", done, tag="account", errors=("401", "403", "404", "503"),
            params=[p("factor_id", "second factor id")])},
        "/me/second-factors/totp": {"post": op(
            "beginTotpRegistration", "Start adding an authenticator app (10 minutes)", "201",
            js("TotpEnrolment", "Show the QR code or secret"), tag="account", errors=me)},
        "/me/second-factors/totp/confirm": {"post": op(
            "confirmTotpRegistration", "Save the authenticator app with the code it shows",
            "201", js("SecondFactor", "Saved (unverified until first used)"), tag="account",
            body="ConfirmTotpRequest", errors=("401", "403", "422", "503"))},
        "/me/second-factors/security-keys/begin": {"post": op(
            "beginSecurityKeyRegistration", "Options for navigator.credentials.create", "200",
            js("WebAuthnCeremony", "The ceremony"), tag="account",
            body="BeginSecurityKeyRequest", errors=("401", "403", "422", "503"))},
        "/me/second-factors/security-keys/finish": {"post": op(
            "finishSecurityKeyRegistration", "Register the key from the browser's answer",
            "201", js("SecondFactor", "Registered"), tag="account",
            body="FinishSecurityKeyRequest", errors=("401", "403", "422", "503"))},
        "/me/schools": {"get": op(
            "listMySchools", "The schools the caller's account belongs to", "200",
            js("MySchoolList", "Active memberships, the current one marked"), tag="account",
            errors=me)},
        "/auth/switch-school": {"post": op(
            "switchSchool", "A new session in another school of the same account (restricted "
            "until elevated there)", "200", js("SwitchSchoolResponse", "The new session"),
            tag="auth", body="SwitchSchoolRequest", errors=auth, public=True)},
        "/auth/elevate/security-key/begin": {"post": op(
            "beginSecurityKeyElevation", "Options for navigator.credentials.get", "200",
            js("WebAuthnCeremony", "The ceremony"), tag="auth", body="SessionRequest",
            errors=auth, public=True)},
        "/auth/elevate/security-key/finish": {"post": op(
            "finishSecurityKeyElevation", "Raise a session to full access with a security key",
            "200", js("TokenResponse", "A new token and the session's new secret"),
            tag="auth", body="FinishKeyElevationRequest", errors=auth, public=True)},
        "/auth/password-reset": {"post": op(
            "requestPasswordReset", "Email a link to set a password (same answer for any "
            "email)", "202", js("Message", "What to tell the person"), tag="auth",
            body="PasswordResetRequest", errors=("429", "503"), public=True)},
        "/auth/password-reset/check": {"post": op(
            "checkPasswordResetLink", "Who a password link is for, while it works", "200",
            js("PasswordResetLink", "The link's person"), tag="auth",
            body="PasswordResetLinkRequest", errors=("422", "503"), public=True)},
        "/auth/password-reset/confirm": {"post": op(
            "resetPassword", "Set the password with a link (ends the account's sessions)",
            "200", js("PasswordResetDone", "Set"), tag="auth",
            body="PasswordResetConfirmRequest", errors=("422", "503"), public=True)},
        "/auth/password-strength": {"post": op(
            "checkPasswordStrength", "Reasons a password would be refused", "200",
            js("PasswordStrength", "The verdict"), tag="auth", body="PasswordStrengthRequest",
            errors=("503",), public=True)},
        "/admin/users": {
            "get": op("listUsers", "Users of the school (administration, full access)", "200",
                      js("UserList", "Users"), tag="admin", errors=me, params=[
                          o._query("deactivated", "the deactivated users instead",
                                   {"type": "boolean", "default": False}),
                          o._query("q", "part of a name or email",
                                   {"type": "string", "maxLength": 100}),
                          o._query("user_group_id", "only this group",
                                   {"type": "string", "maxLength": 100})]),
            "post": op("createUser", "Add a user (from the MIS list or not)", "201",
                       {**js("User", "Created"),
                        "headers": {"Location": {"schema": {"type": "string"},
                                                 "description": "URL of the user"}}},
                       tag="admin", body="CreateUserRequest", errors=fix)},
        "/admin/users/{account_id}": {"get": op(
            "getUser", "A user and their second factors", "200", js("UserDetail", "The user"),
            tag="admin", errors=("401", "403", "404", "503"), params=user)},
        "/admin/mis-staff": {"get": op(
            "listMisStaff", "MIS staff who can be added as users", "200",
            js("MisStaffList", "Staff"), tag="admin", errors=me)},
        "/admin/users/{account_id}/deactivate": {"post": op(
            "deactivateUser", "Deactivate a user (ends their sessions)", "200",
            js("User", "Deactivated"), tag="admin", errors=fix, params=user)},
        "/admin/users/{account_id}/reactivate": {"post": op(
            "reactivateUser", "Reactivate a user with an email and a group", "200",
            js("User", "Active again"), tag="admin", body="ReactivateUserRequest", errors=fix,
            params=user)},
        "/admin/users/{account_id}/email": {"put": op(
            "changeUserEmail", "Change a user's email address", "200", js("User", "Saved"),
            tag="admin", body="ChangeEmailRequest", errors=fix, params=user)},
        "/admin/users/{account_id}/user-group": {"put": op(
            "changeUserGroup", "Move a user to another user group", "200", js("User", "Saved"),
            tag="admin", body="ChangeGroupRequest", errors=fix, params=user)},
        "/admin/users/{account_id}/alert-email": {"put": op(
            "setUserAlertEmail", "This school's alert address for an SSO user", "200",
            js("User", "Saved"), tag="admin", body="AlertEmailRequest", errors=fix,
            params=user)},
        "/admin/users/{account_id}/password-email": {"post": op(
            "sendPasswordEmail", "Email the user a link to set a password", "202",
            js("Expiry", "Sent; the link works until then"), tag="admin", errors=fix,
            params=user)},
        "/admin/users/{account_id}/second-factors/remove": {"post": op(
            "removeUserSecondFactors", "Remove every app and key of a user (confirm: true)",
            "200", js("Removed", "How many were removed"), tag="admin",
            body="RemoveFactorsRequest", errors=fix, params=user)},
        "/admin/users/{account_id}/security-log": {"get": op(
            "listUserSecurityLog", "A user's logins, elevations and credential changes",
            "200", js("SecurityLog", "Newest first"), tag="admin",
            errors=("401", "403", "404", "503"), params=[*user, o._LIMIT])},
        "/admin/user-groups": {
            "get": op("listUserGroups", "User groups with their users counted", "200",
                      js("UserGroupList", "Groups"), tag="admin", errors=me),
            "post": op("createUserGroup", "Create a user group", "201",
                       js("UserGroup", "Created"), tag="admin", body="SaveUserGroupRequest",
                       errors=fix)},
        "/admin/user-groups/{group_id}": {
            "put": op("updateUserGroup", "Change a user group", "200",
                      js("UserGroup", "Saved"), tag="admin", body="SaveUserGroupRequest",
                      errors=fix, params=group),
            "delete": op("deleteUserGroup", "Delete an empty user group (409 says how many "
                         "users to move first)", "204", done, tag="admin", errors=fix,
                         params=group)},
        "/alert-groups": {"get": op(
            "listAlertGroups", "Alert groups of the school (any staff)", "200",
            js("AlertGroupList", "Alert groups"), tag="staff", errors=me)},
        "/admin/alert-groups": {"post": op(
            "createAlertGroup", "Create an alert group", "201", js("AlertGroup", "Created"),
            tag="admin", body="SaveAlertGroupRequest", errors=fix)},
        "/admin/alert-groups/{alert_group_id}": {
            "put": op("updateAlertGroup", "Change an alert group (members replaced)", "200",
                      js("AlertGroup", "Saved"), tag="admin", body="SaveAlertGroupRequest",
                      errors=fix, params=alert),
            "delete": op("deleteAlertGroup", "Delete an alert group", "204", done,
                         tag="admin", errors=fix, params=alert)},
        "/school-settings": {"get": op(
            "getSchoolSettings", "The school's user settings (any staff)", "200",
            js("SchoolSettings", "Settings"), tag="staff", errors=me)},
        "/admin/school-settings": {"put": op(
            "updateSchoolSettings", "Replace the school's user settings", "200",
            js("SchoolSettings", "Saved"), tag="admin", body="SchoolSettings", errors=fix)},
        "/admin/integrations": {
            "get": op("listIntegrations", "OAuth2 clients of the school", "200",
                      js("IntegrationClientList", "Clients"), tag="admin", errors=me),
            "post": op("createIntegration", "Create an OAuth2 client (the secret is shown "
                       "once)", "201", js("CreatedIntegration", "Created"), tag="admin",
                       body="CreateIntegrationRequest", errors=fix)},
        "/admin/integrations/{client_id}/revoke": {"post": op(
            "revokeIntegration", "Revoke an OAuth2 client", "200",
            js("IntegrationClient", "Revoked"), tag="admin",
            errors=("401", "403", "404", "503"), params=[p("client_id", "client id")])},
    })
