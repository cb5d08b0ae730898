"""IdentityService servicer: proto <-> domain. Business rules live in login.py / directory.py.

Login, Elevate, RefreshSession, Logout and GetJwks are public (no token): the gateway calls
them with the session secret it keeps in its cookie. ListStaff needs a verified token.
"""

from __future__ import annotations

from haven.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity import directory
from services.identity.login import Authenticator
from services.identity.tokens import IssuedToken
from shared.context import current_claims, current_request
from shared.db import Database

PUBLIC_METHODS = ["Login", "Elevate", "RefreshSession", "Logout", "GetJwks"]


def _client(request_ip: str = "", request_ua: str = "") -> tuple[str, str]:
    """Client address and agent: the request's fields, else the caller's metadata."""
    meta = current_request()
    return (request_ip or meta.client_ip)[:64], (request_ua or meta.user_agent)[:300]


def _token_response(token: IssuedToken) -> identity_pb2.TokenResponse:
    return identity_pb2.TokenResponse(
        access_token=token.token, expires_in=token.expires_in, access=token.access,
        acr=token.acr,
    )


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, db: Database, auth: Authenticator) -> None:
        self.db = db
        self.auth = auth

    def Login(self, request, context):
        ip, ua = _client(request.client_ip, request.user_agent)
        result = self.auth.login(
            email=request.email, password=request.password, client_ip=ip, user_agent=ua
        )
        return identity_pb2.LoginResponse(
            session_id=result.session_secret,
            access_token=result.token.token,
            expires_in=result.token.expires_in,
            can_elevate=result.can_elevate,
            display_name=result.display_name,
            school_id=result.school_id,
            school_name=result.school_name,
        )

    def Elevate(self, request, context):
        ip, ua = _client(request.client_ip, request.user_agent)
        token = self.auth.elevate(
            session_secret=request.session_id, code=request.totp_code, client_ip=ip,
            user_agent=ua,
        )
        return _token_response(token)

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
        claims = current_claims()
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
