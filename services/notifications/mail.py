"""Mail transports, chosen by URL (NOTIFICATIONS_MAIL_URL), and the message they carry.

- ``file://var/mail`` (relative) or ``file:///srv/mail`` (absolute): one ``<delivery id>.eml``
  per message, written to a temporary file and renamed into place, so a reader never sees a
  half-written message and a resend replaces the file instead of adding one.
- ``smtp://[user:pass@]host[:port][?starttls=true&timeout=30]``: plain SMTP, STARTTLS when
  asked (then a login, if given, only happens over TLS).
- ``smtps://[user:pass@]host[:port][?timeout=30]``: SMTP over TLS (port 465 by default).

The Message-ID is derived from the delivery id, so a message sent again after a crash is
recognisably the same message.
"""

from __future__ import annotations

import datetime as dt
import os
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit


class MailError(Exception):
    """The transport could not hand the message over; try again later."""


class PermanentMailError(MailError):
    """The mail server refused the message for good (5xx); retrying will not help."""


class MailTransport(Protocol):
    def send(self, message: EmailMessage, *, delivery_id: str) -> None:
        """Hand the message over; return only when it was accepted (raise MailError if not)."""


def message_id_for(delivery_id: str, mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    domain = address.rpartition("@")[2] if "@" in address else ""
    domain = domain or "haven.invalid"
    return f"<{delivery_id}@{domain}>"


def build_message(
    *,
    delivery_id: str,
    mail_from: str,
    to_address: str,
    to_name: str,
    subject: str,
    body: str,
    now: dt.datetime | None = None,
) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = mail_from
    msg["To"] = formataddr((" ".join(to_name.split()), to_address.strip()))
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = format_datetime((now or dt.datetime.now(dt.UTC)).replace(tzinfo=dt.UTC))
    msg["Message-ID"] = message_id_for(delivery_id, mail_from)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Haven-Delivery"] = delivery_id
    msg.set_content(body)
    return msg


class FileTransport:
    """Writes each message to ``<dir>/<delivery id>.eml`` atomically (temp file + rename)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def send(self, message: EmailMessage, *, delivery_id: str) -> None:
        if not delivery_id or "/" in delivery_id or delivery_id.startswith("."):
            raise PermanentMailError(f"unusable delivery id {delivery_id!r}")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(message.as_bytes(policy=policy.SMTP))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.directory / f"{delivery_id}.eml")
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise MailError(f"cannot write to {self.directory}: {exc}") from exc


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    use_ssl: bool = False
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout: float = 30.0

    def send(self, message: EmailMessage, *, delivery_id: str) -> None:
        try:
            if self.use_ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                client.ehlo()
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if self.username:
                    client.login(self.username, self.password)
                refused = client.send_message(message)
            if refused:
                raise PermanentMailError(f"recipients refused: {sorted(refused)}")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            cls = PermanentMailError if codes and all(c >= 500 for c in codes) else MailError
            raise cls(f"recipient refused ({', '.join(map(str, codes))})") from exc
        except smtplib.SMTPResponseException as exc:
            cls = PermanentMailError if exc.smtp_code >= 500 else MailError
            raise cls(f"mail server said {exc.smtp_code}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"cannot reach the mail server: {type(exc).__name__}") from exc


def _truthy(params: dict[str, list[str]], name: str) -> bool:
    return (params.get(name, [""])[-1] or "").lower() in {"1", "true", "yes", "on"}


def open_mail_transport(url: str) -> MailTransport:
    parts = urlsplit(url)
    if parts.scheme == "file":
        # file://var/mail -> "var/mail" (relative); file:///srv/mail -> "/srv/mail".
        path = unquote((parts.netloc or "") + parts.path)
        if not path:
            raise ValueError("NOTIFICATIONS_MAIL_URL file:// needs a directory")
        return FileTransport(path)
    if parts.scheme in {"smtp", "smtps"}:
        if not parts.hostname:
            raise ValueError("NOTIFICATIONS_MAIL_URL smtp:// needs a host")
        params = parse_qs(parts.query)
        use_ssl = parts.scheme == "smtps"
        return SmtpTransport(
            host=parts.hostname,
            port=parts.port or (465 if use_ssl else 25),
            use_ssl=use_ssl,
            starttls=not use_ssl and _truthy(params, "starttls"),
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            timeout=float(params.get("timeout", ["30"])[-1]),
        )
    raise ValueError(
        f"unknown mail transport URL scheme {parts.scheme!r} (use file://, smtp:// or smtps://)"
    )
