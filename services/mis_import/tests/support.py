"""Test support: a mis_import service on a given database, driven synchronously.

``Harness`` builds the service (real database, migrations, outbox) and runs the worker
one slice at a time (``drain``), so tests see exactly what an import did: the run, its
rejections, and the events it left in the outbox (decoded).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace

from sqlalchemy import select

from services.mis_import import import_runs, settings, uploads
from services.mis_import.app import build
from services.mis_import.config import ImportConfig
from services.mis_import.events import MESSAGES
from services.mis_import.models import EVENTS, ImportRejection, ImportRun
from shared.config import ServiceSettings
from shared.context import Claims, acting_as, school_scope
from shared.db import run_migrations
from shared.events import decode_envelope
from shared.events.envelope import open_payload
from shared.testing import TokenFactory

CHUNK = 64 * 1024


@dataclass
class Event:
    key: str
    school_id: str
    message: object
    seq: int


@dataclass
class Harness:
    url: str
    config: ImportConfig = field(default_factory=lambda: ImportConfig(
        worker_threads=1, slice_seconds=60, batch_size=7))

    def __post_init__(self) -> None:
        base = ServiceSettings.from_env("mis_import")
        self.tokens = TokenFactory()
        self.spec = build(replace(base, database_url=self.url),
                          verifier=self.tokens.verifier(), config=self.config)
        run_migrations(self.url, self.spec.migrations)
        self.db = self.spec.db
        self.worker = self.spec.background[0]
        self._seen_seq = 0

    def admin(self, school_id: str) -> Claims:
        return self.tokens.claims(school_id=school_id, name="Alex Admin")

    # ---- uploads and runs ---------------------------------------------------------------

    def upload(self, school_id: str, content: bytes, filename: str = "school.xml", *,
               kind: str = "", chunk: int = CHUNK, csv_entity: str = "students"):
        claims = self.admin(school_id)
        upload_id, offset = "", 0
        while True:
            part = content[offset:offset + chunk]
            last = offset + len(part) >= len(content)
            with acting_as(claims):
                got = uploads.receive(
                    self.db, claims, upload_id=upload_id, filename=filename, content=part,
                    offset=offset, more_to_follow=not last, kind=kind,
                    max_bytes=self.config.max_upload_bytes, csv_entity=csv_entity)
                upload_id = got.file.id
            offset += len(part)
            if last:
                return got

    def start(self, school_id: str, upload_id: str, *, full_extract: bool = False,
              csv_entity: str = "") -> str:
        claims = self.admin(school_id)
        with acting_as(claims), self.db.transaction() as s:
            return import_runs.create_run(s, claims, upload_id=upload_id,
                                          full_extract=full_extract,
                                          csv_entity=csv_entity).id

    def drain(self, limit: int = 10_000) -> int:
        slices = 0
        while self.worker.run_once() and slices < limit:
            slices += 1
        return slices

    def import_file(self, school_id: str, content: bytes, filename: str = "school.xml", *,
                    full_extract: bool = False, csv_entity: str = "") -> ImportRun:
        got = self.upload(school_id, content, filename, csv_entity=csv_entity or "students")
        run_id = self.start(school_id, got.file.id, full_extract=full_extract,
                            csv_entity=csv_entity)
        self.drain()
        return self.run(school_id, run_id)

    def feed(self, school_id: str, body: bytes, *, feed_run_id: str = "",
             more_to_follow: bool = False, claims: Claims | None = None) -> ImportRun:
        claims = claims or self.tokens.claims(school_id=school_id, access="restricted",
                                              permissions=(), scope="mis.import")
        with acting_as(claims), self.db.transaction() as s:
            run, _part = import_runs.submit_feed(
                s, claims, school_id=school_id, body=body, feed_run_id=feed_run_id,
                more_to_follow=more_to_follow, max_bytes=self.config.max_upload_bytes)
            run_id = run.id
        if not more_to_follow:
            self.drain()
        return self.run(school_id, run_id)

    def save_mapping(self, school_id: str, entity: str, columns: dict[str, str],
                     date_format: str = "auto") -> None:
        claims = self.admin(school_id)
        with acting_as(claims), self.db.transaction() as s:
            settings.update_mapping(s, claims, entity=entity, columns=columns,
                                    date_format=date_format)

    # ---- looking at the outcome ---------------------------------------------------------

    def run(self, school_id: str, run_id: str) -> ImportRun:
        with school_scope(school_id), self.db.read() as s:
            run = s.get(ImportRun, run_id)
            s.expunge(run)
            return run

    def rejections(self, school_id: str, run_id: str) -> list[ImportRejection]:
        with school_scope(school_id), self.db.read() as s:
            rows = list(s.scalars(select(ImportRejection).where(
                ImportRejection.run_id == run_id).order_by(ImportRejection.seq)))
            for row in rows:
                s.expunge(row)
            return rows

    def events(self, school_id: str | None = None, *, new: bool = False) -> list[Event]:
        """Events in the outbox (decoded), oldest first; ``new``: only since the last call
        with ``new``."""
        t = EVENTS.outbox
        with self.db.read() as s:
            rows = s.execute(select(t.c.seq, t.c.routing_key, t.c.school_id, t.c.body)
                             .order_by(t.c.seq)).all()
        out = []
        for row in rows:
            if new and row.seq <= self._seen_seq:
                continue
            if school_id is not None and row.school_id != school_id:
                continue
            env = decode_envelope(row.body)
            out.append(Event(row.routing_key, row.school_id,
                             open_payload(env, MESSAGES[row.routing_key]), row.seq))
        if new and rows:
            self._seen_seq = rows[-1].seq
        return out

    def mark_seen(self) -> None:
        self.events(new=True)

    def dispose(self) -> None:
        self.db.dispose()


def new_school() -> str:
    return str(uuid.uuid4())


def of(events: list[Event], key: str) -> list:
    return [e.message for e in events if e.key == key]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
