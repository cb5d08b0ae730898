"""The import worker: runs queued imports in batches, resumable after a crash.

A worker thread *claims* a run by taking its lease (a conditional UPDATE, so two workers
never hold one run), then works on it for a time slice:

1. ``checking``: the whole file is read once (well-formed, safe, the right kind of file,
   the right school). A refused file fails the run with nothing applied.
2. ``importing``: records are applied in batches; each batch commits together with the
   run's cursor, counts and a renewed lease. A crash loses at most the batch in flight,
   which is rolled back and done again by whoever takes the run next (the lease expires),
   from the committed cursor: the file is replayed up to the cursor without applying it.
3. ``finishing``: groups, and a full extract's archiving, in one transaction.

Fairness: only the oldest unfinished run of a school is eligible, a school's run is held by
one worker at a time, and a slice ends after ``MIS_IMPORT_SLICE_SECONDS``, handing the run
back to the queue (least recently progressed first), so a huge import never holds up
another school's. A thread keeps the open parser of a run it hands back, and carries on from
it when it gets the same run again.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from services.mis_import import metrics, uploads
from services.mis_import.csv_source import CsvSource, Mapping
from services.mis_import.ctf import CtfSource
from services.mis_import.extract import FileRefused, KeyTracker, Source, SourceDetails
from services.mis_import.importer import Importer, RunContext
from services.mis_import.json_feed import JsonFeedSource
from services.mis_import.models import ImportFile, ImportRun
from services.mis_import.settings import find_mapping, pin_source_school, school_settings
from shared.context import school_scope
from shared.db import Database, utcnow
from shared.service import Background

log = logging.getLogger(__name__)
RT = ImportRun.__table__
MAX_TRANSIENT_FAILURES = 5
HOUSEKEEPING_SECONDS = 300


class LeaseLost(Exception):
    """Another worker took the run (this one stalled past its lease)."""


def transient(exc: BaseException) -> bool:
    """A database error worth retrying later (lost connection, locked database), as opposed
    to one a particular record caused."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and bool(exc.connection_invalidated))


@dataclass
class _State:
    run_id: str
    items: object  # iterator of (seq, item)
    ctx: RunContext
    next_seq: int
    details: SourceDetails


