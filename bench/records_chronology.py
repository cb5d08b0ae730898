"""The chronology of a student with 1,000 incidents, in a school of 2,000 students and
200,000 incidents (PostgreSQL; see ``_records_school.py``).

Measured through the records gRPC API (token check, category rights, class scope, the
incidents with their categories, alert state, action counts, agencies and linked copies, the
audit row, protobuf), in-process, as the median of ``REPEAT`` calls; and the raw SQL that
fetches the same rows (psycopg, no ORM, no auth, no protobuf). The issue asks for the figure
through the gateway; the gateway's part (one gRPC call and HTML) is not measured here.
Targets: under 150 ms, within 3x of the raw SQL. "Show all actions" is measured as well.
"""

from __future__ import annotations

import sys

from bench import _records_school as school

REPEAT = 30
TARGET_MS = 150
TARGET_RATIO = 3.0

# The statements the service issues for a caller who may view every category (the DSL),
# written by hand: the page of incidents, then the student's categories, alerts and actions.
RAW_INCIDENTS = """
SELECT i.id, i.school_id, i.student_id, i.text, i.occurred_at, i.created_at, i.created_by,
       i.created_by_name, i.status, i.number, i.assigned_to, i.assigned_to_name, i.pinned,
       i.link_group_id, i.version, i.updated_at, i.deleted_at, i.deleted_by_name,
       i.deleted_reason
FROM incidents i
WHERE i.school_id = %(school)s AND i.student_id = %(student)s AND i.merged_into_id IS NULL
  AND i.deleted_at IS NULL
ORDER BY i.pinned DESC, i.occurred_at DESC, i.created_at DESC, i.id
LIMIT 1000
"""
RAW_CATEGORIES = """
SELECT incident_id, category_id, action_id, position FROM incident_categories
WHERE school_id = %(school)s AND student_id = %(student)s
"""
RAW_ALERTS = """
SELECT incident_id, action_id, recipient_account_id, read_at, cleared_at FROM alerts
WHERE school_id = %(school)s AND student_id = %(student)s ORDER BY created_at, id
"""
RAW_ACTION_COUNTS = """
SELECT incident_id, count(*) FROM actions
WHERE school_id = %(school)s AND student_id = %(student)s AND split_into_incident_id IS NULL
  AND deleted_at IS NULL
GROUP BY incident_id
"""
RAW_ACTIONS = """
SELECT id, incident_id, student_id, text, occurred_at, created_at, created_by,
       created_by_name, version, updated_at, deleted_at, deleted_by_name, deleted_reason,
       merged_from_number, link_id
FROM actions WHERE school_id = %(school)s AND student_id = %(student)s
  AND split_into_incident_id IS NULL AND deleted_at IS NULL
ORDER BY occurred_at, created_at, id
"""


def raw_chronology(conn, student: str, *, actions: bool) -> int:
    params = {"school": school.SCHOOL, "student": student}
    n = school.sink(conn.execute(RAW_INCIDENTS, params).fetchall())
    for sql in (RAW_CATEGORIES, RAW_ALERTS, RAW_ACTIONS if actions else RAW_ACTION_COUNTS):
        n += school.sink(conn.execute(sql, params).fetchall())
    return n


def run() -> list[dict]:
    import psycopg

    from haven.records.v1 import records_pb2 as pb

    url = school.ensure_school(lambda m: print(m, file=sys.stderr))
    served = school.serve(url)
    try:
        metadata = [("authorization", f"Bearer {served.token}")]
        student = served.heavy_student

        def api(actions: bool):
            reply = served.stub.GetChronology(pb.GetChronologyRequest(
                student_id=student, limit=1000, include_actions=actions),
                metadata=metadata, timeout=30)
            assert len(reply.incidents) == school.HEAVY, len(reply.incidents)
            return reply

        with psycopg.connect(school.psycopg_dsn(), autocommit=True) as conn:
            m = school.medians_ms({
                "api": lambda: api(False),
                "raw": lambda: raw_chronology(conn, student, actions=False),
                "api_actions": lambda: api(True),
                "raw_actions": lambda: raw_chronology(conn, student, actions=True),
            }, repeat=REPEAT)
            api_ms, raw_ms = m["api"], m["raw"]
            api_actions_ms, raw_actions_ms = m["api_actions"], m["raw_actions"]
            actions = len([a for i in api(True).incidents for a in i.actions])
    finally:
        served.stop()
    ratio = api_ms / raw_ms
    return [{
        "name": "records_chronology",
        "figures": {
            "chronology gRPC median ms (1,000 incidents)": api_ms,
            "chronology raw SQL median ms": raw_ms,
            f"show all actions gRPC median ms ({actions} actions)": api_actions_ms,
            "show all actions raw SQL median ms": raw_actions_ms,
        },
        "ratios": {
            "chronology gRPC / raw SQL": ratio,
            "show all actions gRPC / raw SQL": api_actions_ms / raw_actions_ms,
        },
        "targets": {
            "chronology gRPC median ms (1,000 incidents)": f"< {TARGET_MS}",
            "chronology gRPC / raw SQL": f"< {TARGET_RATIO}",
        },
        "passed": api_ms < TARGET_MS and ratio < TARGET_RATIO,
    }]


if __name__ == "__main__":  # pragma: no cover
    from bench.__main__ import print_table

    print_table(run())
