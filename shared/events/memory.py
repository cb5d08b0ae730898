"""In-process transport for the all-in-one mode and fast tests.

Publishing delivers synchronously to every matching subscription before it returns, so the
relay marks an outbox row published only after each consumer has committed (or failed).
A failed delivery is retried on a timer thread (``retry_delay_ms`` × attempt, up to
``max_attempts`` deliveries; both from the subscriber's URL, ``memory://?retry_delay_ms=50``),
then kept as a dead letter (logged, listed by ``dead_letters``, replayed by
``replay_dead_letters``). A ``PoisonMessage`` is dead-lettered at once.

The broker is one per process; ``close`` removes the subscriptions its transport made, and
a retry whose subscription is gone is dropped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from shared.events.outbox import PoisonMessage
from shared.events.transport import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_DELAY_MS,
    Callback,
    topic_matches,
)

log = logging.getLogger(__name__)


@dataclass
class _Subscription:
    queue: str
    bindings: list[str]
    callback: Callback
    retry_delay: float  # the subscriber's settings, as a RabbitMQ consumer declares its queues
    max_attempts: int


@dataclass
class DeadLetter:
    queue: str
    routing_key: str
    body: bytes
    error: str
    attempts: int = 0


@dataclass
class _Broker:
    subscriptions: dict[str, _Subscription] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    timers: set[threading.Timer] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)


_BROKER = _Broker()


def reset_broker() -> None:
    """Forget every subscription, dead letter and pending retry (tests)."""
    with _BROKER.lock:
        for timer in _BROKER.timers:
            timer.cancel()
        _BROKER.timers.clear()
        _BROKER.subscriptions.clear()
        _BROKER.dead.clear()


def dead_letters() -> list[DeadLetter]:
    with _BROKER.lock:
        return list(_BROKER.dead)


def pending_retries() -> int:
    """Deliveries waiting for (or running) a retry."""
    with _BROKER.lock:
        return len(_BROKER.timers)


class MemoryTransport:
    retry_delay = DEFAULT_RETRY_DELAY_MS / 1000
    max_attempts = DEFAULT_MAX_ATTEMPTS

    def __init__(self, url: str = "memory://") -> None:
        params = dict(parse_qsl(urlsplit(url).query))
        if "retry_delay_ms" in params:
            self.retry_delay = int(params["retry_delay_ms"]) / 1000
        if "max_attempts" in params:
            self.max_attempts = max(1, int(params["max_attempts"]))
        self._mine: dict[str, _Subscription] = {}

    def publish(self, routing_key: str, body: bytes, *, message_id: str) -> None:
        with _BROKER.lock:
            targets = [
                s.queue
                for s in _BROKER.subscriptions.values()
                if any(topic_matches(b, routing_key) for b in s.bindings)
            ]
        for queue in targets:
            self._deliver(queue, routing_key, body, attempt=1)

    def _deliver(self, queue: str, routing_key: str, body: bytes, attempt: int) -> None:
        with _BROKER.lock:
            sub = _BROKER.subscriptions.get(queue)
        if sub is None:
            log.warning("dropped %s for %s: the consumer is gone", routing_key, queue)
            return
        try:
            sub.callback(body)
        except Exception as exc:  # the consumer logs its own details
            poison = isinstance(exc, PoisonMessage)
            if poison or attempt >= sub.max_attempts:
                log.error("dead-lettered %s on %s after %d attempt(s): %r",
                          routing_key, queue, attempt, exc)
                with _BROKER.lock:
                    _BROKER.dead.append(
                        DeadLetter(queue, routing_key, body, repr(exc), attempts=attempt)
                    )
                return
            self._schedule(queue, routing_key, body, attempt + 1, sub.retry_delay)

    def _schedule(
        self, queue: str, routing_key: str, body: bytes, attempt: int, delay: float
    ) -> None:
        def fire() -> None:
            with _BROKER.lock:
                if timer not in _BROKER.timers:
                    return  # cancelled by reset_broker
            try:
                self._deliver(queue, routing_key, body, attempt)
            finally:
                with _BROKER.lock:
                    _BROKER.timers.discard(timer)

        timer = threading.Timer(delay * (attempt - 1), fire)
        timer.daemon = True
        with _BROKER.lock:
            _BROKER.timers.add(timer)
        timer.start()

    def subscribe(self, queue: str, binding_keys: list[str], callback: Callback) -> None:
        sub = _Subscription(
            queue, list(binding_keys), callback, self.retry_delay, self.max_attempts
        )
        with _BROKER.lock:
            _BROKER.subscriptions[queue] = sub
        self._mine[queue] = sub

    def start_consuming(self) -> None:
        """Deliveries happen on publish; nothing to start."""

    def replay_dead_letters(self, queue: str) -> int:
        with _BROKER.lock:
            mine = [d for d in _BROKER.dead if d.queue == queue]
            _BROKER.dead[:] = [d for d in _BROKER.dead if d.queue != queue]
        for d in mine:
            self._deliver(queue, d.routing_key, d.body, attempt=1)
        return len(mine)

    def close(self) -> None:
        """Remove this transport's subscriptions (a newer one for the same queue stays)."""
        with _BROKER.lock:
            for queue, sub in self._mine.items():
                if _BROKER.subscriptions.get(queue) is sub:
                    del _BROKER.subscriptions[queue]
        self._mine.clear()
