"""Probes, metrics, tracing into gRPC, client address forwarding, error pages."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from gateway.app import close_app, create_app
from gateway.tests.conftest import log_in
from gateway.tests.fakes import TEACHER


def test_healthz_answers_without_peers(client, platform):
    platform.stop()
    assert client.get("/healthz").status_code == 200


def test_readyz_ok_when_identity_and_records_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["peers"] == {"identity": "ok", "records": "ok"}


def test_readyz_names_the_peer_that_is_down(client, platform):
    platform.served["records"].stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["down"] == ["records"]
    assert response.json["peers"]["identity"] == "ok"


def test_readyz_counts_not_serving_as_down(client, platform):
    platform.served["identity"].not_serving()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["down"] == ["identity"]


def test_reporting_down_does_not_make_the_gateway_unready(client, platform):
    platform.served["reporting"].stop()
    assert client.get("/readyz").status_code == 200


def test_metrics_parse_and_count_requests_by_url_rule(client, teacher):
    teacher.get("/students?q=ava")
    teacher.get("/students/abc")
    response = client.get("/metrics")
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.get_data(
        as_text=True))}
    requests = families["haven_http_requests"]
    routes = {s.labels["route"] for s in requests.samples}
    assert {"/students", "/students/<student_id>", "/login"} <= routes
    assert "/students/abc" not in routes  # labelled by rule, not by URL
    assert "haven_http_request_duration_seconds" in families


def test_records_down_gives_the_503_page(teacher, platform):
    platform.served["records"].stop()
    response = teacher.get("/")
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "A part of Haven is not answering; please try again shortly." in html
    assert '<header class="site-header">' in html  # in the site's layout


def test_unknown_page_is_a_friendly_404(teacher):
    response = teacher.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Not found" in html and "Back to the dashboard" in html


def test_unexpected_gateway_errors_are_a_500_page(platform):
    app = create_app(platform.gateway_settings())  # not TESTING: errors are handled
    try:
        @app.get("/boom")
        def boom():
            raise RuntimeError("bug")

        response = app.test_client().get("/boom")
        assert response.status_code == 500
        assert "Something went wrong" in response.get_data(as_text=True)
    finally:
        close_app(app)


def test_method_not_allowed_is_a_page(client):
    response = client.put("/login")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_too_large_a_body_is_413(client, platform):
    response = client.post("/api/v1/auth/login", data="x" * (2 * 1024 * 1024),
                           content_type="application/json")
    assert response.status_code == 413
    assert platform.identity.called("Login") == []


def test_the_trace_continues_into_grpc_calls(teacher, platform):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    teacher.get("/", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    meta = platform.records.called("ListAlerts")[-1].metadata
    assert meta["traceparent"].split("-")[1] == trace_id


def test_client_address_is_forwarded_and_proxies_trusted_only_when_configured(teacher,
                                                                               platform):
    teacher.get("/", headers={"X-Forwarded-For": "203.0.113.9", "User-Agent": "Edge/1"})
    meta = platform.records.called("ListAlerts")[-1].metadata
    assert meta["x-client-ip"] == "127.0.0.1" and meta["x-user-agent"] == "Edge/1"

    app = create_app(platform.gateway_settings(trusted_proxies=1, TESTING=True))
    try:
        client = app.test_client()
        log_in(client, TEACHER)
        client.get("/", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
        meta = platform.records.called("ListAlerts")[-1].metadata
        assert meta["x-client-ip"] == "203.0.113.9"  # the one our proxy saw
    finally:
        close_app(app)


def test_unavailable_identity_at_login_is_a_503_page(client, platform):
    platform.oidc.stop()  # identity's HTTP side (its login page) is not answering
    started = client.get("/login")
    response = client.get(started.headers["Location"])
    assert response.status_code == 503
    assert "not answering" in response.get_data(as_text=True)


ODD = ["%00", "%ff%fe", "' OR 1=1 --", "<script>x</script>", "x" * 3000, "..%2F..%2Fetc"]


def test_odd_input_never_gives_a_500(dsl, platform):
    for odd in ODD:
        for path in (f"/students?q={odd}&archived={odd}", f"/students/{odd}",
                     f"/students/a?highlight={odd}", f"/incidents/new?student={odd}",
                     f"/incidents/new?q={odd}", f"/incidents/{odd}",
                     f"/reporting?from={odd}&to={odd}", f"/elevate?next={odd}",
                     f"/login?next={odd}", f"/colours.css?c={odd}",
                     f"/api/v1/students?q={odd}&limit={odd}", f"/api/v1/incidents/{odd}",
                     f"/api/v1/reporting/overview?from={odd}"):
            response = dsl.get(path)
            assert response.status_code < 500, (path, response.status_code)
            if "<script>x" in odd:
                assert "<script>x</script>" not in response.get_data(as_text=True)
