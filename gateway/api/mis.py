"""/api/v1/mis: the MIS import for connectors and scripts. Registered on the API blueprint of
``gateway.api.routes`` (same bearer-token check and JSON errors); described in
``gateway.openapi_mis``.

- An MIS connector pushes its JSON feed with an OAuth2 client-credentials token scoped
  ``mis.import``: ``POST /mis/feeds`` (a big feed in parts: ``?more_to_follow=true``, then
  ``POST /mis/feeds/{run_id}/parts``), and follows it with ``GET /mis/runs/{run_id}``. The
  school is the token's; a feed naming another school is refused by mis_import (403).
- An administrator (full access) uploads a CTF or CSV file: ``POST /mis/uploads``
  (multipart), which starts its import run.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, g, jsonify, request, url_for

from gateway.api.routes import ApiError, _bool_arg, _limit_arg, bp
from gateway.backends import call
from gateway.errors import json_error
from gateway.mis_files import (
    CHUNK_TIMEOUT,
    CSV_ENTITIES,
    MULTIPART_SLACK,
    clean_filename,
    send_file,
    stream_size,
)
from gateway.present_mis import (
    MAX_START_SEQ,
    details_json,
    health_json,
    megabytes,
    parse_start_seq,
    rejection_json,
    run_json,
)
from haven.mis_import.v1 import mis_import_pb2 as pb

FEED_ENDPOINTS = {"api.mis_submit_feed", "api.mis_submit_feed_part"}
UPLOAD_ENDPOINTS = {"api.mis_upload"}
FEED_TYPES = ("application/json",)


def _config():
    return current_app.config["HAVEN_CONFIG"]


@bp.url_value_preprocessor
def _mis_body_limits(endpoint: str | None, _values) -> None:
    # Before any before_request hook reads the body: feed parts and files may be bigger than
    # the 1 MB every other route accepts.
    if endpoint in FEED_ENDPOINTS:
        request.max_content_length = _config().max_feed_part_bytes
    elif endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = _config().max_upload_bytes + MULTIPART_SLACK


@bp.errorhandler(413)
def _too_large(_exc):
    if request.endpoint in FEED_ENDPOINTS:
        return json_error(413, f"A feed part may be at most "
                               f"{megabytes(_config().max_feed_part_bytes)}: send a bigger feed "
                               "in parts (more_to_follow=true, then POST "
                               "/api/v1/mis/feeds/{run_id}/parts).", "too_large")
    if request.endpoint in UPLOAD_ENDPOINTS:
        return json_error(413, f"The file is too large: the limit is "
                               f"{megabytes(_config().max_upload_bytes)}.", "too_large")
    return json_error(413)


def _accepted(body: dict[str, Any], run_id: str):
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = url_for("api.mis_get_run", run_id=run_id)
    return response


def _feed_body() -> bytes:
    mimetype = (request.mimetype or "").lower()
    if mimetype not in FEED_TYPES:
        raise ApiError(415 if mimetype else 400,
                       "Send the feed as JSON with 'Content-Type: application/json'.",
                       "unsupported_media_type" if mimetype else "invalid_request")
    body = request.get_data(cache=False)
    if not body.strip():
        raise ApiError(400, "The feed is empty.", "invalid_request")
    return body


def _submit(feed_run_id: str = ""):
    more = _bool_arg("more_to_follow")
    reply = call("mis_import", "SubmitMisFeed", pb.SubmitMisFeedRequest(
        school_id=g.claims.school_id, body=_feed_body(), feed_run_id=feed_run_id,
        more_to_follow=more), timeout=CHUNK_TIMEOUT)
    return _accepted({"run": run_json(reply.run), "part": int(reply.part)}, reply.run.id)


# ---- feeds (integration tokens, scope mis.import) -----------------------------------------

@bp.post("/mis/feeds")
def mis_submit_feed():
    return _submit()


@bp.post("/mis/feeds/<run_id>/parts")
def mis_submit_feed_part(run_id: str):
    return _submit(run_id)


# ---- runs ---------------------------------------------------------------------------------

@bp.get("/mis/runs")
def mis_list_runs():
    reply = call("mis_import", "ListImportRuns", pb.ListImportRunsRequest(limit=_limit_arg(50)))
    return jsonify(runs=[run_json(r) for r in reply.runs])


@bp.get("/mis/runs/<run_id>")
def mis_get_run(run_id: str):
    reply = call("mis_import", "GetImportRun", pb.GetImportRunRequest(
        run_id=run_id, rejections_limit=_limit_arg(50)))
    return jsonify(run=run_json(reply.run),
                   rejections=[rejection_json(r) for r in reply.rejections],
                   rejections_total=int(reply.rejections_total))


@bp.get("/mis/runs/<run_id>/rejections")
def mis_list_rejections(run_id: str):
    start_seq = parse_start_seq(request.args.get("start_seq"))
    if start_seq is None:
        raise ApiError(400, "Query parameter 'start_seq' must be a whole number from 0 to "
                            f"{MAX_START_SEQ}.", "invalid_request")
    reply = call("mis_import", "ListImportRejections", pb.ListImportRejectionsRequest(
        run_id=run_id, start_seq=start_seq, limit=_limit_arg(100)))
    return jsonify(rejections=[rejection_json(r) for r in reply.rejections], more=reply.more,
                   next_start_seq=int(reply.next_start_seq) if reply.more else None)


@bp.get("/mis/health")
def mis_health():
    return jsonify(health_json(call("mis_import", "GetImportHealth",
                                    pb.GetImportHealthRequest())))


# ---- file uploads (administrators) ----------------------------------------------------------

@bp.post("/mis/uploads")
def mis_upload():
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise ApiError(415, "Send the file as multipart/form-data in a field named 'file'.",
                       "unsupported_media_type")
    file = request.files.get("file")
    if file is None or not clean_filename(file.filename or ""):
        raise ApiError(400, "Field 'file' (a CTF .xml or CSV .csv file) is required.",
                       "invalid_request")
    csv_entity = request.form.get("csv_entity", "students").strip() or "students"
    if csv_entity not in CSV_ENTITIES:
        raise ApiError(400, "Field 'csv_entity' must be 'students' or 'staff'.",
                       "invalid_request")
    raw_full = request.form.get("full_extract", "false").strip().lower()
    if raw_full not in ("", "0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ApiError(400, "Field 'full_extract' must be true or false.", "invalid_request")
    if (stream_size(file.stream) or 0) > _config().max_upload_bytes:
        abort(413)
    try:
        upload = send_file(file.stream, filename=clean_filename(file.filename),
                           csv_entity=csv_entity)
    finally:
        file.close()
    reply = call("mis_import", "CreateImportRun", pb.CreateImportRunRequest(
        upload_id=upload.upload_id, full_extract=raw_full in ("1", "true", "yes", "on"),
        csv_entity=csv_entity))
    return _accepted({
        "upload": {"upload_id": upload.upload_id, "kind": upload.kind,
                   "size": int(upload.received_bytes),
                   "estimated_records": int(upload.estimated_records),
                   "csv_columns": list(upload.csv_columns),
                   "missing_columns": list(upload.missing_columns),
                   "source_details": details_json(upload.source_details)},
        "run": run_json(reply.run),
    }, reply.run.id)
