"""Access-token verification against the identity service's JWKS (DESIGN.md §4).

Tokens are ES256 JWTs issued by identity. Each service verifies them locally: signature by
``kid`` from the cached JWKS (refetched when an unknown ``kid`` appears, i.e. after a key
rotation), issuer, audience, expiry. Revocation is by short lifetime plus the session check
identity does when the gateway refreshes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from shared.context import Claims
from shared.errors import Unauthenticated

ISSUER = "haven-identity"
AUDIENCE = "haven"
ALGORITHMS = ["ES256"]
CLOCK_LEEWAY = 60  # seconds of clock skew tolerated between identity and a verifier


def claims_from_payload(payload: dict, token: str = "") -> Claims:
    try:
        return Claims(
            account_id=str(payload["sub"]),
            session_id=str(payload.get("sid", "")),
            school_id=str(payload["school"]),
            user_group_id=str(payload.get("grp", "")),
            acr=str(payload.get("acr", "pwd")),
            access=str(payload.get("access", "restricted")),
            permissions=frozenset(payload.get("perms", [])),
            name=str(payload.get("name", "")),
            token=token,
            scopes=frozenset(str(payload.get("scope", "")).split()),
        )
    except KeyError as exc:
        raise Unauthenticated(f"token lacks claim {exc.args[0]}") from exc


class TokenVerifier:
    def __init__(self, fetch_jwks: Callable[[], str], *, min_refetch_interval: float = 5.0) -> None:
        self._fetch = fetch_jwks
        self._keys: KeySet | None = None
        self._lock = threading.Lock()
        self._last_fetch = 0.0
        self._min_refetch = min_refetch_interval

    def _load(self, force: bool = False) -> KeySet:
        with self._lock:
            now = time.monotonic()
            if self._keys is None or (force and now - self._last_fetch > self._min_refetch):
                self._keys = KeySet.import_key_set(json.loads(self._fetch()))
                self._last_fetch = now
            return self._keys

    def verify(self, token: str) -> Claims:
        if not token:
            raise Unauthenticated("Please log in.")
        keys = self._load()
        try:
            decoded = self._decode(token, keys)
        except _UnknownKey:
            try:
                decoded = self._decode(token, self._load(force=True))
            except _UnknownKey as exc:
                raise Unauthenticated("token refused: unknown signing key") from exc
        registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": AUDIENCE},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(decoded.claims)
        except JoseError as exc:
            raise Unauthenticated(f"token refused: {exc.error}") from exc
        return claims_from_payload(decoded.claims, token)

    @staticmethod
    def _decode(token: str, keys: KeySet):
        try:
            return jwt.decode(token, keys, algorithms=ALGORITHMS)
        except JoseError as exc:
            if exc.error == "invalid_key_id":
                raise _UnknownKey() from exc
            raise Unauthenticated(f"token refused: {exc.error}") from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise Unauthenticated("token refused: malformed") from exc


class _UnknownKey(Exception):
    pass
