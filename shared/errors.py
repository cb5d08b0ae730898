"""Domain error base classes.

Domain code raises these (or subclasses defined beside it); transport code maps them to a
gRPC status or an HTTP status in one place (``shared.grpc.errors``, the gateway's handlers).
They carry a message that is safe to show the user.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: the request was understood and refused."""

    code = "failed_precondition"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidArgument(DomainError):
    code = "invalid_argument"


class NotFound(DomainError):
    code = "not_found"


class PermissionDenied(DomainError):
    code = "permission_denied"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Conflict(DomainError):
    code = "already_exists"


class FailedPrecondition(DomainError):
    code = "failed_precondition"


class TooManyRequests(DomainError):
    code = "resource_exhausted"
