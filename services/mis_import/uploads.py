"""Uploaded files (CTF, CSV) and pushed feeds, kept in the database until imported.

A file arrives whole or in chunks (gRPC messages stop at 4 MB; the gateway sends big files in
chunks of up to 3 MB). Each chunk is a row of ``import_file_parts``; a JSON feed's parts are
whole documents. ``PartReader`` streams a file back part by part, so neither the API nor the
worker ever holds a whole 50 MB file in memory.

When the last chunk arrives the start of the file is checked at once (a CTF's header and
safety, a CSV's encoding and header row), so the commonest mistakes are refused while the
admin is still on the page; the worker checks the whole file before importing any of it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.mis_import import csv_source
from services.mis_import.access import require_admin
from services.mis_import.ctf import peek_header
from services.mis_import.extract import FileRefused, SourceDetails
from services.mis_import.models import CsvMapping, ImportFile, ImportFilePart
from shared.context import Claims, school_scope
from shared.db import Database, utcnow
from shared.errors import InvalidArgument, NotFound

PEEK_BYTES = 256 * 1024
KINDS = ("ctf", "csv")


@dataclass
class Received:
    file: ImportFile
    details: SourceDetails | None = None
    csv_columns: list[str] | None = None
    missing_columns: list[str] | None = None
    estimated_records: int = 0


class UploadRefused(InvalidArgument):
    """The file is refused as a whole: what was received of it is to be discarded."""

    def __init__(self, message: str, *, file_id: str, field: str = "content") -> None:
        super().__init__(message, field=field)
        self.file_id = file_id


def receive(db: Database, claims: Claims, **kwargs) -> Received:
    """``receive_chunk`` in its own transaction; a refused file's chunks are deleted."""
    try:
        with db.transaction() as session:
            return receive_chunk(session, claims, **kwargs)
    except UploadRefused as exc:
        with db.transaction() as session:
            discard(session, claims.school_id, exc.file_id)
        raise


def discard(session: Session, school_id: str, file_id: str) -> None:
    file = session.scalars(select(ImportFile).where(
        ImportFile.id == file_id, ImportFile.school_id == school_id)).first()
    if file is not None:
        _discard(session, file)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def receive_chunk(session: Session, claims: Claims, *, upload_id: str, filename: str,
                  content: bytes, offset: int, more_to_follow: bool, kind: str,
                  max_bytes: int, csv_entity: str = "students") -> Received:
    """Store one chunk; on the last one, check the start of the file. ``UploadRefused`` when
    the file is refused as a whole (``receive`` then deletes what was received)."""
    require_admin(claims)
    if upload_id:
        file = session.scalars(select(ImportFile).where(
            ImportFile.id == upload_id, ImportFile.school_id == claims.school_id,
            ImportFile.kind != "json")).first()
        if file is None:
            raise NotFound("No such upload.")
        if file.complete:
            return Received(file=file, details=SourceDetails.from_dict(file.details)
                            if file.details else None)
        if offset < file.size:
            if offset + len(content) <= file.size:
                return Received(file=file)  # a chunk sent again after a lost reply
            raise InvalidArgument("That chunk overlaps what was already received.",
                                  field="offset")
        if offset > file.size:
            raise InvalidArgument(
                f"A chunk is missing: {file.size} bytes received, this one starts at {offset}.",
                field="offset")
    else:
        name = (filename or "").strip().replace("\\", "/").rsplit("/", 1)[-1][:255]
        if not name:
            raise InvalidArgument("The file needs a name.", field="filename")
        if kind and kind not in KINDS:
            raise InvalidArgument("The file kind must be ctf or csv.", field="kind")
        if offset:
            raise InvalidArgument("The first chunk starts at offset 0.", field="offset")
        file = ImportFile(school_id=claims.school_id, kind=kind or "", filename=name,
                          uploaded_by=claims.account_id)
        session.add(file)
        session.flush()
    if file.size + len(content) > max_bytes:
        raise UploadRefused(
            f"The file is too big: the limit is {_megabytes(max_bytes)} "
            f"(received {_megabytes(file.size + len(content))} so far).", file_id=file.id)
    if content:
        session.add(ImportFilePart(school_id=file.school_id, file_id=file.id, seq=file.parts,
                                   offset=file.size, data=content))
        file.parts += 1
        file.size += len(content)
    if more_to_follow:
        return Received(file=file)
    if file.size == 0:
        raise UploadRefused("The file is empty.", file_id=file.id)
    session.flush()
    head = _head(session, file)
    file.kind = file.kind or detect_kind(file.filename, head)
    try:
        received = _inspect(session, file, head, csv_entity=csv_entity)
    except FileRefused as exc:
        where = f" ({exc.location})" if exc.location else ""
        raise UploadRefused(f"{exc.reason}{where}", file_id=file.id) from exc
    file.complete = True
    file.completed_at = utcnow()
    return received


