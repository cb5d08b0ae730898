"""Client channels to other services.

Every call carries a deadline, the caller's token and client address as metadata, and the
trace context (OpenTelemetry's client interceptor). Idempotent methods (Get*, List*, Search*)
are retried by gRPC's own retry policy on UNAVAILABLE; others never are.
"""

from __future__ import annotations

import json
from typing import Any

import grpc
from opentelemetry.instrumentation.grpc import client_interceptor as otel_client_interceptor
from opentelemetry.instrumentation.grpc.grpcext import intercept_channel

from shared.context import current_request, optional_claims

IDEMPOTENT_PREFIXES = ("Get", "List", "Search")


def _service_config(service_descriptor) -> str:
    names = [
        {"service": service_descriptor.full_name, "method": m.name}
        for m in service_descriptor.methods
        if m.name.startswith(IDEMPOTENT_PREFIXES)
    ]
    config: dict[str, Any] = {"methodConfig": []}
    if names:
        config["methodConfig"].append(
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        )
    return json.dumps(config)


def make_channel(addr: str, service_descriptor=None) -> grpc.Channel:
    options = [
        ("grpc.enable_retries", 1),
        ("grpc.keepalive_time_ms", 30000),
        # A restarted peer is found again within seconds (gRPC's default backoff reaches 120 s).
        ("grpc.max_reconnect_backoff_ms", 5000),
        # Each channel owns its connections: a subchannel shared with an older channel to the
        # same address may still be in reconnect backoff and fail calls at once.
        ("grpc.use_local_subchannel_pool", 1),
    ]
    if service_descriptor is not None:
        options.append(("grpc.service_config", _service_config(service_descriptor)))
    channel = grpc.insecure_channel(addr, options=options)
    return intercept_channel(channel, otel_client_interceptor())


class ServiceClient:
    """A stub with Haven's call conventions: ``client.call("GetX", request, token=...)``."""

    def __init__(self, addr: str, stub_cls, service_descriptor, *, timeout: float = 5.0) -> None:
        self.addr = addr
        self.channel = make_channel(addr, service_descriptor)
        self.stub = stub_cls(self.channel)
        self.timeout = timeout

    def call(
        self,
        method: str,
        request,
        *,
        token: str | None = None,
        client_ip: str | None = None,
        user_agent: str | None = None,
        timeout: float | None = None,
    ):
        if token is None:
            claims = optional_claims()
            token = claims.token if claims else ""
        req = current_request()
        metadata = []
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        ip = client_ip if client_ip is not None else req.client_ip
        ua = user_agent if user_agent is not None else req.user_agent
        if ip:
            metadata.append(("x-client-ip", ip))
        if ua:
            metadata.append(("x-user-agent", ua[:300]))
        return getattr(self.stub, method)(
            request, timeout=timeout or self.timeout, metadata=metadata
        )

    def close(self) -> None:
        self.channel.close()
