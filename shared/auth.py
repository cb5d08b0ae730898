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


VERIFIED_CACHE = 1024  # tokens whose signature was checked, kept until they expire


class TokenVerifier:
    """Verifies tokens; a token already verified is not verified again until it expires (its
    expiry and not-before are checked on every use; a key refetch forgets them all)."""

    def __init__(self, fetch_jwks: Callable[[], str], *, min_refetch_interval: float = 5.0,
                 cache_size: int = VERIFIED_CACHE) -> None:
        self._fetch = fetch_jwks
        self._keys: KeySet | None = None
        self._lock = threading.Lock()
        self._last_fetch = 0.0
        self._min_refetch = min_refetch_interval
        self._cache_size = cache_size
        self._verified: dict[str, tuple[Claims, float, float]] = {}

    def _load(self, force: bool = False) -> KeySet:
        with self._lock:
            now = time.monotonic()
            if self._keys is None or (force and now - self._last_fetch > self._min_refetch):
                self._keys = KeySet.import_key_set(json.loads(self._fetch()))
                self._last_fetch = now
                self._verified = {}  # keys may have gone: verify every token again
            return self._keys

    def verify(self, token: str) -> Claims:
        if not token:
            raise Unauthenticated("Please log in.")
        hit = self._verified.get(token)
        if hit is not None:
            claims, expires, not_before = hit
            now = time.time()
            if now - CLOCK_LEEWAY <= expires and not_before <= now + CLOCK_LEEWAY:
                return claims
            self._verified.pop(token, None)  # expired: the full check below refuses it
        payload = self._verify(token)
        claims = claims_from_payload(payload, token)
        self._remember(token, claims, payload)
        return claims

    def _remember(self, token: str, claims: Claims, payload: dict) -> None:
        try:
            expires = float(payload["exp"])
            not_before = max(float(payload.get("nbf", 0)), float(payload.get("iat", 0)))
        except (KeyError, TypeError, ValueError):
            return
        with self._lock:
            if len(self._verified) >= self._cache_size:
                self._verified.pop(next(iter(self._verified)))  # the oldest
            self._verified[token] = (claims, expires, not_before)

    def _verify(self, token: str) -> dict:
        """The token's verified payload (signature, issuer, audience, expiry)."""
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
        return decoded.claims

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