def detect_kind(filename: str, head: bytes) -> str:
    lowered = filename.lower()
    if lowered.endswith(".xml"):
        return "ctf"
    if lowered.endswith((".csv", ".txt")):
        return "csv"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "ctf" if stripped.startswith(b"<") else "csv"


def _inspect(session: Session, file: ImportFile, head: bytes, *, csv_entity: str) -> Received:
    if file.kind == "ctf":
        details = peek_header(head)
        if details is None:
            if file.size <= len(head):
                raise FileRefused("The CTF ends before its header does.", "/CTfile/Header")
            raise FileRefused("The CTF's header is missing or far too long.", "/CTfile/Header")
        file.details = details.as_dict()
        return Received(file=file, details=details,
                        estimated_records=_count(session, file, b"<Pupil>"))
    headers = csv_source.header_row(head)
    missing: list[str] = []
    mapping = session.scalars(select(CsvMapping).where(
        CsvMapping.school_id == file.school_id, CsvMapping.entity == csv_entity)).first()
    if mapping is not None:
        missing = csv_source.missing_columns(
            csv_source.Mapping(mapping.entity, dict(mapping.columns), mapping.date_format),
            headers)
    file.details = {"kind": "csv", "columns": headers}
    return Received(file=file, details=SourceDetails(kind="csv"), csv_columns=headers,
                    missing_columns=missing,
                    estimated_records=max(0, _count(session, file, b"\n") - 1))


def _head(session: Session, file: ImportFile) -> bytes:
    out = bytearray()
    for (data,) in session.execute(select(ImportFilePart.data).where(
            ImportFilePart.file_id == file.id).order_by(ImportFilePart.seq)):
        out += data
        if len(out) >= PEEK_BYTES:
            break
    return bytes(out[:PEEK_BYTES])


def _count(session: Session, file: ImportFile, needle: bytes) -> int:
    total = 0
    for (data,) in session.execute(select(ImportFilePart.data).where(
            ImportFilePart.file_id == file.id).order_by(ImportFilePart.seq)):
        total += data.count(needle)
    return total


def _discard(session: Session, file: ImportFile) -> None:
    session.execute(delete(ImportFilePart).where(ImportFilePart.file_id == file.id))
    session.delete(file)
    session.flush()


def add_part(session: Session, file: ImportFile, data: bytes) -> None:
    session.add(ImportFilePart(school_id=file.school_id, file_id=file.id, seq=file.parts,
                               offset=file.size, data=data))
    file.parts += 1
    file.size += len(data)


def purge(session: Session, file_id: str) -> None:
    session.execute(delete(ImportFilePart).where(ImportFilePart.file_id == file_id))


def part_count(session: Session, file_id: str) -> int:
    return session.execute(select(func.count()).select_from(ImportFilePart).where(
        ImportFilePart.file_id == file_id)).scalar_one()


class PartReader(io.RawIOBase):
    """A read-only stream over a stored file, fetching one part at a time."""

    def __init__(self, db: Database, school_id: str, file_id: str) -> None:
        super().__init__()
        self.db = db
        self.school_id = school_id
        with school_scope(school_id), db.read() as session:
            self.part_ids = list(session.scalars(select(ImportFilePart.id).where(
                ImportFilePart.file_id == file_id, ImportFilePart.school_id == school_id,
            ).order_by(ImportFilePart.seq)))
        if not self.part_ids:
            raise FileRefused("The file is no longer stored (files are kept for a while "
                              "after their import); upload it again.")
        self.next_part = 0
        self.buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _load(self) -> bool:
        if self.next_part >= len(self.part_ids):
            return False
        with school_scope(self.school_id), self.db.read() as session:
            data = session.execute(select(ImportFilePart.data).where(
                ImportFilePart.id == self.part_ids[self.next_part])).scalar_one()
        self.next_part += 1
        self.buffer = memoryview(data)
        return True

    def readinto(self, target) -> int:
        while not self.buffer:
            if not self._load():
                return 0
        n = min(len(target), len(self.buffer))
        target[:n] = self.buffer[:n]
        self.buffer = self.buffer[n:]
        return n


def open_file(db: Database, school_id: str, file_id: str) -> io.BufferedReader:
    return io.BufferedReader(PartReader(db, school_id, file_id), buffer_size=256 * 1024)


def iter_parts(db: Database, school_id: str, file_id: str) -> Iterator[bytes]:
    with school_scope(school_id), db.read() as session:
        ids = list(session.scalars(select(ImportFilePart.id).where(
            ImportFilePart.file_id == file_id, ImportFilePart.school_id == school_id,
        ).order_by(ImportFilePart.seq)))
    if not ids:
        raise FileRefused("The feed is no longer stored; send it again.")
    for part_id in ids:
        with school_scope(school_id), db.read() as session:
            yield session.execute(select(ImportFilePart.data).where(
                ImportFilePart.id == part_id)).scalar_one()
