"""The dashboard: alerts for everyone; a quick student search for full access; 'My History'
(last 7 days of one's own incidents) and a student picker for restricted access; the import
health traffic light for everyone."""

from __future__ import annotations

from flask import Blueprint, render_template

from gateway.backends import call
from gateway.web.imports import import_health
from gateway.web.records_dashboard import records_panels
from gateway.web.session import current_claims, login_required
from haven.records.v1 import records_pb2

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@login_required
def index():
    claims = current_claims()
    alerts = call("records", "ListAlerts", records_pb2.ListAlertsRequest()).alerts
    history, history_actions = [], []
    if not claims.full_access:
        reply = call("records", "ListMyHistory", records_pb2.ListMyHistoryRequest())
        history, history_actions = reply.incidents, reply.actions
    return render_template("dashboard.html", alerts=alerts, history=history,
                           history_actions=history_actions, import_health=import_health(),
                           **records_panels())