class ImportWorker(Background):
    def __init__(self, db: Database, importer: Importer, config, *,
                 name: str | None = None) -> None:
        self.db = db
        self.importer = importer
        self.config = config
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._local = threading.local()
        self._last_housekeeping = 0.0

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        for i in range(self.config.worker_threads):
            t = threading.Thread(target=self._loop, args=(i,), daemon=True,
                                 name=f"mis-import-worker-{i}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        for t in self._threads:
            t.join(10)
        self._threads = []

    def _loop(self, number: int) -> None:
        owner = f"{self.name}/{number}"
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if number == 0:
                    self.housekeeping()
                worked = self.run_once(owner=owner)
                backoff = 0.5
            except Exception:
                log.exception("MIS import worker %s failed; retrying in %.1fs", owner, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30)
                continue
            if not worked:
                self.wake.wait(self.config.poll_seconds)
                self.wake.clear()

    # ---- one unit of work -----------------------------------------------------------------

    def run_once(self, *, owner: str | None = None) -> bool:
        """Claim one eligible run and work on it for a slice. False when there is none."""
        owner = owner or f"{self.name}/0"
        claimed = self.claim(owner)
        if claimed is None:
            return False
        run_id, school_id = claimed
        with school_scope(school_id):
            try:
                self.work(run_id, school_id, owner)
            except LeaseLost:
                log.warning("import %s was taken over by another worker", run_id)
                self._drop(run_id)
            except FileRefused as exc:  # e.g. the file or the CSV mapping went meanwhile
                self._fail(run_id, owner, exc)
            except Exception as exc:
                self._drop(run_id)
                if transient(exc):
                    self._transient_failure(run_id, owner, exc)
                    return True
                log.exception("import %s stopped unexpectedly", run_id)
                self._interrupt(run_id, owner, "The import stopped unexpectedly; it can be "
                                "resumed from where it stopped.")
        return True

    def claim(self, owner: str) -> tuple[str, str] | None:
        now = utcnow()
        with self.db.transaction() as s:
            rows = s.execute(select(
                RT.c.id, RT.c.school_id, RT.c.status, RT.c.lease_owner, RT.c.lease_expires_at,
                RT.c.updated_at, RT.c.started_at,
            ).where(RT.c.status.in_(("queued", "running")))  # "receiving" blocks nobody
             .order_by(RT.c.started_at, RT.c.id)).all()
            metrics.RUNS_WAITING.set(len(rows))
            heads: dict[str, object] = {}
            busy: set[str] = set()
            for r in rows:
                if r.lease_owner and r.lease_expires_at and r.lease_expires_at > now:
                    busy.add(r.school_id)
                heads.setdefault(r.school_id, r)
            candidates = sorted((r for school, r in heads.items() if school not in busy),
                                key=lambda r: (r.updated_at, r.started_at))
            for r in candidates:
                taken = s.execute(update(RT).where(
                    RT.c.id == r.id, RT.c.status.in_(("queued", "running")),
                    or_(RT.c.lease_owner.is_(None), RT.c.lease_expires_at < now),
                ).values(status="running", lease_owner=owner,
                         lease_expires_at=now + dt.timedelta(seconds=self.config.lease_seconds))
                ).rowcount
                if taken == 1:
                    return r.id, r.school_id
        return None

    def work(self, run_id: str, school_id: str, owner: str) -> None:
        deadline = time.monotonic() + self.config.slice_seconds
        with self.db.read() as s:
            run = s.get(ImportRun, run_id)
            s.expunge(run)
        if run.phase == "checking" and not self._check(run, owner):
            return
        if run.phase == "importing":
            finished = self._import(run, owner, deadline)
            if not finished:
                self._release(run_id, owner)
                return
            with self.db.transaction() as s:
                self._renew(s, run_id, owner)
                s.execute(update(RT).where(RT.c.id == run_id).values(phase="finishing"))
            run.phase = "finishing"
        if run.phase == "finishing":
            self._finish(run, owner)

    # ---- phases ---------------------------------------------------------------------------

    def _source(self, run: ImportRun, as_of: dt.date | None = None) -> Source:
        school = run.school_id
        if run.source == "ctf-xml":
            return CtfSource(lambda: uploads.open_file(self.db, school, run.file_id))
        if run.source == "csv":
            with self.db.read() as s:
                row = find_mapping(s, school, run.csv_entity)
                mapping = (Mapping(row.entity, dict(row.columns), row.date_format)
                           if row is not None else None)
            if mapping is None:
                raise FileRefused(f"The CSV column mapping for {run.csv_entity} was removed.")
            return CsvSource(lambda: uploads.open_file(self.db, school, run.file_id), mapping,
                             as_of=as_of or run.started_at.date())
        return JsonFeedSource(lambda: uploads.iter_parts(self.db, school, run.file_id),
                              school_id=school, as_of=as_of or run.started_at.date())

    def _check(self, run: ImportRun, owner: str) -> bool:
        try:
            checked = self._source(run).check()
            details = checked.details
            if details.kind == "ctf":
                self._check_source_school(run.school_id, details)
        except FileRefused as exc:
            self._fail(run.id, owner, exc, source=run.source)
            return False
        as_of = details.generated_at or run.started_at
        full = run.full_extract if details.full_extract is None else details.full_extract
        with self.db.transaction() as s:
            self._renew(s, run.id, owner)
            s.execute(update(RT).where(RT.c.id == run.id).values(
                phase="importing", total=checked.total, details=details.as_dict(),
                as_of=as_of, full_extract=full, updated_at=utcnow()))
        run.phase, run.total, run.as_of, run.full_extract = "importing", checked.total, as_of, \
            full
        run.details = details.as_dict()
        return True

    def _check_source_school(self, school_id: str, details: SourceDetails) -> None:
        with self.db.read() as s:
            settings = school_settings(s, school_id)
            lea, estab = (settings.source_lea, settings.source_estab) if settings else ("", "")
        if not lea:
            return
        if (details.lea, details.estab) != (lea, estab):
            raise FileRefused(
                f"The file comes from {details.school_name} (LA {details.lea}, establishment "
                f"{details.estab}), not from this school's MIS (LA {lea}, establishment "
                f"{estab}). If the school's number has changed, change it in the import "
                "settings.", "/CTfile/Header/SourceSchool")

    def _state(self, run: ImportRun) -> _State:
        cache: OrderedDict[str, _State] = getattr(self._local, "states", None) or OrderedDict()
        self._local.states = cache
        state = cache.get(run.id)
        if state is not None and state.next_seq == run.cursor:
            cache.move_to_end(run.id)
            return state
        source = self._source(run, (run.as_of or run.started_at).date())
        ctx = RunContext(school_id=run.school_id, run_id=run.id,
                         as_of=run.as_of or run.started_at, full_extract=run.full_extract,
                         actor=run.created_by or "system:mis_import", keys=KeyTracker(),
                         counts=Counter(run.counts or {}), rejected=run.rejected)
        items = enumerate(source.items())
        for _seq, item in itertools.islice(items, run.cursor):
            self.importer.skip(ctx, item)  # replay what is already imported
        ctx.keys.settle()
        state = _State(run.id, items, ctx, run.cursor, SourceDetails.from_dict(run.details))
        cache[run.id] = state
        while len(cache) > 4:
            cache.popitem(last=False)
        return state

    def _drop(self, run_id: str) -> None:
        cache = getattr(self._local, "states", None)
        if cache:
            cache.pop(run_id, None)

    def _import(self, run: ImportRun, owner: str, deadline: float) -> bool:
        state = self._state(run)
        ctx = state.ctx
        size = self.config.batch_size
        pause = self.config.batch_pause_ms / 1000
        while True:
            batch = list(itertools.islice(state.items, size))
            if not batch:
                return True
            point = ctx.savepoint()
            try:
                self._commit_batch(run.id, owner, ctx, batch, run.source)
            except Exception as exc:
                ctx.restore(point)
                if isinstance(exc, LeaseLost) or transient(exc):
                    raise
                log.exception("import %s: a batch failed; retrying its records one by one",
                              run.id)
                self._one_by_one(run.id, owner, ctx, batch)
            ctx.keys.settle()
            state.next_seq = batch[-1][0] + 1
            if time.monotonic() >= deadline:
                return False
            if pause:
                time.sleep(pause)

    def _commit_batch(self, run_id: str, owner: str, ctx: RunContext, batch,
                      source: str = "") -> None:
        started = time.perf_counter()
        with self.db.transaction() as s:
            self._renew(s, run_id, owner)
            self.importer.apply(s, ctx, batch)
            s.execute(update(RT).where(RT.c.id == run_id).values(
                cursor=batch[-1][0] + 1, counts=dict(ctx.counts), rejected=ctx.rejected,
                updated_at=utcnow()))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.RECORDS.labels(source).inc(len(batch))

    def _one_by_one(self, run_id: str, owner: str, ctx: RunContext, batch) -> None:
        for seq, item in batch:
            point = ctx.savepoint()
            try:
                self._commit_batch(run_id, owner, ctx, [(seq, item)])
            except Exception as exc:
                ctx.restore(point)
                if isinstance(exc, LeaseLost) or transient(exc):
                    raise
                reference = uuid.uuid4().hex[:8]
                log.exception("import %s: record %s failed (reference %s)", run_id, seq,
                              reference)
                with self.db.transaction() as s:
                    self._renew(s, run_id, owner)
                    self.importer.reject(s, ctx, seq, getattr(item, "location", ""),
                                         "this record could not be imported because of an "
                                         f"internal error (reference {reference})",
                                         key=getattr(item, "mis_id", "") or "")
                    s.execute(update(RT).where(RT.c.id == run_id).values(
                        cursor=seq + 1, counts=dict(ctx.counts), rejected=ctx.rejected,
                        updated_at=utcnow()))

    def _finish(self, run: ImportRun, owner: str) -> None:
        details = SourceDetails.from_dict(run.details)
        if run.source == "csv":
            archive_students = run.csv_entity == "students"
            archive_staff = run.csv_entity == "staff"
        elif run.source == "json":
            archive_students = "students" in details.sections
            archive_staff = "employees" in details.sections
        else:
            archive_students, archive_staff = True, False
        with self.db.transaction() as s:
            self._renew(s, run.id, owner)
            counts, rejected, warnings = s.execute(select(
                RT.c.counts, RT.c.rejected, RT.c.warnings).where(RT.c.id == run.id)).one()
            ctx = RunContext(school_id=run.school_id, run_id=run.id,
                             as_of=run.as_of or run.started_at, full_extract=run.full_extract,
                             actor=run.created_by or "system:mis_import",
                             counts=Counter(counts or {}), rejected=rejected)
            warnings = list(warnings or []) + self.importer.finish(
                s, ctx, archive_students=archive_students, archive_staff=archive_staff)
            if details.kind == "ctf":
                pin_source_school(s, run.school_id, details.lea, details.estab)
            now = utcnow()
            s.execute(update(RT).where(RT.c.id == run.id).values(
                status="succeeded", phase="done", counts=dict(ctx.counts),
                rejected=ctx.rejected, warnings=warnings, finished_at=now, updated_at=now,
                lease_owner=None, lease_expires_at=None))
        self._drop(run.id)
        metrics.RUNS_FINISHED.labels(run.source, "succeeded").inc()
        log.info("import %s of school %s succeeded: %s", run.id, run.school_id,
                 dict(ctx.counts))

    # ---- run state changes ----------------------------------------------------------------

    def _renew(self, session, run_id: str, owner: str) -> None:
        renewed = session.execute(update(RT).where(
            RT.c.id == run_id, RT.c.lease_owner == owner, RT.c.status == "running",
        ).values(lease_expires_at=utcnow() + dt.timedelta(seconds=self.config.lease_seconds))
        ).rowcount
        if renewed != 1:
            raise LeaseLost(run_id)

    def _release(self, run_id: str, owner: str) -> None:
        with self.db.transaction() as s:
            s.execute(update(RT).where(RT.c.id == run_id, RT.c.lease_owner == owner)
                      .values(lease_owner=None, lease_expires_at=None))

    def _fail(self, run_id: str, owner: str, exc: FileRefused, *, source: str = "") -> None:
        now = utcnow()
        with self.db.transaction() as s:
            s.execute(update(RT).where(RT.c.id == run_id, RT.c.lease_owner == owner).values(
                status="failed", phase="done", error=exc.reason,
                error_location=exc.location[:300], finished_at=now, updated_at=now,
                lease_owner=None, lease_expires_at=None))
        self._drop(run_id)
        metrics.RUNS_FINISHED.labels(source, "failed").inc()
        log.info("import %s refused: %s (%s)", run_id, exc.reason, exc.location)

    def _interrupt(self, run_id: str, owner: str, message: str) -> None:
        now = utcnow()
        with self.db.transaction() as s:
            s.execute(update(RT).where(RT.c.id == run_id, RT.c.lease_owner == owner).values(
                status="interrupted", error=message, finished_at=now, updated_at=now,
                lease_owner=None, lease_expires_at=None))
        metrics.RUNS_FINISHED.labels("", "interrupted").inc()

    def _transient_failure(self, run_id: str, owner: str, exc: Exception) -> None:
        log.warning("import %s: database trouble (%s); it will be retried", run_id, exc)
        try:
            with self.db.transaction() as s:
                attempts = s.execute(select(RT.c.attempts).where(RT.c.id == run_id)
                                     ).scalar_one() + 1
                values = {"attempts": attempts, "lease_owner": None, "lease_expires_at": None}
                if attempts >= MAX_TRANSIENT_FAILURES:
                    values.update(status="interrupted", finished_at=utcnow(),
                                  error="The import stopped after repeated database errors; "
                                  "it can be resumed from where it stopped.")
                s.execute(update(RT).where(RT.c.id == run_id, RT.c.lease_owner == owner)
                          .values(**values))
        except Exception:
            log.exception("import %s: could not record the failure", run_id)

    # ---- housekeeping ---------------------------------------------------------------------

    def housekeeping(self, *, force: bool = False) -> None:
        """Fail feeds whose last part never came; delete files of long-finished runs."""
        if not force and time.monotonic() - self._last_housekeeping < HOUSEKEEPING_SECONDS:
            return
        self._last_housekeeping = time.monotonic()
        now = utcnow()
        with self.db.transaction() as s:
            s.execute(update(RT).where(
                RT.c.status == "receiving",
                RT.c.updated_at < now - dt.timedelta(hours=self.config.feed_part_hours),
            ).values(status="failed", phase="done", finished_at=now, updated_at=now,
                     error="The rest of the feed never arrived."))
        cutoff = now - dt.timedelta(days=self.config.keep_files_days)
        with self.db.transaction() as s:
            in_use = select(RT.c.file_id).where(
                RT.c.file_id.is_not(None),
                or_(RT.c.status.in_(("receiving", "queued", "running")),
                    RT.c.finished_at >= cutoff))
            old = s.execute(select(ImportFile.id).where(
                ImportFile.purged_at.is_(None), ImportFile.created_at < cutoff,
                ImportFile.id.not_in(in_use))).scalars().all()
            for file_id in old:
                uploads.purge(s, file_id)
                s.execute(update(ImportFile.__table__).where(ImportFile.id == file_id)
                          .values(purged_at=now))
