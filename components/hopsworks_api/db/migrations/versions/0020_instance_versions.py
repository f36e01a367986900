"""the version each service instance runs (issue 18: upgrade.yml)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # null for a row an instance of older code wrote (it beats without a version)
    op.add_column("runner_instances", sa.Column("version", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runner_instances") as batch_op:
        batch_op.drop_column("version")
