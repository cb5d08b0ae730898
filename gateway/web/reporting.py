"""Reporting overview: incidents per category over a date range, as a table and a chart."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, current_app, render_template, request

from gateway.backends import call
from gateway.present import bar_chart, category_tree, local_to_utc, timestamp
from gateway.web.session import login_required
from haven.reporting.v1 import reporting_pb2

bp = Blueprint("reporting", __name__)


def _day(value: str | None, default: date) -> date:
    return date.fromisoformat(value) if value else default


@bp.get("/reporting")
@login_required
def overview():
    zone = current_app.config["HAVEN_CONFIG"].zone
    today = datetime.now(zone).date()
    raw_from, raw_to = request.args.get("from", "").strip(), request.args.get("to", "").strip()
    try:
        first = _day(raw_from, today - timedelta(days=365))
        last = _day(raw_to, today)
    except ValueError:
        return render_template("reporting.html", error="Enter dates like 2026-03-02.",
                               first=raw_from, last=raw_to, rows=[], chart=None, total=0), 400
    if first > last:
        return render_template("reporting.html", error="The start date is after the end date.",
                               first=first.isoformat(), last=last.isoformat(), rows=[],
                               chart=None, total=0), 400
    try:
        req = reporting_pb2.GetOverviewRequest(**{
            "from": timestamp(local_to_utc(first, time(0, 0), zone)),
            "to": timestamp(local_to_utc(last + timedelta(days=1), time(0, 0), zone)),
        })
    except (OverflowError, ValueError):
        return render_template("reporting.html", error="Those dates are out of range.",
                               first=raw_from, last=raw_to, rows=[], chart=None, total=0), 400
    reply = call("reporting", "GetOverview", req)
    rows = []
    for parent, children in category_tree(reply.categories):
        rows.append((parent, False))
        rows.extend((child, True) for child in children)
    chart = bar_chart([(("– " if sub else "") + c.name, int(c.incidents)) for c, sub in rows])
    return render_template("reporting.html", error=None, first=first.isoformat(),
                           last=last.isoformat(), rows=rows, chart=chart,
                           total=reply.total_incidents)
