"""The sender: a worker thread that hands due deliveries to the mail transport.

For each delivery, in this order:
1. commit "sending" (attempts + 1) in its own transaction;
2. hand the message (Message-ID derived from the delivery id) to the transport;
3. commit "sent" - or, if the transport refused, "pending" again with a growing delay, and
   "failed" after the last attempt (or at once when the mail server refused for good).
A sender that stops between 2 and 3 leaves the delivery "sending"; after the lease runs out
any sender puts it back to pending and sends it again, with the same Message-ID (README).

It wakes when a handler commits a new delivery (``wake``), when a retry falls due, and
every ``poll_seconds`` otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from services.notifications import deliveries, links
from services.notifications.mail import MailError, MailTransport, PermanentMailError, build_message
from shared.context import school_scope
from shared.db import Database, utcnow
from shared.telemetry import metrics

log = logging.getLogger(__name__)


class Sender:
    """A ``shared.service.Background`` (start/stop), without importing the gRPC side of it."""

    def __init__(
        self,
        db: Database,
        transport: MailTransport,
        *,
        mail_from: str,
        max_attempts: int = 8,
        retry_seconds: float = 30.0,
        retry_max_seconds: float = 3600.0,
        poll_seconds: float = 5.0,
        send_lease_seconds: float = 300.0,
        batch_size: int = 50,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db = db
        self.transport = transport
        self.mail_from = mail_from
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.retry_max_seconds = retry_max_seconds
        self.poll_seconds = poll_seconds
        self.send_lease_seconds = send_lease_seconds
        self.batch_size = batch_size
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- Background ----

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="notifications-sender", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Called after a handler commits a new delivery."""
        self._wake.set()

    # ---- the work ----

    def run_once(self) -> int:
        """Release stale claims, then send what is due (up to ``batch_size``)."""
        with self.db.transaction() as session:
            released = deliveries.release_stale(
                session,
                now=self.clock(),
                lease_seconds=self.send_lease_seconds,
                max_attempts=self.max_attempts,
            )
        if released:
            log.warning("%d deliveries were left sending by a stopped sender; retrying", released)
        handled = 0
        while handled < self.batch_size and not self._stop.is_set():
            with self.db.transaction() as session:
                outgoing = deliveries.claim_next(
                    session, now=self.clock(), lock=not self.db.is_sqlite
                )
            if outgoing is None:
                break
            self._send(outgoing)
            handled += 1
        return handled

    def _send(self, out: deliveries.OutgoingEmail) -> None:
        message = build_message(
            delivery_id=out.delivery_id,
            mail_from=self.mail_from,
            to_address=out.recipient,
            to_name=out.recipient_name,
            subject=out.subject,
            body=out.body,
            now=self.clock(),
        )
        try:
            self.transport.send(message, delivery_id=out.delivery_id)
        except Exception as exc:
            permanent = isinstance(exc, PermanentMailError)
            error = str(exc) if isinstance(exc, MailError) else f"{type(exc).__name__}: {exc}"
            error = links.hide_links(error)  # never a password link, in the log or the row
            with school_scope(out.school_id), self.db.transaction() as session:
                status = deliveries.mark_attempt_failed(
                    session,
                    out.delivery_id,
                    now=self.clock(),
                    error=error,
                    permanent=permanent,
                    max_attempts=self.max_attempts,
                    retry_seconds=self.retry_seconds,
                    retry_max_seconds=self.retry_max_seconds,
                )
            metrics.MAIL_SENT.labels("failed" if status == deliveries.FAILED else "retry").inc()
            log.warning("delivery %s attempt %d: %s (now %s)",
                        out.delivery_id, out.attempt, error, status)
            return
        with school_scope(out.school_id), self.db.transaction() as session:
            deliveries.mark_sent(session, out.delivery_id, now=self.clock())
        metrics.MAIL_SENT.labels("sent").inc()

    def _seconds_until_due(self) -> float:
        with self.db.read() as session:
            due = deliveries.next_due_at(session)
        if due is None:
            return self.poll_seconds
        wait = (due - self.clock()).total_seconds()
        return max(0.05, min(self.poll_seconds, wait))

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._wake.clear()
                handled = self.run_once()
                backoff = 0.5
                if handled >= self.batch_size:
                    continue
                self._wake.wait(self._seconds_until_due())
            except Exception:
                log.exception("notifications sender failed; retrying in %.1fs", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30)
