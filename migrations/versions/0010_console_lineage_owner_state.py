"""the console's follow-ups: a job's batches found by index, one institution's jobs of a state

Revision ID: 0010
Revises: 0009

- batches: a job's page lists the batches it created (parent_job_id, oldest first) and the batch
  whose completion created it (followup_job_id). Without an index each is a sequential scan of
  batches on every view and every poll of a job's page (65 ms each at 200,000 batches; 0.04 ms
  with these).
- jobs (owner_id, state, created_at, id): one institution's jobs of one state, owner by owner
  (web/common/ops/jobs_list.py's fallback). ix_jobs_owner_created makes each owner's probe read
  all of that owner's jobs to find the few of the state, or the planner ANDs it with a bitmap of
  every job of the state platform-wide (345 ms for 40 owners against 103,000 failed jobs); this one
  is an index-only scan of exactly those rows (1.4 ms). The id makes it the keyset's order, so no
  sort per owner. docs/console.md has the plans.

Built CONCURRENTLY on PostgreSQL, as in 0005, 0007 and 0009.
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

INDEXES = (  # (table, name, columns)
    ('batches', 'ix_batches_parent_job', ['parent_job_id', 'created_at']),
    ('batches', 'ix_batches_followup_job', ['followup_job_id']),
    ('jobs', 'ix_jobs_owner_state_created', ['owner_id', 'state', 'created_at', 'id']),
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
