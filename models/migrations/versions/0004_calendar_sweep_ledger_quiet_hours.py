"""calendar, sweep ledger, quiet hours

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 10:07:52.219452
"""
from alembic import op
import sqlalchemy as sa
import models.types


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_overrides',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('working', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=100), nullable=False),
    sa.Column('loaded_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_overrides'))
    )
    op.create_table('sweep_runs',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('started_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_sweep_runs'))
    )
    op.create_table('unreachable_chats',
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('since', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('chat_id', name=op.f('pk_unreachable_chats'))
    )
    op.create_table('nudges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_nudges_letter_id_letters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nudges')),
    sa.UniqueConstraint('letter_id', 'reason', 'day', name='uq_nudges_once')
    )
    with op.batch_alter_table('nudges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nudges_day'), ['day'], unique=False)

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handling_workdays', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closed_on_time', sa.Boolean(), nullable=True))

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('automatic', sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('automatic')

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_column('closed_on_time')
        batch_op.drop_column('handling_workdays')

    with op.batch_alter_table('nudges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nudges_day'))

    op.drop_table('nudges')
    op.drop_table('unreachable_chats')
    op.drop_table('sweep_runs')
    op.drop_table('calendar_overrides')
