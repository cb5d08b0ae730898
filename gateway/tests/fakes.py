"""In-process fakes of identity, records and reporting: real gRPC servers on port 0 built
with the platform kit (token check, error mapping, health), implementing the protos over
in-memory data (identity's HTTP login, OpenID Connect, is in fakes_oidc.py). They record
every call (request and metadata) so tests can assert on what the gateway sent, and can be
told to fail a method with any status."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2

from haven.identity.v1 import identity_pb2, identity_pb2_grpc
from haven.records.v1 import records_pb2, records_pb2_grpc
from haven.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from shared import errors
from shared.context import current_claims
from shared.grpc.server import build_server
from shared.testing import FULL_PERMISSIONS, TokenFactory

SCHOOL = "00000000-0000-4000-8000-000000000001"
DSL_GROUP = "00000000-0000-4000-8000-000000000011"
TEACHER_GROUP = "00000000-0000-4000-8000-000000000012"
PASSWORD = "Haven-demo-2026!"
TOTP = "123456"


@dataclass
class Call:
    method: str
    request: Any
    metadata: dict[str, str]


class Recorder:
    """Records calls; ``fail("Method", error)`` makes the next calls of Method fail."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: dict[str, Any] = {}
        self.lock = threading.Lock()

    def fail(self, method: str, error: errors.DomainError | tuple[grpc.StatusCode, str]):
        self.failures[method] = error

    def heal(self, method: str | None = None) -> None:
        if method is None:
            self.failures.clear()
        else:
            self.failures.pop(method, None)

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def _enter(self, method: str, request, context: grpc.ServicerContext) -> None:
        meta = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        copy = type(request)()
        copy.CopyFrom(request)
        with self.lock:
            self.calls.append(Call(method, copy, meta))
        failure = self.failures.get(method)
        if failure is None:
            return
        if isinstance(failure, errors.DomainError):
            raise failure
        code, message = failure
        context.abort(code, message)


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


# ---------------------------------------------------------------- identity

@dataclass
class Account:
    account_id: str
    email: str
    name: str
    group_id: str
    group_name: str
    key_holder: bool
    permissions: tuple[str, ...]
    password: str = PASSWORD
    totp: str = TOTP


@dataclass
class IdentitySession:
    account: Account
    elevated: bool = False
    ended: bool = False


DSL = Account("00000000-0000-4000-8000-000000000102", "dsl@demo.haven.test", "Dana Lead",
              DSL_GROUP, "DSL", True, FULL_PERMISSIONS)
TEACHER = Account("00000000-0000-4000-8000-000000000103", "teacher1@demo.haven.test",
                  "Tom Teacher", TEACHER_GROUP, "Teachers", False,
                  ("view_student_list", "add_incidents"))
TUTOR = Account("00000000-0000-4000-8000-000000000104", "teacher2@demo.haven.test",
                "Tess Tutor", TEACHER_GROUP, "Teachers", False,
                ("view_student_list", "add_incidents"))


