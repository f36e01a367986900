"""compute credits, Hive usage and their enforcement state

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from hopsworks_api.db.base import PreciseDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (
    ("compute_payment", sa.String(length=16), "NOLIMIT"),
    ("compute_seconds_used", sa.BigInteger(), "0"),
    ("hive_bytes_used", sa.BigInteger(), "0"),
    ("compute_stopped", sa.Boolean(), "0"),
    ("hive_writes_blocked", sa.Boolean(), "0"),
)


def upgrade() -> None:
    with op.batch_alter_table("project_quotas", schema=None) as batch_op:
        for name, type_, default in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, server_default=default, nullable=False))
    op.create_table(
        "compute_charges",
        sa.Column("app_id", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("vcore_seconds", sa.BigInteger(), nullable=False),
        sa.Column("gpu_seconds", sa.BigInteger(), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", PreciseDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_compute_charges_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_compute_charges")),
    )
    with op.batch_alter_table("compute_charges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_compute_charges_project_id"), ["project_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("compute_charges")
    with op.batch_alter_table("project_quotas", schema=None) as batch_op:
        for name, _type, _default in reversed(COLUMNS):
            batch_op.drop_column(name)
