"""Admin > Imports (administration permission with full access): upload a CTF or CSV file,
check what it says about itself, start the import and watch it; the run history with each
run's counts, warnings and rejected rows; the CSV column mapping; the import settings; the
import health traffic light (also on everyone's dashboard).

A file is streamed to mis_import in chunks (``gateway.mis_files``). Only the upload page
accepts bodies bigger than the app's 1 MB (up to ``GATEWAY_MAX_UPLOAD_BYTES``).
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from gateway import present_mis
from gateway.backends import call
from gateway.errors import error_page, grpc_code, json_error, map_rpc_error
from gateway.mis_files import MULTIPART_SLACK, clean_filename, send_file, stream_size
from gateway.web.admin import admin_required
from gateway.web.session import safe_next
from haven.mis_import.v1 import mis_import_pb2 as pb

log = logging.getLogger(__name__)
bp = Blueprint("imports", __name__, url_prefix="/admin/imports")

UPLOAD_ENDPOINTS = {"imports.upload"}
PENDING = "mis_upload"  # the uploaded file waiting to be started (session)
MAX_REMEMBERED_COLUMNS, MAX_COLUMN_NAME = 40, 40  # the session cookie stays small
HISTORY_ON_INDEX, HISTORY_LIMIT = 10, 100
REJECTIONS_PAGE = 50
ENTITIES = (("students", "Pupils"), ("staff", "Staff"))
DATE_FORMATS = (("auto", "Work it out (ISO, or day/month/year)"), ("iso", "ISO: 2014-05-31"),
                ("dmy", "Day/month/year: 31/05/2014"), ("mdy", "Month/day/year: 05/31/2014"))
MAX_HOURS = 24 * 90  # mis_import refuses more (settings.MAX_HOURS)
# Refusals whose message is for the admin: shown on the page, nothing changes.
REFUSALS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.ALREADY_EXISTS}


def upload_limit() -> int:
    return current_app.config["HAVEN_CONFIG"].max_upload_bytes


@bp.url_value_preprocessor
def _allow_big_uploads(endpoint: str | None, _values) -> None:
    # URL value preprocessors run before every before_request hook, so the larger limit is
    # in force when CSRF protection reads the form. Every other page keeps the app's limit.
    if endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = upload_limit() + MULTIPART_SLACK


@bp.errorhandler(413)
def _too_large(_exc):
    if request.endpoint not in UPLOAD_ENDPOINTS:
        return error_page(413)
    return render_template("imports/too_large.html", limit=present_mis.megabytes(
        upload_limit())), 413


def _details(exc: grpc.RpcError) -> str:
    return (exc.details() if hasattr(exc, "details") else "") or ""


def _refusal(exc: grpc.RpcError) -> str:
    """The admin-facing message of a refusal; anything else propagates."""
    if grpc_code(exc) not in REFUSALS:
        raise exc
    return _details(exc) or "That was not accepted."


# ---- import health (the dashboard uses it too) ---------------------------------------------

def import_health() -> pb.GetImportHealthResponse | None:
    """Green, amber or red for the caller's school; None when mis_import does not answer
    (a page showing it must still work)."""
    try:
        return call("mis_import", "GetImportHealth", pb.GetImportHealthRequest())
    except grpc.RpcError as exc:
        log.info("import health unavailable: %s", grpc_code(exc).name)
        return None


@bp.record_once
def _template_global(state) -> None:
    # A global (not a context variable) so that imported macros see it too.
    state.app.jinja_env.globals["mis"] = present_mis


# ---- the uploaded file, until its run starts ----------------------------------------------

def _remember_upload(reply: pb.UploadImportFileResponse, *, filename: str,
                     csv_entity: str, full_extract: bool) -> None:
    """Kept in the (signed, size-limited) session cookie until the run starts."""
    session[PENDING] = {
        "id": reply.upload_id,
        "filename": filename[:200],
        "kind": reply.kind,
        "size": int(reply.received_bytes),
        "estimated": int(reply.estimated_records),
        "csv_entity": csv_entity if reply.kind == "csv" else "",
        "full_extract": full_extract,
        "details": present_mis.details_rows(reply.source_details),
        "qualifier": reply.source_details.qualifier,
        "columns": [c[:MAX_COLUMN_NAME] for c in reply.csv_columns[:MAX_REMEMBERED_COLUMNS]],
        "more_columns": max(0, len(reply.csv_columns) - MAX_REMEMBERED_COLUMNS),
        # Every column kept whole: the missing ones can be worked out again on this side.
        "exact": len(reply.csv_columns) <= MAX_REMEMBERED_COLUMNS
        and all(len(c) <= MAX_COLUMN_NAME for c in reply.csv_columns),
        "missing": [c[:MAX_COLUMN_NAME] for c in reply.missing_columns[:MAX_REMEMBERED_COLUMNS]],
    }


def _pending(upload_id: str | None = None) -> dict[str, Any] | None:
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or (upload_id and pending.get("id") != upload_id):
        return None
    return pending


def _entity(value: str | None) -> str:
    value = (value or "students").strip()
    return value if value in dict(ENTITIES) else "students"


def _checked(name: str) -> bool:
    return request.form.get(name, "") in ("1", "on", "true", "yes")


def _norm(column: str) -> str:
    return " ".join(column.split()).casefold()


# ---- overview, upload, start -------------------------------------------------------------

def _render_index(*, error: str | None = None, form: dict[str, Any] | None = None,
                  status: int = 200):
    runs = list(call("mis_import", "ListImportRuns",
                     pb.ListImportRunsRequest(limit=HISTORY_ON_INDEX)).runs)
    return render_template(
        "imports/index.html", tab="imports", section="overview", health=import_health(),
        runs=runs, pending=_pending(), error=error, entities=ENTITIES,
        form=form or {"csv_entity": "students", "full_extract": False},
        limit_bytes=upload_limit(), limit=present_mis.megabytes(upload_limit())), status


@bp.get("")
@admin_required
def index():
    return _render_index()


@bp.post("/upload")
@admin_required
def upload():
    csv_entity = _entity(request.form.get("csv_entity"))
    full_extract = _checked("full_extract")
    form = {"csv_entity": csv_entity, "full_extract": full_extract}
    file = request.files.get("file")
    if file is None or not (file.filename or "").strip():
        return _render_index(error="Choose a CTF (.xml) or CSV (.csv) file to upload.",
                             form=form, status=422)
    filename = clean_filename(file.filename)
    if (stream_size(file.stream) or 0) > upload_limit():
        abort(413)
    try:
        reply = send_file(file.stream, filename=filename, csv_entity=csv_entity)
    except grpc.RpcError as exc:
        message = _refusal(exc)
        return _render_index(error=f"“{filename}” was not accepted: {message}", form=form,
                             status=422)
    finally:
        file.close()
    _remember_upload(reply, filename=filename, csv_entity=csv_entity,
                     full_extract=full_extract)
    return redirect(url_for("imports.confirm", upload_id=reply.upload_id))


@bp.get("/uploads/<upload_id>")
@admin_required
def confirm(upload_id: str):
    pending = _pending(upload_id)
    if pending is None:
        flash("That upload is no longer waiting to be started. Upload the file again.",
              "warning")
        return redirect(url_for("imports.index"))
    mapping, missing = None, list(pending.get("missing") or [])
    if pending["kind"] == "csv":
        reply = call("mis_import", "GetCsvMapping",
                     pb.GetCsvMappingRequest(entity=pending["csv_entity"]))
        mapping = reply if reply.saved else None
        if mapping is not None and pending.get("exact"):
            # The mapping may have been edited since the upload: check again.
            have, mapped = {_norm(c) for c in pending["columns"]}, mapping.mapping.columns
            missing = [mapped[f.name] for f in mapping.fields
                       if f.name in mapped and _norm(mapped[f.name]) not in have]
    return render_template("imports/confirm.html", tab="imports", section="overview",
                           pending=pending, mapping=mapping, missing=missing,
                           entity_label=dict(ENTITIES).get(pending.get("csv_entity"), ""))


@bp.post("/uploads/<upload_id>/start")
@admin_required
def start(upload_id: str):
    pending = _pending(upload_id)
    csv_entity = _entity(request.form.get("csv_entity") or (pending or {}).get("csv_entity"))
    try:
        reply = call("mis_import", "CreateImportRun", pb.CreateImportRunRequest(
            upload_id=upload_id, full_extract=_checked("full_extract"),
            csv_entity=csv_entity))
    except grpc.RpcError as exc:
        flash(_refusal(exc), "warning")
        if pending is not None and grpc_code(exc) != grpc.StatusCode.NOT_FOUND:
            return redirect(url_for("imports.confirm", upload_id=upload_id))
        session.pop(PENDING, None)
        return redirect(url_for("imports.index"))
    session.pop(PENDING, None)
    flash("The import has started. You can leave this page: it carries on without you.",
          "success")
    return redirect(url_for("imports.run", run_id=reply.run.id))


# ---- runs ---------------------------------------------------------------------------------

@bp.get("/runs")
@admin_required
def history():
    runs = call("mis_import", "ListImportRuns", pb.ListImportRunsRequest(limit=HISTORY_LIMIT))
    return render_template("imports/history.html", tab="imports", section="history",
                           runs=list(runs.runs), limit=HISTORY_LIMIT)


def _start_seq() -> int:
    return present_mis.parse_start_seq(request.args.get("from")) or 0


@bp.get("/runs/<run_id>")
@admin_required
def run(run_id: str):
    start_seq = _start_seq()
    reply = call("mis_import", "GetImportRun", pb.GetImportRunRequest(
        run_id=run_id, rejections_limit=REJECTIONS_PAGE))
    rejections, more, next_seq = list(reply.rejections), False, 0
    if start_seq:
        page = call("mis_import", "ListImportRejections", pb.ListImportRejectionsRequest(
            run_id=run_id, start_seq=start_seq, limit=REJECTIONS_PAGE))
        rejections, more, next_seq = list(page.rejections), page.more, page.next_start_seq
    elif reply.rejections_total > len(rejections) and rejections:
        more, next_seq = True, rejections[-1].seq + 1
    return render_template(
        "imports/run.html", tab="imports", section="history", run=reply.run,
        rejections=rejections, rejections_total=reply.rejections_total, more=more,
        next_seq=next_seq, start_seq=start_seq, page_size=REJECTIONS_PAGE)


@bp.get("/runs/<run_id>/progress")
@admin_required
def progress(run_id: str):
    """JSON for the run page's progress bar (static/js/imports.js polls it)."""
    try:
        reply = call("mis_import", "GetImportRun",
                     pb.GetImportRunRequest(run_id=run_id, rejections_limit=1))
    except grpc.RpcError as exc:
        mapped = map_rpc_error(exc)
        return json_error(mapped.http_status, mapped.message, mapped.code)
    return jsonify(present_mis.progress_json(reply.run))


