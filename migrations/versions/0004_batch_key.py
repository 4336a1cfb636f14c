"""batches.key: found by a unique key, not by matching the description text

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_batches_key'), ['key'])
    # Batches made before: their description was "activity:<id> emails to students"; the key is
    # core.activities.batch_key(<id>) = "activity:<id>:emails". The oldest wins if ever two.
    op.execute(sa.text(r"""
        UPDATE batches SET key = replace(description, ' emails to students', '\:emails')
        WHERE description LIKE 'activity:% emails to students'
          AND id = (SELECT b.id FROM batches b WHERE b.description = batches.description
                    ORDER BY b.created_at, b.id LIMIT 1)
    """))


def downgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_batches_key'), type_='unique')
        batch_op.drop_column('key')
