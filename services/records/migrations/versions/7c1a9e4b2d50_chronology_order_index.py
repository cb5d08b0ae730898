"""an index in the chronology's order (a page without sorting the student's incidents)

Revision ID: 7c1a9e4b2d50
Revises: 41d2eee63213
Create Date: 2026-11-29 12:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7c1a9e4b2d50'
down_revision: str | None = '41d2eee63213'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_school_student_chronology', [
            'school_id', 'student_id', sa.text('pinned DESC'), sa.text('occurred_at DESC'),
            sa.text('created_at DESC'), 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_school_student_chronology')
