"""provisioning journal: durable multi-system changes, projects being deleted

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from hopsworks_api.db.base import NEVER_REUSE_IDS, PreciseDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provisioning_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("scope_json", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", PreciseDateTime, nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", PreciseDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_changes")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("provisioning_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provisioning_changes_next_attempt_at"), ["next_attempt_at"]
        )
    with op.batch_alter_table("projects", schema=None, table_kwargs=NEVER_REUSE_IDS) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="active", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None, table_kwargs=NEVER_REUSE_IDS) as batch_op:
        batch_op.drop_column("status")
    op.drop_table("provisioning_changes")