class FakeIdentity(identity_pb2_grpc.IdentityServiceServicer, Recorder):
    PUBLIC = ["Login", "Elevate", "RefreshSession", "Logout", "GetJwks"]

    def __init__(self, tokens: TokenFactory) -> None:
        Recorder.__init__(self)
        self.tokens = tokens
        self.accounts = {a.email: a for a in (DSL, TEACHER, TUTOR)}
        self.sessions: dict[str, IdentitySession] = {}
        self.token_ttl = 300
        self.throttled = False

    def token_for(self, sid: str) -> str:
        s = self.sessions[sid]
        full = s.elevated and s.account.key_holder
        return self.tokens.token(
            school_id=SCHOOL, account_id=s.account.account_id, user_group_id=s.account.group_id,
            access="full" if full else "restricted",
            permissions=s.account.permissions if full else ("add_incidents",),
            name=s.account.name, ttl=self.token_ttl, sid=sid)

    def open_session(self, account: Account, *, elevated: bool = False) -> tuple[str, str]:
        sid = str(uuid.uuid4())
        self.sessions[sid] = IdentitySession(account, elevated=elevated)
        return sid, self.token_for(sid)

    def _live(self, sid: str) -> IdentitySession:
        s = self.sessions.get(sid)
        if s is None or s.ended:
            raise errors.Unauthenticated("Your session has ended.")
        return s

    def Login(self, request, context):
        self._enter("Login", request, context)
        if self.throttled:
            raise errors.TooManyRequests("Too many failed attempts. Try again in 15 minutes.")
        account = self.accounts.get(request.email.lower())
        if account is None or request.password != account.password:
            raise errors.Unauthenticated("Email or password is incorrect.")
        sid, token = self.open_session(account)
        return identity_pb2.LoginResponse(
            session_id=sid, access_token=token, expires_in=self.token_ttl,
            can_elevate=account.key_holder, display_name=account.name, school_id=SCHOOL,
            school_name="Haven Demo Academy")

    def Elevate(self, request, context):
        self._enter("Elevate", request, context)
        s = self._live(request.session_id)
        if not s.account.key_holder:
            raise errors.PermissionDenied("Your user group does not use elevated access.")
        if request.totp_code != s.account.totp:
            raise errors.InvalidArgument("That code is not right. Try the newest one.")
        s.elevated = True
        # Like identity: elevation rotates the session secret; the old one stops refreshing.
        new_sid = uuid.uuid4().hex
        self.sessions[new_sid] = s
        self.sessions[request.session_id] = IdentitySession(s.account, ended=True)
        return identity_pb2.TokenResponse(access_token=self.token_for(new_sid),
                                          expires_in=self.token_ttl, session_id=new_sid)

    def RefreshSession(self, request, context):
        self._enter("RefreshSession", request, context)
        self._live(request.session_id)
        return identity_pb2.TokenResponse(access_token=self.token_for(request.session_id),
                                          expires_in=self.token_ttl)

    def Logout(self, request, context):
        self._enter("Logout", request, context)
        if request.session_id in self.sessions:
            self.sessions[request.session_id].ended = True
        return identity_pb2.LogoutResponse()

    def GetJwks(self, request, context):
        self._enter("GetJwks", request, context)
        return identity_pb2.GetJwksResponse(jwks_json=self.tokens.jwks_json())

    def ListStaff(self, request, context):
        self._enter("ListStaff", request, context)
        current_claims()
        q = request.query.lower()
        staff = [identity_pb2.Staff(account_id=a.account_id, display_name=a.name, email=a.email,
                                    user_group_id=a.group_id, user_group_name=a.group_name,
                                    key_holder=a.key_holder)
                 for a in self.accounts.values()
                 if not q or q in a.name.lower() or q in a.email]
        return identity_pb2.ListStaffResponse(staff=staff[: request.limit or None])


# ---------------------------------------------------------------- records

def _category(cid, name, colour, parent="", enabled=True, can_add=True):
    return records_pb2.Category(id=cid, name=name, parent_id=parent, colour=colour,
                                enabled=enabled, can_add=can_add, can_view=True)


CAT_BULLYING = "c0000000-0000-4000-8000-000000000001"
CAT_CYBER = "c0000000-0000-4000-8000-000000000002"
CAT_CP = "c0000000-0000-4000-8000-000000000003"
CAT_LOCKED = "c0000000-0000-4000-8000-000000000004"
CAT_OLD = "c0000000-0000-4000-8000-000000000005"
AVA = "50000000-0000-4000-8000-000000000001"
BEN = "50000000-0000-4000-8000-000000000002"
CARA = "50000000-0000-4000-8000-000000000003"


