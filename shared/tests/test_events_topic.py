"""AMQP topic matching as RabbitMQ does it (used by the in-memory transport)."""

import pytest

from shared.events.transport import topic_matches


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        # exact
        ("records.incident.created", "records.incident.created", True),
        ("records.incident.created", "records.incident.updated", False),
        ("records.incident", "records.incident.created", False),
        ("records.incident.created", "records.incident", False),
        ("a.b", "a.bc", False),
        # * is exactly one word
        ("records.*.created", "records.incident.created", True),
        ("records.*.created", "records.created", False),
        ("records.*.created", "records.a.b.created", False),
        ("*", "records", True),
        ("*", "records.incident", False),
        ("*", "", False),
        ("*.*", "a.b", True),
        # # is zero or more words, anywhere
        ("#", "", True),
        ("#", "records.incident.created", True),
        ("records.#", "records", True),
        ("records.#", "records.incident.created", True),
        ("records.#", "identity.account.upserted", False),
        ("#.created", "created", True),
        ("#.created", "records.incident.created", True),
        ("#.created", "records.incident.updated", False),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.#.z", "a.b.c", False),
        ("#.#", "a.b", True),
        ("*.#", "a", True),
        ("*.#", "", False),
        ("#.*.c", "c", False),
        ("#.*.c", "b.c", True),
        # words are literal, not regular expressions
        ("a+", "aa", False),
        ("a.?", "a.b", False),
        ("a$", "a$", True),
    ],
)
def test_topic_matches(pattern, key, expected):
    assert topic_matches(pattern, key) is expected
