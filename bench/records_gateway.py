"""The chronology and the quick search through the gateway's HTTP API, end to end, in a school
of 2,000 students and 200,000 incidents (PostgreSQL; see ``_records_school.py``).

The platform's pieces run as they are deployed, each in its own process: the records gRPC API
(``python -m services.records api``) on the benchmark database, and the gateway under gunicorn
with ``gateway/gunicorn.conf.py`` (the chart's command: 2 workers of 4 threads, Prometheus in
multiprocess mode), both configured only by environment variables. This process is the
client, plus a stub of identity that only answers GetJwks (the public key of the
TokenFactory that signed the DSL's token, so both verify the token as they would identity's;
each fetches it once). ``HAVEN_BENCH_GATEWAY=inprocess`` runs the old layout instead (records
and the gateway, under waitress, in this process, sharing its interpreter lock with the
client), for comparison.

Real HTTP requests go through a keep-alive ``requests.Session`` with the bearer token to
``GET /api/v1/students/{id}/chronology`` and ``GET /api/v1/students?q=...``: bearer check,
one gRPC call, JSON. Each is the median of ``REPEAT`` requests after a warm-up, measured in
turns with the raw SQL that fetches the same rows (psycopg, no ORM, no auth) and with the
records gRPC call alone (to show the gateway's share).

The API returns at most 200 incidents per chronology request (``MAX_LIMIT`` of /api/v1, and
the web page shows 500; older entries come page by page), so the heavy student's chronology
through the gateway is its first page, the newest 200 incidents; the raw SQL is the same
statements with ``LIMIT 200`` (categories, alerts and action counts are still the student's,
as the service reads them). Targets: chronology under 150 ms, search under 50 ms, both within
3x of raw SQL.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from contextlib import ExitStack
from pathlib import Path

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
ROOT = Path(__file__).resolve().parent.parent


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


class Processes:
    """The records API and the gateway as deployed, each in its own process (see the module's
    docstring); logs in a temporary directory, shown if a process fails to come up."""

    def __init__(self, url: str, identity_addr: str) -> None:
        from shared.testing import free_port

        self.workdir = Path(tempfile.mkdtemp(prefix="haven-bench-gateway-"))
        self.records_addr = f"127.0.0.1:{free_port()}"
        gateway_port = free_port()
        self.base = f"http://127.0.0.1:{gateway_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HAVEN_", "GATEWAY_",
                                                                          "RECORDS_"))}
        env.update({
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
            "HAVEN_LOG_LEVEL": "WARNING",
            "HAVEN_EVENTS_URL": "memory://",
            "HAVEN_IDENTITY_ADDR": identity_addr,
            "HAVEN_RECORDS_ADDR": self.records_addr,
            "HAVEN_RPC_TIMEOUT": "30",
            "RECORDS_DATABASE_URL": url,
            "RECORDS_GRPC_PORT": self.records_addr.rsplit(":", 1)[1],
            "RECORDS_METRICS_PORT": str(free_port()),
            "GATEWAY_SECRET_KEY": "bench-records-gateway-" + "k" * 32,
            "GATEWAY_PORT": str(gateway_port),
            "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "prometheus"),
        })
        py = sys.executable
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, Path] = {}
        self._start("records", [py, "-m", "services.records", "api"], env)
        self._start("gateway", [py, "-m", "gunicorn", "-c", "gateway/gunicorn.conf.py",
                                "--bind", f"127.0.0.1:{gateway_port}",
                                "gateway.app:create_app()"], env)

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = self._logs[name] = self.workdir / f"{name}.log"
        with open(log, "ab") as out:
            self.procs[name] = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out,
                                                stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def wait_ready(self, check, timeout: float = 60) -> None:
        """Until ``check()`` (a request through both) is true; a process that exits fails."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.tail(name)}")
            try:
                if check():
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("records and the gateway did not come up:\n"
                           + "\n".join(self.tail(n) for n in self.procs))

    def tail(self, name: str, lines: int = 30) -> str:
        text = self._logs[name].read_text(errors="replace").splitlines()[-lines:]
        return f"--- {name} ---\n" + "\n".join(text)

    def stop(self) -> None:
        import shutil
        import signal

        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _deployed(url: str, stack: ExitStack) -> tuple[str, object, str]:
    """Records and the gateway in their own processes; (gateway base URL, a records gRPC stub
    for the gRPC-only figure, the DSL's token)."""
    import grpc
    import requests

    from haven.records.v1 import records_pb2_grpc
    from shared.testing import FULL_PERMISSIONS, TokenFactory

    tokens = TokenFactory()
    token = tokens.token(school_id=school.SCHOOL, account_id=school.DSL,
                         user_group_id=school.DSL_GROUP, access="full",
                         permissions=FULL_PERMISSIONS, name="Dana Lead", ttl=3600)
    identity_addr, stop_identity = serve_identity(tokens.jwks_json())
    stack.callback(stop_identity)
    procs = Processes(url, identity_addr)
    stack.callback(procs.stop)
    probe = f"{procs.base}/api/v1/students?q=a&limit=1"
    procs.wait_ready(lambda: requests.get(
        probe, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200)
    channel = grpc.insecure_channel(procs.records_addr)
    stack.callback(channel.close)
    return procs.base, records_pb2_grpc.RecordsServiceStub(channel), token


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
    in_process = os.environ.get("HAVEN_BENCH_GATEWAY", "processes") == "inprocess"
    stack = ExitStack()
    try:
        if in_process:
            served = school.serve(url)
            stack.callback(served.stop)
            token, stub = served.token, served.stub
            identity_addr, stop_identity = serve_identity(served.tokens.jwks_json())
            stack.callback(stop_identity)
            base, stop_gateway = serve_gateway(identity_addr, served.addr)
            stack.callback(stop_gateway)
        else:
            base, stub, token = _deployed(url, stack)
        student = school.uid("student", 0)
        metadata = [("authorization", f"Bearer {token}")]
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        stack.callback(http.close)

        def get(path: str, **params) -> dict:
            reply = http.get(f"{base}{path}", params=params, timeout=30)
            assert reply.status_code == 200, (reply.status_code, reply.text[:300])
            return reply.json()

        def http_chronology() -> dict:
            body = get(f"/api/v1/students/{student}/chronology", limit=API_CHRONOLOGY_LIMIT)
            assert len(body["incidents"]) == API_CHRONOLOGY_LIMIT, len(body["incidents"])
            return body

        def grpc_chronology():
            return stub.GetChronology(pb.GetChronologyRequest(
                student_id=student, limit=API_CHRONOLOGY_LIMIT), metadata=metadata, timeout=30)

        http_queries, grpc_queries, raw_queries = (itertools.cycle(search.QUERIES)
                                                   for _ in range(3))

        def http_search() -> dict:
            return get("/api/v1/students", q=next(http_queries), limit=SEARCH_LIMIT)

        def grpc_search():
            return stub.SearchStudents(pb.SearchStudentsRequest(
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
        stack.close()
    chrono_ratio = c["http"] / c["raw"]
    search_ratio = s["http"] / s["raw"]
    layout = "in one process" if in_process else "records and gateway in their own processes"
    chrono_label = f"chronology gateway HTTP median ms ({API_CHRONOLOGY_LIMIT} of 1,000 incidents)"
    return [{
        "name": "records_gateway",
        "figures": {
            "layout": layout,
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
