"""A fake MisImportService: uploads in chunks (offsets checked, every chunk recorded), runs a
test moves along by hand (``advance``), rejections, health, CSV mappings, settings and JSON
feeds, refusing what the real service refuses in the ways the gateway must handle."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.tests.fakes import Recorder
from haven.mis_import.v1 import mis_import_pb2 as pb
from haven.mis_import.v1 import mis_import_pb2_grpc
from shared import errors
from shared.context import current_claims

FIELDS = {
    "students": [("mis_id", True, "The pupil's id in your MIS"),
                 ("legal_first_name", True, "Legal first name"),
                 ("legal_last_name", True, "Legal last name"),
                 ("date_of_birth", True, "Date of birth"),
                 ("upn", False, "Unique Pupil Number"),
                 ("tutor_group", False, "Tutor (registration) group")],
    "staff": [("mis_id", True, "The member of staff's id in your MIS"),
              ("first_name", True, "First name"), ("last_name", True, "Last name"),
              ("email", False, "Work email")],
}
TERMINAL = ("succeeded", "failed", "interrupted")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Upload:
    id: str
    filename: str
    kind: str
    csv_entity: str
    data: bytearray = field(default_factory=bytearray)
    chunks: list[int] = field(default_factory=list)  # size of each chunk received
    complete: bool = False
    columns: list[str] = field(default_factory=list)
    details: pb.SourceDetails | None = None


class FakeMisImport(mis_import_pb2_grpc.MisImportServiceServicer, Recorder):
    def __init__(self) -> None:
        Recorder.__init__(self)
        self.uploads: dict[str, Upload] = {}
        self.runs: dict[str, pb.ImportRun] = {}
        self.rejections: dict[str, list[pb.ImportRejection]] = {}
        self.mappings: dict[str, pb.CsvMapping] = {}
        self.settings = pb.ImportSettings()
        self.health = pb.GetImportHealthResponse(
            colour="red", reasons=["No import has succeeded yet."], amber_after_hours=36,
            red_after_hours=72)
        self.feed_parts: dict[str, list[bytes]] = {}

    # ---- helpers for tests -----------------------------------------------------------------
    def add_run(self, *, status: str = "succeeded", total: int = 30, processed: int | None = None,
                kind: str = "ctf", file_name: str = "school.xml", rejected: int = 0,
                error: str = "", counts: dict[str, int] | None = None,
                warnings: tuple[str, ...] = (), updated_at: datetime | None = None,
                ) -> pb.ImportRun:
        now = _now()
        run = pb.ImportRun(
            id=str(uuid.uuid4()), source={"ctf": "ctf-xml"}.get(kind, kind), kind=kind,
            status=status,
            processed=total if processed is None else processed, total=total,
            file_name=file_name, error=error, rejected=rejected, warnings=list(warnings),
            phase="done" if status in TERMINAL else "importing",
            created_by="00000000-0000-4000-8000-000000000102")
        run.started_at.FromDatetime(now - timedelta(minutes=2))
        run.updated_at.FromDatetime(updated_at or now)
        if status in TERMINAL:
            run.finished_at.FromDatetime(now)
        for k, v in (counts or {}).items():
            run.counts[k] = v
        self.runs[run.id] = run
        return run

    def advance(self, run_id: str, *, processed: int, status: str = "running", **counts):
        run = self.runs[run_id]
        run.processed = processed
        run.status = status
        run.phase = "done" if status in TERMINAL else "importing"
        for k, v in counts.items():
            run.counts[k] = v
        run.updated_at.FromDatetime(_now())
        if status in TERMINAL:
            run.finished_at.FromDatetime(_now())

    def add_rejections(self, run_id: str, n: int) -> None:
        rows = self.rejections.setdefault(run_id, [])
        for i in range(n):
            seq = len(rows)
            rows.append(pb.ImportRejection(
                seq=seq, location=f"/CTfile/CTFpupilData/Pupil[{seq + 1}]/UPN",
                record_key=f"A82340012500{seq % 10}", label=f"Pupil {seq + 1}",
                reason=f"The UPN's check letter is wrong (row {i})."))
        self.runs[run_id].rejected = len(rows)
        self.runs[run_id].counts["rejected"] = len(rows)

    # ---- access ------------------------------------------------------------------------------
    @staticmethod
    def _admin():
        claims = current_claims()
        if not claims.full_access:
            raise errors.PermissionDenied("MIS imports need elevated access.")
        if not claims.has("administration"):
            raise errors.PermissionDenied("MIS imports are for administrators.")
        return claims

    @staticmethod
    def _integration(school_id: str):
        claims = current_claims()
        if "mis.import" not in claims.scopes:
            raise errors.PermissionDenied(
                "This token may not import MIS data: it needs the mis.import scope.")
        if not school_id or school_id != claims.school_id:
            raise errors.PermissionDenied("An integration can only feed its own school.")
        return claims

    def _run(self, run_id: str) -> pb.ImportRun:
        claims = current_claims()
        if "mis.import" not in claims.scopes:
            self._admin()
        run = self.runs.get(run_id)
        if run is None:
            raise errors.NotFound("No such import run.")
        return run

    # ---- runs --------------------------------------------------------------------------------
    def ListImportRuns(self, request, context):
        self._enter("ListImportRuns", request, context)
        self._admin()
        runs = sorted(self.runs.values(), key=lambda r: r.started_at.seconds, reverse=True)
        return pb.ListImportRunsResponse(runs=runs[: request.limit or 50])

    def GetImportRun(self, request, context):
        self._enter("GetImportRun", request, context)
        run = self._run(request.run_id)
        rows = self.rejections.get(run.id, [])
        return pb.GetImportRunResponse(run=run, rejections=rows[: request.rejections_limit or 50],
                                       rejections_total=len(rows))

    def ListImportRejections(self, request, context):
        self._enter("ListImportRejections", request, context)
        run = self._run(request.run_id)
        rows = [r for r in self.rejections.get(run.id, []) if r.seq >= request.start_seq]
        limit = request.limit or 100
        page, more = rows[:limit], len(rows) > limit
        return pb.ListImportRejectionsResponse(
            rejections=page, more=more, next_start_seq=page[-1].seq + 1 if more else 0)

    def UploadImportFile(self, request, context):
        self._enter("UploadImportFile", request, context)
        self._admin()
        if request.upload_id:
            upload = self.uploads.get(request.upload_id)
            if upload is None:
                raise errors.NotFound("No such upload.")
            if request.offset != len(upload.data):
                raise errors.InvalidArgument("A chunk is missing.")
        else:
            if not request.filename:
                raise errors.InvalidArgument("The file needs a name.")
            if request.offset:
                raise errors.InvalidArgument("The first chunk starts at offset 0.")
            upload = Upload(str(uuid.uuid4()), request.filename, request.kind,
                            request.csv_entity or "students")
            self.uploads[upload.id] = upload
        upload.data += request.content
        upload.chunks.append(len(request.content))
        reply = pb.UploadImportFileResponse(upload_id=upload.id,
                                            received_bytes=len(upload.data))
        if request.more_to_follow:
            return reply
        data = bytes(upload.data)
        if not data:
            del self.uploads[upload.id]
            raise errors.InvalidArgument("The file is empty.")
        kind = upload.kind or ("ctf" if data.lstrip().startswith(b"<") else "csv")
        upload.kind = kind
        if kind == "ctf":
            if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
                del self.uploads[upload.id]
                raise errors.InvalidArgument(
                    "The file declares a DTD or entities, which Haven never reads "
                    "(/CTfile).")
            version = re.search(rb"<CTFversion>([^<]*)</CTFversion>", data)
            name = re.search(rb"<SchoolName>([^<]*)</SchoolName>", data)
            upload.details = pb.SourceDetails(
                document_name="Common Transfer File",
                version=version.group(1).decode() if version else "25.0",
                qualifier="full", lea="823", estab="4001", urn="140123",
                school_name=name.group(1).decode() if name else "Source School",
                academic_year="2026/27")
            upload.details.generated_at.FromDatetime(datetime(2026, 11, 28, 18, 30, tzinfo=UTC))
            reply.source_details.CopyFrom(upload.details)
            reply.estimated_records = data.count(b"<Pupil>")
        else:
            try:
                header = data.decode("utf-8-sig").splitlines()[0]
            except UnicodeDecodeError:
                del self.uploads[upload.id]
                raise errors.InvalidArgument(
                    "The file is not UTF-8 text (line 1).") from None
            upload.columns = [c.strip() for c in header.split(",")]
            reply.csv_columns.extend(upload.columns)
            mapping = self.mappings.get(upload.csv_entity)
            if mapping is not None:
                have = {c.casefold() for c in upload.columns}
                reply.missing_columns.extend(
                    c for c in mapping.columns.values() if c.casefold() not in have)
            reply.estimated_records = max(0, data.count(b"\n") - 1)
        upload.complete = True
        reply.complete = True
        reply.kind = kind
        return reply

    def CreateImportRun(self, request, context):
        self._enter("CreateImportRun", request, context)
        self._admin()
        upload = self.uploads.get(request.upload_id)
        if upload is None:
            raise errors.NotFound("No such upload.")
        if upload.kind == "csv":
            entity = request.csv_entity or "students"
            mapping = self.mappings.get(entity)
            if mapping is None:
                raise errors.FailedPrecondition(
                    f"Save a CSV column mapping for {entity} before importing a CSV file.")
            have = {c.casefold() for c in upload.columns}
            missing = [c for c in mapping.columns.values() if c.casefold() not in have]
            if missing:
                raise errors.InvalidArgument("The file lacks columns the saved mapping needs: "
                                             + ", ".join(repr(m) for m in missing) + ".")
        run = self.add_run(status="queued", total=0, processed=0, kind=upload.kind,
                           file_name=upload.filename)
        run.phase = "checking"
        run.full_extract = request.full_extract
        if upload.details is not None:
            run.source_details.CopyFrom(upload.details)
        run.ClearField("finished_at")
        return pb.CreateImportRunResponse(run=run)

    def ResumeImportRun(self, request, context):
        self._enter("ResumeImportRun", request, context)
        self._admin()
        run = self.runs.get(request.run_id)
        if run is None:
            raise errors.NotFound("No such import run.")
        if run.status != "interrupted":
            raise errors.FailedPrecondition("Only an interrupted import can be resumed.")
        run.status = "queued"
        run.ClearField("finished_at")
        return pb.ResumeImportRunResponse(run=run)

    # ---- health, mappings, settings -------------------------------------------------------------
    def GetImportHealth(self, request, context):
        self._enter("GetImportHealth", request, context)
        current_claims()
        out = pb.GetImportHealthResponse()
        out.CopyFrom(self.health)
        out.checked_at.FromDatetime(_now())
        return out

    def GetCsvMapping(self, request, context):
        self._enter("GetCsvMapping", request, context)
        self._admin()
        entity = request.entity or "students"
        if entity not in FIELDS:
            raise errors.InvalidArgument("A CSV file holds students or staff.")
        saved = self.mappings.get(entity)
        return pb.GetCsvMappingResponse(
            mapping=saved or pb.CsvMapping(entity=entity, date_format="auto"),
            saved=saved is not None,
            fields=[pb.CsvField(name=n, required=r, description=d) for n, r, d in FIELDS[entity]])

    def UpdateCsvMapping(self, request, context):
        self._enter("UpdateCsvMapping", request, context)
        claims = self._admin()
        m = request.mapping
        if m.entity not in FIELDS:
            raise errors.InvalidArgument("A CSV file holds students or staff.")
        if m.date_format not in ("auto", "iso", "dmy", "mdy"):
            raise errors.InvalidArgument("The date format is auto, iso, dmy or mdy.")
        columns = {k: " ".join(v.split()) for k, v in m.columns.items() if v.strip()}
        missing = [n for n, required, _ in FIELDS[m.entity] if required and n not in columns]
        if missing:
            raise errors.InvalidArgument("Map a column to each required field: "
                                         + ", ".join(missing) + ".")
        saved = pb.CsvMapping(entity=m.entity, columns=columns, date_format=m.date_format,
                              updated_by=claims.account_id)
        saved.updated_at.FromDatetime(_now())
        self.mappings[m.entity] = saved
        return pb.UpdateCsvMappingResponse(mapping=saved)

    def GetImportSettings(self, request, context):
        self._enter("GetImportSettings", request, context)
        self._admin()
        return self.settings

    def UpdateImportSettings(self, request, context):
        self._enter("UpdateImportSettings", request, context)
        self._admin()
        s = request.settings
        if s.amber_after_hours < 0 or s.red_after_hours < 0:
            raise errors.InvalidArgument("Thresholds are 0 (the default) or more hours.")
        if s.amber_after_hours and s.red_after_hours and s.red_after_hours <= s.amber_after_hours:
            raise errors.InvalidArgument("Red must come after amber.")
        if bool(s.source_lea) != bool(s.source_estab):
            raise errors.InvalidArgument("Give both the LA number and the establishment number, "
                                         "or neither.")
        self.settings = pb.ImportSettings(
            amber_after_hours=s.amber_after_hours, red_after_hours=s.red_after_hours,
            source_lea=s.source_lea, source_estab=s.source_estab)
        self.settings.updated_at.FromDatetime(_now())
        return self.settings

    # ---- the JSON feed ------------------------------------------------------------------------
    def SubmitMisFeed(self, request, context):
        self._enter("SubmitMisFeed", request, context)
        claims = self._integration(request.school_id)
        try:
            doc = json.loads(request.body)
        except ValueError:
            raise errors.InvalidArgument("The feed is not JSON.") from None
        if not isinstance(doc, dict) or doc.get("mode") not in ("full", "delta"):
            raise errors.InvalidArgument("The feed's mode must be full or delta.")
        if doc.get("school_id") not in (None, "", claims.school_id):
            raise errors.PermissionDenied("This feed names another school.")
        if request.feed_run_id:
            run = self.runs.get(request.feed_run_id)
            if run is None or run.kind != "json":
                raise errors.NotFound("No such feed.")
            if run.status != "receiving":
                raise errors.FailedPrecondition("That feed is complete; start a new one.")
        else:
            run = self.add_run(status="receiving", total=0, processed=0, kind="json",
                               file_name="MIS feed")
            run.created_by = claims.account_id
            run.full_extract = doc["mode"] == "full"
            run.ClearField("finished_at")
        parts = self.feed_parts.setdefault(run.id, [])
        parts.append(bytes(request.body))
        if not request.more_to_follow:
            run.status = "queued"
        return pb.SubmitMisFeedResponse(run=run, part=len(parts))
