"""IdentityService servicer: proto <-> domain. Business rules live in the domain modules.

Public methods (no token) take the session secret the gateway keeps in its cookie (Login,
Elevate, RefreshSession, Logout, the security-key elevation, SwitchSchool) or nothing at all
(GetJwks, the password reset pages). Everything else needs a person's token; integration
tokens are refused everywhere here.
"""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp

from haven.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity import access, directory, refusals
from services.identity import security_log as slog
from services.identity.administration import Administration
from services.identity.login import Authenticator, Elevated, LoginResult
from services.identity.password_reset import PasswordResets
from services.identity.second_factors import Factor, SecondFactors
from services.identity.tokens import IssuedToken
from shared.context import current_claims, current_request
from shared.db import Database
from shared.errors import PermissionDenied

PUBLIC_METHODS = [
    "Login", "Elevate", "RefreshSession", "Logout", "GetJwks",
    "RequestPasswordReset", "CheckPasswordResetLink", "ResetPassword", "CheckPasswordStrength",
    "BeginSecurityKeyElevation", "FinishSecurityKeyElevation", "SwitchSchool",
]


def _client(request_ip: str = "", request_ua: str = "") -> tuple[str, str]:
    """Client address and agent: the request's fields, else the caller's metadata."""
    meta = current_request()
    return (request_ip or meta.client_ip)[:64], (request_ua or meta.user_agent)[:300]




