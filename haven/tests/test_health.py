"""Every service of the all-in-one platform answers the standard gRPC health check and
lists its API through server reflection; the gateway's probes reflect them."""

from __future__ import annotations

import grpc
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from haven import allinone
from shared.events.memory import reset_broker

EXPECTED = {
    "identity": "haven.identity.v1.IdentityService",
    "records": "haven.records.v1.RecordsService",
    "reporting": "haven.reporting.v1.ReportingService",
    "mis_import": "haven.mis_import.v1.MisImportService",
    "transfers": "haven.transfers.v1.TransfersService",
    "notifications": "haven.notifications.v1.NotificationsService",
}


def test_health_reflection_and_probes(allinone_env):
    reset_broker()
    app = allinone.start(int(allinone_env["HAVEN_PORT"]), seed=False)
    try:
        for name, service in EXPECTED.items():
            port = app.running.ports[name]
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)
                reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
                reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
                answers = reflection.ServerReflectionInfo(
                    iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
                )
                listed = {s.name for a in answers for s in a.list_services_response.service}
                assert service in listed and "grpc.health.v1.Health" in listed, name
        base = f"http://127.0.0.1:{app.port}"
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        app.running.servers[1].stop(0).wait(5)  # records goes away
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 503
    finally:
        app.stop()
        reset_broker()
