"""gRPC status -> HTTP status and message, in one place; error pages and JSON errors.

Pages under /api/v1 answer ``{"error": {"code": ..., "message": ...}}``; every other page
answers with a friendly page in the site's layout. A service's message is shown for the
statuses where it is meant for the user (invalid input, refusals); never for failures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from flask import Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
UNAVAILABLE_MESSAGE = "A part of Haven is not answering; please try again shortly."
SESSION_ENDED_MESSAGE = "Your session has ended, please log in again."


@dataclass(frozen=True)
class Mapped:
    http_status: int
    code: str  # the JSON error code
    message: str  # what the user is told


# status code -> (HTTP status, JSON code, default message, show the service's message?)
_STATUS: dict[grpc.StatusCode, tuple[int, str, str, bool]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (422, "invalid_argument", "That was not accepted.", True),
    grpc.StatusCode.OUT_OF_RANGE: (422, "invalid_argument", "That was not accepted.", True),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthenticated", "Please log in.", True),
    grpc.StatusCode.PERMISSION_DENIED: (
        403, "permission_denied", "You do not have permission to do that.", True),
    grpc.StatusCode.NOT_FOUND: (404, "not_found", "We could not find that.", True),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict", "That has already been done.", True),
    grpc.StatusCode.FAILED_PRECONDITION: (
        409, "conflict", "That cannot be done at the moment.", True),
    grpc.StatusCode.ABORTED: (409, "conflict", "That clashed with another change.", False),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (
        429, "too_many_requests", "Too many attempts. Please wait a little and try again.", True),
    grpc.StatusCode.UNAVAILABLE: (503, "unavailable", UNAVAILABLE_MESSAGE, False),
    grpc.StatusCode.DEADLINE_EXCEEDED: (503, "unavailable", UNAVAILABLE_MESSAGE, False),
    grpc.StatusCode.CANCELLED: (503, "unavailable", UNAVAILABLE_MESSAGE, False),
}
_INTERNAL = (500, "internal", "Something went wrong on our side. It has been logged.", False)


def grpc_code(exc: grpc.RpcError) -> grpc.StatusCode:
    code = exc.code() if hasattr(exc, "code") else None
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def map_rpc_error(exc: grpc.RpcError) -> Mapped:
    code = grpc_code(exc)
    status, json_code, default, show_details = _STATUS.get(code, _INTERNAL)
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    message = details if show_details and details else default
    if status >= 500:
        log.warning("peer call failed: %s %s", code.name, details)
    return Mapped(status, json_code, message)


# HTTP status -> (JSON code, page title, default message)
_HTTP = {
    400: ("bad_request", "Something was wrong with that request",
          "Please go back, reload the page and try again."),
    401: ("unauthenticated", "Please log in", "Please log in."),
    403: ("permission_denied", "Not allowed", "You do not have permission to see this."),
    404: ("not_found", "Not found", "There is nothing here. Check the address and try again."),
    405: ("method_not_allowed", "Not allowed", "That action is not possible on this page."),
    409: ("conflict", "Not possible", "That cannot be done at the moment."),
    413: ("too_large", "Too large", "That was too large to accept."),
    422: ("invalid_argument", "Not accepted", "That was not accepted."),
    429: ("too_many_requests", "Too many requests",
          "Too many attempts. Please wait a little and try again."),
    500: ("internal", "Something went wrong",
          "Something went wrong on our side. It has been logged."),
    503: ("unavailable", "Please try again shortly", UNAVAILABLE_MESSAGE),
}


def wants_json() -> bool:
    return request.path.startswith(API_PREFIX)


def json_error(status: int, message: str | None = None, code: str | None = None):
    default_code, _title, default_message = _HTTP.get(status, _HTTP[500])
    body = {"error": {"code": code or default_code, "message": message or default_message}}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="haven"'
    return response


def error_page(status: int, message: str | None = None):
    _code, title, default_message = _HTTP.get(status, _HTTP[500])
    html = render_template("error.html", status=status, title=title,
                           message=message or default_message)
    return html, status


def error_response(status: int, message: str | None = None, code: str | None = None):
    if wants_json():
        return json_error(status, message, code)
    return error_page(status, message)


def session_ended_redirect():
    """Forget the browser session and send the user to the login page."""
    from gateway.web.session import forget_session

    forget_session()
    flash(SESSION_ENDED_MESSAGE, "warning")
    back = request.full_path.rstrip("?") if request.method == "GET" else "/"
    return redirect(url_for("auth.login", next=back if back != "/" else None))


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(grpc.RpcError)
    def _rpc_error(exc: grpc.RpcError):
        mapped = map_rpc_error(exc)
        if mapped.http_status == 401 and not wants_json():
            return session_ended_redirect()
        return error_response(mapped.http_status, mapped.message, mapped.code)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        log.info("CSRF refused: %s", exc.description)
        return error_response(
            400, "This form has expired or did not come from Haven. "
                 "Please go back, reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        message = None
        if status in (400, 422) and exc.description and wants_json():
            message = exc.description
        response = error_response(status, message)
        allowed = getattr(exc, "valid_methods", None)
        if status == 405 and allowed:
            if isinstance(response, tuple):
                response = (*response, {"Allow": ", ".join(allowed)})
            else:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500)
