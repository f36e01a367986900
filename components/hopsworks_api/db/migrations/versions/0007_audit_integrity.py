"""audit integrity: rows attributed by project id, keyed chain, checkpoints

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

`audit_log.project_id` attributes a record to the project it was about, so that a project
re-created under an old name does not inherit the old one's feed. Existing records are
attributed to the project holding their name now, from that project's last successful
creation on; earlier ones (a previous project of that name, requests before it existed)
stay unattributed. `project_id` is not covered by the legacy (unkeyed) hashes, so filling
it in does not disturb them; the append-only triggers are lifted for that one UPDATE.

`audit_head.key_id` names the key the chain is sealed under; the service seals the
legacy chain at its first start with a key (audit/service.py `seal`), not the migration,
which never sees the key.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_MESSAGE = "audit_log is append-only"


def _drop_triggers() -> None:
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{verb}")


def _create_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for verb in ("UPDATE", "DELETE"):
        if dialect == "sqlite":
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )
        elif dialect in ("mysql", "mariadb"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{_MESSAGE}'"
            )


def _attribute_existing_records() -> None:
    bind = op.get_bind()
    projects = bind.execute(sa.text("SELECT id, name FROM projects")).all()
    for project_id, name in projects:
        created = bind.execute(
            sa.text(
                "SELECT MAX(id) FROM audit_log WHERE project = :name "
                "AND action = 'project.create' AND status_code = 201"
            ),
            {"name": name},
        ).scalar()
        bind.execute(
            sa.text(
                "UPDATE audit_log SET project_id = :pid WHERE project = :name AND id >= :first"
            ),
            {"pid": project_id, "name": name, "first": created or 0},
        )


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("project_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_audit_log_project_id"), "audit_log", ["project_id"], unique=False)
    op.add_column("audit_head", sa.Column("key_id", sa.String(length=16), nullable=True))
    _drop_triggers()
    _attribute_existing_records()
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("key_id")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_project_id"))
        batch_op.drop_column("project_id")
    _create_triggers()
