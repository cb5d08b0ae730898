"""``python -m haven``: the all-in-one runner and the operator CLI."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from shared.config import env_int
from shared.telemetry.logs import setup_logging
from shared.telemetry.tracing import setup_tracing

log = logging.getLogger("haven")


def _run(args) -> int:
    from haven import allinone

    port = args.port or env_int("HAVEN_PORT", 8080)
    setup_tracing("haven-all-in-one")
    app = allinone.start(port, host=args.host)
    print(allinone.banner(app.port), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    print("Stopping Haven...", flush=True)
    app.stop()
    return 0


def _migrate(_args) -> int:
    from haven.platform import Platform

    platform = Platform.from_env()
    platform.migrate()
    platform.dispose()
    return 0


def _seed_demo(_args) -> int:
    from haven.platform import Platform

    platform = Platform.from_env(("identity", "records", "mis_import"))
    counts = platform.seed_demo()
    platform.dispose()
    print(f"Demo school seeded: its MIS import created {counts.get('students_created', 0)}, "
          f"updated {counts.get('students_updated', 0)} and left "
          f"{counts.get('students_unchanged', 0)} pupils unchanged. Records receives them "
          "from mis_import's worker.")
    return 0


def _totp(args) -> int:
    from services.identity.operations import current_totp
    from shared.config import ServiceSettings
    from shared.db import Database

    if not os.environ.get("IDENTITY_DATABASE_URL"):
        from haven.allinone import embedded_defaults  # the all-in-one's var/ and its secrets

        embedded_defaults(env_int("HAVEN_PORT", 8080))
    db = Database(ServiceSettings.from_env("identity").database_url)
    print(current_totp(db, args.email))
    db.dispose()
    return 0


def _school_create(args) -> int:
    from haven.platform import build_service
    from services.identity.operations import create_school

    spec = build_service("identity")
    school_id = create_school(
        spec.db, spec.outbox, name=args.name, slug=args.slug, time_zone=args.time_zone
    )
    print(school_id)
    return 0


def _replay(args) -> int:
    from shared.config import PlatformSettings
    from shared.events.transport import replay_dead_letters

    url = PlatformSettings.from_env().events_url
    if not url.startswith("amqp"):
        print("replay-dead-letters needs HAVEN_EVENTS_URL=amqp://...", file=sys.stderr)
        return 2

    print(f"{replay_dead_letters(url, args.queue)} message(s) moved back to {args.queue}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m haven", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="all-in-one: every service and the gateway, demo seeded")
    run.add_argument("--port", type=int, default=0, help="web port (default $HAVEN_PORT or 8080)")
    run.add_argument("--host", default=os.environ.get("HAVEN_HOST", "127.0.0.1"))
    run.set_defaults(fn=_run)
    sub.add_parser("migrate", help="migrate every service's database").set_defaults(fn=_migrate)
    sub.add_parser("seed-demo", help="seed the demo school").set_defaults(fn=_seed_demo)
    totp = sub.add_parser("totp", help="print a demo user's current authenticator code")
    totp.add_argument("email", nargs="?", default="dsl@demo.haven.test")
    totp.set_defaults(fn=_totp)
    school = sub.add_parser("school", help="manage schools").add_subparsers(
        dest="action", required=True
    )
    create = school.add_parser("create", help="create a school (tenant)")
    create.add_argument("--name", required=True)
    create.add_argument("--slug", required=True)
    create.add_argument("--time-zone", default="Europe/London")
    create.set_defaults(fn=_school_create)
    replay = sub.add_parser("replay-dead-letters", help="move a queue's dead letters back")
    replay.add_argument("queue")
    replay.set_defaults(fn=_replay)

    args = parser.parse_args(argv)
    setup_logging("haven", os.environ.get("HAVEN_LOG_LEVEL", "WARNING"))
    return args.fn(args)
