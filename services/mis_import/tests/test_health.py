"""Import health colours (user guide 29.5): time since the last success, latest outcomes."""

from __future__ import annotations

import datetime as dt

import pytest

from services.mis_import.health import assess
from services.mis_import.models import ImportRun
from services.mis_import.settings import Thresholds

NOW = dt.datetime(2026, 3, 10, 9, 0)
LIMITS = Thresholds(amber_after_hours=36, red_after_hours=72)


def runs(*outcomes: tuple[str, int]) -> list[ImportRun]:
    return [ImportRun(status=status, rejected=rejected, source="ctf-xml")
            for status, rejected in outcomes]


def colour(finished, last_success_hours_ago, red_failures=3):
    last = None if last_success_hours_ago is None else NOW - dt.timedelta(
        hours=last_success_hours_ago)
    return assess(finished=finished, last_success_at=last, running=False, limits=LIMITS,
                  red_failures=red_failures, now=NOW)


@pytest.mark.parametrize(("finished", "hours", "expected"), [
    (runs(("succeeded", 0)), 2, "green"),
    (runs(("succeeded", 0)), 40, "amber"),
    (runs(("succeeded", 0)), 80, "red"),
    (runs(("succeeded", 3)), 2, "amber"),  # the latest run rejected rows
    (runs(("failed", 0), ("succeeded", 0)), 2, "amber"),
    (runs(("interrupted", 0), ("succeeded", 0)), 2, "amber"),
    (runs(("failed", 0), ("failed", 0), ("failed", 0)), 2, "red"),  # three failures
    ([], None, "red"),  # never imported
    (runs(("failed", 0)), None, "red"),
])
def test_colours(finished, hours, expected):
    assert colour(finished, hours).colour == expected


def test_reasons_say_why_and_thresholds_are_reported():
    health = colour(runs(("failed", 0), ("succeeded", 0)), 50)
    assert health.colour == "amber"
    assert health.reasons == ["The last successful import was 2 days ago.",
                              "The latest import failed."]
    assert (health.amber_after_hours, health.red_after_hours) == (36, 72)
    assert colour(runs(("succeeded", 0)), 1).reasons == []
