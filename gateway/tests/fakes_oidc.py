"""A fake of identity's OpenID Connect provider over HTTP (a werkzeug server on port 0), beside
the fake gRPC identity: ``/oauth/authorize`` shows identity's own login page (its template,
services/identity/templates/login.html, read as a file) and logs people in against the fake
identity's accounts, opening a session there; ``/oauth/token`` swaps a code (with the PKCE
verifier) for the access token, an ID token signed with the platform's test key and the
session's secret as refresh token. Like identity it insists on PKCE S256, one use of a code,
the registered redirect URI, and its own CSRF token (in its ``haven_identity`` cookie).

It records every request it gets (tests check which cookies reached it), and can be told to
put odd claims in its ID tokens or to refuse the token request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, render_template, request, session
from joserfc import jwt
from werkzeug.serving import make_server

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "identity" / "templates"
CLIENT_ID = "haven-gateway"
ISSUER = "http://localhost"  # identity's IDENTITY_ISSUER_URL: the gateway's public address
REDIRECT_URIS = ("http://localhost/auth/callback", "https://localhost/auth/callback")
BAD_LOGIN = "Email or password is incorrect."
THROTTLED = "Too many failed attempts. Try again in 15 minutes."


@dataclass
class Seen:
    method: str
    path: str
    args: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _at_hash(access_token: str) -> str:
    half = hashlib.sha256(access_token.encode("ascii")).digest()[:16]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode("ascii")


class FakeOidcProvider:
    def __init__(self, identity, tokens) -> None:
        self.identity = identity  # the fake gRPC identity: accounts, sessions, schools
        self.tokens = tokens
        self.redirect_uris = list(REDIRECT_URIS)
        self.client_secret = ""
        self.codes: dict[str, dict[str, Any]] = {}
        self.seen: list[Seen] = []
        self.logins: list[dict[str, str]] = []  # successful password checks
        self.id_token_claims: dict[str, Any] = {}  # merged into the next ID tokens
        self.token_refusal: tuple[int, str] | None = None
        self.id_token_key = None  # sign ID tokens with another key than identity's
        self.extra_cookie: tuple[str, str] | None = None  # a cookie it should not set
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self._app(), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll: stopping waits for it, once per test.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    # ---- the HTTP app ----------------------------------------------------------------------

    def _app(self) -> Flask:
        app = Flask("fake-identity-http", template_folder=str(TEMPLATES), static_folder=None)
        app.secret_key = "fake-identity-cookie-key"
        app.config.update(SESSION_COOKIE_NAME="haven_identity", SESSION_COOKIE_HTTPONLY=True,
                          SESSION_COOKIE_SAMESITE="Lax")

        @app.before_request
        def _record():
            with self.lock:
                self.seen.append(Seen(request.method, request.path, dict(request.args),
                                      dict(request.headers),
                                      dict(request.form) if request.method == "POST" else {}))

        @app.after_request
        def _extra(response):
            if self.extra_cookie:
                response.set_cookie(*self.extra_cookie)
            return response

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify({"issuer": ISSUER, "token_endpoint": f"{ISSUER}/oauth/token",
                            "authorization_endpoint": f"{ISSUER}/oauth/authorize",
                            "jwks_uri": f"{ISSUER}/.well-known/jwks.json"})

        @app.route("/oauth/authorize", methods=["GET", "POST"])
        def authorize():
            return self._authorize()

        @app.post("/oauth/token")
        def token():
            return self._token()

        return app

    def _page(self, error: str = "", email: str = "", status: int = 200) -> Response:
        token = session.get("csrf") or secrets.token_urlsafe(16)
        session["csrf"] = token
        slug = request.args.get("school", "")
        school = next((name for name, s in self.identity.schools.values() if s == slug), "")
        html = render_template("login.html", error=error, email=email, csrf=token,
                               action=request.full_path, static="/static", school_name=school)
        return Response(html, status=status, mimetype="text/html")

    def _authorize(self):
        args = request.args
        if args.get("client_id") != CLIENT_ID or args.get("redirect_uri") not in \
                self.redirect_uris:
            return jsonify({"error": "invalid_request",
                            "error_description": "unknown client or redirect URI"}), 400
        back = args["redirect_uri"]
        if args.get("response_type") != "code" or not args.get("code_challenge") or \
                args.get("code_challenge_method") != "S256":
            query = urlencode({"error": "invalid_request", "state": args.get("state", "")})
            return redirect(f"{back}?{query}")
        if request.method == "GET":
            return self._page()
        sent = request.form.get("csrf_token", "")
        if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
            return self._page("Your form expired. Please try again.", status=400)
        email = request.form.get("email", "").strip().lower()
        password = request.form.get("password", "")
        if not email or not password:
            return self._page("Enter your email address and password.", email, 422)
        if self.identity.throttled:
            return self._page(THROTTLED, email, 429)
        account = self.identity.accounts.get(email)
        if account is None or password != account.password:
            return self._page(BAD_LOGIN, email, 401)
        session.pop("csrf", None)
        sid, _token = self.identity.open_session(account)
        school = next((sid_ for sid_, (_n, s) in self.identity.schools.items()
                       if s == args.get("school")), None)
        if school and school in self.identity.memberships.get(account.account_id, {}):
            self.identity.session_school[sid] = school
        forwarded = request.headers.get("X-Forwarded-For", "")
        self.logins.append({"email": email, "school": args.get("school", ""),
                            "client_ip": forwarded.split(",")[-1].strip(),
                            "user_agent": request.headers.get("User-Agent", "")})
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"sid": sid, "account": account, "redirect_uri": back,
                            "challenge": args["code_challenge"], "nonce": args.get("nonce")}
        query = urlencode({"code": code, "state": args.get("state", "")})
        return redirect(f"{back}?{query}")

    def _token(self):
        form = request.form
        if self.client_secret:
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (CLIENT_ID,
                                                                   self.client_secret):
                return jsonify({"error": "invalid_client"}), 401
        elif form.get("client_id") != CLIENT_ID:
            return jsonify({"error": "invalid_client"}), 401
        if self.token_refusal:
            status, error = self.token_refusal
            return jsonify({"error": error}), status
        grant = self.codes.pop(form.get("code", ""), None)  # one use, even when refused
        if form.get("grant_type") != "authorization_code" or grant is None or \
                form.get("redirect_uri") != grant["redirect_uri"] or \
                _s256(form.get("code_verifier", "")) != grant["challenge"]:
            return jsonify({"error": "invalid_grant"}), 400
        sid, account = grant["sid"], grant["account"]
        access = self.identity.token_for(sid)
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": account.account_id, "aud": CLIENT_ID, "iat": now,
                  "exp": now + 600, "auth_time": now, "sid": sid, "acr": "pwd",
                  "name": account.name, "email": account.email,
                  "at_hash": _at_hash(access)}
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        claims.update(self.id_token_claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        id_token = jwt.encode({"alg": "ES256", "kid": self.tokens.key.kid}, claims,
                              self.id_token_key or self.tokens.key)
        return jsonify({"token_type": "Bearer", "access_token": access,
                        "expires_in": self.identity.token_ttl, "refresh_token": sid,
                        "id_token": id_token, "scope": "openid profile email"})
