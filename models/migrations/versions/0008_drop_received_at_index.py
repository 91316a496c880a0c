"""drop ix_letters_received_at

ix_letters_rates begins with received_at, so it serves every lookup by the time of receipt; the
second index only cost each letter written (an import of 100,000 rows wrote it 100,000 times).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 17:40:00
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_index('ix_letters_received_at')


def downgrade() -> None:
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.create_index('ix_letters_received_at', ['received_at'], unique=False)
