"""The fake identity's Account Settings, passwords, SSO schools and Admin RPCs (a mixin of
``fakes.FakeIdentity``): in-memory and simple, but refusing what identity refuses in the ways
the gateway must handle (admin-only, elevated-only, wrong codes, stale challenges, links)."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from haven.identity.v1 import identity_pb2
from shared import errors
from shared.context import current_claims

SCHOOL = "00000000-0000-4000-8000-000000000001"
SCHOOL2 = "00000000-0000-4000-8000-0000000000b2"
DSL_GROUP2 = "00000000-0000-4000-8000-0000000000b1"
RESET_TOKEN = "reset-token-for-teacher1"
STRONG_PASSWORD = "Correct-horse-battery-staple-42"
ENROLMENT_CODE = "654321"
SYSTEM_PERMISSIONS = (
    "view_student_list", "view_student_details", "add_incidents", "edit_incidents",
    "view_students_without_group", "run_reports", "planner", "files", "library_view",
    "library_add", "administration",
)
PUBLIC_METHODS = [
    "RequestPasswordReset", "CheckPasswordResetLink", "ResetPassword", "CheckPasswordStrength",
    "BeginSecurityKeyElevation", "FinishSecurityKeyElevation", "SwitchSchool",
]
RESET_MESSAGE = ("If that email address belongs to a user of Haven, we have sent it a link to "
                 "set a password. The link works until midnight today.")


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _now() -> datetime:
    return datetime.now(UTC)


class IdentityAdminFake:
    """Needs ``self.accounts``, ``self.sessions``, ``self._enter``, ``self._live`` and
    ``self.tokens`` of FakeIdentity; ``init_admin_fake()`` is called from its __init__."""

    def init_admin_fake(self) -> None:
        from gateway.tests.fakes import DSL, DSL_GROUP, TEACHER, TEACHER_GROUP, TUTOR

        self.schools = {SCHOOL: ("Haven Demo Academy", "demo"), SCHOOL2: ("Second School",
                                                                          "second")}
        self.session_school: dict[str, str] = {}
        # account id -> {school id: group id}
        self.memberships = {DSL.account_id: {SCHOOL: DSL_GROUP, SCHOOL2: DSL_GROUP2},
                            TEACHER.account_id: {SCHOOL: TEACHER_GROUP},
                            TUTOR.account_id: {SCHOOL: TEACHER_GROUP}}
        self.groups: dict[str, dict] = {
            DSL_GROUP: {"school": SCHOOL, "name": "DSL", "key_holder": True,
                        "permissions": list(SYSTEM_PERMISSIONS)},
            TEACHER_GROUP: {"school": SCHOOL, "name": "Teachers", "key_holder": False,
                            "permissions": ["view_student_list", "add_incidents"]},
            DSL_GROUP2: {"school": SCHOOL2, "name": "Leaders", "key_holder": True,
                         "permissions": list(SYSTEM_PERMISSIONS)},
        }
        self.users: dict[tuple[str, str], dict] = {}
        for a in (DSL, TEACHER, TUTOR):
            for school, group in self.memberships[a.account_id].items():
                self.users[(school, a.account_id)] = {
                    "account_id": a.account_id, "display_name": a.name, "email": a.email,
                    "job_title": "", "group": group, "active": True, "from_mis": False,
                    "alert_email": "", "deactivated_at": None}
        self.factors: dict[str, list[identity_pb2.SecondFactor]] = {
            DSL.account_id: [identity_pb2.SecondFactor(
                id="f-dsl-app", kind="totp", name="Dana's phone", verified=True,
                created_at=_ts(_now() - timedelta(days=30)))]}
        self.enrolments: dict[str, str] = {}      # enrolment id -> account id
        self.challenges: dict[str, tuple[str, str, str]] = {}  # id -> (account, kind, sid)
        self.alert_groups: dict[tuple[str, str], dict] = {}
        self.settings = {SCHOOL: identity_pb2.SchoolSettings(idle_timeout_minutes=15),
                         SCHOOL2: identity_pb2.SchoolSettings(idle_timeout_minutes=15)}
        self.clients: dict[str, dict] = {}
        self.reset_links = {RESET_TOKEN: TEACHER.email}
        self.reset_requests: list[str] = []
        self.passwords_set: list[tuple[str, str]] = []
        self.mis_staff = [identity_pb2.MisStaffMember(
            mis_id="mis-7", display_name="Mia Staff", email="mia@demo.haven.test",
            job_title="Teacher", start_date="2024-09-01")]
        self.log: list[identity_pb2.SecurityLogEntry] = []

    # ---- tokens per school ------------------------------------------------------------------

    def token_for(self, sid: str) -> str:
        s = self.sessions[sid]
        school = self.session_school.get(sid, SCHOOL)
        group_id = self.memberships.get(s.account.account_id, {}).get(school,
                                                                      s.account.group_id)
        group = self.groups.get(group_id)
        key_holder = group["key_holder"] if group else s.account.key_holder
        permissions = tuple(group["permissions"]) if group else s.account.permissions
        full = s.elevated and key_holder
        return self.tokens.token(
            school_id=school, account_id=s.account.account_id, user_group_id=group_id,
            access="full" if full else "restricted",
            permissions=permissions if full else ("add_incidents",),
            name=s.account.name, ttl=self.token_ttl, sid=sid)

    def _rotate(self, sid: str) -> str:
        s = self.sessions[sid]
        new_sid = uuid.uuid4().hex
        self.sessions[new_sid] = s
        self.session_school[new_sid] = self.session_school.get(sid, SCHOOL)
        from gateway.tests.fakes import IdentitySession

        self.sessions[sid] = IdentitySession(s.account, ended=True)
        return new_sid

    # ---- helpers ----------------------------------------------------------------------------

    def _admin(self):
        claims = current_claims()
        if not (claims.full_access and claims.has("administration")):
            raise errors.PermissionDenied("Only administrators with full access may do that.")
        return claims

    def _user(self, school: str, account_id: str) -> dict:
        found = self.users.get((school, account_id))
        if found is None:
            raise errors.NotFound("There is no such user in this school.")
        return found

    def _user_pb(self, school: str, u: dict) -> identity_pb2.User:
        group = self.groups.get(u["group"], {})
        other = len(self.memberships.get(u["account_id"], {})) > 1
        return identity_pb2.User(
            account_id=u["account_id"], display_name=u["display_name"], email=u["email"],
            job_title=u["job_title"], user_group_id=u["group"],
            user_group_name=group.get("name", ""), key_holder=group.get("key_holder", False),
            active=u["active"], has_second_factor=bool(self.factors.get(u["account_id"])),
            from_mis=u["from_mis"], other_schools=other, alert_email=u["alert_email"],
            deactivated_at=_ts(u["deactivated_at"]))

    def _group_pb(self, gid: str) -> identity_pb2.UserGroup:
        g = self.groups[gid]
        members = [u for (s, _a), u in self.users.items() if u["group"] == gid]
        return identity_pb2.UserGroup(
            user_group_id=gid, name=g["name"], key_holder=g["key_holder"],
            permissions=g["permissions"],
            active_users=sum(1 for u in members if u["active"]),
            deactivated_users=sum(1 for u in members if not u["active"]))

    def _alert_pb(self, school: str, agid: str) -> identity_pb2.AlertGroup:
        ag = self.alert_groups[(school, agid)]
        return identity_pb2.AlertGroup(alert_group_id=agid, name=ag["name"], members=[
            identity_pb2.AlertGroupMember(account_id=a, display_name=self._user(school, a)[
                "display_name"], active=self._user(school, a)["active"])
            for a in ag["members"]])

    def _record(self, event: str, account_id: str, factor: str = "") -> None:
        self.log.append(identity_pb2.SecurityLogEntry(
            id=str(uuid.uuid4()), account_id=account_id, event=event, factor=factor,
            client_ip="127.0.0.1", user_agent="test", at=_ts(_now())))

    def _login_response(self, sid: str) -> identity_pb2.LoginResponse:
        s = self.sessions[sid]
        school = self.session_school.get(sid, SCHOOL)
        return identity_pb2.LoginResponse(
            session_id=sid, access_token=self.token_for(sid), expires_in=self.token_ttl,
            can_elevate=self.groups.get(self.memberships.get(s.account.account_id, {}).get(
                school, ""), {}).get("key_holder", False),
            display_name=s.account.name, school_id=school,
            school_name=self.schools[school][0],
            other_schools=len(self.memberships.get(s.account.account_id, {})) - 1,
            idle_timeout_minutes=self.settings[school].idle_timeout_minutes)

    # ---- passwords --------------------------------------------------------------------------

    def RequestPasswordReset(self, request, context):
        self._enter("RequestPasswordReset", request, context)
        self.reset_requests.append(request.email.lower())
        return identity_pb2.RequestPasswordResetResponse(message=RESET_MESSAGE)

    def CheckPasswordResetLink(self, request, context):
        self._enter("CheckPasswordResetLink", request, context)
        email = self.reset_links.get(request.token)
        if email is None:
            raise errors.InvalidArgument("This link has expired or has already been used. "
                                         "Ask for a new one.")
        account = self.accounts[email]
        return identity_pb2.CheckPasswordResetLinkResponse(
            email=email, display_name=account.name, school_name="Haven Demo Academy",
            welcome=False, expires_at=_ts(_now() + timedelta(hours=3)))

    @staticmethod
    def _problems(password: str) -> list[str]:
        problems = []
        if len(password) < 10:
            problems.append("Use at least 10 characters.")
        if password.lower() in ("password123", "haven-haven") or len(set(password)) < 5:
            problems.append("This is a very common password.")
        return problems

    def CheckPasswordStrength(self, request, context):
        self._enter("CheckPasswordStrength", request, context)
        problems = self._problems(request.password)
        return identity_pb2.CheckPasswordStrengthResponse(ok=not problems, problems=problems)

    def ResetPassword(self, request, context):
        self._enter("ResetPassword", request, context)
        email = self.reset_links.get(request.token)
        if email is None:
            raise errors.InvalidArgument("This link has expired or has already been used. "
                                         "Ask for a new one.")
        problems = self._problems(request.password)
        if problems:
            raise errors.InvalidArgument(" ".join(problems))
        del self.reset_links[request.token]
        self.passwords_set.append((email, request.password))
        return identity_pb2.ResetPasswordResponse(email=email)

    # ---- my second factors ------------------------------------------------------------------

    def ListMySecondFactors(self, request, context):
        self._enter("ListMySecondFactors", request, context)
        claims = current_claims()
        return identity_pb2.ListSecondFactorsResponse(
            factors=self.factors.get(claims.account_id, []))

    def _may_add(self, claims) -> None:
        if self.factors.get(claims.account_id) and claims.acr != "mfa":
            raise errors.PermissionDenied("Elevate your access before adding another key.")

    def BeginTotpRegistration(self, request, context):
        self._enter("BeginTotpRegistration", request, context)
        claims = current_claims()
        self._may_add(claims)
        enrolment = str(uuid.uuid4())
        self.enrolments[enrolment] = claims.account_id
        uri = "otpauth://totp/Haven:me?secret=JBSWY3DPEHPK3PXP&issuer=Haven"
        svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" '
               'onload="alert(1)" class="segno"><title>QR</title><script>alert(2)</script>'
               '<path transform="scale(4)" stroke="#000" d="M2 2.5h7"/></svg>')
        return identity_pb2.BeginTotpRegistrationResponse(
            enrolment_id=enrolment, otpauth_uri=uri, qr_svg=svg, secret="JBSWY3DPEHPK3PXP",
            expires_at=_ts(_now() + timedelta(minutes=10)))

    def ConfirmTotpRegistration(self, request, context):
        self._enter("ConfirmTotpRegistration", request, context)
        claims = current_claims()
        if self.enrolments.get(request.enrolment_id) != claims.account_id:
            raise errors.InvalidArgument("This set-up has expired. Start again.")
        if request.code != ENROLMENT_CODE:
            raise errors.InvalidArgument("That code is not right. Type the code the app "
                                         "shows now.")
        del self.enrolments[request.enrolment_id]
        factor = identity_pb2.SecondFactor(id=str(uuid.uuid4()), kind="totp",
                                           name=request.name or "Authenticator app",
                                           verified=False, created_at=_ts(_now()))
        self.factors.setdefault(claims.account_id, []).append(factor)
        return factor

    def _ceremony(self, account_id: str, kind: str, sid: str, options: dict):
        challenge = str(uuid.uuid4())
        self.challenges[challenge] = (account_id, kind, sid)
        return identity_pb2.WebAuthnCeremony(
            challenge_id=challenge, options_json=json.dumps({"publicKey": options}),
            expires_at=_ts(_now() + timedelta(minutes=5)))

    def BeginSecurityKeyRegistration(self, request, context):
        self._enter("BeginSecurityKeyRegistration", request, context)
        claims = current_claims()
        self._may_add(claims)
        return self._ceremony(claims.account_id, "register:" + (request.name or "Security key"),
                              claims.session_id, {
                                  "rp": {"id": "localhost", "name": "Haven"},
                                  "user": {"id": "dXNlcg", "name": "me", "displayName": "Me"},
                                  "challenge": "Y2hhbGxlbmdl",
                                  "pubKeyCredParams": [{"type": "public-key", "alg": -7}]})

    def FinishSecurityKeyRegistration(self, request, context):
        self._enter("FinishSecurityKeyRegistration", request, context)
        claims = current_claims()
        found = self.challenges.pop(request.challenge_id, None)
        if found is None or found[0] != claims.account_id or not found[1].startswith(
                "register:"):
            raise errors.InvalidArgument("The security key's answer was not accepted.")
        credential = json.loads(request.credential_json or "{}")
        if credential.get("type") != "public-key":
            raise errors.InvalidArgument("The security key's answer was not accepted.")
        factor = identity_pb2.SecondFactor(id=str(uuid.uuid4()), kind="security_key",
                                           name=found[1].split(":", 1)[1], verified=True,
                                           created_at=_ts(_now()))
        self.factors.setdefault(claims.account_id, []).append(factor)
        return factor

    def RemoveMySecondFactor(self, request, context):
        self._enter("RemoveMySecondFactor", request, context)
        claims = current_claims()
        if claims.acr != "mfa":
            raise errors.PermissionDenied("Elevate your access before removing a key.")
        mine = self.factors.get(claims.account_id, [])
        kept = [f for f in mine if f.id != request.factor_id]
        if len(kept) == len(mine):
            raise errors.NotFound("You have no such key.")
        self.factors[claims.account_id] = kept
        return identity_pb2.RemoveMySecondFactorResponse()

    def BeginSecurityKeyElevation(self, request, context):
        self._enter("BeginSecurityKeyElevation", request, context)
        s = self._live(request.session_id)
        if not any(f.kind == "security_key" for f in self.factors.get(s.account.account_id,
                                                                       [])):
            raise errors.FailedPrecondition("You have no security key.")
        return self._ceremony(s.account.account_id, "elevate", request.session_id,
                              {"challenge": "ZWxldmF0ZQ", "rpId": "localhost",
                               "allowCredentials": [], "userVerification": "preferred"})

    def FinishSecurityKeyElevation(self, request, context):
        self._enter("FinishSecurityKeyElevation", request, context)
        s = self._live(request.session_id)
        found = self.challenges.pop(request.challenge_id, None)
        if found is None or found[1] != "elevate" or found[2] != request.session_id:
            raise errors.InvalidArgument("The security key's answer was not accepted.")
        if json.loads(request.credential_json or "{}").get("type") != "public-key":
            raise errors.InvalidArgument("The security key's answer was not accepted.")
        s.elevated = True
        new_sid = self._rotate(request.session_id)
        return identity_pb2.TokenResponse(access_token=self.token_for(new_sid),
                                          expires_in=self.token_ttl, session_id=new_sid,
                                          access="full", acr="mfa")

    # ---- schools ----------------------------------------------------------------------------

    def ListMySchools(self, request, context):
        self._enter("ListMySchools", request, context)
        claims = current_claims()
        return identity_pb2.ListMySchoolsResponse(schools=[
            identity_pb2.MySchool(school_id=school, name=self.schools[school][0],
                                  slug=self.schools[school][1],
                                  user_group_name=self.groups[group]["name"],
                                  current=school == claims.school_id,
                                  idle_timeout_minutes=self.settings[school].idle_timeout_minutes)
            for school, group in self.memberships.get(claims.account_id, {}).items()])

    def SwitchSchool(self, request, context):
        self._enter("SwitchSchool", request, context)
        s = self._live(request.session_id)
        if request.school_id not in self.memberships.get(s.account.account_id, {}):
            raise errors.PermissionDenied("You are not a user of that school.")
        from gateway.tests.fakes import IdentitySession

        self.sessions[request.session_id].ended = True
        sid = str(uuid.uuid4())
        self.sessions[sid] = IdentitySession(s.account)
        self.session_school[sid] = request.school_id
        return self._login_response(sid)

    # ---- users ------------------------------------------------------------------------------

    def ListUsers(self, request, context):
        self._enter("ListUsers", request, context)
        claims = self._admin()
        q = request.query.lower()
        found = [self._user_pb(claims.school_id, u) for (s, _a), u in self.users.items()
                 if s == claims.school_id and u["active"] != request.deactivated
                 and (not q or q in u["display_name"].lower() or q in u["email"])
                 and (not request.user_group_id or u["group"] == request.user_group_id)]
        return identity_pb2.ListUsersResponse(users=sorted(found,
                                                           key=lambda u: u.display_name))

    def GetUser(self, request, context):
        self._enter("GetUser", request, context)
        claims = self._admin()
        u = self._user(claims.school_id, request.account_id)
        return identity_pb2.UserDetail(user=self._user_pb(claims.school_id, u),
                                       factors=self.factors.get(u["account_id"], []))

    def ListMisStaff(self, request, context):
        self._enter("ListMisStaff", request, context)
        self._admin()
        return identity_pb2.ListMisStaffResponse(staff=self.mis_staff)

    def _check_email(self, school: str, email: str) -> str:
        email = email.strip().lower()
        if "@" not in email:
            raise errors.InvalidArgument("Enter a valid email address.")
        domains = list(self.settings[school].email_domains)
        if domains and email.rsplit("@", 1)[1] not in domains:
            raise errors.InvalidArgument("That email address is not in the school's list of "
                                         "allowed domains.")
        return email

    def _check_group(self, school: str, gid: str) -> str:
        if self.groups.get(gid, {}).get("school") != school:
            raise errors.InvalidArgument("Choose a user group.")
        return gid

    def CreateUser(self, request, context):
        self._enter("CreateUser", request, context)
        claims = self._admin()
        email = self._check_email(claims.school_id, request.email)
        group = self._check_group(claims.school_id, request.user_group_id)
        if request.mis_id:
            staff = next((m for m in self.mis_staff if m.mis_id == request.mis_id), None)
            if staff is None:
                raise errors.InvalidArgument("That member of staff is not in the MIS list.")
            name, from_mis = staff.display_name, True
        else:
            name, from_mis = request.display_name.strip(), False
            if not name:
                raise errors.InvalidArgument("Enter the person's name.")
        if any(u["email"] == email for (s, _a), u in self.users.items()
               if s == claims.school_id):
            raise errors.Conflict("A user of this school already has that email address.")
        account_id = str(uuid.uuid4())
        u = {"account_id": account_id, "display_name": name, "email": email,
             "job_title": request.job_title, "group": group, "active": True,
             "from_mis": from_mis, "alert_email": "", "deactivated_at": None}
        self.users[(claims.school_id, account_id)] = u
        self.memberships[account_id] = {claims.school_id: group}
        return self._user_pb(claims.school_id, u)

    def DeactivateUser(self, request, context):
        self._enter("DeactivateUser", request, context)
        claims = self._admin()
        if request.account_id == claims.account_id:
            raise errors.FailedPrecondition("You cannot deactivate yourself.")
        u = self._user(claims.school_id, request.account_id)
        u["active"], u["deactivated_at"] = False, _now()
        return self._user_pb(claims.school_id, u)

    def ReactivateUser(self, request, context):
        self._enter("ReactivateUser", request, context)
        claims = self._admin()
        u = self._user(claims.school_id, request.account_id)
        u["email"] = self._check_email(claims.school_id, request.email)
        u["group"] = self._check_group(claims.school_id, request.user_group_id)
        u["active"], u["deactivated_at"] = True, None
        return self._user_pb(claims.school_id, u)

    def ChangeUserEmail(self, request, context):
        self._enter("ChangeUserEmail", request, context)
        claims = self._admin()
        u = self._user(claims.school_id, request.account_id)
        u["email"] = self._check_email(claims.school_id, request.email)
        return self._user_pb(claims.school_id, u)

    def ChangeUserGroup(self, request, context):
        self._enter("ChangeUserGroup", request, context)
        claims = self._admin()
        u = self._user(claims.school_id, request.account_id)
        u["group"] = self._check_group(claims.school_id, request.user_group_id)
        return self._user_pb(claims.school_id, u)

    def SetUserAlertEmail(self, request, context):
        self._enter("SetUserAlertEmail", request, context)
        claims = self._admin()
        u = self._user(claims.school_id, request.account_id)
        u["alert_email"] = request.alert_email.strip().lower()
        return self._user_pb(claims.school_id, u)

    def SendPasswordEmail(self, request, context):
        self._enter("SendPasswordEmail", request, context)
        claims = self._admin()
        self._user(claims.school_id, request.account_id)
        return identity_pb2.SendPasswordEmailResponse(expires_at=_ts(_now() + timedelta(
            hours=3)))

    def RemoveUserSecondFactors(self, request, context):
        self._enter("RemoveUserSecondFactors", request, context)
        claims = self._admin()
        self._user(claims.school_id, request.account_id)
        if not request.confirm:
            raise errors.InvalidArgument("Tick the box to confirm you have read the notice.")
        removed = len(self.factors.pop(request.account_id, []))
        return identity_pb2.RemoveUserSecondFactorsResponse(removed=removed)

    def ListSecurityLog(self, request, context):
        self._enter("ListSecurityLog", request, context)
        self._admin()
        entries = [e for e in reversed(self.log)
                   if not request.account_id or e.account_id == request.account_id]
        return identity_pb2.ListSecurityLogResponse(entries=entries[: request.limit or 50])

    # ---- user groups ------------------------------------------------------------------------

    def ListUserGroups(self, request, context):
        self._enter("ListUserGroups", request, context)
        claims = self._admin()
        return identity_pb2.ListUserGroupsResponse(
            user_groups=[self._group_pb(gid) for gid, g in self.groups.items()
                         if g["school"] == claims.school_id],
            system_permissions=SYSTEM_PERMISSIONS)

    def _save_group(self, claims, gid: str, request) -> identity_pb2.UserGroup:
        name = request.name.strip()
        if not name:
            raise errors.InvalidArgument("Give the group a name.")
        unknown = set(request.permissions) - set(SYSTEM_PERMISSIONS)
        if unknown:
            raise errors.InvalidArgument(f"Unknown permission: {sorted(unknown)[0]}.")
        if any(g["name"].lower() == name.lower() and g["school"] == claims.school_id
               and other != gid for other, g in self.groups.items()):
            raise errors.Conflict("There is already a group with that name.")
        self.groups[gid] = {"school": claims.school_id, "name": name,
                            "key_holder": request.key_holder,
                            "permissions": list(request.permissions)}
        return self._group_pb(gid)

    def CreateUserGroup(self, request, context):
        self._enter("CreateUserGroup", request, context)
        return self._save_group(self._admin(), str(uuid.uuid4()), request)

    def UpdateUserGroup(self, request, context):
        self._enter("UpdateUserGroup", request, context)
        claims = self._admin()
        if self.groups.get(request.user_group_id, {}).get("school") != claims.school_id:
            raise errors.NotFound("There is no such user group.")
        return self._save_group(claims, request.user_group_id, request)

    def DeleteUserGroup(self, request, context):
        self._enter("DeleteUserGroup", request, context)
        claims = self._admin()
        if self.groups.get(request.user_group_id, {}).get("school") != claims.school_id:
            raise errors.NotFound("There is no such user group.")
        pb = self._group_pb(request.user_group_id)
        if pb.active_users or pb.deactivated_users:
            raise errors.FailedPrecondition(
                f"This group still has {pb.active_users} active and {pb.deactivated_users} "
                "deactivated users. Move them to another group first.")
        del self.groups[request.user_group_id]
        return identity_pb2.DeleteUserGroupResponse()

    # ---- alert groups -----------------------------------------------------------------------

    def ListAlertGroups(self, request, context):
        self._enter("ListAlertGroups", request, context)
        claims = current_claims()
        return identity_pb2.ListAlertGroupsResponse(alert_groups=[
            self._alert_pb(claims.school_id, agid) for (s, agid) in self.alert_groups
            if s == claims.school_id])

    def _save_alert_group(self, claims, agid: str, request):
        name = request.name.strip()
        if not name:
            raise errors.InvalidArgument("Give the alert group a name.")
        members = []
        for a in request.member_account_ids:
            self._user(claims.school_id, a)
            members.append(a)
        for gid in request.add_user_group_ids:
            self._check_group(claims.school_id, gid)
            members += [u["account_id"] for (s, _a), u in self.users.items()
                        if s == claims.school_id and u["group"] == gid and u["active"]]
        self.alert_groups[(claims.school_id, agid)] = {"name": name,
                                                       "members": list(dict.fromkeys(members))}
        return self._alert_pb(claims.school_id, agid)

    def CreateAlertGroup(self, request, context):
        self._enter("CreateAlertGroup", request, context)
        return self._save_alert_group(self._admin(), str(uuid.uuid4()), request)

    def UpdateAlertGroup(self, request, context):
        self._enter("UpdateAlertGroup", request, context)
        claims = self._admin()
        if (claims.school_id, request.alert_group_id) not in self.alert_groups:
            raise errors.NotFound("There is no such alert group.")
        return self._save_alert_group(claims, request.alert_group_id, request)

    def DeleteAlertGroup(self, request, context):
        self._enter("DeleteAlertGroup", request, context)
        claims = self._admin()
        if self.alert_groups.pop((claims.school_id, request.alert_group_id), None) is None:
            raise errors.NotFound("There is no such alert group.")
        return identity_pb2.DeleteAlertGroupResponse()

    # ---- settings, integrations -------------------------------------------------------------

    def GetSchoolSettings(self, request, context):
        self._enter("GetSchoolSettings", request, context)
        return self.settings[current_claims().school_id]

    def UpdateSchoolSettings(self, request, context):
        self._enter("UpdateSchoolSettings", request, context)
        claims = self._admin()
        if not 1 <= request.idle_timeout_minutes <= 240:
            raise errors.InvalidArgument("The idle timeout must be 1 to 240 minutes.")
        self.settings[claims.school_id] = request
        return request

    def CreateIntegrationClient(self, request, context):
        self._enter("CreateIntegrationClient", request, context)
        claims = self._admin()
        if request.scope not in ("incidents:add", "mis.import"):
            raise errors.InvalidArgument("Choose what the integration may do.")
        if not request.name.strip():
            raise errors.InvalidArgument("Give the integration a name.")
        client_id = "hvn_" + uuid.uuid4().hex[:12]
        client = identity_pb2.IntegrationClient(client_id=client_id, name=request.name,
                                                scope=request.scope, created_at=_ts(_now()))
        self.clients[client_id] = {"school": claims.school_id, "pb": client}
        return identity_pb2.CreateIntegrationClientResponse(
            client=client, client_secret=secrets.token_urlsafe(24),
            token_endpoint="http://127.0.0.1:8101/oauth/token")

    def ListIntegrationClients(self, request, context):
        self._enter("ListIntegrationClients", request, context)
        claims = self._admin()
        return identity_pb2.ListIntegrationClientsResponse(clients=[
            c["pb"] for c in self.clients.values() if c["school"] == claims.school_id])

    def RevokeIntegrationClient(self, request, context):
        self._enter("RevokeIntegrationClient", request, context)
        claims = self._admin()
        c = self.clients.get(request.client_id)
        if c is None or c["school"] != claims.school_id:
            raise errors.NotFound("There is no such integration.")
        c["pb"].revoked_at.CopyFrom(_ts(_now()))
        return c["pb"]


def full_fake_identity(tokens):
    """FakeIdentity with the RPCs above (imported lazily by fakes.FakePlatform)."""
    from gateway.tests.fakes import FakeIdentity

    class FakeIdentityFull(IdentityAdminFake, FakeIdentity):
        PUBLIC = FakeIdentity.PUBLIC + PUBLIC_METHODS

        def __init__(self, tokens) -> None:
            FakeIdentity.__init__(self, tokens)
            self.init_admin_fake()

        def Login(self, request, context):
            reply = FakeIdentity.Login(self, request, context)
            return self._login_response(reply.session_id)

        def Elevate(self, request, context):
            school = self.session_school.get(request.session_id, SCHOOL)
            reply = FakeIdentity.Elevate(self, request, context)
            self.session_school[reply.session_id] = school
            reply.access_token = self.token_for(reply.session_id)
            return reply

    return FakeIdentityFull(tokens)


def add_category_permissions_to(records_cls) -> None:
    """Give the fake records ListCategoryPermissions / SetCategoryPermissions (the group page's
    category grid) unless it has its own."""
    from haven.records.v1 import records_pb2

    if "ListCategoryPermissions" in records_cls.__dict__:
        return

    def _lines(self):
        return self.__dict__.setdefault("category_permissions", {})

    def list_permissions(self, request, context):
        self._enter("ListCategoryPermissions", request, context)
        claims = current_claims()
        if not (claims.full_access and claims.has("administration")):
            raise errors.PermissionDenied("Only administrators may see permissions.")
        return records_pb2.ListCategoryPermissionsResponse(permissions=[
            p for (gid, _cid), p in sorted(_lines(self).items())
            if gid == request.user_group_id or _cid == request.category_id])

    def set_permissions(self, request, context):
        self._enter("SetCategoryPermissions", request, context)
        claims = current_claims()
        if not (claims.full_access and claims.has("administration")):
            raise errors.PermissionDenied("Only administrators may change permissions.")
        known = {c.id for c in self.categories}
        for p in request.permissions:
            if p.category_id not in known:
                raise errors.NotFound("There is no such category.")
            _lines(self)[(p.user_group_id, p.category_id)] = p
        groups = {p.user_group_id for p in request.permissions}
        return records_pb2.ListCategoryPermissionsResponse(permissions=[
            p for (gid, _cid), p in sorted(_lines(self).items()) if gid in groups])

    records_cls.ListCategoryPermissions = list_permissions
    records_cls.SetCategoryPermissions = set_permissions
