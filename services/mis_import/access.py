"""Who may do what with a school's imports."""

from __future__ import annotations

from shared.context import Claims
from shared.errors import PermissionDenied

IMPORT_SCOPE = "mis.import"


def require_admin(claims: Claims) -> None:
    """Admin > Imports: elevated (full) access and the administration permission."""
    if not claims.full_access:
        raise PermissionDenied("MIS imports need elevated access.")
    if not claims.has("administration"):
        raise PermissionDenied("MIS imports are for administrators.")


def is_integration(claims: Claims) -> bool:
    return IMPORT_SCOPE in claims.scopes


def require_integration(claims: Claims, school_id: str) -> None:
    """An MIS connector's token: the mis.import scope, for the school it names."""
    if not is_integration(claims):
        raise PermissionDenied(
            "This token may not import MIS data: it needs the mis.import scope.")
    if not school_id or school_id != claims.school_id:
        raise PermissionDenied("An integration can only feed its own school.")


def require_admin_or_integration(claims: Claims) -> None:
    if is_integration(claims):
        return
    require_admin(claims)