class FakeRecords(records_pb2_grpc.RecordsServiceServicer, Recorder):
    def __init__(self) -> None:
        Recorder.__init__(self)
        self.students = {
            AVA: records_pb2.Student(id=AVA, upn="A123456789012", first_name="Ava",
                                     last_name="Smith", year_group="Year 7", tutor_group="7A",
                                     date_of_birth="2014-05-01"),
            BEN: records_pb2.Student(id=BEN, upn="B123456789012", first_name="Benjamin",
                                     last_name="Jones", preferred_name="Ben",
                                     year_group="Year 8", tutor_group="8B",
                                     date_of_birth="2013-02-11"),
            CARA: records_pb2.Student(id=CARA, first_name="Cara", last_name="Oldham",
                                      tutor_group="11C", archived=True),
        }
        self.categories = [
            _category(CAT_BULLYING, "Bullying", "d97706"),
            _category(CAT_CYBER, "Online bullying", "f59e0b", parent=CAT_BULLYING),
            _category(CAT_CP, "Child protection", "b91c1c"),
            _category(CAT_LOCKED, "Staff only", "334155", can_add=False),
            _category(CAT_OLD, "Retired category", "999999", enabled=False),
        ]
        self.incidents: dict[str, records_pb2.Incident] = {}
        self.alerts: dict[str, dict[str, Any]] = {}  # id -> {alert, recipient, read}
        self.by_request: dict[tuple[str, str], str] = {}

    # helpers for tests
    def add_incident(self, *, student_id: str, text: str, category_ids: Iterable[str],
                     author: Account, occurred_at: datetime | None = None,
                     alert: Iterable[str] = ()) -> records_pb2.Incident:
        cats = [c for c in self.categories if c.id in set(category_ids)]
        now = datetime.now(UTC)
        incident = records_pb2.Incident(
            id=str(uuid.uuid4()), student_id=student_id,
            student_name=self._name(self.students[student_id]), text=text, categories=cats,
            occurred_at=_ts(occurred_at or now), created_at=_ts(now),
            created_by=author.account_id, created_by_name=author.name, status="active",
            alerted_account_ids=list(alert))
        self.incidents[incident.id] = incident
        for recipient in alert:
            alert_id = str(uuid.uuid4())
            self.alerts[alert_id] = {"recipient": recipient, "read": False, "alert":
                                     records_pb2.Alert(
                                         id=alert_id, incident_id=incident.id,
                                         student_id=student_id,
                                         student_name=incident.student_name,
                                         raised_by_name=author.name, categories=cats,
                                         created_at=_ts(now), kind="incident")}
        return incident

    @staticmethod
    def _name(s) -> str:
        return f"{s.preferred_name or s.first_name} {s.last_name}"

    def _student_for(self, s, full: bool):
        if full:
            return s
        return records_pb2.Student(id=s.id, first_name=s.first_name, last_name=s.last_name,
                                   preferred_name=s.preferred_name, tutor_group=s.tutor_group)

    def SearchStudents(self, request, context):
        self._enter("SearchStudents", request, context)
        claims = current_claims()
        q = request.query.lower()
        found = [self._student_for(s, claims.full_access) for s in self.students.values()
                 if (q in self._name(s).lower() or q in s.first_name.lower())
                 and (request.include_archived or not s.archived)]
        return records_pb2.SearchStudentsResponse(students=found[: request.limit or None])

    def GetStudent(self, request, context):
        self._enter("GetStudent", request, context)
        claims = current_claims()
        s = self.students.get(request.student_id)
        if s is None:
            raise errors.NotFound("No such student.")
        return self._student_for(s, claims.full_access)

    def ListCategories(self, request, context):
        self._enter("ListCategories", request, context)
        current_claims()
        return records_pb2.ListCategoriesResponse(categories=self.categories)

    def CreateIncident(self, request, context):
        self._enter("CreateIncident", request, context)
        claims = current_claims()
        if not claims.has("add_incidents"):
            raise errors.PermissionDenied("You may not add incidents.")
        key = (claims.account_id, request.request_id)
        if request.request_id and key in self.by_request:
            return self.incidents[self.by_request[key]]
        if request.student_id not in self.students:
            raise errors.NotFound("No such student.")
        if not request.text.strip():
            raise errors.InvalidArgument("Write what happened.")
        if not request.category_ids:
            raise errors.InvalidArgument("Choose at least one category.")
        addable = {c.id for c in self.categories if c.can_add and c.enabled}
        if any(c not in addable for c in request.category_ids):
            raise errors.InvalidArgument("You cannot add incidents to one of those categories.")
        author = next(a for a in (DSL, TEACHER, TUTOR) if a.account_id == claims.account_id)
        occurred = (request.occurred_at.ToDatetime(tzinfo=UTC)
                    if request.HasField("occurred_at") else None)
        incident = self.add_incident(student_id=request.student_id, text=request.text,
                                     category_ids=request.category_ids, author=author,
                                     occurred_at=occurred, alert=request.alert_account_ids)
        incident.status = request.status or "active"
        if request.request_id:
            self.by_request[key] = incident.id
        return incident

    def GetIncident(self, request, context):
        self._enter("GetIncident", request, context)
        claims = current_claims()
        incident = self.incidents.get(request.incident_id)
        if incident is None:
            raise errors.NotFound("No such incident.")
        if not claims.full_access:
            mine = incident.created_by == claims.account_id or any(
                a["alert"].incident_id == incident.id and a["recipient"] == claims.account_id
                and not a["read"] for a in self.alerts.values())
            if not mine:
                raise errors.PermissionDenied("You cannot see this incident.")
        return incident

    def GetChronology(self, request, context):
        self._enter("GetChronology", request, context)
        claims = current_claims()
        if not claims.full_access:
            raise errors.PermissionDenied("Elevate your access to see a chronology.")
        s = self.students.get(request.student_id)
        if s is None:
            raise errors.NotFound("No such student.")
        items = sorted((i for i in self.incidents.values() if i.student_id == s.id),
                       key=lambda i: i.occurred_at.seconds, reverse=True)
        return records_pb2.GetChronologyResponse(student=s, incidents=items)

    def ListAlerts(self, request, context):
        self._enter("ListAlerts", request, context)
        claims = current_claims()
        alerts = [a["alert"] for a in self.alerts.values()
                  if a["recipient"] == claims.account_id and not a["read"]]
        return records_pb2.ListAlertsResponse(alerts=alerts)

    def MarkAlertRead(self, request, context):
        self._enter("MarkAlertRead", request, context)
        claims = current_claims()
        a = self.alerts.get(request.alert_id)
        if a is None or a["recipient"] != claims.account_id:
            raise errors.NotFound("No such alert.")
        a["read"] = True
        return records_pb2.MarkAlertReadResponse()

    def ListMyHistory(self, request, context):
        self._enter("ListMyHistory", request, context)
        claims = current_claims()
        since = datetime.now(UTC) - timedelta(days=7)
        mine = [i for i in self.incidents.values() if i.created_by == claims.account_id
                and i.created_at.ToDatetime(tzinfo=UTC) >= since]
        return records_pb2.ListMyHistoryResponse(incidents=mine)

    def GetAccessScope(self, request, context):
        self._enter("GetAccessScope", request, context)
        claims = current_claims()
        return records_pb2.AccessScope(full_access=claims.full_access,
                                       viewable_category_ids=[c.id for c in self.categories])


