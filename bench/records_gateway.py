"""The chronology and the quick search through the gateway's HTTP API, end to end, in a school
of 2,000 students and 200,000 incidents (PostgreSQL; see ``_records_school.py``).

Everything runs in this process: the records gRPC API on the benchmark database, a stub of
identity that only answers GetJwks (the public key of the TokenFactory that signed the DSL's
token, so the gateway verifies the token as it would identity's), and the gateway itself
(``gateway.app.create_app``) served by waitress on a free port. Real HTTP requests go through
a keep-alive ``requests.Session`` with the bearer token to ``GET /api/v1/students/{id}/
chronology`` and ``GET /api/v1/students?q=...``: bearer check, one gRPC call, JSON. Each is
the median of ``REPEAT`` requests after a warm-up, measured in turns with the raw SQL that
fetches the same rows (psycopg, no ORM, no auth) and with the records gRPC call alone (to
show the gateway's share).

The API returns at most 200 incidents per chronology request (``MAX_LIMIT`` of /api/v1, and
the web page shows 500), and the chronology has no paging, so the heavy student's chronology
through the gateway is its newest 200 incidents; the raw SQL is the same statements with
``LIMIT 200`` (categories, alerts and action counts are still the student's, as the service
reads them). Targets: chronology under 150 ms, search under 50 ms, both within 3x of raw SQL.
"""

from __future__ import annotations

import itertools
import sys
import threading
from concurrent import futures

from bench import _records_school as school
from bench import records_chronology as chrono
from bench import records_search as search

REPEAT = 30
SEARCH_REPEAT = 100
API_CHRONOLOGY_LIMIT = 200  # /api/v1's MAX_LIMIT: the most one chronology request returns
SEARCH_LIMIT = 20  # as records_search (its raw SQL has LIMIT 20)
TARGET_CHRONOLOGY_MS = 150
TARGET_SEARCH_MS = 50
TARGET_RATIO = 3.0


