"""Domain errors <-> gRPC status codes, in one place."""

from __future__ import annotations

import grpc

from shared import errors

_TO_STATUS = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Conflict: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.TooManyRequests: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_FROM_STATUS = {v: k for k, v in _TO_STATUS.items()}


def status_for(exc: errors.DomainError) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        if cls in _TO_STATUS:
            return _TO_STATUS[cls]
    return grpc.StatusCode.FAILED_PRECONDITION


def domain_error_from(rpc_error: grpc.RpcError) -> errors.DomainError | None:
    """Turn a peer's status back into the domain error (for callers of other services)."""
    code = rpc_error.code() if hasattr(rpc_error, "code") else None
    cls = _FROM_STATUS.get(code)
    if cls is None:
        return None
    details = rpc_error.details() if hasattr(rpc_error, "details") else ""
    return cls(details or "refused")
