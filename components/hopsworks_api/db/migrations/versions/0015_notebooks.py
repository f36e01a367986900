"""Jupyter servers (issue 14)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from hopsworks_api.db.base import PreciseDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notebook_servers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("idle_timeout_minutes", sa.Integer(), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(length=255), nullable=False),
        sa.Column("started_at", PreciseDateTime, nullable=False),
        sa.Column("last_activity_at", PreciseDateTime, nullable=True),
        sa.Column("charged_until", PreciseDateTime, nullable=True),
        sa.Column("stopped_at", PreciseDateTime, nullable=True),
        sa.Column("stop_reason", sa.String(length=255), nullable=True),
        sa.Column("log_tail", sa.Text(), nullable=True),
        sa.Column("core_millis", sa.BigInteger(), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_notebook_servers_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notebook_servers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notebook_servers")),
        sa.UniqueConstraint("project_id", "user_id", name=op.f("uq_notebook_servers_project_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("notebook_servers", schema=None) as batch_op:
        for column in ("project_id", "user_id", "state"):
            batch_op.create_index(
                batch_op.f(f"ix_notebook_servers_{column}"), [column], unique=False
            )


def downgrade() -> None:
    op.drop_table("notebook_servers")
