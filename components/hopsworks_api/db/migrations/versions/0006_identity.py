"""identity lifecycle: never-reused ids, token subjects and versions, refresh tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

SQLite hands a deleted newest row's id to the next insert unless a table is AUTOINCREMENT,
which only CREATE TABLE can say: the tables whose ids other rows or credentials name are
rebuilt (batch "recreate", rows copied, ids kept). The rebuild runs with foreign keys off
(see env.py), so dropping the old `users` does not cascade into its children. MariaDB's
InnoDB never hands out an auto-increment value twice (persistent counter since 10.2.4):
nothing to do there.

Every account gets a random `subject` (what access tokens name from now on) and a
`token_version`; tokens issued before this revision carry neither and stop working.
"""

import uuid

import sqlalchemy as sa
from alembic import op

from hopsworks_api.db.base import PreciseDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Parents first is not needed (foreign keys are off while the tables are rebuilt).
NEVER_REUSE = (
    "users",
    "api_keys",
    "projects",
    "datasets",
    "certificates",
    "dataset_shares",
    "topics",
    "resource_shares",
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("token_version", sa.Integer(), server_default="0", nullable=False)
        )
    bind = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("subject", sa.String))
    for (user_id,) in bind.execute(sa.select(users.c.id)).all():
        bind.execute(users.update().where(users.c.id == user_id).values(subject=uuid.uuid4().hex))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("subject", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_users_subject"), ["subject"])

    if _sqlite():
        for table in NEVER_REUSE:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ):
                pass

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("expires_at", PreciseDateTime, nullable=False),
        sa.Column("used_at", PreciseDateTime, nullable=True),
        sa.Column("revoked_at", PreciseDateTime, nullable=True),
        sa.Column("created_at", PreciseDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_tokens_family"), ["family"], unique=False)
        batch_op.create_index(batch_op.f("ix_refresh_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", PreciseDateTime, nullable=False),
        sa.Column("blocked_until", PreciseDateTime, nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_failures_last_failure_at"), ["last_failure_at"], unique=False
        )


def downgrade() -> None:
    """The AUTOINCREMENT tables stay so: older code reads them unchanged."""
    op.drop_table("login_failures")
    op.drop_table("refresh_tokens")
    kwargs = {"sqlite_autoincrement": True} if _sqlite() else {}
    with op.batch_alter_table("users", schema=None, table_kwargs=kwargs) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_subject"), type_="unique")
        batch_op.drop_column("token_version")
        batch_op.drop_column("subject")