# ---------------------------------------------------------------- reporting

class FakeReporting(reporting_pb2_grpc.ReportingServiceServicer, Recorder):
    def __init__(self) -> None:
        Recorder.__init__(self)
        self.counts = [
            reporting_pb2.CategoryCount(category_id=CAT_BULLYING, name="Bullying", incidents=7),
            reporting_pb2.CategoryCount(category_id=CAT_CYBER, name="Online bullying",
                                        parent_id=CAT_BULLYING, incidents=3),
            reporting_pb2.CategoryCount(category_id=CAT_CP, name="Child protection",
                                        incidents=2),
        ]

    def GetOverview(self, request, context):
        self._enter("GetOverview", request, context)
        if not current_claims().has("run_reports"):
            raise errors.PermissionDenied("You may not run reports.")
        return reporting_pb2.GetOverviewResponse(
            categories=self.counts, total_incidents=sum(c.incidents for c in self.counts
                                                        if not c.parent_id))


# ---------------------------------------------------------------- servers

@dataclass
class Served:
    name: str
    fake: Any
    server: grpc.Server
    port: int
    health: Any
    stopped: bool = field(default=False)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if not self.stopped:
            self.server.stop(0).wait(2)
            self.stopped = True

    def not_serving(self) -> None:
        self.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)


