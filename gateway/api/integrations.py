"""/api/v1/integrations: what integrations (web-filtering and monitoring vendors) may do with
an OAuth2 client-credentials token (POST /oauth/token). Registered on the API blueprint of
``gateway.api.routes`` (same bearer-token check and JSON errors; that check refuses integration
tokens on every other route); described in ``gateway.openapi_integrations``.

- ``POST /integrations/concerns`` (scope ``incidents:add``): add a concern to a named student's
  chronology (records' ``AddIntegrationConcern``); the answer is the new incident's id only
  (201), or the first one's for a repeated ``external_reference`` (200).
"""

from __future__ import annotations

from flask import g, jsonify

from gateway.api.routes import ApiError, _body, _instant, bp
from gateway.api.validation import InvalidBody
from gateway.backends import call
from haven.records.v1 import records_pb2

ADD_SCOPE = "incidents:add"
INTEGRATION_ACCESS = "integration"


@bp.post("/integrations/concerns")
def add_integration_concern():
    claims = g.claims
    if claims.access != INTEGRATION_ACCESS or ADD_SCOPE not in claims.scopes:
        raise ApiError(403, f"Use an integration's token with the '{ADD_SCOPE}' scope "
                            "(POST /oauth/token, grant_type=client_credentials).",
                       "permission_denied")
    body = _body("IntegrationConcernRequest")
    if bool(body.get("upn")) == bool(body.get("mis_id")):
        raise InvalidBody("Name the student by 'upn' or by 'mis_id' (one of them).", "upn")
    req = records_pb2.AddIntegrationConcernRequest(
        upn=body.get("upn", ""), mis_id=body.get("mis_id", ""), text=body["text"],
        category=body["category"], external_reference=body.get("external_reference", ""))
    if body.get("occurred_at"):
        req.occurred_at.CopyFrom(_instant(body, "occurred_at"))
    reply = call("records", "AddIntegrationConcern", req)
    response = jsonify(id=reply.id)
    response.status_code = 200 if reply.replayed else 201
    return response
