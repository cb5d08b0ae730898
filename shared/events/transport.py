"""Transport interface and the factory that picks one by URL."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

# A delivery callback returns normally when the message is handled (commit done) and raises
# when it is not; the transport then retries it later and finally dead-letters it.
Callback = Callable[[bytes], None]

EXCHANGE = "haven.events"


class Transport(Protocol):
    def publish(self, routing_key: str, body: bytes, *, message_id: str) -> None:
        """Publish and return only once the broker has confirmed it (raise otherwise)."""

    def subscribe(self, queue: str, binding_keys: list[str], callback: Callback) -> None:
        """Register a consumer; deliveries start with ``start_consuming``."""

    def start_consuming(self) -> None: ...

    def close(self) -> None: ...


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic semantics: ``*`` is one word, ``#`` is zero or more words."""
    regex = ""
    words = pattern.split(".")
    for i, word in enumerate(words):
        if word == "#":
            regex += r"(?:[^.]+(?:\.[^.]+)*)?" if i == 0 else r"(?:\.[^.]+)*"
            continue
        part = r"[^.]+" if word == "*" else re.escape(word)
        regex += part if i == 0 else (r"\." + part)
    return re.fullmatch(regex, routing_key) is not None


def open_transport(url: str, *, name: str = "haven") -> Transport:
    if url.startswith("memory://"):
        from shared.events.memory import MemoryTransport

        return MemoryTransport()
    if url.startswith(("amqp://", "amqps://")):
        from shared.events.amqp import AmqpTransport

        return AmqpTransport(url, name=name)
    raise ValueError(f"unknown event transport URL: {url!r} (use memory:// or amqp://...)")
