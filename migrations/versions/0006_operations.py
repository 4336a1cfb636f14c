"""operations console: operator role, attempt history, job counters kept by triggers, audit log, paused types

Revision ID: 0006
Revises: 0005

- users: role 'operator' (platform staff), the only role that belongs to no institution.
- jobs: reprocess_of_id (lineage of a reprocess copy), origin (what created the job; NULL on
  older rows), claimed_by (the worker, "instance/pid", of the current attempt; set by the claim).
- job_attempts, job_counts, job_minutes: written by triggers on jobs, so every way a job row
  changes is recorded: the lifecycle's UPDATEs, bulk INSERTs, retention's DELETEs, the cascades
  of a deleted workflow or user. PostgreSQL: one row-level trigger for transitions (it fires only
  when state, type or attempts change, so heartbeats and publish marks cost nothing) and
  statement-level triggers with transition tables for INSERT and DELETE, so a bulk insert or a
  retention chunk updates each counter once, not once per row. Counters are spread over 8 shards
  by backend (pg_backend_pid()), and every statement takes its counter rows in (type, state)
  order, so concurrent transitions neither queue on one row nor deadlock. SQLite: row triggers,
  shard 0.
- job_counts and job_minutes (the last 8 days) are backfilled from the existing rows, inside
  the transaction that creates the triggers: on PostgreSQL the ALTERs hold jobs' lock until
  commit, so no transition is counted twice or missed.
- audit_log, job_type_pauses.

Timestamps in the triggers: an attempt opened by a first claim starts at jobs.started_at and one
closed by a terminal state ends at jobs.finished_at (both the application's clock, like every
other job timestamp); a later claim's start and a retry's end are not on the row (started_at is
the first claim's, a retry sets no end time), so those come from the database clock of the
statement. Outcome lease_expired: a claim taking over an expired run, or a reclaim
(lifecycle.reclaim_stalled, give_up_expired), which is told apart from the owner's own failure
by lifecycle.lease_expired_error's wording.

SQLite changes users' CHECK constraints and jobs' foreign keys by copying the table. Dropping
the old users table would delete (ON DELETE CASCADE) every job, token and grade that points at
it, so the copies run with foreign keys off, in their own transaction, checked before commit.
"""
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Copied here as they are today: a migration must not change when the code does.
OLD_ROLES = "role IN ('admin', 'teacher', 'student')"
ROLES = "role IN ('admin', 'teacher', 'student', 'operator')"
INSTITUTION = "role = 'operator' OR institution_id IS NOT NULL"
OUTCOMES = "outcome IN ('succeeded', 'failed', 'retrying', 'cancelled', 'lease_expired')"
REPROCESSED = "reprocess_of_id IS NOT NULL"
TERMINAL = "('succeeded', 'failed', 'cancelled')"
SHARDS = 8
MINUTES_KEPT_DAYS = 8
# What lifecycle.lease_expired_error writes, and only it: a reclaim, not the run's own failure.
LEASE_EXPIRED_MARK = "stopped reporting (lease expired)"
JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# ---------------------------------------------------------------- PostgreSQL triggers

PG_COUNT_DELTA = """
    INSERT INTO job_counts AS c (type, state, shard, n)
    {rows}
    ON CONFLICT (type, state, shard) DO UPDATE SET n = c.n + EXCLUDED.n;"""

PG_MINUTE_ADD = """
    INSERT INTO job_minutes AS m (minute, type, succeeded, failed, cancelled, total_ms)
    {rows}
    ON CONFLICT (minute, type) DO UPDATE SET succeeded = m.succeeded + EXCLUDED.succeeded,
        failed = m.failed + EXCLUDED.failed, cancelled = m.cancelled + EXCLUDED.cancelled,
        total_ms = m.total_ms + EXCLUDED.total_ms;"""


def _pg_ms(end: str, start: str) -> str:
    return f"GREATEST(0, round(EXTRACT(EPOCH FROM {end} - {start}) * 1000))"


