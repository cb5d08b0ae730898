"""The gateway as an OpenID Connect client of identity for the web login (DESIGN.md §4):
authorization code with PKCE (S256).

``/login`` sends the browser to identity's ``/oauth/authorize`` (served through the gateway,
see web/oauth_proxy.py) with a fresh state, nonce and PKCE challenge kept in the gateway's
signed cookie; identity asks for the password and redirects back to ``/auth/callback`` with a
code. The gateway then exchanges the code over the back channel (``GATEWAY_IDENTITY_HTTP_URL``,
with the code verifier), checks the ID token (signature against identity's JWKS, ``iss``,
``aud``, ``exp``, ``nonce``, ``at_hash``) and the access token, and keeps the refresh token:
identity's session secret, which elevation, refresh and logout use over gRPC as before.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.config import GatewayConfig
from gateway.errors import UNAVAILABLE_MESSAGE
from shared.context import Claims
from shared.errors import Unauthenticated

log = logging.getLogger(__name__)

SCOPE = "openid profile email"
ALGORITHMS = ["ES256"]
CLOCK_LEEWAY = 60
TIMEOUT = 10.0
MAX_REPLY = 64 * 1024
TRY_AGAIN = "Haven could not finish your login. Please log in again."


class LoginFailed(Exception):
    """The login cannot be finished: ``message`` is what the person reads, ``status`` the
    page's HTTP status, ``reason`` what the log says."""

    def __init__(self, message: str = TRY_AGAIN, status: int = 400, reason: str = "") -> None:
        super().__init__(reason or message)
        self.message = message
        self.status = status
        self.reason = reason or message


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """A code verifier (86 characters of base64url) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    return verifier, _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def at_hash(access_token: str) -> str:
    """OIDC Core 3.1.3.6: the left half of SHA-256 of the access token, base64url (ES256)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return _b64(digest[: len(digest) // 2])


@dataclass(frozen=True)
class Login:
    """What a finished login gives the browser session."""

    session_secret: str  # the refresh token: identity's session, as the gRPC Login gave it
    access_token: str
    expires_in: int
    claims: Claims  # of the access token
    id_claims: dict[str, Any]


class OidcClient:
    """Back-channel half of the login: code -> tokens, and the checks on what came back."""

    def __init__(self, config: GatewayConfig, *, fetch_jwks: Callable[[], str],
                 verify_access: Callable[[str], Claims]) -> None:
        self.config = config
        self._fetch_jwks = fetch_jwks
        self._verify_access = verify_access
        self._keys: KeySet | None = None
        self._issuer = config.oidc_issuer
        self._lock = threading.Lock()

    # ---- the two halves of the flow ----------------------------------------------------------

    def authorize_query(self, *, redirect_uri: str, state: str, nonce: str, challenge: str,
                        school: str = "") -> str:
        params = {
            "response_type": "code", "client_id": self.config.oidc_client_id,
            "redirect_uri": redirect_uri, "scope": SCOPE, "state": state, "nonce": nonce,
            "code_challenge": challenge, "code_challenge_method": "S256",
        }
        if school:
            params["school"] = school
        return urllib.parse.urlencode(params)

    def finish(self, *, code: str, redirect_uri: str, verifier: str, nonce: str,
               client_ip: str, user_agent: str) -> Login:
        reply = self._exchange(code=code, redirect_uri=redirect_uri, verifier=verifier,
                               client_ip=client_ip, user_agent=user_agent)
        access, secret = reply.get("access_token"), reply.get("refresh_token")
        id_token = reply.get("id_token")
        if not all(isinstance(v, str) and v for v in (access, secret, id_token)):
            raise LoginFailed(reason="token reply lacks access, refresh or ID token", status=502)
        try:
            expires_in = int(reply.get("expires_in") or 0)
        except (TypeError, ValueError):
            expires_in = 0
        id_claims = self.verify_id_token(id_token, nonce=nonce, access_token=access)
        try:
            claims = self._verify_access(access)
        except Unauthenticated as exc:
            raise LoginFailed(reason=f"access token refused: {exc}", status=502) from exc
        if claims.account_id != id_claims["sub"] or (
                id_claims.get("sid") and claims.session_id != id_claims["sid"]):
            raise LoginFailed(reason="access token and ID token name different logins",
                              status=502)
        return Login(session_secret=secret, access_token=access,
                     expires_in=max(expires_in, 1), claims=claims, id_claims=id_claims)

    # ---- the ID token ------------------------------------------------------------------------

    def verify_id_token(self, id_token: str, *, nonce: str, access_token: str) -> dict:
        decoded = self._decode(id_token)
        registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": self.issuer()},
            aud={"essential": True, "value": self.config.oidc_client_id},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(decoded.claims)
        except JoseError as exc:
            raise LoginFailed(reason=f"ID token refused: {exc.error} {exc.description or ''}",
                              status=502) from exc
        claims = decoded.claims
        if isinstance(claims.get("aud"), list) and claims.get("azp") not in (
                None, self.config.oidc_client_id):
            raise LoginFailed(reason="ID token refused: azp is another client", status=502)
        if "at_hash" in claims and not secrets.compare_digest(
                str(claims["at_hash"]), at_hash(access_token)):
            raise LoginFailed(reason="ID token refused: at_hash does not match", status=502)
        return claims

    def _decode(self, token: str):
        for force in (False, True):  # an unknown kid: identity rotated its key, read again
            keys = self._key_set(force=force)
            try:
                return jwt.decode(token, keys, algorithms=ALGORITHMS)
            except JoseError as exc:
                if exc.error == "invalid_key_id" and not force:
                    continue
                raise LoginFailed(reason=f"ID token refused: {exc.error}", status=502) from exc
            except (ValueError, TypeError, KeyError) as exc:
                raise LoginFailed(reason="ID token refused: malformed", status=502) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _key_set(self, *, force: bool) -> KeySet:
        with self._lock:
            if self._keys is None or force:
                try:
                    self._keys = KeySet.import_key_set(json.loads(self._fetch_jwks()))
                except Exception as exc:  # gRPC down, or keys that do not parse
                    raise LoginFailed(UNAVAILABLE_MESSAGE, 503,
                                      reason=f"identity's JWKS could not be read: {exc}") from exc
            return self._keys

    def issuer(self) -> str:
        """GATEWAY_OIDC_ISSUER, else the issuer identity's discovery document names."""
        with self._lock:
            if self._issuer:
                return self._issuer
        found = self._http("GET", "/.well-known/openid-configuration").get("issuer")
        if not isinstance(found, str) or not found:
            raise LoginFailed(reason="identity's discovery document names no issuer",
                              status=502)
        with self._lock:
            self._issuer = found
        return found

    # ---- back channel ------------------------------------------------------------------------

    def _exchange(self, *, code: str, redirect_uri: str, verifier: str, client_ip: str,
                  user_agent: str) -> dict:
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": verifier}
        headers = {"X-Forwarded-For": client_ip, "User-Agent": user_agent[:300]}
        client_id, secret = self.config.oidc_client_id, self.config.oidc_client_secret
        if secret:  # client_secret_basic, each part form-encoded (RFC 6749 2.3.1)
            pair = f"{urllib.parse.quote(client_id, safe='')}:" \
                   f"{urllib.parse.quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form["client_id"] = client_id
        return self._http("POST", "/oauth/token", form=form, headers=headers)

    def _http(self, method: str, path: str, *, form: dict | None = None,
              headers: dict | None = None) -> dict:
        url = self.config.identity_http_url.rstrip("/") + path
        if not url.startswith(("http://", "https://")):
            raise LoginFailed(UNAVAILABLE_MESSAGE, 503,
                              reason="GATEWAY_IDENTITY_HTTP_URL is not an http(s) URL")
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            url, data=data, method=method,
            headers={"Accept": "application/json", **(headers or {}),
                     **({"Content-Type": "application/x-www-form-urlencoded"} if data else {})})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:  # noqa: S310
                status, body = reply.status, reply.read(MAX_REPLY)
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read(MAX_REPLY)
            exc.close()
        except (urllib.error.URLError, OSError) as exc:
            raise LoginFailed(UNAVAILABLE_MESSAGE, 503,
                              reason=f"identity's HTTP app did not answer {path}: {exc}") from exc
        try:
            answer = json.loads(body or b"{}")
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if status >= 500:
            raise LoginFailed(UNAVAILABLE_MESSAGE, 503,
                              reason=f"identity answered {path} with {status}")
        if status >= 400:
            error = str(answer.get("error", status))[:60]
            if error == "invalid_grant":  # a spent, expired or forged code, a wrong verifier
                raise LoginFailed("That login has expired or was already used. Please log in "
                                  "again.", 400, reason=f"code refused: {error}")
            raise LoginFailed(status=502, reason=f"identity refused {path}: {error}")
        return answer
