"""Authenticator apps ("soft keys"): RFC 6238 TOTP, 6 digits, 30 s steps, SHA-1.

A code is accepted for the current step and one step either side (clock drift). Each device
remembers the newest step it accepted; a code of that step or an earlier one is refused, so
an overheard code cannot be used again.
"""

from __future__ import annotations

import datetime as dt
import hmac
import io
import re
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from services.identity.models import TotpDevice, TotpEnrolment
from services.identity.secretbox import SecretBox
from shared.db import new_id
from shared.errors import InvalidArgument, NotFound

DIGITS = 6
INTERVAL = 30
VALID_WINDOW = 1  # steps either side of now
ISSUER = "Haven"
ENROLMENT_LIFETIME = dt.timedelta(minutes=10)
ENROLMENT_GONE = "That setup has expired. Start adding the device again."
_B32 = re.compile(r"^[A-Z2-7]{26,128}$")  # at least 128 bits (RFC 4226 section 4)


def _epoch(now: dt.datetime) -> dt.datetime:
    # pyotp reads a naive datetime as local time; ours are naive UTC.
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now


def normalise_secret(secret: str) -> str:
    """Upper-case base32 without spaces, dashes or padding.

    The digit 0 is read as the letter O (it is not in the base32 alphabet, and people and
    documents mix them up); anything else outside the alphabet is refused.
    """
    cleaned = re.sub(r"[\s\-=]", "", secret).upper().replace("0", "O")
    if not _B32.match(cleaned):
        raise InvalidArgument(
            "An authenticator secret is 26 or more base32 characters (A-Z, 2-7).", field="secret"
        )
    return cleaned


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, as RFC 4226 recommends


def clean_code(code: str) -> str:
    cleaned = re.sub(r"\s", "", code or "")
    if not re.fullmatch(rf"\d{{{DIGITS}}}", cleaned):
        raise InvalidArgument(
            f"Enter the {DIGITS}-digit code shown in your authenticator app.", field="totp_code"
        )
    return cleaned


def time_step(now: dt.datetime) -> int:
    return int(_epoch(now).timestamp()) // INTERVAL


def code_at(secret: str, now: dt.datetime) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).at(_epoch(now))


def matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step (within the window) whose code is ``code``, or None."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    current = totp.timecode(_epoch(now))
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step  # keep looping: constant work whatever matches
    return found


def provisioning_uri(secret: str, *, email: str, issuer: str = ISSUER) -> str:
    """The otpauth:// URI an authenticator app scans (as a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=email, issuer_name=issuer
    )


def _purpose(device_id: str) -> str:
    return f"totp:{device_id}"


def add_device(
    session: Session,
    box: SecretBox,
    *,
    account_id: str,
    name: str,
    secret: str | None,
    now: dt.datetime,
    verified: bool = False,
) -> tuple[TotpDevice, str]:
    """Register an authenticator for an account; returns the device and its secret."""
    name = (name or "").strip() or "Authenticator app"
    if len(name) > 100:
        raise InvalidArgument("Use at most 100 characters for the device name.", field="name")
    secret = normalise_secret(secret) if secret else new_secret()
    device_id = new_id()
    device = TotpDevice(
        id=device_id,
        account_id=account_id,
        name=name,
        secret=box.seal(secret, purpose=_purpose(device_id)),
        verified=verified,
        last_used_step=None,
        created_at=now,
    )
    session.add(device)
    session.flush()
    return device, secret


def devices_of(session: Session, account_id: str) -> list[TotpDevice]:
    return list(
        session.scalars(
            select(TotpDevice)
            .where(TotpDevice.account_id == account_id)
            .order_by(TotpDevice.created_at, TotpDevice.id)
        )
    )


def secret_of(box: SecretBox, device: TotpDevice) -> str:
    return box.open(device.secret, purpose=_purpose(device.id))


@dataclass(frozen=True)
class CodeCheck:
    device: TotpDevice | None
    replay: bool = False

    @property
    def ok(self) -> bool:
        return self.device is not None and not self.replay


def check_code(
    session: Session, box: SecretBox, *, account_id: str, code: str, now: dt.datetime
) -> CodeCheck:
    """Try ``code`` against the account's devices; on success, burn its time step.

    The step is claimed with a conditional UPDATE, so two requests racing with the same code
    cannot both succeed.
    """
    replay_device = None
    for device in devices_of(session, account_id):
        step = matching_step(secret_of(box, device), code, now)
        if step is None:
            continue
        claimed = session.execute(
            update(TotpDevice)
            .where(
                TotpDevice.id == device.id,
                or_(TotpDevice.last_used_step.is_(None), TotpDevice.last_used_step < step),
            )
            .values(last_used_step=step, verified=True, last_used_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed == 1:
            session.refresh(device)
            return CodeCheck(device)
        replay_device = device
    return CodeCheck(replay_device, replay=replay_device is not None)


def remove_devices(session: Session, *, account_id: str, device_id: str | None = None) -> int:
    """Remove one of an account's devices, or all of them; returns how many went."""
    removed = 0
    for device in devices_of(session, account_id):
        if device_id is None or device.id == device_id:
            session.delete(device)
            removed += 1
    session.flush()
    return removed