PG_FUNCTIONS = {
    "jobs_inserted": f"""
BEGIN{PG_COUNT_DELTA.format(rows=f'''
    SELECT type, state, mod(pg_backend_pid(), {SHARDS}), count(*) FROM inserted GROUP BY type, state ORDER BY type, state''')}
{PG_MINUTE_ADD.format(rows=f'''
    SELECT date_trunc('minute', finished_at), type, count(*) FILTER (WHERE state = 'succeeded'),
           count(*) FILTER (WHERE state = 'failed'), count(*) FILTER (WHERE state = 'cancelled'),
           COALESCE(sum({_pg_ms('finished_at', 'started_at')}) FILTER (WHERE state = 'succeeded'), 0)
    FROM inserted WHERE state IN {TERMINAL} AND finished_at IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2''')}
    RETURN NULL;
END""",
    "jobs_deleted": f"""
BEGIN{PG_COUNT_DELTA.format(rows=f'''
    SELECT type, state, mod(pg_backend_pid(), {SHARDS}), -count(*) FROM deleted GROUP BY type, state ORDER BY type, state''')}
    RETURN NULL;
END""",
    "jobs_truncated": """
BEGIN
    DELETE FROM job_counts;
    RETURN NULL;
END""",
    "jobs_transition": f"""
DECLARE
    v_shard smallint := mod(pg_backend_pid(), {SHARDS});
    v_now timestamp := statement_timestamp() AT TIME ZONE 'UTC';
    v_start timestamp;
BEGIN
    IF OLD.state IS DISTINCT FROM NEW.state OR OLD.type IS DISTINCT FROM NEW.type THEN{PG_COUNT_DELTA.format(rows='''
        SELECT v.type, v.state, v_shard, v.delta
        FROM (VALUES (OLD.type, OLD.state, -1), (NEW.type, NEW.state, 1)) AS v (type, state, delta)
        ORDER BY v.type, v.state''')}
    END IF;

    -- The run that held the job ends: by its own outcome, or taken over / reclaimed after its lease expired.
    IF OLD.state = 'running' AND (NEW.state <> 'running' OR NEW.attempts > OLD.attempts) THEN
        UPDATE job_attempts SET
            finished_at = CASE WHEN NEW.state = 'running' THEN v_now ELSE COALESCE(NEW.finished_at, v_now) END,
            outcome = CASE
                WHEN NEW.state = 'running' THEN 'lease_expired'
                WHEN NEW.state IN ('succeeded', 'cancelled') THEN NEW.state
                WHEN strpos(NEW.error, '{LEASE_EXPIRED_MARK}') > 0 THEN 'lease_expired'
                WHEN NEW.state = 'failed' THEN 'failed'
                ELSE 'retrying' END,
            error = CASE WHEN NEW.state = 'running'
                THEN 'attempt ' || OLD.attempts || ' {LEASE_EXPIRED_MARK}; the worker was probably killed'
                ELSE NEW.error END
        WHERE job_id = NEW.id AND attempt = OLD.attempts AND finished_at IS NULL
        RETURNING started_at INTO v_start;
    END IF;

    -- A claim: the next attempt starts.
    IF NEW.state = 'running' AND NEW.attempts > OLD.attempts THEN
        INSERT INTO job_attempts (job_id, attempt, started_at, worker)
        VALUES (NEW.id, NEW.attempts,
                CASE WHEN OLD.started_at IS NULL AND NEW.started_at IS NOT NULL THEN NEW.started_at ELSE v_now END,
                NEW.claimed_by)
        ON CONFLICT (job_id, attempt) DO NOTHING;
    END IF;

    IF NEW.state IN {TERMINAL} AND OLD.state NOT IN {TERMINAL} AND NEW.finished_at IS NOT NULL THEN
        -- A success's run time: from its attempt's start (closed just above), else the job's.
        v_start := CASE WHEN NEW.state = 'succeeded' THEN COALESCE(v_start, NEW.started_at) END;{PG_MINUTE_ADD.format(rows=f'''
        VALUES (date_trunc('minute', NEW.finished_at), NEW.type, (NEW.state = 'succeeded')::int,
                (NEW.state = 'failed')::int, (NEW.state = 'cancelled')::int,
                COALESCE({_pg_ms('NEW.finished_at', 'v_start')}, 0))''')}
    END IF;
    RETURN NULL;
END""",
}

PG_TRIGGERS = {
    "jobs_count_insert": "AFTER INSERT ON jobs REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT"
                         " EXECUTE FUNCTION jobs_inserted()",
    "jobs_count_delete": "AFTER DELETE ON jobs REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT"
                         " EXECUTE FUNCTION jobs_deleted()",
    "jobs_count_truncate": "AFTER TRUNCATE ON jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_truncated()",
    "jobs_transition": "AFTER UPDATE OF state, type, attempts ON jobs FOR EACH ROW"
                       " WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.type IS DISTINCT FROM NEW.type"
                       " OR OLD.attempts IS DISTINCT FROM NEW.attempts)"
                       " EXECUTE FUNCTION jobs_transition()",
}

# ---------------------------------------------------------------- SQLite triggers

# SQLAlchemy's own text format for a DateTime on SQLite, which the columns hold.
SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


