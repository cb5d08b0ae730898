"""identity: the "edit incidents" system permission

Editing, deleting and restoring incidents used to ride on "administration". It is now a
permission of its own; groups that had administration keep what they could do.

Revision ID: b3e1c2d4a5f6
Revises: 71ad63b5fd52
Create Date: 2026-11-29 12:30:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b3e1c2d4a5f6"
down_revision: str | None = "71ad63b5fd52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GROUPS = sa.table("user_groups", sa.column("id", sa.String), sa.column("permissions", sa.JSON))


def _rewrite(change) -> None:
    bind = op.get_bind()
    for row in bind.execute(sa.select(_GROUPS.c.id, _GROUPS.c.permissions)).all():
        permissions = row.permissions
        if isinstance(permissions, str):
            permissions = json.loads(permissions)
        updated = change(list(permissions or []))
        if updated != list(permissions or []):
            bind.execute(_GROUPS.update().where(_GROUPS.c.id == row.id)
                         .values(permissions=updated))


def upgrade() -> None:
    _rewrite(lambda p: sorted({*p, "edit_incidents"}) if "administration" in p else p)


def downgrade() -> None:
    _rewrite(lambda p: [x for x in p if x != "edit_incidents"])
