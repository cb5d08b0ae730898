"""One trace id links the gateway request, the records RPC and the notifications consumer."""

from __future__ import annotations

import time
import uuid

import requests
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from haven import allinone
from shared.events.memory import reset_broker
from shared.telemetry.tracing import add_span_processor, setup_tracing

PASSWORD = "Haven-demo-2026!"


def _login(base: str, email: str) -> dict:
    r = requests.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD},
                      timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_one_trace_from_the_gateway_through_records_to_the_notifications_consumer(allinone_env):
    setup_tracing("haven-test")
    exporter = InMemorySpanExporter()
    add_span_processor(SimpleSpanProcessor(exporter))
    reset_broker()
    app = allinone.start(int(allinone_env["HAVEN_PORT"]))
    try:
        base = f"http://127.0.0.1:{app.port}"
        teacher = _login(base, "teacher1@demo.haven.test")
        student = requests.get(f"{base}/api/v1/students", params={"q": "a"}, headers=teacher,
                               timeout=10).json()["students"][0]
        category = next(c for c in requests.get(f"{base}/api/v1/categories", headers=teacher,
                                                timeout=10).json()["categories"] if c["can_add"])
        dsl = next(s for s in requests.get(f"{base}/api/v1/staff", params={"q": "dsl"},
                                           headers=teacher, timeout=10).json()["staff"])
        exporter.clear()
        r = requests.post(f"{base}/api/v1/incidents", headers=teacher, timeout=10, json={
            "student_id": student["id"], "text": "Trace me", "category_ids": [category["id"]],
            "alert_account_ids": [dsl["account_id"]], "request_id": str(uuid.uuid4()),
        })
        assert r.status_code == 201, r.text

        def spans_named(fragment, kind=None):
            return [s for s in exporter.get_finished_spans()
                    if fragment in s.name and (kind is None or s.kind == kind)]

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not spans_named("consume records.alert.raised"):
            time.sleep(0.1)
        http = [s for s in exporter.get_finished_spans()
                if s.kind == SpanKind.SERVER and "incidents" in s.name]
        rpc = spans_named("RecordsService/CreateIncident", SpanKind.SERVER)
        consumed = spans_named("consume records.alert.raised")
        assert http and rpc and consumed, [s.name for s in exporter.get_finished_spans()]
        trace_id = http[0].context.trace_id
        assert rpc[0].context.trace_id == trace_id
        assert consumed[0].context.trace_id == trace_id
    finally:
        app.stop()
        reset_broker()
