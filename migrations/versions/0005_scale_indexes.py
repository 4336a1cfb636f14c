"""indexes for a million jobs: lists page by position, the quota counts only what is in flight

Revision ID: 0005
Revises: 0004

What each serves (docs/scale.md): a user's job list, all of it or one state, newest first
(ix_jobs_owner_listed, ix_jobs_owner_state_listed: partial, so fan-out children and workflow
steps are not in them); the quota's counts of jobs in flight, open batches and unfinished
workflows (each index holds only those rows); the inbox newest first, all of it or only the
unread (which the unread count and "mark all read" use too). The inbox's old index
(user_id, read_at, created_at) could not give the whole inbox in order and is replaced.

The conditions are the models' (core/models), copied here as they are today: a migration must
not change when the models do.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

LISTED = "batch_id IS NULL AND workflow_id IS NULL"
ASKED_IN_FLIGHT = ("state IN ('queued', 'retrying', 'running') AND parent_id IS NULL"
                   " AND batch_id IS NULL AND workflow_id IS NULL")
UNREAD = "read_at IS NULL"
OPEN_BATCH = "completed_at IS NULL"
UNFINISHED_WORKFLOW = "state IN ('running', 'compensating')"


INDEXES = (  # (table, name, columns, condition)
    ('jobs', 'ix_jobs_owner_listed', ['owner_id', 'created_at', 'id'], LISTED),
    ('jobs', 'ix_jobs_owner_state_listed', ['owner_id', 'state', 'created_at', 'id'], LISTED),
    ('jobs', 'ix_jobs_owner_in_flight', ['owner_id'], ASKED_IN_FLIGHT),
    ('batches', 'ix_batches_owner_open', ['owner_id'], OPEN_BATCH),
    ('workflows', 'ix_workflows_owner_unfinished', ['owner_id'], UNFINISHED_WORKFLOW),
    ('notifications', 'ix_notifications_user_created', ['user_id', 'created_at', 'id'], None),
    ('notifications', 'ix_notifications_user_unread', ['user_id', 'created_at', 'id'], UNREAD),
)
REPLACED = ('notifications', 'ix_notifications_user_read', ['user_id', 'read_at', 'created_at'], None)


def _options(condition: str | None, postgresql: bool) -> dict:
    options = {} if condition is None else {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}
    if postgresql:
        # Built without blocking writes: the tables may be large, and the old release keeps
        # creating jobs while the new one migrates. CONCURRENTLY cannot run in a transaction.
        options["postgresql_concurrently"] = True
    return options


def _apply(create: tuple, drop: tuple) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    steps = [("create", index) for index in create] + [("drop", index) for index in drop]
    if not postgresql:
        for action, (table, name, columns, condition) in steps:
            if action == "create":
                op.create_index(name, table, columns, unique=False, **_options(condition, False))
            else:
                op.drop_index(name, table_name=table, **_options(condition, False))
        return
    with op.get_context().autocommit_block():
        for action, (table, name, columns, condition) in steps:
            if action == "create":
                # A concurrent build that was interrupted (a deploy killed half way) leaves an
                # invalid index behind: build it again. A valid one is kept as it is.
                if _invalid(name):
                    op.drop_index(name, table_name=table, **_options(condition, True))
                op.create_index(name, table, columns, unique=False, if_not_exists=True, **_options(condition, True))
            else:
                op.drop_index(name, table_name=table, if_exists=True, **_options(condition, True))


def _invalid(name: str) -> bool:
    return op.get_bind().execute(sa.text(
        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid"),
        {"name": name}).first() is not None


def upgrade() -> None:
    _apply(create=INDEXES, drop=(REPLACED,))


def downgrade() -> None:
    _apply(create=(REPLACED,), drop=tuple(reversed(INDEXES)))
