"""Pure helpers: configuration, school time, category trees, chart geometry, body checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from gateway.api.validation import InvalidBody, validate_body
from gateway.config import GatewayConfig
from gateway.present import (
    bar_chart,
    category_tree,
    colour,
    format_when,
    local_to_utc,
    parse_instant,
    text_colour,
)
from gateway.web.session import safe_next
from shared.config import ConfigError

LONDON = ZoneInfo("Europe/London")


def test_config_reads_gateway_and_platform_variables(monkeypatch):
    monkeypatch.setenv("GATEWAY_SECRET_KEY", "k")
    monkeypatch.setenv("GATEWAY_SECURE_COOKIES", "true")
    monkeypatch.setenv("GATEWAY_TRUSTED_PROXIES", "2")
    monkeypatch.setenv("HAVEN_RECORDS_ADDR", "records:50051")
    cfg = GatewayConfig.from_env()
    assert cfg.secret_key == "k" and not cfg.secret_key_generated
    assert cfg.secure_cookies and cfg.trusted_proxies == 2 and cfg.port == 8080
    assert cfg.records_addr == "records:50051" and cfg.identity_addr == "127.0.0.1:50051"


def test_config_defaults_and_errors(monkeypatch):
    for name in ("GATEWAY_SECRET_KEY", "GATEWAY_SECURE_COOKIES", "GATEWAY_TIME_ZONE"):
        monkeypatch.delenv(name, raising=False)
    cfg = GatewayConfig.from_env()
    assert cfg.secret_key_generated and len(cfg.secret_key) >= 32
    assert not cfg.secure_cookies and cfg.time_zone == "Europe/London"
    monkeypatch.setenv("GATEWAY_TIME_ZONE", "Mars/Olympus")
    with pytest.raises(ConfigError):
        GatewayConfig.from_env()
    monkeypatch.setenv("GATEWAY_TIME_ZONE", "Europe/London")
    monkeypatch.setenv("GATEWAY_SECURE_COOKIES", "perhaps")
    with pytest.raises(ConfigError):
        GatewayConfig.from_env()


def test_school_time_round_trip_across_clock_changes():
    assert local_to_utc(date(2026, 1, 15), time(9, 0), LONDON) == datetime(
        2026, 1, 15, 9, 0, tzinfo=UTC)
    assert local_to_utc(date(2026, 7, 15), time(9, 0), LONDON) == datetime(
        2026, 7, 15, 8, 0, tzinfo=UTC)
    assert parse_instant("2026-03-29", LONDON) == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert parse_instant("2026-03-29", LONDON, end_of_day=True) == datetime(
        2026, 3, 29, 23, 0, tzinfo=UTC)
    assert parse_instant("2026-05-01T12:00:00Z", LONDON) == datetime(
        2026, 5, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_instant("tomorrow", LONDON)
    assert format_when(datetime(2026, 3, 3, 14, 5, tzinfo=LONDON)) == "Tue 3 Mar 2026, 14:05"


def test_colours_are_sanitised():
    assert colour("#D97706") == "d97706"
    assert colour("red;}") == "6b7280" and colour("") == "6b7280"
    assert text_colour("ffffff") == "111111" and text_colour("1d4ed8") == "ffffff"


def test_category_tree_groups_children_under_parents():
    c = SimpleNamespace
    items = [c(id="a", parent_id=""), c(id="a1", parent_id="a"), c(id="b", parent_id=""),
             c(id="orphan", parent_id="gone"), c(id="a2", parent_id="a")]
    tree = [(p.id, [x.id for x in kids]) for p, kids in category_tree(items)]
    assert tree == [("a", ["a1", "a2"]), ("b", []), ("orphan", [])]


def test_bar_chart_scales_to_the_largest():
    chart = bar_chart([("A", 10), ("B", 5), ("C", 0)])
    lengths = [b["length"] for b in chart["bars"]]
    assert lengths[0] > lengths[1] > lengths[2] == 0
    assert lengths[0] == 2 * lengths[1]
    assert bar_chart([])["bars"] == []
    assert [b["length"] for b in bar_chart([("A", 0)])["bars"]] == [0]


def test_body_validation_names_nested_fields():
    ok = validate_body({"session_id": "s", "code": "123456"}, "ElevateRequest")
    assert ok["code"] == "123456"
    with pytest.raises(InvalidBody, match="'code' is required"):
        validate_body({"session_id": "s"}, "ElevateRequest")
    with pytest.raises(InvalidBody, match="'category_ids\\[1\\]' must be a string"):
        validate_body({"student_id": "s", "text": "t", "category_ids": ["a", None]},
                      "CreateIncidentRequest")
    with pytest.raises(InvalidBody, match="must be true or false|must be a string"):
        validate_body({"session_id": True}, "SessionRequest")
    with pytest.raises(InvalidBody, match="JSON object"):
        validate_body([], "SessionRequest")


@pytest.mark.parametrize("value,expected", [
    ("/students?q=a", "/students?q=a"), ("/", "/"), (None, "/"), ("", "/"),
    ("https://evil.example", "/"), ("//evil.example", "/"), ("/\\evil", "/"),
    ("javascript:alert(1)", "/"),
])
def test_safe_next_keeps_to_this_site(value, expected):
    assert safe_next(value) == expected
