"""A big school in a records database on PostgreSQL, for the records benchmarks.

2,000 students in 40 tutor groups and 5 year groups, the demo's 16 categories, 200,000
incidents (one student, "the heavy one", has 1,000 of them; the others ~100 each) with one or
two categories each, 50,000 actions, 20,000 alerts, monitoring for 400 students. Written with
COPY (seconds, not minutes) into ``haven_bench_records``, which is kept between runs: it is
rebuilt only when missing or when the counts differ (``HAVEN_BENCH_REBUILD=1`` forces it);
an older schema is upgraded in place by the migrations. Also served by the records API in-process.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from datagen.demo import BOYS, GIRLS, SURNAMES, demo_upn
from services.records.seed import DEFAULT_CATEGORIES

DB_NAME = "haven_bench_records"
SCHOOL = "00000000-0000-4000-8000-00000000b001"
DSL_GROUP = "00000000-0000-4000-8000-00000000b011"
DSL = "00000000-0000-4000-8000-00000000b102"
STUDENTS = 2000
INCIDENTS = 200_000
HEAVY = 1000  # incidents of the heavy student
ACTIONS = 50_000
ALERTS = 20_000
MONITORED = 400
STAFF = 20
SEED = 20261129

# The demo roll's name lists and UPNs (the same names give the same students, so a kept
# database stays valid).
make_upn = demo_upn


_NS = uuid.UUID("3b0b54a5-8a0e-4b3f-9d7c-1f2e3d4c5b6a")

WORDS = (  # noqa: SIM905 - prose, split into words
    "was seen crying in the playground before school and would not say why. Mum phoned to "
    "say there had been an argument at home last night. Reported that an older pupil took "
    "his lunch money on the bus. Arrived late without a coat and appeared hungry. Told her "
    "form tutor she is worried about her dad. Refused to go into the lesson and left the "
    "building at break. Has bruising on the left forearm, said it happened at football. "
    "Social worker called to arrange a meeting on Friday. Spoke to the pupil with the DSL "
    "present; agreed a daily check-in with the pastoral team."
).split()


def uid(kind: str, n: int | str) -> str:
    return str(uuid.uuid5(_NS, f"{kind}:{n}"))


def pg_admin_dsn() -> str:
    from shared.testing import PG_HOST, PG_PORT, PG_USER

    return f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres"


def db_url() -> str:
    from shared.testing import PG_HOST, PG_PORT, PG_USER

    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{DB_NAME}"


def psycopg_dsn() -> str:
    return db_url().replace("postgresql+psycopg://", "postgresql://")


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from services.records.app import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _state() -> str:
    """"ready" (newest schema, the right counts), "old" (the right counts on an older
    schema: upgraded in place, as a deployment is) or "missing"."""
    import psycopg

    with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (DB_NAME,)).fetchone():
            return "missing"
    try:
        with psycopg.connect(psycopg_dsn()) as conn:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM students), (SELECT count(*) FROM incidents)"
            ).fetchone()
    except psycopg.Error:
        return "missing"
    if not version or counts != (STUDENTS, INCIDENTS):
        return "missing"
    return "ready" if version[0] == _head_revision() else "old"


def ensure_school(log: Callable[[str], None] = print) -> str:
    """The benchmark database's URL, building the school first if needed."""
    import psycopg

    from services.records.app import MIGRATIONS
    from shared.db import run_migrations

    state = "missing" if os.environ.get("HAVEN_BENCH_REBUILD") == "1" else _state()
    if state == "ready":
        return db_url()
    started = time.perf_counter()
    if state == "old":
        run_migrations(db_url(), MIGRATIONS)
        with psycopg.connect(psycopg_dsn(), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        log(f"upgraded the benchmark school's schema in {time.perf_counter() - started:.0f}s")
        return db_url()
    with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    run_migrations(db_url(), MIGRATIONS)
    with psycopg.connect(psycopg_dsn()) as conn:
        _fill(conn)
        conn.commit()
    with psycopg.connect(psycopg_dsn(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    log(f"built the benchmark school in {time.perf_counter() - started:.0f}s")
    return db_url()


def _copy(conn, table: str, columns: list[str], rows) -> None:
    with conn.cursor() as cur, cur.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _text(rng: random.Random, first: str) -> str:
    n = rng.randint(30, 110)
    start = rng.randrange(len(WORDS))
    words = [WORDS[(start + i) % len(WORDS)] for i in range(n)]
    return f"{first} " + " ".join(words)


def _fill(conn) -> None:
    rng = random.Random(SEED)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    # staff and the DSL's group
    perms = '["view_student_list", "view_student_details", "add_incidents", ' \
            '"view_students_without_group", "run_reports", "administration"]'
    _copy(conn, "user_groups", ["id", "school_id", "name", "key_holder", "permissions"],
          [(DSL_GROUP, SCHOOL, "DSL", True, perms)])
    staff = [DSL] + [uid("staff", i) for i in range(1, STAFF)]
    _copy(conn, "staff_members", ["id", "school_id", "account_id", "display_name",
                                  "user_group_id", "key_holder", "active"],
          [(uid("staff-row", i), SCHOOL, a, f"Staff Member {i}", DSL_GROUP, True, True)
           for i, a in enumerate(staff)])
    # categories and the DSL's permissions
    cats: list[str] = []
    cat_rows = []
    for position, (name, colour, children) in enumerate(DEFAULT_CATEGORIES, 1):
        pid = uid("category", name)
        cat_rows.append((pid, SCHOOL, name, None, colour, True, position))
        cats.append(pid)
        for cpos, (child, ccolour) in enumerate(children, 1):
            cid = uid("category", f"{name}/{child}")
            cat_rows.append((cid, SCHOOL, child, pid, ccolour, True, cpos))
            cats.append(cid)
    _copy(conn, "categories", ["id", "school_id", "name", "parent_id", "colour", "enabled",
                               "position"], cat_rows)
    _copy(conn, "category_permissions", ["id", "school_id", "user_group_id", "category_id",
                                         "view_students", "view_incidents", "add_incidents"],
          [(uid("perm", c), SCHOOL, DSL_GROUP, c, True, True, True) for c in cats])
    # students, groups, memberships
    students, student_rows, used = [], [], set()
    for i in range(STUDENTS):
        year = 7 + i % 5
        form = "ABCDEFGH"[(i // 5) % 8]
        while True:
            gender = rng.choice("FM")
            first = rng.choice(GIRLS if gender == "F" else BOYS)
            last = rng.choice(SURNAMES)
            middle = rng.randrange(1000)
            if (first, last, middle) not in used:
                used.add((first, last, middle))
                break
        sid = uid("student", i)
        students.append((sid, year, form))
        born = dt.date(2008 + (11 - year), 9, 1) + dt.timedelta(days=rng.randrange(365))
        student_rows.append((sid, SCHOOL, make_upn(2000 + i // 1000, i % 1000), f"S{i:05d}",
                             first, last, "", born, gender, f"Year {year}", f"{year}{form}",
                             False, now, now))
    _copy(conn, "students", ["id", "school_id", "upn", "mis_id", "first_name", "last_name",
                             "preferred_name", "date_of_birth", "gender", "year_group",
                             "tutor_group", "archived", "created_at", "updated_at"],
          student_rows)
    groups = {}
    for year in range(7, 12):
        groups[f"Year {year}"] = (uid("group", f"Year {year}"), "year")
        for form in "ABCDEFGH":
            groups[f"{year}{form}"] = (uid("group", f"{year}{form}"), "tutor")
    _copy(conn, "groups", ["id", "school_id", "mis_id", "name", "kind", "active", "is_new",
                           "created_at"],
          [(gid, SCHOOL, f"G-{name}", name, kind, True, False, now)
           for name, (gid, kind) in groups.items()])
    _copy(conn, "group_memberships", ["id", "school_id", "group_id", "student_id",
                                      "student_mis_id", "source"],
          [(uid("m", f"{sid}:{g}"), SCHOOL, groups[g][0], sid, None, "mis")
           for sid, year, form in students for g in (f"Year {year}", f"{year}{form}")])
    # incidents: the heavy student first, the rest spread over everyone else
    heavy = students[0][0]
    owners = [heavy] * HEAVY + [students[1 + rng.randrange(STUDENTS - 1)][0]
                                for _ in range(INCIDENTS - HEAVY)]
    incident_rows, ic_rows, incident_ids = [], [], []
    start = now - dt.timedelta(days=3 * 365)
    for n, owner in enumerate(owners, 1):
        iid = uid("incident", n)
        incident_ids.append((iid, owner))
        occurred = start + dt.timedelta(seconds=rng.randrange(3 * 365 * 86400))
        author = staff[rng.randrange(STAFF)]
        incident_rows.append((
            iid, SCHOOL, owner, _text(rng, "Pupil"), occurred, occurred, author,
            f"Staff Member {staff.index(author)}", rng.choice(("active", "closed")), n, 1,
            False, "", "", "",
        ))
        chosen = rng.sample(cats, rng.choice((1, 1, 2)))
        ic_rows.extend((iid, c, SCHOOL, pos, owner) for pos, c in enumerate(chosen))
    _copy(conn, "incidents", ["id", "school_id", "student_id", "text", "occurred_at",
                              "created_at", "created_by", "created_by_name", "status", "number",
                              "version", "pinned", "assigned_to_name", "deleted_by_name",
                              "deleted_reason"], incident_rows)
    _copy(conn, "incident_categories", ["incident_id", "category_id", "school_id", "position",
                                        "student_id"], ic_rows)
    _copy(conn, "counters", ["id", "school_id", "value"],
          [(f"{SCHOOL}:incident", SCHOOL, INCIDENTS)])
    # actions, alerts, monitoring
    picks = rng.sample(range(INCIDENTS), ACTIONS)
    action_rows = []
    for n, k in enumerate(picks):
        iid, owner = incident_ids[k]
        when = start + dt.timedelta(seconds=rng.randrange(3 * 365 * 86400))
        action_rows.append((uid("action", n), SCHOOL, iid, owner, _text(rng, "Action:"), when,
                            when, DSL, "Staff Member 0", 1, "", ""))
    _copy(conn, "actions", ["id", "school_id", "incident_id", "student_id", "text",
                            "occurred_at", "created_at", "created_by", "created_by_name",
                            "version", "deleted_by_name", "deleted_reason"], action_rows)
    alert_rows = []
    for n, k in enumerate(rng.sample(range(INCIDENTS), ALERTS)):
        iid, owner = incident_ids[k]
        alert_rows.append((uid("alert", n), SCHOOL, iid, owner, staff[1 + n % (STAFF - 1)],
                           staff[n % STAFF], "Staff Member", "incident", now,
                           now if n % 3 else None, "chosen"))
    _copy(conn, "alerts", ["id", "school_id", "incident_id", "student_id",
                           "recipient_account_id", "raised_by", "raised_by_name", "kind",
                           "created_at", "read_at", "reason"], alert_rows)
    monitoring_rows = []
    for n, (sid, _, _) in enumerate(rng.sample(students, MONITORED)):
        for c in rng.sample(cats, 2):
            monitoring_rows.append((uid("mon", f"{n}:{c}"), SCHOOL, sid, c, now, DSL,
                                    "incident"))
    _copy(conn, "monitoring", ["id", "school_id", "student_id", "category_id", "started_at",
                               "started_by", "source"], monitoring_rows)


@dataclass
class Served:
    stub: object
    token: str
    stop: Callable[[], None]
    heavy_student: str
    addr: str
    tokens: object = None  # the TokenFactory that signed ``token`` (its jwks_json)


def serve(url: str) -> Served:
    """The records API in this process, on the benchmark database, with a DSL's token."""
    import grpc

    from haven.records.v1 import records_pb2_grpc
    from services.records.app import build
    from shared.config import ServiceSettings
    from shared.service import start_api
    from shared.testing import FULL_PERMISSIONS, TokenFactory

    os.environ["RECORDS_DATABASE_URL"] = url
    os.environ.setdefault("HAVEN_EVENTS_URL", "memory://")
    os.environ.setdefault("HAVEN_LOG_LEVEL", "WARNING")
    tokens = TokenFactory()
    spec = build(ServiceSettings.from_env("records"), verifier=tokens.verifier())
    running = start_api(spec, port=0, host="127.0.0.1")
    addr = f"127.0.0.1:{running.ports['records']}"
    channel = grpc.insecure_channel(addr)
    token = tokens.token(school_id=SCHOOL, account_id=DSL, user_group_id=DSL_GROUP,
                         access="full", permissions=FULL_PERMISSIONS, name="Dana Lead",
                         ttl=3600)

    def stop() -> None:
        channel.close()
        running.stop()
        spec.db.dispose()

    return Served(stub=records_pb2_grpc.RecordsServiceStub(channel), token=token, stop=stop,
                  heavy_student=uid("student", 0), addr=addr, tokens=tokens)


def medians_ms(fns: dict[str, Callable[[], object]], *, repeat: int, warmup: int = 3
               ) -> dict[str, float]:
    """Median wall time of each function, measured in turns (one call of each per round), so
    a busy moment of a shared machine weighs on all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def sink(rows) -> int:
    """The rows, fetched (psycopg has already made Python values of every column)."""
    return len(rows)