def _sqlite_minute(column: str) -> str:
    return f"strftime('%Y-%m-%d %H:%M:00.000000', {column})"


def _sqlite_ms(end: str, start: str) -> str:
    return f"CAST(max(0, round((julianday({end}) - julianday({start})) * 86400000)) AS INTEGER)"


def _sqlite_count(type_: str, state: str, delta: int) -> str:
    return (f"INSERT INTO job_counts (type, state, shard, n) VALUES ({type_}, {state}, 0, {delta})"
            " ON CONFLICT (type, state, shard) DO UPDATE SET n = n + excluded.n;")


def _sqlite_minute_add(row: str, succeeded_ms: str) -> str:
    return (
        "INSERT INTO job_minutes (minute, type, succeeded, failed, cancelled, total_ms)"
        f" VALUES ({_sqlite_minute(f'{row}.finished_at')}, {row}.type, {row}.state = 'succeeded',"
        f" {row}.state = 'failed', {row}.state = 'cancelled',"
        f" CASE WHEN {row}.state = 'succeeded' THEN coalesce({succeeded_ms}, 0) ELSE 0 END)"
        " ON CONFLICT (minute, type) DO UPDATE SET succeeded = succeeded + excluded.succeeded,"
        " failed = failed + excluded.failed, cancelled = cancelled + excluded.cancelled,"
        " total_ms = total_ms + excluded.total_ms;"
    )


SQLITE_TRIGGERS = {
    "jobs_count_insert": ("AFTER INSERT ON jobs", _sqlite_count("NEW.type", "NEW.state", 1)),
    "jobs_minute_insert": (
        f"AFTER INSERT ON jobs WHEN NEW.state IN {TERMINAL} AND NEW.finished_at IS NOT NULL",
        _sqlite_minute_add("NEW", _sqlite_ms("NEW.finished_at", "NEW.started_at")),
    ),
    "jobs_count_delete": ("AFTER DELETE ON jobs", _sqlite_count("OLD.type", "OLD.state", -1)),
    "jobs_count_update": (
        "AFTER UPDATE OF state, type ON jobs WHEN OLD.state IS NOT NEW.state OR OLD.type IS NOT NEW.type",
        _sqlite_count("OLD.type", "OLD.state", -1) + "\n    " + _sqlite_count("NEW.type", "NEW.state", 1),
    ),
    "jobs_attempt_close": (
        ("AFTER UPDATE OF state, attempts ON jobs"
         " WHEN OLD.state = 'running' AND (NEW.state <> 'running' OR NEW.attempts > OLD.attempts)"),
        f"""UPDATE job_attempts SET
        finished_at = CASE WHEN NEW.state = 'running' THEN {SQLITE_NOW} ELSE coalesce(NEW.finished_at, {SQLITE_NOW}) END,
        outcome = CASE
            WHEN NEW.state = 'running' THEN 'lease_expired'
            WHEN NEW.state IN ('succeeded', 'cancelled') THEN NEW.state
            WHEN instr(NEW.error, '{LEASE_EXPIRED_MARK}') > 0 THEN 'lease_expired'
            WHEN NEW.state = 'failed' THEN 'failed'
            ELSE 'retrying' END,
        error = CASE WHEN NEW.state = 'running'
            THEN 'attempt ' || OLD.attempts || ' {LEASE_EXPIRED_MARK}; the worker was probably killed'
            ELSE NEW.error END
    WHERE job_id = NEW.id AND attempt = OLD.attempts AND finished_at IS NULL;""",
    ),
    "jobs_attempt_open": (
        "AFTER UPDATE OF state, attempts ON jobs WHEN NEW.state = 'running' AND NEW.attempts > OLD.attempts",
        f"""INSERT INTO job_attempts (job_id, attempt, started_at, worker) VALUES (NEW.id, NEW.attempts,
        CASE WHEN OLD.started_at IS NULL AND NEW.started_at IS NOT NULL THEN NEW.started_at ELSE {SQLITE_NOW} END,
        NEW.claimed_by)
    ON CONFLICT (job_id, attempt) DO NOTHING;""",
    ),
    "jobs_minute_end": (
        (f"AFTER UPDATE OF state ON jobs"
         f" WHEN NEW.state IN {TERMINAL} AND OLD.state NOT IN {TERMINAL} AND NEW.finished_at IS NOT NULL"),
        _sqlite_minute_add("NEW", _sqlite_ms("NEW.finished_at", "coalesce((SELECT started_at FROM job_attempts"
                                             " WHERE job_id = NEW.id AND attempt = NEW.attempts), NEW.started_at)")),
    ),
}

# ---------------------------------------------------------------- backfill

