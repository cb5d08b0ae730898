"""The OAuth2 / OpenID Connect provider over HTTP (authlib + Flask), served by the identity
api process on ``IDENTITY_HTTP_PORT``. Transport only: the rules live in login.py,
integrations.py and tokens.py.

- ``/.well-known/openid-configuration``, ``/.well-known/jwks.json``
- ``/oauth/authorize``: authorization code with PKCE (S256, required). The page
  (templates/login.html, served through the gateway in Haven's look; ``?school=<slug>``
  names the school and logs into it) asks for the email and password (CSRF-protected,
  throttled like every login by the client address the gateway forwards); a successful
  login opens a session (acr=pwd) and redirects with a code. Elevation then goes through the gRPC
  ``Elevate`` / security-key RPCs, as for sessions opened by the gRPC ``Login``.
- ``/oauth/token``: ``authorization_code`` (access token, ID token, refresh token = the
  session's secret), ``refresh_token`` (a new access token while the session lives) and
  ``client_credentials`` for integrations (one school, one scope, access "integration").
- ``/oauth/userinfo``: the claims of a person's access token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.util import create_half_hash
from flask import Flask, Response, jsonify, render_template, request
from flask import session as cookie
from sqlalchemy import select

from services.identity import integrations, sessions
from services.identity import security_log as slog
from services.identity.config import IdentityConfig
from services.identity.login import Authenticator, LoginResult
from services.identity.models import Account, AuthorizationCode, School
from services.identity.secretbox import SecretBox
from services.identity.tokens import ACR_PASSWORD, epoch
from shared.auth import TokenVerifier
from shared.db import Database
from shared.errors import DomainError, Unauthenticated

TEMPLATES = Path(__file__).resolve().parent / "templates"
# The login page is served through the gateway (the only way in), from its origin: Haven's
# stylesheet and script are the gateway's static files there.
STATIC = "/static"
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'", "style-src 'self'", "script-src 'self'", "img-src 'self'",
    "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'",
])

STATUS = {"unauthenticated": 401, "resource_exhausted": 429, "permission_denied": 403,
          "invalid_argument": 422}
BAD_LOGIN = "Email or password is incorrect."


# ---- authlib's view of our data -------------------------------------------------------------


class Client(ClientMixin):
    def __init__(self, client: integrations.OAuthClient) -> None:
        self.c = client

    def get_client_id(self):
        return self.c.client_id

    def get_default_redirect_uri(self):
        return self.c.redirect_uris[0] if self.c.redirect_uris else None

    def get_allowed_scope(self, scope):
        return " ".join(s for s in scope_to_list(scope) or [] if s in self.c.scopes)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.c.redirect_uris

    def check_client_secret(self, client_secret):
        return self.c.secret_matches(client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return endpoint == "token" and method in self.c.auth_methods

    def check_response_type(self, response_type):
        return self.c.kind == "web" and response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in self.c.grant_types


@dataclass
class User:
    """The person behind a grant: their session and a token freshly issued for it."""

    account_id: str
    session_id: str
    session_secret: str
    school_id: str
    name: str
    email: str
    acr: str = ACR_PASSWORD
    access_token: str = ""
    expires_in: int = 0
    auth_time: int = 0
    extra: dict = field(default_factory=dict)

    def get_user_id(self):
        return self.account_id


class Code:
    """authlib's AuthorizationCodeMixin over our row (plus its unsealed session secret)."""

    def __init__(self, row: AuthorizationCode, secret: str) -> None:
        self.row = row
        self.secret = secret
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self):
        return self.row.redirect_uri

    def get_scope(self):
        return self.row.scope

    def get_nonce(self):
        return self.row.nonce or None

    def get_auth_time(self):
        return epoch(self.row.auth_time)

    def get_acr(self):
        return ACR_PASSWORD

    def get_amr(self):
        return ["pwd"]


@dataclass
class RefreshCredential:
    secret: str
    client_id: str
    scope: str

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope


