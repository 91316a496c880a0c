"""rates index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:40:43.865549
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.create_index('ix_letters_rates', ['received_at', 'status', 'unit_id', 'closed_on_time', 'due_date', 'handling_workdays'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_index('ix_letters_rates')

