"""Applying parsed records to a school's imported state, and announcing real changes.

Every record is an idempotent upsert keyed by the MIS id (the UPN as a secondary match).
What was last imported is kept with a content hash, so applying the same record again
changes nothing and publishes nothing: that is what makes a re-import, or the replay of a
batch after a crash, harmless. Each item is applied whole within the caller's transaction;
the worker commits a batch of items together with the run's cursor and counts.

At the end of a run (``finish``): tutor and year groups are rebuilt from the pupils' own
groups; a full extract archives the pupils it no longer lists (never deletes them) and marks
missing staff, unless so many would go that the file is more likely truncated than true.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.mis_import.attendance import YearMarks, dump_marks, load_marks, summarise
from services.mis_import.extract import (
    AttendanceBatch,
    ContactList,
    GroupRecord,
    Item,
    KeyTracker,
    Rejected,
    StaffRecord,
    StudentRecord,
    match_key,
    sort_contacts,
)
from services.mis_import.models import (
    Group,
    ImportRejection,
    StaffMember,
    Student,
    StudentAttendance,
)
from services.mis_import.ports import ImportEvents
from shared.db import new_id, utcnow

ST = Student.__table__
AT = StudentAttendance.__table__
SF = StaffMember.__table__
GR = Group.__table__
RJ = ImportRejection.__table__

ARCHIVE_GUARD_MIN = 10  # below this many, archiving is never held back by the share rule


def _match(data: dict) -> str:
    return match_key(data["legal_first_name"], data["legal_last_name"], data["date_of_birth"])


def content_hash(value) -> str:
    return canonical(value)[1]


def canonical(value) -> tuple[str, str]:
    """The stored form of a record (canonical JSON) and its hash."""
    raw = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return raw, hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class RunContext:
    school_id: str
    run_id: str
    as_of: dt.datetime
    full_extract: bool
    actor: str
    keys: KeyTracker = field(default_factory=KeyTracker)
    counts: Counter = field(default_factory=Counter)
    rejected: int = 0
    pending_contacts: list[dict] = field(default_factory=list)

    def savepoint(self) -> tuple:
        return Counter(self.counts), self.rejected, self.keys.mark()

    def restore(self, point: tuple) -> None:
        counts, rejected, mark = point
        self.counts = counts
        self.rejected = rejected
        self.keys.rollback(mark)
        self.pending_contacts = []


class Importer:
    def __init__(self, events: ImportEvents, *, max_archive_share: float = 0.5) -> None:
        self.events = events
        self.max_archive_share = max_archive_share

    # ---- items --------------------------------------------------------------------------

    def apply(self, session: Session, ctx: RunContext, items: list[tuple[int, Item]]) -> None:
        """Apply consecutive items (seq, item) in order, grouping runs of one kind."""
        group: list[tuple[int, Item]] = []
        for seq, item in items:
            if group and type(group[-1][1]) is not type(item):
                self._apply_group(session, ctx, group)
                group = []
            group.append((seq, item))
        if group:
            self._apply_group(session, ctx, group)
        self.events.flush(session)

    def _apply_group(self, session: Session, ctx: RunContext, group) -> None:
        kind = type(group[0][1])
        if kind is StudentRecord:
            self._students(session, ctx, group)
        elif kind is StaffRecord:
            self._staff(session, ctx, group)
        elif kind is GroupRecord:
            for seq, item in group:
                self._group_record(session, ctx, seq, item)
        elif kind is ContactList:
            self._contact_lists(session, ctx, group)
        elif kind is AttendanceBatch:
            self._attendance_batches(session, ctx, group)
        elif kind is Rejected:
            self._rejections(session, ctx, group)
        else:  # pragma: no cover - sources only yield the types above
            raise TypeError(f"unknown item {kind!r}")

    def skip(self, ctx: RunContext, item: Item) -> None:
        """Replay an item already applied before a resume (rebuilds duplicate detection)."""
        if isinstance(item, StudentRecord):
            ctx.keys.student_duplicate(item)
        elif isinstance(item, StaffRecord):
            ctx.keys.staff_duplicate(item)

    def reject(self, session: Session, ctx: RunContext, seq: int, location: str, reason: str,
               *, key: str = "", label: str = "") -> None:
        """Record one rejected record (its transaction is the caller's)."""
        session.execute(insert(RJ).values(
            school_id=ctx.school_id, run_id=ctx.run_id, seq=seq, location=location[:300],
            record_key=key[:100], label=label[:200], reason=reason))
        ctx.counts["rejected"] += 1
        ctx.rejected += 1

    def _rejections(self, session: Session, ctx: RunContext, group) -> None:
        session.execute(insert(RJ), [
            {"school_id": ctx.school_id, "run_id": ctx.run_id, "seq": seq,
             "location": item.location[:300], "record_key": item.key[:100],
             "label": item.label[:200], "reason": item.reason}
            for seq, item in group])
        ctx.counts["rejected"] += len(group)
        ctx.rejected += len(group)
        # A pupil (or member of staff) whose row was rejected is still on roll: never
        # archive them because of a data error.
        students = {i.student_key for _, i in group if i.student_key}
        matches = {i.match_key for _, i in group if i.match_key}
        if students or matches:
            session.execute(update(ST).where(
                ST.c.school_id == ctx.school_id,
                or_(ST.c.mis_id.in_(students), ST.c.source_id.in_(students),
                    ST.c.upn.in_(students),
                    (ST.c.match_key.in_(matches)) & (ST.c.status == "active")),
            ).values(last_seen_run_id=ctx.run_id))
        staff = {i.staff_key for _, i in group if i.staff_key}
        if staff:
            session.execute(update(SF).where(SF.c.school_id == ctx.school_id,
                                             SF.c.mis_id.in_(staff))
                            .values(last_seen_run_id=ctx.run_id))

    # ---- pupils ---------------------------------------------------------------------------

    def _students(self, session: Session, ctx: RunContext, group) -> None:
        school = ctx.school_id
        keys = {item.mis_id for _, item in group}
        upns = {item.upn for _, item in group if item.upn}
        cols = (ST.c.id, ST.c.mis_id, ST.c.source_id, ST.c.upn, ST.c.status,
                ST.c.content_hash, ST.c.contacts_hash, ST.c.as_of, ST.c.last_seen_run_id,
                ST.c.year_group, ST.c.tutor_group)
        rows = session.execute(select(*cols).where(
            ST.c.school_id == school,
            or_(ST.c.mis_id.in_(keys), ST.c.source_id.in_(keys), ST.c.upn.in_(upns)),
        )).all()
        by_key: dict[str, dict] = {}
        by_upn: dict[str, list[dict]] = {}
        for row in rows:
            r = dict(row._mapping)
            by_key.setdefault(r["mis_id"], r)
            by_key.setdefault(r["source_id"], r)
            if r["upn"]:
                by_upn.setdefault(r["upn"], []).append(r)
        today = ctx.as_of.date().isoformat()
        inserts: list[dict] = []
        updates: list[dict] = []
        seen_only: list[str] = []  # unchanged: seen in this run, as of this run's data
        stale: list[str] = []  # older than what is imported: seen only
        attendance_work: list[tuple[str, str, list]] = []
        for seq, rec in group:
            duplicate = ctx.keys.student_duplicate(rec)
            if duplicate:
                self.reject(session, ctx, seq, rec.location, duplicate, key=rec.mis_id,
                             label=rec.label)
                continue
            row = by_key.get(rec.mis_id)
            if row is None and rec.upn:
                row, conflict = self._match_by_upn(ctx, rec, by_upn.get(rec.upn, []))
                if conflict:
                    self.reject(session, ctx, seq, rec.location, conflict, key=rec.mis_id,
                                 label=rec.label)
                    continue
            left = bool(rec.data["leaving_date"]) and rec.data["leaving_date"] <= today
            data = dict(rec.data)
            data["archived"] = left
            text, digest = canonical(data)
            if row is None:
                mis_id = rec.mis_id
                row = {"id": new_id(), "mis_id": mis_id, "source_id": rec.mis_id,
                       "upn": rec.upn, "status": "archived" if left else "active",
                       "content_hash": digest, "contacts_hash": "", "as_of": ctx.as_of,
                       "last_seen_run_id": ctx.run_id}
                inserts.append({
                    "id": row["id"], "school_id": school, "mis_id": mis_id,
                    "source_id": rec.mis_id, "upn": rec.upn, "status": row["status"],
                    "archived_reason": "left" if left else "",
                    "year_group": data["year_group"], "tutor_group": data["tutor_group"],
                    "match_key": _match(data),
                    "data": text, "content_hash": digest, "contacts": None,
                    "contacts_hash": "", "contacts_run_id": "", "as_of": ctx.as_of,
                    "last_seen_run_id": ctx.run_id, "created_at": utcnow(),
                    "updated_at": utcnow()})
                by_key[mis_id] = row
                self.events.student_upserted(session, school_id=school, mis_id=mis_id,
                                             data=data, run_id=ctx.run_id, as_of=ctx.as_of,
                                             actor=ctx.actor)
                ctx.counts["created"] += 1
                ctx.counts["students_created"] += 1
                if left:
                    self._archived_event(session, ctx, mis_id, rec.upn, "left",
                                         data["leaving_date"])
            elif row["as_of"] is not None and ctx.as_of < row["as_of"]:
                # Older than what was imported already (an old file uploaded late).
                stale.append(row["id"])
                ctx.counts["unchanged"] += 1
                ctx.counts["students_unchanged"] += 1
                ctx.counts["stale"] += 1
                continue
            elif digest != row["content_hash"]:
                status = "archived" if left else "active"
                updates.append({
                    "_id": row["id"], "source_id": rec.mis_id, "upn": rec.upn,
                    "status": status,
                    "archived_reason": "left" if left else "",
                    "year_group": data["year_group"], "tutor_group": data["tutor_group"],
                    "match_key": _match(data),
                    "data": text, "content_hash": digest, "as_of": ctx.as_of,
                    "last_seen_run_id": ctx.run_id, "updated_at": utcnow()})
                self.events.student_upserted(session, school_id=school, mis_id=row["mis_id"],
                                             data=data, run_id=ctx.run_id, as_of=ctx.as_of,
                                             actor=ctx.actor)
                ctx.counts["updated"] += 1
                ctx.counts["students_updated"] += 1
                if left and row["status"] != "archived":
                    self._archived_event(session, ctx, row["mis_id"], rec.upn, "left",
                                         data["leaving_date"])
                row.update(status=status, content_hash=digest, last_seen_run_id=ctx.run_id)
            else:
                seen_only.append(row["id"])
                if row["source_id"] != rec.mis_id:
                    updates.append({
                        "_id": row["id"], "source_id": rec.mis_id, "upn": row["upn"],
                        "status": row["status"], "archived_reason": None,
                        "year_group": row["year_group"], "tutor_group": row["tutor_group"],
                        "match_key": None, "data": None, "content_hash": row["content_hash"],
                        "as_of": ctx.as_of, "last_seen_run_id": ctx.run_id,
                        "updated_at": utcnow()})
                ctx.counts["unchanged"] += 1
                ctx.counts["students_unchanged"] += 1
                row["last_seen_run_id"] = ctx.run_id
            if rec.contacts is not None:
                self._set_contacts(session, ctx, row, rec.contacts)
            if rec.marks:
                attendance_work.append((row["id"], row["mis_id"], rec.marks))
        if inserts:
            session.execute(insert(ST), inserts)
        full = [u for u in updates if u["data"] is not None]
        keyed = [u for u in updates if u["data"] is None]
        if full:
            session.execute(update(ST).where(ST.c.id == bindparam("_id")).values(
                source_id=bindparam("source_id"), upn=bindparam("upn"),
                status=bindparam("status"), archived_reason=bindparam("archived_reason"),
                year_group=bindparam("year_group"), tutor_group=bindparam("tutor_group"),
                match_key=bindparam("match_key"),
                data=bindparam("data"), content_hash=bindparam("content_hash"),
                as_of=bindparam("as_of"), last_seen_run_id=bindparam("last_seen_run_id"),
                updated_at=bindparam("updated_at")), full)
        if keyed:
            session.execute(update(ST).where(ST.c.id == bindparam("_id")).values(
                source_id=bindparam("source_id"), as_of=bindparam("as_of"),
                last_seen_run_id=bindparam("last_seen_run_id")),
                [{k: u[k] for k in ("_id", "source_id", "as_of", "last_seen_run_id")}
                 for u in keyed])
        plain = set(seen_only) - {u["_id"] for u in keyed}
        if plain:
            session.execute(update(ST).where(ST.c.id.in_(plain))
                            .values(last_seen_run_id=ctx.run_id, as_of=ctx.as_of))
        if stale:
            session.execute(update(ST).where(ST.c.id.in_(stale))
                            .values(last_seen_run_id=ctx.run_id))
        self._flush_contacts(session, ctx)
        if attendance_work:
            self._merge_attendance(session, ctx, attendance_work)

    def _match_by_upn(self, ctx: RunContext, rec: StudentRecord, candidates: list[dict]):
        """The UPN as a secondary match: a pupil imported under another key (a CTF's UPN,
        an earlier MIS id) is the same pupil when the UPN agrees, unless another pupil on
        roll still uses that UPN under a different MIS id."""
        if not candidates:
            return None, None
        active = [c for c in candidates if c["status"] == "active"]
        row = (active or candidates)[0]
        if row["last_seen_run_id"] == ctx.run_id:
            return None, (f"UPN {rec.upn} belongs to another pupil already imported from this "
                          "file")
        rec_is_upn_keyed = rec.mis_id == rec.upn
        row_is_upn_keyed = row["source_id"] == row["upn"]
        if (row["status"] == "active" and not rec_is_upn_keyed and not row_is_upn_keyed
                and row["source_id"] != rec.mis_id):
            return None, (f"UPN {rec.upn} belongs to another pupil on roll (MIS id "
                          f"{row['source_id']}); correct the UPN in the MIS")
        return row, None

    def _archived_event(self, session, ctx, mis_id, upn, reason, leaving_date) -> None:
        self.events.student_archived(session, school_id=ctx.school_id, mis_id=mis_id, upn=upn,
                                     reason=reason, leaving_date=leaving_date,
                                     run_id=ctx.run_id, as_of=ctx.as_of, actor=ctx.actor)
        ctx.counts["archived"] += 1
        ctx.counts["students_archived"] += 1

    # ---- contacts -------------------------------------------------------------------------

    def _set_contacts(self, session, ctx: RunContext, row: dict, contacts: list[dict]) -> None:
        contacts = sort_contacts(contacts)
        text, digest = canonical(contacts)
        unchanged = digest == row.get("contacts_hash")
        # A contact list (rows carry contacts_run_id) records this run even when nothing
        # changed: a later list for the pupil in this full feed must merge, not replace.
        if unchanged and row.get("contacts_run_id", ctx.run_id) == ctx.run_id:
            return
        ctx.pending_contacts.append({"_id": row["id"], "contacts": text,
                                     "contacts_hash": digest, "contacts_run_id": ctx.run_id})
        if unchanged:
            return
        row["contacts_hash"] = digest
        self.events.contacts_upserted(session, school_id=ctx.school_id,
                                      student_mis_id=row["mis_id"], contacts=contacts,
                                      run_id=ctx.run_id, as_of=ctx.as_of, actor=ctx.actor)
        ctx.counts["contacts_updated"] += 1

    def _flush_contacts(self, session, ctx: RunContext) -> None:
        pending, ctx.pending_contacts = ctx.pending_contacts, []
        if pending:
            session.execute(update(ST).where(ST.c.id == bindparam("_id")).values(
                contacts=bindparam("contacts"), contacts_hash=bindparam("contacts_hash"),
                contacts_run_id=bindparam("contacts_run_id")), pending)

    def _students_by_key(self, session, ctx, keys: set[str]) -> dict[str, dict]:
        rows = session.execute(select(
            ST.c.id, ST.c.mis_id, ST.c.source_id, ST.c.contacts, ST.c.contacts_hash,
            ST.c.contacts_run_id,
        ).where(ST.c.school_id == ctx.school_id,
                or_(ST.c.mis_id.in_(keys), ST.c.source_id.in_(keys)))).all()
        out: dict[str, dict] = {}
        for row in rows:
            r = dict(row._mapping)
            out.setdefault(r["source_id"], r)
            out.setdefault(r["mis_id"], r)
        return out

    def _contact_lists(self, session, ctx, group) -> None:
        found = self._students_by_key(session, ctx, {i.student_key for _, i in group})
        for seq, item in group:
            row = found.get(item.student_key)
            if row is None:
                self.reject(session, ctx, seq, item.location,
                             f"no pupil with MIS id {item.student_key} has been imported",
                             key=item.student_key)
                continue
            if ctx.full_extract and row["contacts_run_id"] != ctx.run_id:
                merged = list(item.contacts)  # a full feed's list replaces the old one
            else:
                by_id = {c["mis_id"]: c for c in json.loads(row["contacts"] or "[]")}
                for contact in item.contacts:
                    by_id[contact["mis_id"]] = contact
                merged = list(by_id.values())
            self._set_contacts(session, ctx, row, merged)
            row["contacts"] = json.dumps(merged)
            row["contacts_run_id"] = ctx.run_id
        self._flush_contacts(session, ctx)

    # ---- attendance -----------------------------------------------------------------------

    def _attendance_batches(self, session, ctx, group) -> None:
        found = self._students_by_key(session, ctx, {i.student_key for _, i in group})
        work = []
        for seq, item in group:
            row = found.get(item.student_key)
            if row is None:
                self.reject(session, ctx, seq, item.location,
                             f"no pupil with MIS id {item.student_key} has been imported",
                             key=item.student_key)
                continue
            work.append((row["id"], row["mis_id"], item.marks))
        if work:
            self._merge_attendance(session, ctx, work)

    def _merge_attendance(self, session, ctx, work: list[tuple[str, str, YearMarks]]) -> None:
        """Merge each pupil's marks into what is stored, per academic year; announce only
        marks that are new or different (a session the source leaves blank keeps its mark)."""
        owners = {student_id: mis_id for student_id, mis_id, _ in work}
        hashes = {
            (r.student_id, r.academic_year): (r.id, r.marks_hash)
            for r in session.execute(select(AT.c.id, AT.c.student_id, AT.c.academic_year,
                                            AT.c.marks_hash).where(
                AT.c.school_id == ctx.school_id,
                AT.c.student_id.in_(owners))).all()
        }
        to_load: list[str] = []
        for student_id, _mis_id, year_marks in work:
            for year, days in year_marks.items():
                known = hashes.get((student_id, year))
                if known is None:
                    continue
                digest = hashlib.sha256(dump_marks(days).encode()).hexdigest()
                if digest != known[1]:
                    to_load.append(known[0])  # something differs: compare day by day
        stored = {(sid, year): (row_id, None) for (sid, year), (row_id, _h) in hashes.items()}
        if to_load:
            for r in session.execute(select(AT.c.id, AT.c.student_id, AT.c.academic_year,
                                            AT.c.marks).where(AT.c.id.in_(to_load))).all():
                stored[(r.student_id, r.academic_year)] = (r.id, load_marks(r.marks))
        inserts, updates = [], []
        now = utcnow()
        for student_id, _mis_id, year_marks in work:
            for year, days in year_marks.items():
                existing = stored.get((student_id, year))
                if existing is not None and existing[1] is None:
                    continue  # the same marks as stored (equal hashes)
                if existing is None:
                    merged = changed = days
                    marks_changed = -1  # all of them: counted from the summary below
                else:
                    merged = dict(existing[1])
                    changed = {}
                    marks_changed = 0
                    for day, pair in days.items():
                        old = merged.get(day)
                        if old == pair:
                            continue
                        old = old or ("", "")
                        am = pair[0] if pair[0] and pair[0] != old[0] else ""
                        pm = pair[1] if pair[1] and pair[1] != old[1] else ""
                        if am or pm:
                            changed[day] = (am, pm)
                            merged[day] = (am or old[0], pm or old[1])
                            marks_changed += bool(am) + bool(pm)
                if not changed:
                    continue
                text = dump_marks(merged)
                merged_hash = hashlib.sha256(text.encode()).hexdigest()
                if existing:
                    updates.append({"_id": existing[0], "marks": text,
                                    "marks_hash": merged_hash, "updated_at": now})
                else:
                    inserts.append({"id": new_id(), "school_id": ctx.school_id,
                                    "student_id": student_id, "academic_year": year,
                                    "marks": text, "marks_hash": merged_hash,
                                    "updated_at": now})
                stored[(student_id, year)] = (existing[0] if existing else inserts[-1]["id"],
                                              merged)
                summary = summarise(merged)
                if marks_changed < 0:
                    marks_changed = summary["possible_sessions"] + summary["not_possible"]
                self.events.attendance_recorded(
                    session, school_id=ctx.school_id, student_mis_id=owners[student_id],
                    marks=changed, summary=summary, academic_year=year,
                    run_id=ctx.run_id, as_of=ctx.as_of, actor=ctx.actor)
                ctx.counts["attendance_updated"] += 1
                ctx.counts["attendance_marks"] += marks_changed
        if inserts:
            session.execute(insert(AT), inserts)
        if updates:
            session.execute(update(AT).where(AT.c.id == bindparam("_id")).values(
                marks=bindparam("marks"), marks_hash=bindparam("marks_hash"),
                updated_at=bindparam("updated_at")), updates)

    # ---- staff ----------------------------------------------------------------------------

    def _staff(self, session, ctx, group) -> None:
        keys = {item.mis_id for _, item in group}
        rows = {r.mis_id: dict(r._mapping) for r in session.execute(select(
            SF.c.id, SF.c.mis_id, SF.c.content_hash, SF.c.present, SF.c.as_of,
        ).where(SF.c.school_id == ctx.school_id, SF.c.mis_id.in_(keys))).all()}
        now = utcnow()
        for seq, rec in group:
            duplicate = ctx.keys.staff_duplicate(rec)
            if duplicate:
                self.reject(session, ctx, seq, rec.location, duplicate, key=rec.mis_id,
                             label=rec.label)
                continue
            data = dict(rec.data)
            data["present_in_extract"] = True
            digest = content_hash(data)
            row = rows.get(rec.mis_id)
            if row is None:
                session.execute(insert(SF).values(
                    id=new_id(), school_id=ctx.school_id, mis_id=rec.mis_id, present=True,
                    data=data, content_hash=digest, as_of=ctx.as_of,
                    last_seen_run_id=ctx.run_id, updated_at=now))
                rows[rec.mis_id] = {"mis_id": rec.mis_id, "content_hash": digest}
                ctx.counts["created"] += 1
                ctx.counts["staff_created"] += 1
            elif row["as_of"] is not None and ctx.as_of < row["as_of"]:
                session.execute(update(SF).where(SF.c.id == row["id"])
                                .values(last_seen_run_id=ctx.run_id))
                ctx.counts["unchanged"] += 1
                ctx.counts["staff_unchanged"] += 1
                ctx.counts["stale"] += 1
                continue
            elif digest != row["content_hash"]:
                session.execute(update(SF).where(SF.c.id == row["id"]).values(
                    present=True, data=data, content_hash=digest, as_of=ctx.as_of,
                    last_seen_run_id=ctx.run_id, updated_at=now))
                row["content_hash"] = digest
                ctx.counts["updated"] += 1
                ctx.counts["staff_updated"] += 1
            else:
                session.execute(update(SF).where(SF.c.id == row["id"])
                                .values(last_seen_run_id=ctx.run_id, as_of=ctx.as_of))
                ctx.counts["unchanged"] += 1
                ctx.counts["staff_unchanged"] += 1
                continue
            self.events.staff_upserted(session, school_id=ctx.school_id, mis_id=rec.mis_id,
                                       data=data, present=True, run_id=ctx.run_id,
                                       as_of=ctx.as_of, actor=ctx.actor)

    # ---- groups ---------------------------------------------------------------------------

    def _group_record(self, session, ctx, seq: int, rec: GroupRecord) -> None:
        """A group the MIS names itself: its id and tutors (members come from pupils)."""
        row = session.execute(select(GR.c.id, GR.c.name).where(
            GR.c.school_id == ctx.school_id, GR.c.kind == rec.kind,
            or_(GR.c.source_id == rec.mis_id, GR.c.name == rec.name),
        ).order_by((GR.c.source_id == rec.mis_id).desc())).first()
        if row is None:
            session.execute(insert(GR).values(
                id=new_id(), school_id=ctx.school_id, kind=rec.kind, name=rec.name,
                mis_id=rec.mis_id, source_id=rec.mis_id, staff_mis_ids=rec.staff_mis_ids,
                active=False, content_hash="", updated_at=utcnow()))
            return
        values = {"source_id": rec.mis_id, "staff_mis_ids": rec.staff_mis_ids}
        if row.name != rec.name:
            clash = session.execute(select(GR.c.id).where(
                GR.c.school_id == ctx.school_id, GR.c.kind == rec.kind,
                GR.c.name == rec.name)).first()
            if clash is None:
                values["name"] = rec.name
        session.execute(update(GR).where(GR.c.id == row.id).values(**values))

    def rebuild_groups(self, session: Session, ctx: RunContext) -> None:
        members: dict[tuple[str, str], list[str]] = {}
        for mis_id, year, tutor in session.execute(select(
                ST.c.mis_id, ST.c.year_group, ST.c.tutor_group).where(
                ST.c.school_id == ctx.school_id, ST.c.status == "active")).all():
            if year:
                members.setdefault(("year", year), []).append(mis_id)
            if tutor:
                members.setdefault(("tutor", tutor), []).append(mis_id)
        rows = {(r.kind, r.name): r for r in session.execute(select(
            GR.c.id, GR.c.kind, GR.c.name, GR.c.mis_id, GR.c.staff_mis_ids, GR.c.active,
            GR.c.content_hash).where(GR.c.school_id == ctx.school_id)).all()}
        for key in sorted(set(members) | set(rows)):
            kind, name = key
            students = sorted(members.get(key, []))
            row = rows.get(key)
            staff = list(row.staff_mis_ids or []) if row is not None else []
            active = bool(students)
            digest = content_hash({"name": name, "kind": kind, "students": students,
                                   "staff": staff, "active": active})
            if row is not None and row.content_hash == digest:
                continue
            if row is None:
                if not students:
                    continue
                mis_id = f"{kind}:{name}"
                session.execute(insert(GR).values(
                    id=new_id(), school_id=ctx.school_id, kind=kind, name=name,
                    mis_id=mis_id, source_id="", staff_mis_ids=[], active=True,
                    content_hash=digest, updated_at=utcnow()))
            else:
                if not row.content_hash and not active:
                    # Named by the MIS but nobody is in it yet: announce it once it has pupils.
                    continue
                mis_id = row.mis_id
                session.execute(update(GR).where(GR.c.id == row.id).values(
                    active=active, content_hash=digest, updated_at=utcnow()))
            self.events.group_upserted(session, school_id=ctx.school_id, mis_id=mis_id,
                                       name=name, kind=kind, student_mis_ids=students,
                                       staff_mis_ids=staff, active=active, run_id=ctx.run_id,
                                       as_of=ctx.as_of, actor=ctx.actor)
            ctx.counts["groups_updated"] += 1

    # ---- end of a run ---------------------------------------------------------------------

    def finish(self, session: Session, ctx: RunContext, *, archive_students: bool,
               archive_staff: bool) -> list[str]:
        """Groups from the pupils as now imported; a full extract's archiving. Idempotent
        (running it again after a crash changes and announces nothing more)."""
        warnings: list[str] = []
        if ctx.full_extract and archive_students:
            self.archive_missing_students(session, ctx, warnings)
        if ctx.full_extract and archive_staff:
            self.mark_missing_staff(session, ctx, warnings)
        self.rebuild_groups(session, ctx)
        self.events.flush(session)
        return warnings

    # ---- full extracts --------------------------------------------------------------------

    def archive_missing_students(self, session: Session, ctx: RunContext,
                                 warnings: list[str]) -> None:
        school = ctx.school_id
        on_roll = session.execute(select(func.count()).select_from(ST).where(
            ST.c.school_id == school, ST.c.status == "active")).scalar_one()
        seen = session.execute(select(func.count()).select_from(ST).where(
            ST.c.school_id == school, ST.c.last_seen_run_id == ctx.run_id)).scalar_one()
        missing = session.execute(select(ST.c.id, ST.c.mis_id, ST.c.upn, ST.c.data).where(
            ST.c.school_id == school, ST.c.status == "active",
            ST.c.last_seen_run_id != ctx.run_id,
            or_(ST.c.as_of.is_(None), ST.c.as_of <= ctx.as_of),
        ).order_by(ST.c.mis_id)).all()
        if not missing:
            return
        if seen == 0:
            warnings.append("The file lists no pupils, so nobody was archived.")
            return
        share = self.max_archive_share
        if len(missing) > ARCHIVE_GUARD_MIN and len(missing) > share * on_roll:
            warnings.append(
                f"{len(missing)} of {on_roll} pupils on roll are missing from this full "
                "extract, which looks like an incomplete file, so nobody was archived. If they "
                "really have left, import a file that gives their leaving dates.")
            ctx.counts["archive_held_back"] += len(missing)
            return
        updates = []
        for row in missing:
            data = json.loads(row.data)
            data["archived"] = True
            text, digest = canonical(data)
            updates.append({"_id": row.id, "data": text, "content_hash": digest,
                            "updated_at": utcnow()})
            self._archived_event(session, ctx, row.mis_id, row.upn,
                                 "missing_from_full_extract", data.get("leaving_date") or "")
        session.execute(update(ST).where(ST.c.id == bindparam("_id")).values(
            status="archived", archived_reason="missing_from_full_extract",
            data=bindparam("data"), content_hash=bindparam("content_hash"),
            updated_at=bindparam("updated_at")), updates)

    def mark_missing_staff(self, session: Session, ctx: RunContext,
                           warnings: list[str]) -> None:
        school = ctx.school_id
        present = session.execute(select(func.count()).select_from(SF).where(
            SF.c.school_id == school, SF.c.present.is_(True))).scalar_one()
        missing = session.execute(select(SF.c.id, SF.c.mis_id, SF.c.data).where(
            SF.c.school_id == school, SF.c.present.is_(True),
            SF.c.last_seen_run_id != ctx.run_id,
            or_(SF.c.as_of.is_(None), SF.c.as_of <= ctx.as_of),
        ).order_by(SF.c.mis_id)).all()
        if not missing:
            return
        share = self.max_archive_share
        if len(missing) > ARCHIVE_GUARD_MIN and len(missing) > share * present:
            warnings.append(
                f"{len(missing)} of {present} staff are missing from this full extract, which "
                "looks like an incomplete file, so none were marked as gone.")
            return
        for row in missing:
            data = dict(row.data)
            data["present_in_extract"] = False
            session.execute(update(SF).where(SF.c.id == row.id).values(
                present=False, data=data, content_hash=content_hash(data),
                updated_at=utcnow()))
            self.events.staff_upserted(session, school_id=school, mis_id=row.mis_id,
                                       data=data, present=False, run_id=ctx.run_id,
                                       as_of=ctx.as_of, actor=ctx.actor)
            ctx.counts["staff_missing"] += 1
