"""rate tallies

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 11:35:53.892166
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bookkeeping',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_bookkeeping'))
    )
    op.create_table('letter_tallies',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('assigned', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('on_time', sa.Integer(), nullable=False),
    sa.Column('open', sa.Integer(), nullable=False),
    sa.Column('workdays_sum', sa.Integer(), nullable=False),
    sa.Column('workdays_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_letter_tallies_unit_id_units')),
    sa.PrimaryKeyConstraint('day', 'unit_id', 'due_date', name=op.f('pk_letter_tallies')),
    sqlite_with_rowid=False,  # on SQLite the rows are stored in key order: a quarter is one range
    )
    # The tallies are filled from the letters at the next start (models.tallies), in TIMEZONE's days.


def downgrade() -> None:
    op.drop_table('letter_tallies')
    op.drop_table('bookkeeping')
