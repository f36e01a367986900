"""model servings (issue 15)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from hopsworks_api.db.base import PreciseDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "servings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_by", sa.Integer(), nullable=True),
        sa.Column("instance", sa.String(length=255), nullable=True),
        sa.Column("started_at", PreciseDateTime, nullable=True),
        sa.Column("charged_until", PreciseDateTime, nullable=True),
        sa.Column("stopped_at", PreciseDateTime, nullable=True),
        sa.Column("stop_reason", sa.String(length=255), nullable=True),
        sa.Column("log_tail", sa.Text(), nullable=True),
        sa.Column("core_millis", sa.BigInteger(), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("created_at", PreciseDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_servings_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["started_by"],
            ["users.id"],
            name=op.f("fk_servings_started_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_servings")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_servings_project_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("servings", schema=None) as batch_op:
        for column in ("project_id", "state", "started_by"):
            batch_op.create_index(batch_op.f(f"ix_servings_{column}"), [column], unique=False)


def downgrade() -> None:
    op.drop_table("servings")