def _ts(value: dt.datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _token_response(token: IssuedToken, session_secret: str = "") -> identity_pb2.TokenResponse:
    return identity_pb2.TokenResponse(
        access_token=token.token, expires_in=token.expires_in, access=token.access,
        acr=token.acr, session_id=session_secret,
    )


def _elevated(result: Elevated) -> identity_pb2.TokenResponse:
    return _token_response(result.token, result.session_secret)


def _login_response(result: LoginResult) -> identity_pb2.LoginResponse:
    return identity_pb2.LoginResponse(
        session_id=result.session_secret,
        access_token=result.token.token,
        expires_in=result.token.expires_in,
        can_elevate=result.can_elevate,
        display_name=result.display_name,
        school_id=result.school_id,
        school_name=result.school_name,
        has_authenticator_app=result.has_authenticator_app,
        has_security_key=result.has_security_key,
        other_schools=result.other_schools,
        idle_timeout_minutes=result.idle_timeout_minutes,
    )


def _factor(f: Factor) -> identity_pb2.SecondFactor:
    return identity_pb2.SecondFactor(id=f.id, kind=f.kind, name=f.name, verified=f.verified,
                                     created_at=_ts(f.created_at),
                                     last_used_at=_ts(f.last_used_at))


def _user(u) -> identity_pb2.User:
    return identity_pb2.User(
        account_id=u.account_id, display_name=u.display_name, email=u.email,
        job_title=u.job_title, user_group_id=u.user_group_id,
        user_group_name=u.user_group_name, key_holder=u.key_holder, active=u.active,
        has_second_factor=u.has_second_factor, last_login_at=_ts(u.last_login_at),
        from_mis=u.from_mis, other_schools=u.other_schools, alert_email=u.alert_email,
        deactivated_at=_ts(u.deactivated_at),
    )


def _group(g) -> identity_pb2.UserGroup:
    return identity_pb2.UserGroup(
        user_group_id=g.id, name=g.name, key_holder=g.key_holder,
        permissions=list(g.permissions), active_users=g.active_users,
        deactivated_users=g.deactivated_users,
    )


def _alert_group(g) -> identity_pb2.AlertGroup:
    return identity_pb2.AlertGroup(
        alert_group_id=g.id, name=g.name,
        members=[identity_pb2.AlertGroupMember(account_id=m.account_id,
                                               display_name=m.display_name, active=m.active)
                 for m in g.members],
    )


def _settings(s) -> identity_pb2.SchoolSettings:
    return identity_pb2.SchoolSettings(
        email_domains=list(s.email_domains), disable_missing_from_mis=s.disable_missing_from_mis,
        use_legal_names=s.use_legal_names, idle_timeout_minutes=s.idle_timeout_minutes,
    )


def _integration(c) -> identity_pb2.IntegrationClient:
    return identity_pb2.IntegrationClient(
        client_id=c.id, name=c.name, scope=c.scope, created_at=_ts(c.created_at),
        revoked_at=_ts(c.revoked_at), last_used_at=_ts(c.last_used_at),
    )


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, db: Database, auth: Authenticator, *, admin: Administration,
                 resets: PasswordResets, factors: SecondFactors, token_endpoint: str = ""
                 ) -> None:
        self.db = db
        self.auth = auth
        self.admin = admin
        self.resets = resets
        self.factors = factors
        self.token_endpoint = token_endpoint

    def _staff(self):
        """The caller's claims, if a person's: integration tokens are refused on every staff
        RPC (an integration may add a concern, and read nothing here), and the attempt goes
        to the security log of the token's school."""
        claims = current_claims()
        try:
            return access.require_staff_token(claims)
        except PermissionDenied:
            request = current_request()
            with self.db.transaction() as session:
                slog.record(session, event=slog.TOKEN_REFUSED, school_id=claims.school_id,
                            client_ip=request.client_ip, user_agent=request.user_agent,
                            at=self.auth.clock(), detail=f"{claims.account_id[:64]} "
                            f"({claims.access}) used on a staff RPC")
            raise

    # ---- sessions ---------------------------------------------------------------------------

    def Login(self, request, context):
        ip, ua = _client(request.client_ip, request.user_agent)
        return _login_response(self.auth.login(
            email=request.email, password=request.password, client_ip=ip, user_agent=ua,
            school_slug=request.school_slug,
        ))

    def Elevate(self, request, context):
        ip, ua = _client(request.client_ip, request.user_agent)
        return _elevated(self.auth.elevate(
            session_secret=request.session_id, code=request.totp_code, client_ip=ip,
            user_agent=ua,
        ))

    def RefreshSession(self, request, context):
        ip, ua = _client()
        return _token_response(
            self.auth.refresh(session_secret=request.session_id, client_ip=ip, user_agent=ua)
        )

    def Logout(self, request, context):
        ip, ua = _client()
        self.auth.logout(session_secret=request.session_id, client_ip=ip, user_agent=ua)
        return identity_pb2.LogoutResponse()

    def GetJwks(self, request, context):
        return identity_pb2.GetJwksResponse(jwks_json=self.auth.jwks_json())

    def ListStaff(self, request, context):
        claims = self._staff()
        with self.db.read() as session:
            staff = directory.list_staff(
                session, school_id=claims.school_id, query=request.query, limit=request.limit
            )
        return identity_pb2.ListStaffResponse(
            staff=[
                identity_pb2.Staff(
                    account_id=s.account_id,
                    display_name=s.display_name,
                    email=s.email,
                    user_group_id=s.user_group_id,
                    user_group_name=s.user_group_name,
                    key_holder=s.key_holder,
                )
                for s in staff
            ]
        )

    # ---- passwords --------------------------------------------------------------------------

    def RequestPasswordReset(self, request, context):
        ip, ua = _client(request.client_ip, request.user_agent)
        message = self.resets.request(email=request.email, school_slug=request.school_slug,
                                      client_ip=ip, user_agent=ua)
        return identity_pb2.RequestPasswordResetResponse(message=message)

    def CheckPasswordResetLink(self, request, context):
        info = self.resets.check(token=request.token)
        return identity_pb2.CheckPasswordResetLinkResponse(
            email=info.email, display_name=info.display_name, school_name=info.school_name,
            welcome=info.welcome, expires_at=_ts(info.expires_at),
        )

    def ResetPassword(self, request, context):
        ip, ua = _client(request.client_ip, request.user_agent)
        email = self.resets.reset(token=request.token, password=request.password,
                                  client_ip=ip, user_agent=ua)
        return identity_pb2.ResetPasswordResponse(email=email)

    def CheckPasswordStrength(self, request, context):
        problems = self.resets.strength(password=request.password, token=request.token,
                                        email=request.email)
        return identity_pb2.CheckPasswordStrengthResponse(ok=not problems, problems=problems)

    # ---- second factors ---------------------------------------------------------------------

    def ListMySecondFactors(self, request, context):
        return identity_pb2.ListSecondFactorsResponse(
            factors=[_factor(f) for f in self.factors.list_mine(self._staff())])

    def BeginTotpRegistration(self, request, context):
        enrolment = self.factors.begin_totp(self._staff())
        return identity_pb2.BeginTotpRegistrationResponse(
            enrolment_id=enrolment.id, otpauth_uri=enrolment.uri, qr_svg=enrolment.svg,
            secret=enrolment.secret, expires_at=_ts(enrolment.expires_at),
        )

    def ConfirmTotpRegistration(self, request, context):
        ip, ua = _client()
        return _factor(self.factors.confirm_totp(
            self._staff(), enrolment_id=request.enrolment_id, name=request.name, code=request.code,
            client_ip=ip, user_agent=ua,
        ))

    def BeginSecurityKeyRegistration(self, request, context):
        ceremony = self.factors.begin_key_registration(self._staff(), name=request.name)
        return identity_pb2.WebAuthnCeremony(challenge_id=ceremony.challenge_id,
                                             options_json=ceremony.options_json,
                                             expires_at=_ts(ceremony.expires_at))

    def FinishSecurityKeyRegistration(self, request, context):
        ip, ua = _client()
        return _factor(self.factors.finish_key_registration(
            self._staff(), challenge_id=request.challenge_id,
            credential_json=request.credential_json, client_ip=ip, user_agent=ua,
        ))

    def RemoveMySecondFactor(self, request, context):
        ip, ua = _client()
        self.factors.remove_mine(self._staff(), factor_id=request.factor_id, client_ip=ip,
                                 user_agent=ua)
        return identity_pb2.RemoveMySecondFactorResponse()

    def BeginSecurityKeyElevation(self, request, context):
        ip, ua = _client(request.client_ip, request.user_agent)
        ceremony = self.factors.begin_key_elevation(session_secret=request.session_id,
                                                    client_ip=ip, user_agent=ua)
        return identity_pb2.WebAuthnCeremony(challenge_id=ceremony.challenge_id,
                                             options_json=ceremony.options_json,
                                             expires_at=_ts(ceremony.expires_at))

    def FinishSecurityKeyElevation(self, request, context):
        ip, ua = _client(request.client_ip, request.user_agent)
        return _elevated(self.factors.finish_key_elevation(
            session_secret=request.session_id, challenge_id=request.challenge_id,
            credential_json=request.credential_json, client_ip=ip, user_agent=ua,
        ))

    # ---- schools ----------------------------------------------------------------------------

    def ListMySchools(self, request, context):
        claims = self._staff()
        return identity_pb2.ListMySchoolsResponse(schools=[
            identity_pb2.MySchool(school_id=s.school_id, name=s.name, slug=s.slug,
                                  user_group_name=s.user_group_name, current=s.current,
                                  idle_timeout_minutes=s.idle_timeout_minutes)
            for s in self.auth.schools_of(account_id=claims.account_id,
                                          current_school_id=claims.school_id)
        ])

    def SwitchSchool(self, request, context):
        ip, ua = _client(request.client_ip, request.user_agent)
        return _login_response(self.auth.switch_school(
            session_secret=request.session_id, school_id=request.school_id, client_ip=ip,
            user_agent=ua,
        ))

    # ---- users ------------------------------------------------------------------------------

    @refusals.logged("list users")
    def ListUsers(self, request, context):
        found = self.admin.list_users(self._staff(), deactivated=request.deactivated,
                                      query=request.query, user_group_id=request.user_group_id)
        return identity_pb2.ListUsersResponse(users=[_user(u) for u in found])

    @refusals.logged("open a user")
    def GetUser(self, request, context):
        user, factors = self.admin.get_user(self._staff(), request.account_id)
        return identity_pb2.UserDetail(user=_user(user), factors=[_factor(f) for f in factors])

    @refusals.logged("list MIS staff")
    def ListMisStaff(self, request, context):
        return identity_pb2.ListMisStaffResponse(staff=[
            identity_pb2.MisStaffMember(mis_id=c.mis_id, display_name=c.display_name,
                                        email=c.email, job_title=c.job_title,
                                        start_date=c.start_date)
            for c in self.admin.mis_candidates(self._staff())
        ])

    @refusals.logged("create a user")
    def CreateUser(self, request, context):
        return _user(self.admin.create_user(
            self._staff(), email=request.email, user_group_id=request.user_group_id,
            mis_id=request.mis_id, display_name=request.display_name,
            job_title=request.job_title, send_password_email=request.send_password_email,
        ))

    @refusals.logged("deactivate a user")
    def DeactivateUser(self, request, context):
        return _user(self.admin.deactivate(self._staff(), request.account_id))

    @refusals.logged("reactivate a user")
    def ReactivateUser(self, request, context):
        return _user(self.admin.reactivate(self._staff(), request.account_id, email=request.email,
                                           user_group_id=request.user_group_id))

    @refusals.logged("change a user's email")
    def ChangeUserEmail(self, request, context):
        return _user(self.admin.change_email(self._staff(), request.account_id, request.email))

    @refusals.logged("change a user's group")
    def ChangeUserGroup(self, request, context):
        return _user(self.admin.change_group(self._staff(), request.account_id,
                                             request.user_group_id))

    @refusals.logged("set a user's alert email")
    def SetUserAlertEmail(self, request, context):
        return _user(self.admin.set_alert_email(self._staff(), request.account_id,
                                                request.alert_email))

    @refusals.logged("send a password email")
    def SendPasswordEmail(self, request, context):
        expires = self.admin.send_password_email(self._staff(), request.account_id)
        return identity_pb2.SendPasswordEmailResponse(expires_at=_ts(expires))

    @refusals.logged("remove a user's second factors")
    def RemoveUserSecondFactors(self, request, context):
        removed = self.admin.remove_second_factors(self._staff(), request.account_id,
                                                   confirmed=request.confirm)
        return identity_pb2.RemoveUserSecondFactorsResponse(removed=removed)

    @refusals.logged("read the security log")
    def ListSecurityLog(self, request, context):
        before = request.before.ToDatetime() if request.HasField("before") else None
        rows = self.admin.security_log(self._staff(), account_id=request.account_id,
                                       unknown_emails=request.unknown_emails,
                                       limit=request.limit, before=before)
        return identity_pb2.ListSecurityLogResponse(entries=[
            identity_pb2.SecurityLogEntry(
                id=r.id, account_id=r.account_id or "", email=r.email, event=r.event,
                factor=r.factor, client_ip=r.client_ip, user_agent=r.user_agent,
                at=_ts(r.at), detail=r.detail, session_id=r.session_id or "",
            )
            for r in rows
        ])

    # ---- user groups ------------------------------------------------------------------------

    @refusals.logged("list user groups")
    def ListUserGroups(self, request, context):
        return identity_pb2.ListUserGroupsResponse(
            user_groups=[_group(g) for g in self.admin.list_groups(self._staff())],
            system_permissions=list(directory.SYSTEM_PERMISSIONS),
        )

    @refusals.logged("create a user group")
    def CreateUserGroup(self, request, context):
        return _group(self.admin.create_group(
            self._staff(), name=request.name, key_holder=request.key_holder,
            permissions=list(request.permissions),
        ))

    @refusals.logged("edit a user group")
    def UpdateUserGroup(self, request, context):
        return _group(self.admin.update_group(
            self._staff(), user_group_id=request.user_group_id, name=request.name,
            key_holder=request.key_holder, permissions=list(request.permissions),
        ))

    @refusals.logged("delete a user group")
    def DeleteUserGroup(self, request, context):
        self.admin.delete_group(self._staff(), request.user_group_id)
        return identity_pb2.DeleteUserGroupResponse()

    # ---- alert groups -----------------------------------------------------------------------

    @refusals.logged("list alert groups")
    def ListAlertGroups(self, request, context):
        return identity_pb2.ListAlertGroupsResponse(
            alert_groups=[_alert_group(g) for g in self.admin.list_alert_groups(self._staff())])

    @refusals.logged("create an alert group")
    def CreateAlertGroup(self, request, context):
        return _alert_group(self.admin.create_alert_group(
            self._staff(), name=request.name, member_account_ids=list(request.member_account_ids),
            user_group_ids=list(request.add_user_group_ids),
        ))

    @refusals.logged("edit an alert group")
    def UpdateAlertGroup(self, request, context):
        return _alert_group(self.admin.update_alert_group(
            self._staff(), alert_group_id=request.alert_group_id, name=request.name,
            member_account_ids=list(request.member_account_ids),
            user_group_ids=list(request.add_user_group_ids),
        ))

    @refusals.logged("delete an alert group")
    def DeleteAlertGroup(self, request, context):
        self.admin.delete_alert_group(self._staff(), request.alert_group_id)
        return identity_pb2.DeleteAlertGroupResponse()

    # ---- settings ---------------------------------------------------------------------------

    @refusals.logged("read school settings")
    def GetSchoolSettings(self, request, context):
        return _settings(self.admin.get_settings(self._staff()))

    @refusals.logged("change school settings")
    def UpdateSchoolSettings(self, request, context):
        return _settings(self.admin.update_settings(
            self._staff(), email_domains=list(request.email_domains),
            disable_missing_from_mis=request.disable_missing_from_mis,
            use_legal_names=request.use_legal_names,
            idle_timeout_minutes=request.idle_timeout_minutes,
        ))

    # ---- integrations -----------------------------------------------------------------------

    @refusals.logged("create an integration")
    def CreateIntegrationClient(self, request, context):
        client, secret = self.admin.create_integration(self._staff(), name=request.name,
                                                       scope=request.scope)
        return identity_pb2.CreateIntegrationClientResponse(
            client=_integration(client), client_secret=secret,
            token_endpoint=self.token_endpoint,
        )

    @refusals.logged("list integrations")
    def ListIntegrationClients(self, request, context):
        return identity_pb2.ListIntegrationClientsResponse(
            clients=[_integration(c) for c in self.admin.list_integrations(self._staff())])

    @refusals.logged("revoke an integration")
    def RevokeIntegrationClient(self, request, context):
        return _integration(self.admin.revoke_integration(self._staff(), request.client_id))
