"""job schedules: the next fire time of a scheduled job

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from hopsworks_api.db.base import NEVER_REUSE_IDS, PreciseDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None, table_kwargs=NEVER_REUSE_IDS) as batch_op:
        batch_op.add_column(sa.Column("next_run_at", PreciseDateTime, nullable=True))
        batch_op.create_index(batch_op.f("ix_jobs_next_run_at"), ["next_run_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None, table_kwargs=NEVER_REUSE_IDS) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_next_run_at"))
        batch_op.drop_column("next_run_at")
