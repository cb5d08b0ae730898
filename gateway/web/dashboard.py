"""The dashboard: alerts for everyone; a quick student search for full access; 'My History'
(last 7 days of one's own incidents) and a student picker for restricted access."""

from __future__ import annotations

from flask import Blueprint, render_template

from gateway.backends import call
from gateway.web.session import current_claims, login_required
from haven.records.v1 import records_pb2

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@login_required
def index():
    claims = current_claims()
    alerts = call("records", "ListAlerts", records_pb2.ListAlertsRequest()).alerts
    history = []
    if not claims.full_access:
        history = call("records", "ListMyHistory", records_pb2.ListMyHistoryRequest()).incidents
    return render_template("dashboard.html", alerts=alerts, history=history)
