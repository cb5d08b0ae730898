"""OAuth2 clients and authorization codes (the OIDC provider's data; the HTTP side is
``oidc_http.py``).

- **Integration clients** belong to one school and hold one scope. An admin creates one
  (the secret is shown once; only its SHA-256 is kept) and can revoke it. With client
  credentials they get a token for their school only, ``access`` "integration", no
  permissions: ``incidents:add`` lets a vendor add a concern to a named pupil's chronology
  and read nothing; ``mis.import`` lets an MIS connector send extracts. Records and
  mis_import enforce what the scope allows.
- **The gateway** is a client configured by the deployment (``IDENTITY_GATEWAY_*``), not
  stored: authorization code + PKCE (S256, required), plus refresh tokens.
- **Authorization codes** live 60 seconds and work once. A code used twice ends the login
  session it gave (its refresh token then stops working), as RFC 6749 section 4.1.2 advises.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from services.identity import sessions
from services.identity.models import AuthorizationCode, IntegrationClient, LoginSession
from services.identity.secretbox import SecretBox
from shared.errors import InvalidArgument, NotFound

SCOPES: dict[str, str] = {
    "incidents:add": "Add a concern to a named pupil's chronology (reads nothing)",
    "mis.import": "Send MIS extracts: pupils, staff, groups, contacts, attendance",
}
WEB_SCOPES = ("openid", "profile", "email")
CODE_LIFETIME = dt.timedelta(seconds=60)
# Spent and expired codes are kept this long (a replay within it still ends the session it
# opened), then deleted: each holds a sealed session secret.
CODE_KEPT = dt.timedelta(hours=1)
MAX_CLIENTS = 50
REVOKED_CODE_REPLAY = "authorization_code_replayed"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class OAuthClient:
    """A client as the provider sees it (an integration, or the configured gateway)."""

    client_id: str
    name: str
    kind: str  # "web" | "integration"
    scopes: tuple[str, ...]
    grant_types: tuple[str, ...]
    auth_methods: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()
    secret_hash: str = ""
    school_id: str = ""

    def secret_matches(self, secret: str) -> bool:
        if not self.secret_hash or not secret:
            return False
        return hmac.compare_digest(hash_secret(secret), self.secret_hash)


def web_client(*, client_id: str, redirect_uris: tuple[str, ...], secret: str = ""
               ) -> OAuthClient:
    return OAuthClient(
        client_id=client_id, name="Haven web", kind="web", scopes=WEB_SCOPES,
        grant_types=("authorization_code", "refresh_token"),
        auth_methods=("client_secret_basic", "client_secret_post") if secret else ("none",),
        redirect_uris=redirect_uris, secret_hash=hash_secret(secret) if secret else "",
    )


def _as_client(row: IntegrationClient) -> OAuthClient:
    return OAuthClient(
        client_id=row.id, name=row.name, kind="integration", scopes=(row.scope,),
        grant_types=("client_credentials",),
        auth_methods=("client_secret_basic", "client_secret_post"),
        secret_hash=row.secret_hash, school_id=row.school_id,
    )


# ---- integration clients (admin) --------------------------------------------------------------


def clean_scope(scope: str) -> str:
    cleaned = (scope or "").strip()
    if cleaned not in SCOPES:
        raise InvalidArgument(
            f"Choose one scope: {', '.join(sorted(SCOPES))}.", field="scope"
        )
    return cleaned


def create_client(session: Session, *, school_id: str, name: str, scope: str,
                  now: dt.datetime, actor: str) -> tuple[IntegrationClient, str]:
    """A new client of the school; returns it and its secret (shown once)."""
    cleaned = (name or "").strip()
    if not cleaned:
        raise InvalidArgument("Name the integration (for example the vendor).", field="name")
    if len(cleaned) > 100:
        raise InvalidArgument("Use at most 100 characters for the name.", field="name")
    scope = clean_scope(scope)
    live = session.scalar(select(func.count()).select_from(IntegrationClient).where(
        IntegrationClient.school_id == school_id, IntegrationClient.revoked_at.is_(None)))
    if live >= MAX_CLIENTS:
        raise InvalidArgument(f"A school has at most {MAX_CLIENTS} integrations; revoke one "
                              "you no longer use.")
    secret = secrets.token_urlsafe(32)
    row = IntegrationClient(
        id=f"hvi_{secrets.token_hex(12)}", school_id=school_id, name=cleaned, scope=scope,
        secret_hash=hash_secret(secret), created_at=now, created_by=actor,
    )
    session.add(row)
    session.flush()
    return row, secret


def list_clients(session: Session, *, school_id: str) -> list[IntegrationClient]:
    return list(session.scalars(
        select(IntegrationClient).where(IntegrationClient.school_id == school_id)
        .order_by(IntegrationClient.revoked_at.is_not(None), func.lower(IntegrationClient.name))
    ))


def revoke_client(session: Session, *, school_id: str, client_id: str, now: dt.datetime
                  ) -> IntegrationClient:
    row = session.get(IntegrationClient, client_id) if client_id else None
    if row is None or row.school_id != school_id:
        raise NotFound("No such integration in your school.", field="client_id")
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()
    return row


def find_client(session: Session, client_id: str, *, web: OAuthClient | None = None
                ) -> OAuthClient | None:
    """The client with that id (the configured web client, or a live integration)."""
    if web is not None and client_id == web.client_id:
        return web
    if not client_id or len(client_id) > 64:
        return None
    row = session.get(IntegrationClient, client_id)
    if row is None or row.revoked_at is not None:
        return None
    return _as_client(row)


def touch_client(session: Session, client_id: str, now: dt.datetime) -> None:
    session.execute(update(IntegrationClient).where(IntegrationClient.id == client_id)
                    .values(last_used_at=now).execution_options(synchronize_session=False))


# ---- authorization codes ----------------------------------------------------------------------


def save_code(session: Session, box: SecretBox, *, code: str, client_id: str,
              redirect_uri: str, scope: str, nonce: str, code_challenge: str,
              code_challenge_method: str, session_id: str, session_secret: str,
              account_id: str, now: dt.datetime) -> AuthorizationCode:
    code_hash = hash_secret(code)
    session.execute(delete(AuthorizationCode).where(
        AuthorizationCode.expires_at < now - CODE_KEPT).execution_options(
        synchronize_session=False))
    row = AuthorizationCode(
        code_hash=code_hash, client_id=client_id, redirect_uri=redirect_uri[:500],
        scope=scope[:200], nonce=nonce[:200], code_challenge=code_challenge[:128],
        code_challenge_method=code_challenge_method[:10], session_id=session_id,
        session_secret=box.seal(session_secret, purpose=f"code:{code_hash}"),
        account_id=account_id, auth_time=now, created_at=now, expires_at=now + CODE_LIFETIME,
    )
    session.add(row)
    login = session.get(LoginSession, session_id)
    if login is not None:
        login.oauth_client_id = client_id
        login.oauth_scope = scope[:200]
    session.flush()
    return row


def take_code(session: Session, *, code: str, client_id: str, now: dt.datetime
              ) -> AuthorizationCode | None:
    """The code's grant, claimed once. A second use (or another client's) gets None; a
    second use also ends the session the first one opened."""
    if not code or len(code) > 200:
        return None
    row = session.get(AuthorizationCode, hash_secret(code))
    if row is None:
        return None
    claimed = session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_hash == row.code_hash, AuthorizationCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if not claimed:
        login = session.get(LoginSession, row.session_id)
        if login is not None:
            sessions.revoke(login, now=now, reason=REVOKED_CODE_REPLAY)
        return None
    if row.client_id != client_id or now >= row.expires_at:
        return None
    return row


def code_secret(box: SecretBox, row: AuthorizationCode) -> str:
    return box.open(row.session_secret, purpose=f"code:{row.code_hash}")
