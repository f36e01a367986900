"""cluster servers (issues 14, 15)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # issue 15: where a serving's InferenceService answers (any instance predicts through it)
    op.add_column("servings", sa.Column("url", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("servings") as batch_op:
        batch_op.drop_column("url")
