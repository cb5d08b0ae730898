"""Every process of the distributed platform exposes Prometheus metrics that parse."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families


def test_every_process_serves_parseable_metrics(platform):
    scraped = {}
    for name, proc in platform.procs.items():
        url = (f"{platform.base_url}/metrics" if name == "gateway"
               else f"http://127.0.0.1:{proc.metrics_port}/metrics")
        r = requests.get(url, timeout=5)
        assert r.status_code == 200, name
        families = {f.name for f in text_string_to_metric_families(r.text)}
        scraped[name] = families
    assert len(scraped) == 13
    assert "haven_rpc_requests" in scraped["records-api"]
    assert "haven_http_requests" in scraped["gateway"]
    assert "haven_events_consumed" in scraped["notifications-worker"]