def serve_identity(jwks_json: str):
    """A real gRPC server on a free port implementing only IdentityService.GetJwks; returns
    (address, stop)."""
    import grpc

    from haven.identity.v1 import identity_pb2, identity_pb2_grpc

    class JwksOnly(identity_pb2_grpc.IdentityServiceServicer):
        def GetJwks(self, request, context):  # noqa: N802 - the gRPC method's name
            return identity_pb2.GetJwksResponse(jwks_json=jwks_json)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(JwksOnly(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return f"127.0.0.1:{port}", lambda: server.stop(grace=None)


def serve_gateway(identity_addr: str, records_addr: str):
    """The gateway (waitress, 4 threads) on a free port in a thread; returns (base url, stop)."""
    import waitress

    from gateway.app import close_app, create_app

    app = create_app({"identity_addr": identity_addr, "records_addr": records_addr,
                      "secret_key": "bench-records-gateway", "rpc_timeout": 30.0})
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4, ident="haven")
    thread = threading.Thread(target=server.run, name="bench-gateway", daemon=True)
    thread.start()

    def stop() -> None:
        server.close()
        server.task_dispatcher.shutdown()
        thread.join(timeout=5)
        close_app(app)

    return f"http://127.0.0.1:{server.effective_port}", stop


def raw_chronology_page(conn, student: str, limit: int) -> int:
    """records_chronology's raw statements for one page of ``limit`` incidents."""
    params = {"school": school.SCHOOL, "student": student}
    sql = chrono.RAW_INCIDENTS.replace("LIMIT 1000", f"LIMIT {int(limit)}")
    n = school.sink(conn.execute(sql, params).fetchall())
    for statement in (chrono.RAW_CATEGORIES, chrono.RAW_ALERTS, chrono.RAW_ACTION_COUNTS):
        n += school.sink(conn.execute(statement, params).fetchall())
    return n


def run() -> list[dict]:
    import psycopg
    import requests

    from haven.records.v1 import records_pb2 as pb

    url = school.ensure_school(lambda m: print(m, file=sys.stderr))
    served = school.serve(url)
    stops = [served.stop]
    try:
        identity_addr, stop_identity = serve_identity(served.tokens.jwks_json())
        stops.append(stop_identity)
        base, stop_gateway = serve_gateway(identity_addr, served.addr)
        stops.append(stop_gateway)
        student = served.heavy_student
        metadata = [("authorization", f"Bearer {served.token}")]
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {served.token}"
        stops.append(http.close)

        def get(path: str, **params) -> dict:
            reply = http.get(f"{base}{path}", params=params, timeout=30)
            assert reply.status_code == 200, (reply.status_code, reply.text[:300])
            return reply.json()

        def http_chronology() -> dict:
            body = get(f"/api/v1/students/{student}/chronology", limit=API_CHRONOLOGY_LIMIT)
            assert len(body["incidents"]) == API_CHRONOLOGY_LIMIT, len(body["incidents"])
            return body

        def grpc_chronology():
            return served.stub.GetChronology(pb.GetChronologyRequest(
                student_id=student, limit=API_CHRONOLOGY_LIMIT), metadata=metadata, timeout=30)

        http_queries, grpc_queries, raw_queries = (itertools.cycle(search.QUERIES)
                                                   for _ in range(3))

        def http_search() -> dict:
            return get("/api/v1/students", q=next(http_queries), limit=SEARCH_LIMIT)

        def grpc_search():
            return served.stub.SearchStudents(pb.SearchStudentsRequest(
                query=next(grpc_queries), limit=SEARCH_LIMIT), metadata=metadata, timeout=30)

        refused = http.get(f"{base}/api/v1/students/{student}/chronology",
                           params={"limit": school.HEAVY}, timeout=30).status_code
        with psycopg.connect(school.psycopg_dsn(), autocommit=True) as conn:
            # the same rows: the page's incidents, and the students each query finds
            first = http_chronology()["incidents"]
            raw_ids = [str(r[0]) for r in conn.execute(
                chrono.RAW_INCIDENTS.replace("LIMIT 1000", f"LIMIT {API_CHRONOLOGY_LIMIT}"),
                {"school": school.SCHOOL, "student": student}).fetchall()]
            assert [i["id"] for i in first] == raw_ids, "gateway and raw SQL differ"
            found = {q: len(get("/api/v1/students", q=q, limit=SEARCH_LIMIT)["students"])
                     for q in search.QUERIES}
            assert found == {q: search.raw_count(conn, q) for q in search.QUERIES}, found
            c = school.medians_ms({
                "http": http_chronology,
                "grpc": grpc_chronology,
                "raw": lambda: raw_chronology_page(conn, student, API_CHRONOLOGY_LIMIT),
            }, repeat=REPEAT)
            s = school.medians_ms({
                "http": http_search,
                "grpc": grpc_search,
                "raw": lambda: search.raw_search(conn, next(raw_queries)),
            }, repeat=SEARCH_REPEAT, warmup=len(search.QUERIES))
    finally:
        for stop in reversed(stops):
            stop()
    chrono_ratio = c["http"] / c["raw"]
    search_ratio = s["http"] / s["raw"]
    chrono_label = f"chronology gateway HTTP median ms ({API_CHRONOLOGY_LIMIT} of 1,000 incidents)"
    return [{
        "name": "records_gateway",
        "figures": {
            chrono_label: c["http"],
            "chronology gRPC median ms (same page)": c["grpc"],
            "chronology raw SQL median ms (same page)": c["raw"],
            f"chronology limit={school.HEAVY} through /api/v1 (HTTP status)": refused,
            "quick search gateway HTTP median ms": s["http"],
            "quick search gRPC median ms": s["grpc"],
            "quick search raw SQL median ms": s["raw"],
            "students found per query (mean)": sum(found.values()) / len(found),
        },
        "ratios": {
            "chronology gateway HTTP / raw SQL": chrono_ratio,
            "quick search gateway HTTP / raw SQL": search_ratio,
        },
        "targets": {
            chrono_label: f"< {TARGET_CHRONOLOGY_MS}",
            "chronology gateway HTTP / raw SQL": f"< {TARGET_RATIO}",
            "quick search gateway HTTP median ms": f"< {TARGET_SEARCH_MS}",
            "quick search gateway HTTP / raw SQL": f"< {TARGET_RATIO}",
        },
        "passed": (c["http"] < TARGET_CHRONOLOGY_MS and chrono_ratio < TARGET_RATIO
                   and s["http"] < TARGET_SEARCH_MS and search_ratio < TARGET_RATIO),
    }]


if __name__ == "__main__":  # pragma: no cover
    from bench.__main__ import print_table

    print_table(run())