def cancel_enrolments(session: Session, *, account_id: str) -> None:
    session.execute(delete(TotpEnrolment).where(TotpEnrolment.account_id == account_id))


# ---- adding a device: show the secret (QR code), then confirm it with a code ---------------


def qr_svg(uri: str) -> str:
    """The otpauth URI as an SVG QR code (inline-able, no external resources)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False,
                                    svgns=True, title="Authenticator app QR code")
    return out.getvalue().decode("utf-8")


@dataclass(frozen=True)
class Enrolment:
    id: str
    secret: str
    uri: str
    svg: str
    expires_at: dt.datetime


def begin_enrolment(session: Session, box: SecretBox, *, account_id: str, session_id: str,
                    email: str, now: dt.datetime) -> Enrolment:
    """A new secret for the caller to scan; nothing is a device until a code confirms it."""
    # One setup at a time per session (a new one replaces it); expired ones go.
    session.execute(delete(TotpEnrolment).where(
        TotpEnrolment.account_id == account_id,
        (TotpEnrolment.expires_at <= now) | (TotpEnrolment.session_id == session_id)))
    secret = new_secret()
    enrolment_id = new_id()
    session.add(TotpEnrolment(
        id=enrolment_id, account_id=account_id, session_id=session_id,
        secret=box.seal(secret, purpose=f"totp-enrolment:{enrolment_id}"),
        created_at=now, expires_at=now + ENROLMENT_LIFETIME,
    ))
    session.flush()
    uri = provisioning_uri(secret, email=email)
    return Enrolment(id=enrolment_id, secret=secret, uri=uri, svg=qr_svg(uri),
                     expires_at=now + ENROLMENT_LIFETIME)


def confirm_enrolment(session: Session, box: SecretBox, *, enrolment_id: str,
                      account_id: str, session_id: str, name: str, code: str,
                      now: dt.datetime) -> TotpDevice | None:
    """Save the device if ``code`` is its current code (None when it is not). The code's
    time step is spent, so it cannot then be used to elevate. The device stays unverified
    until it is first used to log in or elevate."""
    enrolment = session.get(TotpEnrolment, enrolment_id) if enrolment_id else None
    if (
        enrolment is None
        or enrolment.account_id != account_id
        or enrolment.session_id != session_id
        or now >= enrolment.expires_at
    ):
        raise NotFound(ENROLMENT_GONE, field="enrolment_id")
    secret = box.open(enrolment.secret, purpose=f"totp-enrolment:{enrolment.id}")
    step = matching_step(secret, clean_code(code), now)
    if step is None:
        return None
    device, _ = add_device(session, box, account_id=account_id, name=name, secret=secret,
                           now=now, verified=False)
    device.last_used_step = step
    session.delete(enrolment)
    session.flush()
    return device
