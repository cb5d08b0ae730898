"""The OpenAPI description of the MIS import's /api/v1 routes (``gateway.api.mis``), merged
into ``gateway.openapi`` by ``extend(PATHS, SCHEMAS)``. The feed document's format is the one
services/mis_import/README.md defines; mis_import checks it (the gateway passes it through)."""

from __future__ import annotations

from typing import Any

TAG = "mis"
FEED_HELP = (
    "An MIS connector's feed, with an OAuth2 client-credentials token whose scope includes "
    "'mis.import' (POST /oauth/token). The school is the token's: a feed whose school_id names "
    "another school is refused (403), and so is a token without the scope. Every section is "
    "optional. A 'full' feed archives pupils (staff) missing from a section it contains; a "
    "'delta' feed (with updated_after) archives nobody. A feed bigger than one part (see the "
    "413 answer) is sent in parts: the first with more_to_follow=true, the next ones to "
    "/mis/feeds/{run_id}/parts, the last without more_to_follow; it is imported when the "
    "last part arrives. Follow the run with GET /mis/runs/{run_id}."
)


def extend(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    from gateway import openapi as o  # the helpers (called while gateway.openapi loads)

    s, ns, arr, obj, ref, op, js = (o._string, o._nullable_string, o._array, o._object, o._ref,
                                    o._op, o._json)
    boolean, integer = {"type": "boolean"}, {"type": "integer", "minimum": 0}
    when = ns(format="date-time")
    day = ns("ISO date", format="date")
    strings = arr(s())
    address = obj({"line1": s(), "line2": s(), "town": s(), "county": s(), "postcode": s()})

    schemas.update({
        "ImportSourceDetails": obj({
            "document_name": s(), "version": s("CTF version, e.g. 25.0"),
            "generated_at": when, "qualifier": s("CTF qualifier or feed mode (full, delta)"),
            "lea": s("source school's LA number"), "estab": s("source establishment number"),
            "urn": s(), "school_name": s(), "academic_year": s(), "supplier": s(),
            "updated_after": s("delta feeds: changes after this instant"),
            "csv_entity": s("CSV files: students or staff"),
        }, description="what the file or feed says about itself (empty strings: not said)"),
        "ImportRun": obj({
            "id": s(), "kind": s(enum=["ctf", "csv", "json"]),
            "status": s("receiving (feed parts still coming), queued, running, succeeded, "
                        "failed (refused as a whole: nothing applied), interrupted "
                        "(resumable)",
                        enum=["receiving", "queued", "running", "succeeded", "failed",
                              "interrupted"]),
            "phase": s("checking, importing, finishing, done"),
            "processed": {**integer, "description": "records handled so far"},
            "total": {**integer, "description": "records in the file (0 until checked)"},
            "percent": {"type": ["integer", "null"], "minimum": 0, "maximum": 100,
                        "description": "processed of total; null while the file is checked"},
            "finished": {"type": "boolean",
                         "description": "succeeded, failed or interrupted"},
            "file_name": s(), "full_extract": boolean,
            "started_at": when, "finished_at": when, "updated_at": when,
            "counts": {"type": "object", "additionalProperties": {"type": "integer"},
                       "description": "created, updated, archived, unchanged, rejected, and "
                                      "per entity (students_created, staff_updated, ...)"},
            "rejected": integer, "warnings": strings,
            "error": ns("why the run failed or stopped"),
            "error_location": ns("where in the file (line 3, /CTfile/Header/CTFversion)"),
            "source_details": ref("ImportSourceDetails"),
        }, ["id", "kind", "status", "processed", "total", "counts"]),
        "ImportRunList": obj({"runs": arr(ref("ImportRun"), "newest first")}, ["runs"]),
        "ImportRejection": obj({
            "seq": {**integer, "description": "position of the record in the file"},
            "location": s("line 14, /CTfile/CTFpupilData/Pupil[17]/DOB, /students/3/upn"),
            "record_key": s("MIS id or UPN when known"), "label": s("e.g. the pupil's name"),
            "reason": s(),
        }, ["seq", "location", "reason"]),
        "ImportRunDetail": obj({
            "run": ref("ImportRun"),
            "rejections": arr(ref("ImportRejection"), "the first rejected records"),
            "rejections_total": integer,
        }, ["run", "rejections", "rejections_total"]),
        "ImportRejectionPage": obj({
            "rejections": arr(ref("ImportRejection")), "more": boolean,
            "next_start_seq": {"type": ["integer", "null"],
                               "description": "start_seq of the next page (when more)"},
        }, ["rejections", "more"]),
        "ImportHealth": obj({
            "colour": s(enum=["green", "amber", "red"]), "label": s(),
            "reasons": arr(s(), "why it is not green"), "last_success_at": when,
            "running": {"type": "boolean", "description": "an import is queued or running"},
            "amber_after_hours": integer, "red_after_hours": integer, "checked_at": when,
            "last_run": {"oneOf": [ref("ImportRun"), {"type": "null"}]},
        }, ["colour", "reasons"]),
        "MisFeedAccepted": obj({
            "run": ref("ImportRun"), "part": {"type": "integer", "minimum": 1},
        }, ["run", "part"]),
        "MisUploadAccepted": obj({
            "upload": obj({
                "upload_id": s(), "kind": s(enum=["ctf", "csv"]), "size": integer,
                "estimated_records": integer,
                "csv_columns": arr(s(), "a CSV file's header row"),
                "missing_columns": arr(s(), "columns the saved mapping needs that the file "
                                            "lacks"),
                "source_details": ref("ImportSourceDetails"),
            }, ["upload_id", "kind", "size"]),
            "run": ref("ImportRun"),
        }, ["upload", "run"]),
        "MisUploadForm": obj({
            "file": {"type": "string", "contentMediaType": "application/octet-stream",
                     "description": "a CTF XML (versions 20-25) or CSV file"},
            "csv_entity": s("what a CSV file lists (its saved column mapping is used)",
                            enum=list(("students", "staff")), default="students"),
            "full_extract": s("archive pupils (staff) the file no longer lists",
                              enum=["true", "false"], default="false"),
        }, ["file"]),
        "MisFeed": obj({
            "school_id": s("the token's school (optional; another school's id is refused)"),
            "mode": s(enum=["full", "delta"]),
            "generated_at": s("when the MIS produced the data", format="date-time"),
            "updated_after": s("delta feeds: changes after this instant", format="date-time"),
            "students": arr(obj({
                "id": s("the MIS's id for the pupil (the match key)"), "upn": s(),
                "admission_number": s(), "legal_first_name": s(), "legal_last_name": s(),
                "preferred_first_name": s(), "preferred_last_name": s(), "middle_names": s(),
                "date_of_birth": s(format="date"), "gender": s(), "ethnicity": s(),
                "religion": s(), "first_language": s(), "sen_status": s(enum=["N", "K", "E"]),
                "pupil_premium": boolean, "fsm": boolean, "eal": boolean,
                "looked_after": boolean, "year_group": s(), "tutor_group": s(),
                "admission_date": day, "date_of_arrival": day, "leaving_date": day,
                "address": address, "phones": strings, "email": s(),
                "medical_conditions": strings,
            }, ["id"])),
            "employees": arr(obj({
                "id": s(), "title": s(), "first_name": s(), "last_name": s(),
                "legal_first_name": s(), "legal_last_name": s(), "email": s(),
                "job_title": s(), "permanent": boolean, "full_time": boolean,
                "start_date": day, "end_date": day,
            }, ["id"])),
            "groups": arr(obj({
                "id": s(), "name": s(), "kind": s(enum=["tutor", "year"]),
                "staff_ids": strings,
            }, ["id", "name", "kind"])),
            "contacts": arr(obj({
                "id": s(), "title": s(), "first_name": s(), "last_name": s(),
                "phones": strings, "email": s(), "address": address,
                "students": arr(obj({
                    "student_id": s(), "relationship": s(),
                    "parental_responsibility": boolean, "priority": {"type": "integer"},
                }, ["student_id"])),
            }, ["id"])),
            "attendance": arr(obj({
                "student_id": s(), "date": s(format="date"),
                "session": s(enum=["AM", "PM"]), "code": s("DfE attendance code"),
                "minutes_late": {"type": "integer"},
            }, ["student_id", "date", "session", "code"])),
        }, ["mode"], description="One JSON feed document (or one part of a feed)."),
    })

    too_large = {"description": "The body is bigger than the gateway accepts for this route",
                 "content": {"application/json": {"schema": ref("Error")}}}
    unsupported = {"description": "The body is not of the media type this route reads",
                   "content": {"application/json": {"schema": ref("Error")}}}
    more = o._query("more_to_follow", "more parts of this feed follow",
                    {"type": "boolean", "default": False})
    run_id = o._path_param("run_id", "import run id")

    def feed_op(op_id: str, summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
        operation = op(op_id, summary, "202",
                       {**js("MisFeedAccepted", "Stored; imported when the last part arrives"),
                        "headers": {"Location": {"schema": {"type": "string"},
                                                 "description": "URL of the run"}}},
                       tag=TAG, errors=("400", "401", "403", "404", "409", "422", "503"),
                       body="MisFeed", params=params)
        operation["description"] = FEED_HELP
        operation["responses"]["413"] = too_large
        operation["responses"]["415"] = unsupported
        return operation

    upload = op("uploadMisFile", "Upload a CTF or CSV file and start its import (admin)",
                "202", {**js("MisUploadAccepted", "Stored and queued"),
                        "headers": {"Location": {"schema": {"type": "string"},
                                                 "description": "URL of the run"}}},
                tag=TAG, errors=("400", "401", "403", "404", "409", "422", "503"))
    upload["description"] = (
        "An administrator with full access (elevated) sends one file as multipart/form-data. "
        "The file is checked at once (a CTF's safety and header, a CSV's encoding and its "
        "columns against the saved mapping): a refused file answers 422 with the reason and "
        "nothing is imported. Otherwise the import is queued; follow it with "
        "GET /mis/runs/{run_id}.")
    upload["requestBody"] = {"required": True, "content": {
        "multipart/form-data": {"schema": ref("MisUploadForm")}}}
    upload["responses"]["413"] = too_large
    upload["responses"]["415"] = unsupported

    paths.update({
        "/mis/feeds": {"post": feed_op("submitMisFeed", "Push an MIS feed (or its first part)",
                                       [more])},
        "/mis/feeds/{run_id}/parts": {"post": feed_op(
            "submitMisFeedPart", "Push the next part of a feed", [run_id, more])},
        "/mis/uploads": {"post": upload},
        "/mis/runs": {"get": op(
            "listMisImportRuns", "The school's import history (admin)", "200",
            js("ImportRunList", "Newest first"), tag=TAG, errors=("401", "403", "503"),
            params=[o._LIMIT])},
        "/mis/runs/{run_id}": {"get": op(
            "getMisImportRun", "An import run's progress, counts and first rejected records "
                               "(admin, or the integration that sent the feed)", "200",
            js("ImportRunDetail", "The run"), tag=TAG, errors=("401", "403", "404", "503"),
            params=[run_id, o._query("limit", "at most this many rejections (1-200)",
                                     {"type": "integer", "minimum": 1, "maximum": 200})])},
        "/mis/runs/{run_id}/rejections": {"get": op(
            "listMisImportRejections", "A run's rejected records, page by page", "200",
            js("ImportRejectionPage", "In file order"), tag=TAG,
            errors=("401", "403", "404", "503"),
            params=[run_id, o._query("start_seq", "rejections at or after this position",
                                     {"type": "integer", "minimum": 0}),
                    o._LIMIT])},
        "/mis/health": {"get": op(
            "getMisImportHealth", "Import health: green, amber or red, and why (any user)",
            "200", js("ImportHealth", "The traffic light"), tag=TAG,
            errors=("401", "403", "503"))},
    })