PG_BACKFILL = (
    "INSERT INTO job_counts (type, state, shard, n) SELECT type, state, 0, count(*) FROM jobs GROUP BY type, state",
    f"""INSERT INTO job_minutes (minute, type, succeeded, failed, cancelled, total_ms)
    SELECT date_trunc('minute', finished_at), type, count(*) FILTER (WHERE state = 'succeeded'),
           count(*) FILTER (WHERE state = 'failed'), count(*) FILTER (WHERE state = 'cancelled'),
           COALESCE(sum({_pg_ms('finished_at', 'started_at')}) FILTER (WHERE state = 'succeeded'), 0)
    FROM jobs
    WHERE state IN {TERMINAL} AND finished_at >= (now() AT TIME ZONE 'UTC') - interval '{MINUTES_KEPT_DAYS} days'
    GROUP BY 1, 2""",
)

SQLITE_BACKFILL = (
    "INSERT INTO job_counts (type, state, shard, n) SELECT type, state, 0, count(*) FROM jobs GROUP BY type, state",
    f"""INSERT INTO job_minutes (minute, type, succeeded, failed, cancelled, total_ms)
    SELECT {_sqlite_minute('finished_at')}, type, sum(state = 'succeeded'), sum(state = 'failed'),
           sum(state = 'cancelled'),
           coalesce(sum(CASE WHEN state = 'succeeded' THEN {_sqlite_ms('finished_at', 'started_at')} END), 0)
    FROM jobs
    WHERE state IN {TERMINAL} AND finished_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-{MINUTES_KEPT_DAYS} days')
    GROUP BY 1, 2""",
)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _sqlite_copy_without_foreign_keys(change: Callable[[], None]) -> None:
    """Run batch (copy-the-table) changes with foreign keys off, in one transaction of their own,
    and refuse to commit if they left a dangling reference."""
    bind = op.get_bind()
    with op.get_context().autocommit_block():
        bind.exec_driver_sql("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: hence the block
        try:
            bind.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                change()
                dangling = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if dangling:
                    raise RuntimeError(f"copying the tables would leave dangling references: {dangling[:5]}")
            except BaseException:
                bind.exec_driver_sql("ROLLBACK")
                raise
            bind.exec_driver_sql("COMMIT")
        finally:
            bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def _jobs_columns() -> list[sa.Column]:
    return [
        sa.Column('reprocess_of_id', sa.Uuid(), nullable=True),
        sa.Column('origin', sa.String(length=16), nullable=True),
        sa.Column('claimed_by', sa.String(length=128), nullable=True),
    ]


def _upgrade_users_and_jobs_sqlite() -> None:
    def change() -> None:
        with op.batch_alter_table('users', recreate='always') as batch_op:
            batch_op.alter_column('institution_id', existing_type=sa.Integer(), nullable=True)
            batch_op.drop_constraint(op.f('ck_users_role'), type_='check')
            batch_op.create_check_constraint(op.f('ck_users_role'), ROLES)
            batch_op.create_check_constraint(op.f('ck_users_institution'), INSTITUTION)
        with op.batch_alter_table('jobs', recreate='always') as batch_op:
            for column in _jobs_columns():
                batch_op.add_column(column)
            batch_op.create_foreign_key(op.f('fk_jobs_reprocess_of_id_jobs'), 'jobs', ['reprocess_of_id'], ['id'],
                                        ondelete='SET NULL')
            batch_op.create_index('ix_jobs_reprocess_of', ['reprocess_of_id'], sqlite_where=sa.text(REPROCESSED))

    _sqlite_copy_without_foreign_keys(change)


def _upgrade_jobs_postgresql() -> None:
    for column in _jobs_columns():
        op.add_column('jobs', column)
    op.create_foreign_key(op.f('fk_jobs_reprocess_of_id_jobs'), 'jobs', 'jobs', ['reprocess_of_id'], ['id'],
                          ondelete='SET NULL')
    op.create_index('ix_jobs_reprocess_of', 'jobs', ['reprocess_of_id'], postgresql_where=sa.text(REPROCESSED))


def _upgrade_users_postgresql() -> None:
    op.drop_constraint(op.f('ck_users_role'), 'users', type_='check')
    op.create_check_constraint(op.f('ck_users_role'), 'users', ROLES)
    op.alter_column('users', 'institution_id', existing_type=sa.Integer(), nullable=True)
    op.create_check_constraint(op.f('ck_users_institution'), 'users', INSTITUTION)


def _create_tables() -> None:
    op.create_table('job_attempts',
    sa.Column('id', BigId, nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('worker', sa.String(length=128), nullable=True),
    sa.CheckConstraint(OUTCOMES, name=op.f('ck_job_attempts_outcome')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_job_attempts_job_id_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_attempts')),
    sa.UniqueConstraint('job_id', 'attempt', name='uq_job_attempts_job_attempt')
    )
    op.create_index('ix_job_attempts_started', 'job_attempts', ['started_at'], unique=False)

    op.create_table('job_counts',
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('shard', sa.SmallInteger(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('type', 'state', 'shard', name=op.f('pk_job_counts'))
    )
    op.create_table('job_minutes',
    sa.Column('minute', sa.DateTime(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('succeeded', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('cancelled', sa.Integer(), nullable=False),
    sa.Column('total_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('minute', 'type', name=op.f('pk_job_minutes'))
    )
    op.create_table('audit_log',
    sa.Column('id', BigId, nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=True),
    sa.Column('count', sa.Integer(), nullable=True),
    sa.Column('detail', JSONType, nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_log_actor_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_created', 'audit_log', ['created_at', 'id'], unique=False)
    op.create_index(op.f('ix_audit_log_actor_id'), 'audit_log', ['actor_id'], unique=False)
    op.create_table('job_type_pauses',
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('paused_by', sa.Integer(), nullable=True),
    sa.Column('paused_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['paused_by'], ['users.id'], name=op.f('fk_job_type_pauses_paused_by_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('type', name=op.f('pk_job_type_pauses'))
    )


def _create_triggers() -> None:
    if _postgresql():
        for name, body in PG_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body${body}\n$body$")
        for name, definition in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {definition}")
    else:
        for name, (when, body) in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when}\nBEGIN\n    {body}\nEND")


def upgrade() -> None:
    postgresql = _postgresql()
    if postgresql:
        _upgrade_jobs_postgresql()
    else:
        _upgrade_users_and_jobs_sqlite()
    _create_tables()
    _create_triggers()
    for statement in PG_BACKFILL if postgresql else SQLITE_BACKFILL:
        op.execute(statement)
    if postgresql:
        # Last: users stays locked from here to the commit, and every signed-in request reads it.
        _upgrade_users_postgresql()


def downgrade() -> None:
    operators = op.get_bind().execute(sa.text("SELECT count(*) FROM users WHERE role = 'operator'")).scalar()
    if operators:
        # Deleting accounts (and, by cascade, their jobs) is for a person to decide, not a rollback.
        raise RuntimeError(f"{operators} operator account(s) exist, which the old schema cannot hold: delete them "
                           "first (DELETE FROM users WHERE role = 'operator') or give them another role and an "
                           "institution")
    if _postgresql():
        for name in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON jobs")
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table('job_type_pauses')
    op.drop_index(op.f('ix_audit_log_actor_id'), table_name='audit_log')
    op.drop_index('ix_audit_log_created', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('job_minutes')
    op.drop_table('job_counts')
    op.drop_index('ix_job_attempts_started', table_name='job_attempts')
    op.drop_table('job_attempts')

    if _postgresql():
        op.drop_index('ix_jobs_reprocess_of', table_name='jobs', postgresql_where=sa.text(REPROCESSED))
        op.drop_constraint(op.f('fk_jobs_reprocess_of_id_jobs'), 'jobs', type_='foreignkey')
        for column in reversed(_jobs_columns()):
            op.drop_column('jobs', column.name)
        op.drop_constraint(op.f('ck_users_institution'), 'users', type_='check')
        op.alter_column('users', 'institution_id', existing_type=sa.Integer(), nullable=False)
        op.drop_constraint(op.f('ck_users_role'), 'users', type_='check')
        op.create_check_constraint(op.f('ck_users_role'), 'users', OLD_ROLES)
        return

    def change() -> None:
        with op.batch_alter_table('jobs', recreate='always') as batch_op:
            batch_op.drop_index('ix_jobs_reprocess_of', sqlite_where=sa.text(REPROCESSED))
            batch_op.drop_constraint(op.f('fk_jobs_reprocess_of_id_jobs'), type_='foreignkey')
            for column in reversed(_jobs_columns()):
                batch_op.drop_column(column.name)
        with op.batch_alter_table('users', recreate='always') as batch_op:
            batch_op.drop_constraint(op.f('ck_users_institution'), type_='check')
            batch_op.alter_column('institution_id', existing_type=sa.Integer(), nullable=False)
            batch_op.drop_constraint(op.f('ck_users_role'), type_='check')
            batch_op.create_check_constraint(op.f('ck_users_role'), OLD_ROLES)

    _sqlite_copy_without_foreign_keys(change)