def _serve(name: str, fake, add, descriptor, tokens: TokenFactory, public=()) -> Served:
    server, port, health = build_server(
        service=f"fake-{name}", port=0, host="127.0.0.1",
        register=[lambda s: add(fake, s)],
        service_names=[descriptor.full_name], verifier=tokens.verifier(),
        public_methods=public, max_workers=4)
    return Served(name, fake, server, port, health)


class FakePlatform:
    """identity + records + reporting fakes sharing one token signer."""

    def __init__(self) -> None:
        from gateway.tests.fakes_identity import add_category_permissions_to, full_fake_identity

        add_category_permissions_to(FakeRecords)

        self.tokens = TokenFactory()
        self.identity = full_fake_identity(self.tokens)  # FakeIdentity + the identity admin RPCs
        from gateway.tests.fakes_records import full_fake_records

        self.records = full_fake_records()  # FakeRecords + the profile, options and admin RPCs
        self.reporting = FakeReporting()
        self.served = {
            "identity": _serve("identity", self.identity,
                               identity_pb2_grpc.add_IdentityServiceServicer_to_server,
                               identity_pb2.DESCRIPTOR.services_by_name["IdentityService"],
                               self.tokens, type(self.identity).PUBLIC),
            "records": _serve("records", self.records,
                              records_pb2_grpc.add_RecordsServiceServicer_to_server,
                              records_pb2.DESCRIPTOR.services_by_name["RecordsService"],
                              self.tokens),
            "reporting": _serve("reporting", self.reporting,
                                reporting_pb2_grpc.add_ReportingServiceServicer_to_server,
                                reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"],
                                self.tokens),
        }
        self._serve_mis_import()
        from gateway.tests.fakes_oidc import FakeOidcProvider

        # identity's HTTP side: the web login's authorize and token endpoints
        self.oidc = FakeOidcProvider(self.identity, self.tokens)

    def _serve_mis_import(self) -> None:
        from gateway.tests.fakes_mis import FakeMisImport
        from haven.mis_import.v1 import mis_import_pb2, mis_import_pb2_grpc

        self.mis_import = FakeMisImport()
        self.served["mis_import"] = _serve(
            "mis_import", self.mis_import,
            mis_import_pb2_grpc.add_MisImportServiceServicer_to_server,
            mis_import_pb2.DESCRIPTOR.services_by_name["MisImportService"], self.tokens)

    def gateway_settings(self, **extra) -> dict[str, Any]:
        return {
            "identity_addr": self.served["identity"].addr,
            "records_addr": self.served["records"].addr,
            "reporting_addr": self.served["reporting"].addr,
            "mis_import_addr": self.served["mis_import"].addr,
            "identity_http_url": self.oidc.url,
            "secret_key": "test-secret-key",
            "rpc_timeout": 2.0,
            **extra,
        }

    def env(self) -> dict[str, str]:
        """The same addresses as environment variables (for a gateway in a subprocess)."""
        return {**{f"HAVEN_{name.upper()}_ADDR": s.addr for name, s in self.served.items()},
                "GATEWAY_IDENTITY_HTTP_URL": self.oidc.url}

    def stop(self) -> None:
        for s in self.served.values():
            s.stop()
        self.oidc.stop()
