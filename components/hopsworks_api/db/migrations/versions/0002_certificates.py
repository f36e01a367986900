"""certificates and agent API keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from hopsworks_api.db.base import PreciseDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("common_name", sa.String(length=255), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("issuer", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("not_before", PreciseDateTime, nullable=False),
        sa.Column("not_after", PreciseDateTime, nullable=False),
        sa.Column("revoked_at", PreciseDateTime, nullable=True),
        sa.Column("revocation_reason", sa.String(length=64), nullable=True),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.Column("key_pem", sa.Text(), nullable=True),
        sa.Column("created_at", PreciseDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_certificates_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_certificates_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("serial", name=op.f("uq_certificates_serial")),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        for column in ("common_name", "project_id", "user_id", "status"):
            batch_op.create_index(batch_op.f(f"ix_certificates_{column}"), [column], unique=False)
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_hosts", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("agent_hosts")
    op.drop_table("certificates")
