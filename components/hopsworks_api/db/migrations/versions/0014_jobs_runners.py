"""jobs on several instances: which instance runs an execution, a stop asked of another
instance, and each instance's heartbeat

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from hopsworks_api.db.base import NEVER_REUSE_IDS, PreciseDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runner_instances",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("heartbeat_at", PreciseDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runner_instances")),
    )
    with op.batch_alter_table("executions", schema=None, table_kwargs=NEVER_REUSE_IDS) as batch_op:
        batch_op.add_column(sa.Column("instance", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("stop_requested_at", PreciseDateTime, nullable=True))
        batch_op.create_index(batch_op.f("ix_executions_instance"), ["instance"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("executions", schema=None, table_kwargs=NEVER_REUSE_IDS) as batch_op:
        batch_op.drop_index(batch_op.f("ix_executions_instance"))
        batch_op.drop_column("stop_requested_at")
        batch_op.drop_column("instance")
    op.drop_table("runner_instances")
