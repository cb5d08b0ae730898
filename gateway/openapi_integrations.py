"""The OpenAPI description of the integrations' /api/v1 routes (``gateway.api.integrations``),
merged into ``gateway.openapi`` by ``extend(PATHS, SCHEMAS)``."""

from __future__ import annotations

from typing import Any

TAG = "integrations"
CONCERN_HELP = (
    "For web-filtering and monitoring vendors: add a concern to a named student's chronology "
    "with an OAuth2 client-credentials token whose scope is 'incidents:add' (an administrator "
    "creates the integration; POST /oauth/token with grant_type=client_credentials). The "
    "student is named by UPN or MIS id and must be a current student of the token's school "
    "(else 404); the category, by id or name, must be one the school has enabled (else 422). "
    "The answer is the new incident's id and nothing else: an integration reads nothing, and "
    "its token is refused (403) on every other route. A repeated external_reference answers "
    "the first concern's id with 200 (the same reference for another student: 409)."
)


def extend(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    from gateway import openapi as o  # the helpers (called while gateway.openapi loads)

    s, obj, op, js = o._string, o._object, o._op, o._json
    schemas.update({
        "IntegrationConcernRequest": obj({
            "upn": s("the student's UPN (or send mis_id)", minLength=1, maxLength=64),
            "mis_id": s("the student's MIS id (or send upn)", minLength=1, maxLength=64),
            "text": s("the concern, as the vendor saw it", minLength=1, maxLength=20000),
            "category": s("an enabled category of the school: its id or its name",
                          minLength=1, maxLength=200),
            "occurred_at": s("ISO 8601 date-time; without an offset it is school time; "
                             "omitted means now", format="date-time"),
            "external_reference": s("the vendor's id for this concern: sending it again adds "
                                    "nothing and answers the same id (unique per integration)",
                                    maxLength=100),
        }, ["text", "category"], closed=True),
        "IntegrationConcern": obj({"id": s("the incident's id")}, ["id"]),
    })
    added = op("addIntegrationConcern", "Add a concern to a student's chronology "
               "(integrations)", "201", js("IntegrationConcern", "The concern was added"),
               tag=TAG, body="IntegrationConcernRequest",
               errors=("401", "403", "404", "409", "422", "503"))
    added["description"] = CONCERN_HELP
    added["responses"]["200"] = js("IntegrationConcern", "Already added with this "
                                                          "external_reference: its id")
    paths.update({"/integrations/concerns": {"post": added}})
