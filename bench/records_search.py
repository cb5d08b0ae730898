"""The dashboard's quick student search (any part of a name) in a school of 2,000 students
and 200,000 incidents (PostgreSQL; see ``_records_school.py``).

Measured through the records gRPC API (token check, category rights, class scope, the
students matching every word, their monitored categories, protobuf), in-process, as the
median over a set of typical queries; and the raw SQL that fetches the same rows (psycopg).
The issue asks for the figure through the gateway; the gateway's part is not measured here.
Targets: under 50 ms, within 3x of the raw SQL.
"""

from __future__ import annotations

import itertools
import sys

from bench import _records_school as school

REPEAT = 100
TARGET_MS = 50
TARGET_RATIO = 3.0
QUERIES = ("ann", "smith", "ol", "jack w", "ah", "lee", "mia", "son")

RAW_STUDENTS = """
SELECT id, upn, first_name, last_name, preferred_name, year_group, tutor_group, date_of_birth,
       archived, gender
FROM students
WHERE school_id = %(school)s AND archived IS false AND {words}
ORDER BY lower(last_name), lower(first_name), id
LIMIT 20
"""
RAW_WORD = """(lower(first_name) LIKE %({w})s OR lower(last_name) LIKE %({w})s
     OR lower(preferred_name) LIKE %({w})s OR lower(preferred_last_name) LIKE %({w})s)"""
RAW_MONITORED = """
SELECT student_id, category_id FROM monitoring
WHERE school_id = %(school)s AND student_id = ANY(%(ids)s) AND ended_at IS NULL
ORDER BY started_at, id
"""


def raw_search(conn, query: str) -> int:
    words = query.split()
    params = {"school": school.SCHOOL}
    clauses = []
    for n, word in enumerate(words):
        params[f"w{n}"] = f"%{word.lower()}%"
        clauses.append(RAW_WORD.format(w=f"w{n}"))
    rows = conn.execute(RAW_STUDENTS.format(words=" AND ".join(clauses)), params).fetchall()
    params["ids"] = [r[0] for r in rows]
    return len(rows) + len(conn.execute(RAW_MONITORED, params).fetchall())


def run() -> list[dict]:
    import psycopg

    from haven.records.v1 import records_pb2 as pb

    url = school.ensure_school(lambda m: print(m, file=sys.stderr))
    served = school.serve(url)
    try:
        metadata = [("authorization", f"Bearer {served.token}")]
        api_queries = itertools.cycle(QUERIES)
        raw_queries = itertools.cycle(QUERIES)

        def api():
            return served.stub.SearchStudents(pb.SearchStudentsRequest(
                query=next(api_queries), limit=20), metadata=metadata, timeout=30)

        with psycopg.connect(school.psycopg_dsn(), autocommit=True) as conn:
            found = {q: len(served.stub.SearchStudents(pb.SearchStudentsRequest(
                query=q, limit=20), metadata=metadata, timeout=30).students) for q in QUERIES}
            assert found == {q: raw_count(conn, q) for q in QUERIES}, found
            m = school.medians_ms({"api": api,
                                   "raw": lambda: raw_search(conn, next(raw_queries))},
                                  repeat=REPEAT)
    finally:
        served.stop()
    ratio = m["api"] / m["raw"]
    return [{
        "name": "records_search",
        "figures": {
            "quick search gRPC median ms": m["api"],
            "quick search raw SQL median ms": m["raw"],
            "students found per query (mean)": sum(found.values()) / len(found),
        },
        "ratios": {"quick search gRPC / raw SQL": ratio},
        "targets": {"quick search gRPC median ms": f"< {TARGET_MS}",
                    "quick search gRPC / raw SQL": f"< {TARGET_RATIO}"},
        "passed": m["api"] < TARGET_MS and ratio < TARGET_RATIO,
    }]


def raw_count(conn, query: str) -> int:
    words = query.split()
    params = {"school": school.SCHOOL}
    clauses = []
    for n, word in enumerate(words):
        params[f"w{n}"] = f"%{word.lower()}%"
        clauses.append(RAW_WORD.format(w=f"w{n}"))
    return len(conn.execute(RAW_STUDENTS.format(words=" AND ".join(clauses)),
                            params).fetchall())


if __name__ == "__main__":  # pragma: no cover
    from bench.__main__ import print_table

    print_table(run())
