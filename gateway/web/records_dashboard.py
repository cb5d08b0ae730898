"""The records parts of the dashboard: for full access, the student filters (monitored, by
group, by category), My Assigned and, for administrators while class restrictions are on, the
notice of new classes."""

from __future__ import annotations

from typing import Any

from gateway.web.admin import is_admin
from gateway.web.records_common import tolerant
from gateway.web.session import current_claims
from gateway.web.students import monitorable_categories
from haven.records.v1 import records_pb2


def records_panels() -> dict[str, Any]:
    claims = current_claims()
    if not claims.full_access:
        return {}
    groups = tolerant("records", "ListGroups", records_pb2.ListGroupsRequest(),
                      records_pb2.ListGroupsResponse())
    assigned = tolerant("records", "ListMyAssigned", records_pb2.ListMyAssignedRequest(),
                        records_pb2.ListMyAssignedResponse()).incidents
    by_kind: dict[str, list] = {"tutor": [], "year": []}
    for g in groups.groups:
        by_kind.setdefault(g.kind or "tutor", []).append(g)
    return {
        "tutor_groups": by_kind.get("tutor", []), "year_groups": by_kind.get("year", []),
        "filter_categories": monitorable_categories(), "assigned": list(assigned),
        "new_group_count": groups.new_group_count if is_admin(claims) else 0,
    }
