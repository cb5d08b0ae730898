"""Transport interface and the factory that picks one by URL."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

# A delivery callback returns normally when the message is handled (commit done) and raises
# when it is not; the transport then retries it later and finally dead-letters it (at once
# when it raises ``PoisonMessage``).
Callback = Callable[[bytes], None]

EXCHANGE = "haven.events"
DEFAULT_RETRY_DELAY_MS = 2000
DEFAULT_MAX_ATTEMPTS = 5


class Transport(Protocol):
    def publish(self, routing_key: str, body: bytes, *, message_id: str) -> None:
        """Publish and return only once the broker has confirmed it (raise otherwise)."""

    def subscribe(self, queue: str, binding_keys: list[str], callback: Callback) -> None:
        """Register a consumer; deliveries start with ``start_consuming``."""

    def start_consuming(self) -> None:
        """Deliver to the subscriptions until ``close`` (amqp blocks; memory returns)."""

    def close(self) -> None: ...


def _words(text: str) -> tuple[str, ...]:
    # As RabbitMQ splits them: "" has no words, "a..b" has an empty middle word.
    return tuple(text.split(".")) if text else ()


@lru_cache(maxsize=4096)
def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic semantics: ``*`` is exactly one word, ``#`` is zero or more words."""
    pat, key = _words(pattern), _words(routing_key)
    # matches[j]: pattern[i:] matches key[j:], computed for i from the end of the pattern.
    matches = [False] * len(key) + [True]
    for i in range(len(pat) - 1, -1, -1):
        word = pat[i]
        row = [False] * (len(key) + 1)
        for j in range(len(key), -1, -1):
            if word == "#":
                row[j] = matches[j] or (j < len(key) and row[j + 1])
            else:
                row[j] = j < len(key) and word in ("*", key[j]) and matches[j + 1]
        matches = row
    return matches[0]


def open_transport(url: str, *, name: str = "haven") -> Transport:
    """``memory://[?retry_delay_ms=&max_attempts=]`` or
    ``amqp://user:pass@host:port/vhost[?exchange=&retry_delay_ms=&max_attempts=&<pika>]``.

    ``name`` labels the connection (RabbitMQ shows it as the connection name)."""
    if url.startswith("memory://"):
        from shared.events.memory import MemoryTransport

        return MemoryTransport(url)
    if url.startswith(("amqp://", "amqps://")):
        from shared.events.amqp import AmqpTransport

        return AmqpTransport(url, name=name)
    raise ValueError(f"unknown event transport URL: {url!r} (use memory:// or amqp://...)")


def replay_dead_letters(url: str, queue: str) -> int:
    """Move the dead letters of consumer queue ``queue`` back to it; returns how many.

    For amqp:// this works from any process (an operator CLI); for memory:// only inside
    the process that holds the in-memory broker."""
    if url.startswith("memory://"):
        from shared.events.memory import MemoryTransport

        return MemoryTransport(url).replay_dead_letters(queue)
    if url.startswith(("amqp://", "amqps://")):
        from shared.events import amqp

        return amqp.replay_dead_letters(url, queue)
    raise ValueError(f"unknown event transport URL: {url!r} (use memory:// or amqp://...)")