class S256Required(CodeChallenge):
    """PKCE on every authorization request, S256 only (plain is refused)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send a code_challenge (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Use code_challenge_method=S256.")
        return super().validate_code_challenge(grant, redirect_uri)


# ---- the provider -----------------------------------------------------------------------------


class Provider:
    def __init__(self, db: Database, auth: Authenticator, config: IdentityConfig) -> None:
        self.db = db
        self.auth = auth
        self.config = config
        self.box = SecretBox(config.key_secret)
        self.web = integrations.web_client(
            client_id=config.gateway_client_id, redirect_uris=config.gateway_redirect_uris,
            secret=config.gateway_client_secret,
        )

    def now(self) -> dt.datetime:
        return self.auth.clock()

    def query_client(self, client_id):
        with self.db.read() as s:
            found = integrations.find_client(s, client_id or "", web=self.web)
        return Client(found) if found else None

    def user_for(self, secret: str, *, auth_time: int = 0) -> User | None:
        """A fresh token for a live session (None when the session has ended)."""
        try:
            token, account, row = self.auth.refresh_with_subject(session_secret=secret)
        except DomainError:
            return None
        return User(account_id=account.id, session_id=row.id, session_secret=secret,
                    school_id=row.school_id, name=account.display_name, email=account.email,
                    acr=row.acr, access_token=token.token, expires_in=token.expires_in,
                    auth_time=auth_time or epoch(row.created_at))

    def generate_token(self, grant_type, client, user=None, scope=None, expires_in=None,
                       include_refresh_token=True):
        if grant_type == "client_credentials":
            c = client.c
            scope = scope or c.scopes[0]
            now = self.now()
            with self.db.transaction() as s:
                issued = self.auth.issuer.issue_for_client(
                    s, client_id=c.client_id, school_id=c.school_id, scope=scope,
                    name=c.name, now=now)
                integrations.touch_client(s, c.client_id, now)
                slog.record(s, event=slog.TOKEN_ISSUED, school_id=c.school_id,
                            client_ip=_client_ip(), user_agent=_user_agent(), at=now,
                            detail=f"{c.client_id} {scope}"[:300])
            return {"token_type": "Bearer", "access_token": issued.token,
                    "expires_in": issued.expires_in, "scope": scope}
        token = {"token_type": "Bearer", "access_token": user.access_token,
                 "expires_in": user.expires_in, "scope": scope or ""}
        if include_refresh_token:
            token["refresh_token"] = user.session_secret
        return token


def _client_ip() -> str:
    return (request.remote_addr or "")[:64]


def _user_agent() -> str:
    return (request.headers.get("User-Agent") or "")[:300]


def build_http_app(db: Database, auth: Authenticator, config: IdentityConfig) -> Flask:
    provider = Provider(db, auth, config)
    app = Flask("haven-identity", template_folder=str(TEMPLATES), static_folder=None)
    app.secret_key = hashlib.sha256(
        b"haven-identity-web-cookie:" + config.key_secret.encode("utf-8")).digest()
    secure = urlsplit(config.issuer_url).scheme == "https"
    app.config.update(
        SESSION_COOKIE_NAME="haven_identity", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure,
        OAUTH2_SCOPES_SUPPORTED=list(integrations.WEB_SCOPES) + list(integrations.SCOPES),
    )
    server = AuthorizationServer(app, query_client=provider.query_client,
                                 save_token=lambda token, req: None)
    server.register_token_generator("default", provider.generate_token)
    verifier = TokenVerifier(auth.jwks_json, min_refetch_interval=0.0)

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

        def save_authorization_code(self, code, req):
            user: User = req.user
            data = req.payload.data
            with db.transaction() as s:
                integrations.save_code(
                    s, provider.box, code=code, client_id=req.client.get_client_id(),
                    redirect_uri=req.payload.redirect_uri or "", scope=req.payload.scope or "",
                    nonce=data.get("nonce") or "", code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    session_id=user.session_id, session_secret=user.session_secret,
                    account_id=user.account_id, now=provider.now(),
                )

        def query_authorization_code(self, code, client):
            with db.transaction() as s:
                row = integrations.take_code(s, code=code, client_id=client.get_client_id(),
                                             now=provider.now())
                return Code(row, integrations.code_secret(provider.box, row)) if row else None

        def delete_authorization_code(self, authorization_code):
            """Spent when it was read (``take_code``)."""

        def authenticate_user(self, authorization_code):
            user = provider.user_for(authorization_code.secret,
                                     auth_time=authorization_code.get_auth_time())
            if user is None:
                raise InvalidGrantError("The login behind this code has ended.")
            return user

    class RefreshGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

        def authenticate_refresh_token(self, refresh_token):
            with db.read() as s:
                row = sessions.find(s, refresh_token)
                if row is None or row.oauth_client_id is None:
                    return None
                return RefreshCredential(refresh_token, row.oauth_client_id, row.oauth_scope)

        def authenticate_user(self, credential):
            user = provider.user_for(credential.secret)
            if user is None:
                raise InvalidGrantError("The session has ended. Log in again.")
            return user

        def revoke_old_credential(self, refresh_token):
            """The refresh token is the session's secret: it lives as long as the session."""

    class ClientCredentials(grants.ClientCredentialsGrant):
        def validate_requested_scope(self):
            requested = set(scope_to_list(self.request.payload.scope) or [])
            if requested - set(self.request.client.c.scopes):
                raise InvalidScopeError()

    class IdToken(OpenIDCode):
        def exists_nonce(self, nonce, req):
            with db.read() as s:
                return s.scalars(select(AuthorizationCode.code_hash).where(
                    AuthorizationCode.client_id == req.payload.client_id,
                    AuthorizationCode.nonce == nonce)).first() is not None

        def generate_user_info(self, user, scope):
            info = UserInfo(sub=user.account_id, name=user.name)
            if "email" in scope_to_list(scope):
                info["email"] = user.email
            return info

        def encode_id_token(self, token, req):
            user: User = req.user
            now = provider.now()
            iat = epoch(now)
            claims = {
                "iss": config.issuer_url, "sub": user.account_id,
                "aud": req.client.get_client_id(), "iat": iat, "exp": iat + config.token_ttl,
                "auth_time": user.auth_time or iat, "acr": user.acr, "amr": ["pwd"],
                "sid": user.session_id, "school": user.school_id,
                "at_hash": create_half_hash(token["access_token"], "ES256").decode("ascii"),
            }
            if req.authorization_code and req.authorization_code.get_nonce():
                claims["nonce"] = req.authorization_code.get_nonce()
            claims.update(self.generate_user_info(user, token["scope"]))
            with db.transaction() as s:
                return auth.issuer.sign(s, claims, now=now)

    server.register_grant(CodeGrant, [S256Required(required=True), IdToken(require_nonce=False)])
    server.register_grant(RefreshGrant)
    server.register_grant(ClientCredentials)

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.path.startswith("/oauth/"):
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/.well-known/openid-configuration")
    def discovery():
        base = config.issuer_url
        return jsonify({
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "userinfo_endpoint": f"{base}/oauth/userinfo",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token",
                                      "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": list(integrations.WEB_SCOPES) + sorted(integrations.SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "name", "email", "sid", "school", "acr", "amr",
                                 "auth_time", "nonce"],
            "acr_values_supported": ["pwd", "mfa"],
        })

    @app.get("/.well-known/jwks.json")
    @app.get("/oauth/jwks")
    def jwks():
        return Response(auth.jwks_json(), mimetype="application/json")

    def _csrf() -> str:
        token = cookie.get("csrf")
        if not token:
            token = cookie["csrf"] = secrets.token_urlsafe(32)
        return token

    def _school_name(slug: str) -> str:
        """The name of the school whose login page this is (``?school=<slug>``), if any."""
        slug = slug.strip().lower()[:63]
        if not slug:
            return ""
        with db.read() as s:
            return s.scalars(select(School.name).where(School.slug == slug)).first() or ""

    def _page(error: str = "", email: str = "", status: int = 200):
        action = request.full_path if request.query_string else request.path
        html = render_template("login.html", error=error, email=email, csrf=_csrf(),
                               action=action, static=STATIC,
                               school_name=_school_name(request.args.get("school", "")))
        return Response(html, status=status, mimetype="text/html")

    @app.route("/oauth/authorize", methods=["GET", "POST"])
    def authorize():
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return server.handle_error_response(None, error)
        if request.method == "GET":
            return _page()
        sent = request.form.get("csrf_token", "")
        if not sent or not hmac.compare_digest(sent, cookie.get("csrf", "")):
            return _page("Your form expired. Please try again.", status=400)
        email = request.form.get("email", "").strip()[:254]
        try:
            result: LoginResult = auth.login(
                email=email, password=request.form.get("password", ""),
                client_ip=_client_ip(), user_agent=_user_agent(),
                school_slug=request.args.get("school", ""),
            )
        except DomainError as error:
            message = BAD_LOGIN if isinstance(error, Unauthenticated) else error.message
            return _page(message, email=email, status=STATUS.get(error.code, 400))
        cookie.pop("csrf", None)  # one form, one login
        user = User(account_id=result.account_id,
                    session_id=result.session_id, session_secret=result.session_secret,
                    school_id=result.school_id, name=result.display_name, email=email.lower())
        grant.request.user = user
        return server.create_authorization_response(grant_user=user, grant=grant)

    @app.post("/oauth/token")
    def token():
        resp = server.create_token_response()
        if resp.status_code >= 400:
            _log_refusal(db, provider, resp)
        return resp

    @app.get("/oauth/userinfo")
    def userinfo():
        header = request.headers.get("Authorization", "")
        raw = header[7:] if header.lower().startswith("bearer ") else ""
        try:
            claims = verifier.verify(raw)
        except DomainError:
            return jsonify({"error": "invalid_token"}), 401
        if claims.access not in ("full", "restricted"):
            return jsonify({"error": "insufficient_scope"}), 403
        with db.read() as s:
            account = s.get(Account, claims.account_id)
        return jsonify({"sub": claims.account_id, "name": claims.name,
                        "email": account.email if account else "",
                        "school": claims.school_id})

    return app


def _log_refusal(db: Database, provider: Provider, resp: Response) -> None:
    """A refused token request goes to the security log (with the client's school if the
    client is known, so its admins see it)."""
    client_id = request.form.get("client_id", "")
    if not client_id and request.authorization is not None:
        client_id = request.authorization.username or ""
    client_id = client_id[:64]
    with db.read() as s:
        known = integrations.find_client(s, client_id) if client_id else None
    error = (resp.get_json(silent=True) or {}).get("error", str(resp.status_code))
    with db.transaction() as s:
        slog.record(s, event=slog.TOKEN_REFUSED, school_id=known.school_id if known else None,
                    client_ip=_client_ip(), user_agent=_user_agent(), at=provider.now(),
                    detail=f"{client_id or '-'} {request.form.get('grant_type', '')[:40]} "
                           f"{error}"[:300])
