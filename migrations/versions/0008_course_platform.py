"""course platform: time zones, scheduled and editable activities, submissions and their files,
feedback on grades, notification links and preferences, external ids and invitations

Revision ID: 0008
Revises: 0007

- users.time_zone (an IANA name; NULL until the browser's guess is stored), users.external_id
  (a roster's own id, unique within an institution: the import matches by it or by email).
- activities.status ('scheduled', 'published', 'unpublished'; existing rows are published),
  publish_at (when a scheduled one goes out), allow_late, updated_at, unpublished_at; partial
  indexes for the periodic tasks that publish what is due and remind before due dates.
- submissions (one per student and activity, resubmitted in place) and submission_files (what
  was uploaded to S3 and what the check of it found).
- grades.feedback, graded_at, graded_by (the teacher's id; no foreign key, which SQLite could only
  add by copying the table: a grade outlives its grader's account).
- notifications.link (the path in the app it is about; emails make it absolute).
- notification_preferences (per user and kind: email, digest or off; in-app is always on).
- invitations (a single-use, expiring link to set a password; only the token's digest is kept).

Columns added to existing tables have server defaults or are nullable, so SQLite adds them with
ALTER TABLE without copying the table; their allowed values are checked by the application.
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# Copied here as they are today: a migration must not change when the models do.
SCHEDULED = "status = 'scheduled'"
DUE_PUBLISHED = "status = 'published' AND due_at IS NOT NULL"
HAS_EXTERNAL_ID = "external_id IS NOT NULL"
CHANNELS = "channel IN ('email', 'digest', 'off')"
FILE_STATES = "state IN ('pending', 'verified', 'rejected')"


def _where(condition: str) -> dict:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    op.add_column('users', sa.Column('time_zone', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('external_id', sa.String(length=100), nullable=True))
    op.create_index('uq_users_institution_external_id', 'users', ['institution_id', 'external_id'], unique=True,
                    **_where(HAS_EXTERNAL_ID))

    op.add_column('activities', sa.Column('status', sa.String(length=16), nullable=False, server_default='published'))
    op.add_column('activities', sa.Column('publish_at', sa.DateTime(), nullable=True))
    op.add_column('activities', sa.Column('allow_late', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('activities', sa.Column('updated_at', sa.DateTime(), nullable=True))
    op.add_column('activities', sa.Column('unpublished_at', sa.DateTime(), nullable=True))
    op.create_index('ix_activities_scheduled', 'activities', ['publish_at'], **_where(SCHEDULED))
    op.create_index('ix_activities_due', 'activities', ['due_at'], **_where(DUE_PUBLISHED))

    op.create_table('submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_submissions_activity_id_activities'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['users.id'], name=op.f('fk_submissions_student_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submissions')),
    sa.UniqueConstraint('activity_id', 'student_id', name='uq_submissions_activity_student')
    )
    op.create_index(op.f('ix_submissions_student_id'), 'submissions', ['student_id'], unique=False)
    op.create_table('submission_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=500), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('checksum', sa.String(length=100), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint(FILE_STATES, name=op.f('ck_submission_files_state')),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'],
                            name=op.f('fk_submission_files_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submission_files')),
    sa.UniqueConstraint('key', name=op.f('uq_submission_files_key'))
    )
    op.create_index(op.f('ix_submission_files_submission_id'), 'submission_files', ['submission_id'], unique=False)

    op.add_column('grades', sa.Column('feedback', sa.Text(), nullable=False, server_default=''))
    op.add_column('grades', sa.Column('graded_at', sa.DateTime(), nullable=True))
    op.add_column('grades', sa.Column('graded_by', sa.Integer(), nullable=True))

    op.add_column('notifications', sa.Column('link', sa.String(length=500), nullable=True))

    op.create_table('notification_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint(CHANNELS, name=op.f('ck_notification_preferences_channel')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'kind', name=op.f('pk_notification_preferences'))
    )
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_invitations_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash'))
    )
    op.create_index(op.f('ix_invitations_user_id'), 'invitations', ['user_id'], unique=False)


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), never batch mode's table copy: copying users would drop
    # the old table, and ON DELETE CASCADE would take every row that points at it.
    op.drop_index(op.f('ix_invitations_user_id'), table_name='invitations')
    op.drop_table('invitations')
    op.drop_table('notification_preferences')
    op.drop_column('notifications', 'link')
    for column in ('graded_by', 'graded_at', 'feedback'):
        op.drop_column('grades', column)
    op.drop_index(op.f('ix_submission_files_submission_id'), table_name='submission_files')
    op.drop_table('submission_files')
    op.drop_index(op.f('ix_submissions_student_id'), table_name='submissions')
    op.drop_table('submissions')
    op.drop_index('ix_activities_due', table_name='activities', **_where(DUE_PUBLISHED))
    op.drop_index('ix_activities_scheduled', table_name='activities', **_where(SCHEDULED))
    for column in ('unpublished_at', 'updated_at', 'allow_late', 'publish_at', 'status'):
        op.drop_column('activities', column)
    op.drop_index('uq_users_institution_external_id', table_name='users', **_where(HAS_EXTERNAL_ID))
    op.drop_column('users', 'external_id')
    op.drop_column('users', 'time_zone')
