"""the console's other lists: batches and workflows newest first, the audit log by action and actor

Revision ID: 0009
Revises: 0008

Keyset pages on (created_at, id) for every batch, every workflow and the workflows of one state,
and for the audit log filtered by action or by actor (an admin's view is their institution's
actors). Without them each of those lists sorts every row in scope. Built CONCURRENTLY on
PostgreSQL, as in 0005 and 0007.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

INDEXES = (  # (table, name, columns)
    ('batches', 'ix_batches_created', ['created_at', 'id']),
    ('workflows', 'ix_workflows_created', ['created_at', 'id']),
    ('workflows', 'ix_workflows_state_created', ['state', 'created_at', 'id']),
    ('audit_log', 'ix_audit_log_action_created', ['action', 'created_at', 'id']),
    ('audit_log', 'ix_audit_log_actor_created', ['actor_id', 'created_at', 'id']),
)


def _invalid(name: str) -> bool:
    return op.get_bind().execute(sa.text(
        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid"),
        {"name": name}).first() is not None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for table, name, columns in INDEXES:
            op.create_index(name, table, columns)
        return
    with op.get_context().autocommit_block():
        for table, name, columns in INDEXES:
            if _invalid(name):  # an interrupted concurrent build: build it again
                op.drop_index(name, table_name=table, postgresql_concurrently=True)
            op.create_index(name, table, columns, if_not_exists=True, postgresql_concurrently=True)


def downgrade() -> None:
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