@bp.post("/runs/<run_id>/resume")
@admin_required
def resume(run_id: str):
    try:
        call("mis_import", "ResumeImportRun", pb.ResumeImportRunRequest(run_id=run_id))
    except grpc.RpcError as exc:
        flash(_refusal(exc), "warning")
    else:
        flash("The import will carry on from where it stopped.", "success")
    return redirect(url_for("imports.run", run_id=run_id))


# ---- CSV column mapping ---------------------------------------------------------------------

@bp.route("/csv-mapping", methods=["GET", "POST"])
@admin_required
def csv_mapping():
    entity = _entity(request.values.get("entity"))
    back = safe_next(request.values.get("next"), default="")
    reply = call("mis_import", "GetCsvMapping", pb.GetCsvMappingRequest(entity=entity))
    columns = dict(reply.mapping.columns)
    date_format = reply.mapping.date_format or "auto"
    error, status = None, 200
    if request.method == "POST":
        columns = {f.name: " ".join(request.form.get(f"column_{f.name}", "").split())[:100]
                   for f in reply.fields}
        date_format = request.form.get("date_format", "auto")
        try:
            call("mis_import", "UpdateCsvMapping", pb.UpdateCsvMappingRequest(
                mapping=pb.CsvMapping(entity=entity, date_format=date_format,
                                      columns={k: v for k, v in columns.items() if v})))
        except grpc.RpcError as exc:
            error, status = _refusal(exc), 422
        else:
            flash(f"The CSV column mapping for {dict(ENTITIES)[entity].lower()} is saved.",
                  "success")
            return redirect(back or url_for("imports.csv_mapping", entity=entity))
    pending = _pending()
    suggestions = pending["columns"] if pending and pending.get("kind") == "csv" else []
    return render_template(
        "imports/mapping.html", tab="imports", section="mapping", entity=entity,
        entities=ENTITIES, fields=list(reply.fields), columns=columns, saved=reply.saved,
        updated=reply.mapping, date_format=date_format, date_formats=DATE_FORMATS,
        error=error, suggestions=suggestions, back=back), status


