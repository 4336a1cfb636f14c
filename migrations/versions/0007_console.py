"""operations console: indexes for its job filters, periodic task runs, queue depth samples

Revision ID: 0007
Revises: 0006

- jobs: the console lists every job newest first, all of them or one state or one type
  (ix_jobs_created, ix_jobs_state_created, ix_jobs_type_created: keyset pages on (created_at, id));
  a job's children (ix_jobs_parent) and the dead-lettered jobs (ix_jobs_dead_lettered), both partial
  so the rows without a parent or a dead letter cost nothing. Built CONCURRENTLY on PostgreSQL, as
  in 0005, since jobs may hold millions of rows while the old release keeps writing.
- periodic_runs: one row per run of a cron.yaml task (or a console "run now"): when, how long,
  what it did, which lease holder, who asked.
- queue_samples: the depth of the main and dead-letter queues as the dead-letter monitor reads them,
  for the console's counts over time.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
# Copied here as they are today: a migration must not change when the models do.
HAS_PARENT = "parent_id IS NOT NULL"
DEAD_LETTERED = "dead_lettered_at IS NOT NULL"
RUN_OUTCOMES = "outcome IN ('succeeded', 'failed', 'skipped')"
RUN_TRIGGERS = "trigger IN ('cron', 'manual')"

INDEXES = (  # (name, columns, condition)
    ('ix_jobs_created', ['created_at', 'id'], None),
    ('ix_jobs_state_created', ['state', 'created_at', 'id'], None),
    ('ix_jobs_type_created', ['type', 'created_at', 'id'], None),
    ('ix_jobs_parent', ['parent_id'], HAS_PARENT),
    ('ix_jobs_dead_lettered', ['dead_lettered_at'], DEAD_LETTERED),
)


def _options(condition: str | None) -> dict:
    return {} if condition is None else {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def _invalid(name: str) -> bool:
    return op.get_bind().execute(sa.text(
        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid"),
        {"name": name}).first() is not None


def _create_indexes() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name, columns, condition in INDEXES:
            op.create_index(name, 'jobs', columns, **_options(condition))
        return
    with op.get_context().autocommit_block():
        for name, columns, condition in INDEXES:
            # An interrupted concurrent build leaves an invalid index: build it again.
            if _invalid(name):
                op.drop_index(name, table_name='jobs', postgresql_concurrently=True)
            op.create_index(name, 'jobs', columns, if_not_exists=True, postgresql_concurrently=True,
                            **_options(condition))


def upgrade() -> None:
    op.create_table('periodic_runs',
    sa.Column('id', BigId, nullable=False),
    sa.Column('task', sa.String(length=64), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('holder', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('counts', JSONType, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint(RUN_OUTCOMES, name=op.f('ck_periodic_runs_outcome')),
    sa.CheckConstraint(RUN_TRIGGERS, name=op.f('ck_periodic_runs_trigger')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_periodic_runs_requested_by_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_periodic_runs'))
    )
    op.create_index('ix_periodic_runs_task_started', 'periodic_runs', ['task', 'started_at'], unique=False)
    op.create_table('queue_samples',
    sa.Column('taken_at', sa.DateTime(), nullable=False),
    sa.Column('queue', sa.String(length=16), nullable=False),
    sa.Column('visible', sa.Integer(), nullable=False),
    sa.Column('in_flight', sa.Integer(), nullable=False),
    sa.Column('delayed', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('taken_at', 'queue', name=op.f('pk_queue_samples'))
    )
    _create_indexes()


def downgrade() -> None:
    for name, _columns, condition in reversed(INDEXES):
        op.drop_index(name, table_name='jobs', **_options(condition))
    op.drop_table('queue_samples')
    op.drop_index('ix_periodic_runs_task_started', table_name='periodic_runs')
    op.drop_table('periodic_runs')
