"""topic and hive database shares

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from hopsworks_api.db.base import PreciseDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_project_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column("resource", sa.String(length=201), nullable=False),
        sa.Column("target_project_id", sa.Integer(), nullable=False),
        sa.Column("permission", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", PreciseDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_project_id"],
            ["projects.id"],
            name=op.f("fk_resource_shares_owner_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_project_id"],
            ["projects.id"],
            name=op.f("fk_resource_shares_target_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_resource_shares_topic_id_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_shares")),
        sa.UniqueConstraint(
            "kind",
            "owner_project_id",
            "resource",
            "target_project_id",
            name=op.f("uq_resource_shares_kind"),
        ),
    )
    with op.batch_alter_table("resource_shares", schema=None) as batch_op:
        for column in ("owner_project_id", "topic_id", "target_project_id"):
            batch_op.create_index(
                batch_op.f(f"ix_resource_shares_{column}"), [column], unique=False
            )


def downgrade() -> None:
    op.drop_table("resource_shares")
