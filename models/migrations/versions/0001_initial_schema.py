"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 09:08:17.736593
"""
from alembic import op
import sqlalchemy as sa
import models.types


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=True),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('places', sa.JSON(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('successor', sa.String(length=64), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint("kind IN ('town', 'department')", name=op.f('ck_units_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_units')),
    sa.UniqueConstraint('name', name=op.f('uq_units_name'))
    )
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_by', sa.BigInteger(), nullable=True),
    sa.Column('used_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'leader', 'liaison')", name=op.f('ck_invitations_role')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_invitations_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_invitations_code_hash'))
    )
    op.create_table('letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('sender_name', sa.String(length=100), nullable=True),
    sa.Column('sender_phone', sa.String(length=50), nullable=True),
    sa.Column('received_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('assigned_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('done_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accept_due', sa.Date(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('due_estimated', sa.Boolean(), nullable=False),
    sa.Column('extensions', sa.Integer(), nullable=False),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('closed_by', sa.BigInteger(), nullable=True),
    sa.Column('invalid_reason', sa.Text(), nullable=True),
    sa.Column('return_reason', sa.Text(), nullable=True),
    sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('new', 'assigned', 'accepted', 'done', 'returned', 'invalid')", name=op.f('ck_letters_status')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_letters_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_letters')),
    sa.UniqueConstraint('external_id', name=op.f('uq_letters_external_id'))
    )
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_letters_received_at'), ['received_at'], unique=False)
        batch_op.create_index('ix_letters_status_due', ['status', 'due_date'], unique=False)
        batch_op.create_index('ix_letters_unit_status', ['unit_id', 'status'], unique=False)

    op.create_table('members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('telegram_id', sa.BigInteger(), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('telegram_language', sa.String(length=16), nullable=True),
    sa.Column('invited_by', sa.BigInteger(), nullable=True),
    sa.Column('joined_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IS NULL OR role IN ('admin', 'leader', 'liaison')", name=op.f('ck_members_role')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_members_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
    sa.UniqueConstraint('telegram_id', name=op.f('uq_members_telegram_id'))
    )
    op.create_table('unit_chats',
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('bound_by', sa.BigInteger(), nullable=False),
    sa.Column('bound_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_unit_chats_unit_id_units')),
    sa.PrimaryKeyConstraint('chat_id', name=op.f('pk_unit_chats'))
    )
    with op.batch_alter_table('unit_chats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_chats_unit_id'), ['unit_id'], unique=False)

    op.create_table('letter_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=True),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_letter_events_letter_id_letters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_letter_events'))
    )
    with op.batch_alter_table('letter_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_letter_events_letter_id'), ['letter_id'], unique=False)

    op.create_table('letter_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('sent_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_letter_messages_letter_id_letters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_letter_messages')),
    sa.UniqueConstraint('chat_id', 'message_id', 'letter_id', name='uq_letter_messages_key')
    )
    with op.batch_alter_table('letter_messages', schema=None) as batch_op:
        batch_op.create_index('ix_letter_messages_chat_message', ['chat_id', 'message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_letter_messages_letter_id'), ['letter_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('letter_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_letter_messages_letter_id'))
        batch_op.drop_index('ix_letter_messages_chat_message')

    op.drop_table('letter_messages')
    with op.batch_alter_table('letter_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_letter_events_letter_id'))

    op.drop_table('letter_events')
    with op.batch_alter_table('unit_chats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_chats_unit_id'))

    op.drop_table('unit_chats')
    op.drop_table('members')
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_index('ix_letters_unit_status')
        batch_op.drop_index('ix_letters_status_due')
        batch_op.drop_index(batch_op.f('ix_letters_received_at'))

    op.drop_table('letters')
    op.drop_table('invitations')
    op.drop_table('units')
