"""resumable upload sessions (issue 16)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from hopsworks_api.db.base import PreciseDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("owner_project_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=255), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("total_chunks", sa.Integer(), nullable=False),
        sa.Column("overwrite", sa.Boolean(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=True),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", PreciseDateTime, nullable=False),
        sa.Column("completing_at", PreciseDateTime, nullable=True),
        sa.Column("created_at", PreciseDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_project_id"],
            ["projects.id"],
            name=op.f("fk_upload_sessions_owner_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_upload_sessions_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["upload_reservations.id"],
            name=op.f("fk_upload_sessions_reservation_id_upload_reservations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_upload_sessions_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_sessions")),
        sa.UniqueConstraint(
            "user_id", "project_id", "key_hash", name=op.f("uq_upload_sessions_user_id")
        ),
    )
    with op.batch_alter_table("upload_sessions", schema=None) as batch_op:
        for column in ("expires_at", "owner_project_id", "project_id", "reservation_id", "user_id"):
            batch_op.create_index(
                batch_op.f(f"ix_upload_sessions_{column}"), [column], unique=False
            )
    op.create_table(
        "upload_session_chunks",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["upload_sessions.id"],
            name=op.f("fk_upload_session_chunks_session_id_upload_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "number", name=op.f("pk_upload_session_chunks")),
    )


def downgrade() -> None:
    op.drop_table("upload_session_chunks")
    op.drop_table("upload_sessions")
