"""Build a gRPC server with health, reflection and Haven's interceptors.

The interceptor verifies the caller's token (metadata ``authorization: Bearer ...``) unless
the method is public, sets the request context (claims, school, client address), records RED
metrics, and maps domain errors to status codes. Tracing comes from OpenTelemetry's gRPC
server interceptor, which continues the caller's trace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import server_interceptor as otel_server_interceptor

from shared.auth import TokenVerifier
from shared.context import RequestInfo, acting_as
from shared.errors import DomainError, Unauthenticated
from shared.grpc.errors import status_for
from shared.telemetry import metrics

log = logging.getLogger(__name__)

ALWAYS_PUBLIC_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


def _metadata(details) -> dict[str, str]:
    return {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}


class HavenServerInterceptor(grpc.ServerInterceptor):
    def __init__(
        self,
        service: str,
        verifier: TokenVerifier | None,
        public_methods: Iterable[str] = (),
    ) -> None:
        self.service = service
        self.verifier = verifier
        self.public = set(public_methods)

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(ALWAYS_PUBLIC_PREFIXES):
            return handler
        if not handler.unary_unary:
            return handler  # only unary calls are used by Haven
        meta = _metadata(handler_call_details)
        short = method.rsplit("/", 1)[-1]
        public = short in self.public or method in self.public
        inner = handler.unary_unary

        def wrapped(request, context: grpc.ServicerContext):
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                claims = None
                if not public:
                    auth = meta.get("authorization", "")
                    token = auth[7:] if auth.lower().startswith("bearer ") else ""
                    if self.verifier is None:
                        raise Unauthenticated("this service accepts no tokens")
                    claims = self.verifier.verify(token)
                info = RequestInfo(
                    client_ip=meta.get("x-client-ip", ""), user_agent=meta.get("x-user-agent", "")
                )
                with acting_as(claims, info):
                    return inner(request, context)
            except DomainError as exc:
                code = status_for(exc)
                context.abort(code, exc.message)
            except grpc.RpcError:
                code = context.code() if hasattr(context, "code") and context.code() else (
                    grpc.StatusCode.UNKNOWN
                )
                raise
            except Exception:
                state = getattr(context, "_state", None)
                if state is not None and getattr(state, "aborted", False):
                    code = getattr(state, "code", None) or grpc.StatusCode.UNKNOWN
                    raise
                code = grpc.StatusCode.INTERNAL
                log.exception("%s failed", method)
                context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                metrics.RPC_REQUESTS.labels(self.service, short, code.name).inc()
                metrics.RPC_LATENCY.labels(self.service, short).observe(
                    time.perf_counter() - start
                )

        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def build_server(
    *,
    service: str,
    port: int,
    register: Iterable[Callable[[grpc.Server], None]],
    service_names: Iterable[str],
    verifier: TokenVerifier | None,
    public_methods: Iterable[str] = (),
    host: str = "0.0.0.0",
    max_workers: int = 16,
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """Create, register and start a server. Returns (server, bound port, health servicer)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"{service}-rpc"),
        interceptors=[
            otel_server_interceptor(),
            HavenServerInterceptor(service, verifier, public_methods),
        ],
        options=[("grpc.so_reuseport", 0)],
    )
    for add in register:
        add(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = list(service_names)
    for name in names + [""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        names + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                 reflection.SERVICE_NAME],
        server,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"{service}: cannot bind gRPC port {port}")
    server.start()
    return server, bound, health_servicer
