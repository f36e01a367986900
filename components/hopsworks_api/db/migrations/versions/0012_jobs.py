"""jobs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from hopsworks_api.db.base import PreciseDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("app_path", sa.String(length=4096), nullable=False),
        sa.Column("main_class", sa.String(length=255), nullable=True),
        sa.Column("args_json", sa.Text(), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("resources_json", sa.Text(), nullable=False),
        sa.Column("schedule", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", PreciseDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_jobs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_jobs_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_jobs_project_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for column in ("project_id", "created_by"):
            batch_op.create_index(batch_op.f(f"ix_jobs_{column}"), [column], unique=False)
    op.create_table(
        "executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("args_json", sa.Text(), nullable=False),
        sa.Column("submitted_at", PreciseDateTime, nullable=False),
        sa.Column("started_at", PreciseDateTime, nullable=True),
        sa.Column("finished_at", PreciseDateTime, nullable=True),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("core_millis", sa.BigInteger(), nullable=False),
        sa.Column("gpu_millis", sa.BigInteger(), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("run_handle", sa.String(length=4096), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_executions_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"],
            ["users.id"],
            name=op.f("fk_executions_submitted_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("executions", schema=None) as batch_op:
        for column in ("job_id", "project_id", "state", "submitted_by"):
            batch_op.create_index(batch_op.f(f"ix_executions_{column}"), [column], unique=False)


def downgrade() -> None:
    op.drop_table("executions")
    op.drop_table("jobs")
