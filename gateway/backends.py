"""The gateway's gRPC clients to the services, and the one way views call them.

``call("records", "GetIncident", request)`` forwards the caller's access token, the client's
address and user agent (``x-client-ip``, ``x-user-agent``), and (through the ServiceClient's
OpenTelemetry interceptor) the request's trace context.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, has_request_context, request
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.config import GatewayConfig
from haven.identity.v1 import identity_pb2, identity_pb2_grpc
from haven.mis_import.v1 import mis_import_pb2, mis_import_pb2_grpc
from haven.records.v1 import records_pb2, records_pb2_grpc
from haven.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from shared.auth import TokenVerifier
from shared.grpc.client import ServiceClient

EXTENSION = "haven.backends"


@dataclass
class Backends:
    identity: ServiceClient
    records: ServiceClient
    reporting: ServiceClient
    verifier: TokenVerifier
    mis_import: ServiceClient | None = None

    @classmethod
    def connect(cls, config: GatewayConfig) -> Backends:
        timeout = config.rpc_timeout
        identity = ServiceClient(
            config.identity_addr,
            identity_pb2_grpc.IdentityServiceStub,
            identity_pb2.DESCRIPTOR.services_by_name["IdentityService"],
            timeout=timeout,
        )
        records = ServiceClient(
            config.records_addr,
            records_pb2_grpc.RecordsServiceStub,
            records_pb2.DESCRIPTOR.services_by_name["RecordsService"],
            timeout=timeout,
        )
        reporting = ServiceClient(
            config.reporting_addr,
            reporting_pb2_grpc.ReportingServiceStub,
            reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"],
            timeout=timeout,
        )

        mis_import = ServiceClient(
            config.mis_import_addr,
            mis_import_pb2_grpc.MisImportServiceStub,
            mis_import_pb2.DESCRIPTOR.services_by_name["MisImportService"],
            timeout=timeout,
        )

        def fetch_jwks() -> str:
            # Public keys: no token. Called rarely (first use, unknown kid after a rotation).
            return identity.call("GetJwks", identity_pb2.GetJwksRequest(), token="").jwks_json

        return cls(identity, records, reporting, TokenVerifier(fetch_jwks), mis_import)

    def client(self, name: str) -> ServiceClient:
        return {"identity": self.identity, "records": self.records,
                "reporting": self.reporting, "mis_import": self.mis_import}[name]

    def healthy(self, name: str, timeout: float = 1.0) -> bool:
        """The peer answers the standard gRPC health check with SERVING."""
        stub = health_pb2_grpc.HealthStub(self.client(name).channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except Exception:  # any failure to answer means "not ready"
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def close(self) -> None:
        for c in (self.identity, self.records, self.reporting, self.mis_import):
            if c is not None:
                c.close()


def backends() -> Backends:
    return current_app.extensions[EXTENSION]


def client_ip() -> str:
    return (request.remote_addr or "") if has_request_context() else ""


def user_agent() -> str:
    return (request.headers.get("User-Agent", "")[:300]) if has_request_context() else ""


def call(service: str, method: str, req, *, token: str | None = None,
         timeout: float | None = None):
    """Call ``service.method(req)`` as the current caller (token from ``g.token``);
    ``timeout`` overrides the usual deadline (slow calls such as a file's last chunk)."""
    if token is None:
        token = getattr(g, "token", "") or ""
    return backends().client(service).call(
        method, req, token=token, client_ip=client_ip(), user_agent=user_agent(),
        timeout=timeout,
    )