# ---- settings -------------------------------------------------------------------------------

def _hours(name: str, errors: list[str], label: str) -> int:
    raw = request.form.get(name, "").strip() or "0"
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_HOURS:
        errors.append(f"{label}: a whole number of hours from 0 to {MAX_HOURS}.")
        return 0
    return value


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings():
    current = call("mis_import", "GetImportSettings", pb.GetImportSettingsRequest())
    error, status = None, 200
    if request.method == "POST":
        problems: list[str] = []
        wanted = pb.ImportSettings(
            amber_after_hours=_hours("amber_after_hours", problems, "Amber after"),
            red_after_hours=_hours("red_after_hours", problems, "Red after"),
            source_lea=request.form.get("source_lea", "").strip()[:10],
            source_estab=request.form.get("source_estab", "").strip()[:10])
        if problems:
            error, status = " ".join(problems), 422
        else:
            try:
                call("mis_import", "UpdateImportSettings",
                     pb.UpdateImportSettingsRequest(settings=wanted))
            except grpc.RpcError as exc:
                error, status = _refusal(exc), 422
            else:
                flash("Import settings saved.", "success")
                return redirect(url_for("imports.settings"))
        current = wanted
    health = import_health()
    return render_template("imports/settings.html", tab="imports", section="settings",
                           settings=current, health=health, error=error), status
