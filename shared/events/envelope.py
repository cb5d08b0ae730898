"""The one envelope every event travels in, with the producer's trace context."""

from __future__ import annotations

import datetime as dt
import uuid

from google.protobuf.message import DecodeError, Message
from opentelemetry import propagate

from haven.events.v1 import envelope_pb2


class BadEnvelope(ValueError):
    """The bytes are not an envelope, or its payload is not the type it says."""


def make_envelope(
    routing_key: str, message: Message, *, school_id: str, actor: str
) -> envelope_pb2.Envelope:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    env = envelope_pb2.Envelope(
        id=str(uuid.uuid4()),
        type=routing_key,
        school_id=school_id or "",
        actor=actor or "",
        traceparent=carrier.get("traceparent", ""),
        tracestate=carrier.get("tracestate", ""),
        payload_type=message.DESCRIPTOR.full_name,
        payload=message.SerializeToString(),
    )
    env.occurred_at.FromDatetime(dt.datetime.now(dt.UTC))
    return env


def decode_envelope(body: bytes) -> envelope_pb2.Envelope:
    env = envelope_pb2.Envelope()
    try:
        env.ParseFromString(body)
    except DecodeError as exc:
        raise BadEnvelope(f"not an envelope: {exc}") from exc
    if not env.id or not env.type:
        raise BadEnvelope("envelope without id or type")
    return env


def open_payload(env: envelope_pb2.Envelope, message_cls: type[Message]) -> Message:
    if env.payload_type != message_cls.DESCRIPTOR.full_name:
        raise BadEnvelope(
            f"{env.type}: payload is {env.payload_type}, expected "
            f"{message_cls.DESCRIPTOR.full_name}"
        )
    msg = message_cls()
    try:
        msg.ParseFromString(env.payload)
    except DecodeError as exc:
        raise BadEnvelope(f"{env.type}: undecodable payload: {exc}") from exc
    return msg


def trace_carrier(env: envelope_pb2.Envelope) -> dict[str, str]:
    carrier = {}
    if env.traceparent:
        carrier["traceparent"] = env.traceparent
    if env.tracestate:
        carrier["tracestate"] = env.tracestate
    return carrier
