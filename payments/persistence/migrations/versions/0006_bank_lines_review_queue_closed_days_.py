"""bank lines, review queue, closed days, refund reversal

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 15:26:40.370172
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bank_accounts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('account_tail', sa.String(length=8), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_bank_accounts_client_id_clients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_accounts')),
    sa.UniqueConstraint('code', name=op.f('uq_bank_accounts_code'))
    )
    with op.batch_alter_table('bank_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_accounts_client_id'), ['client_id'], unique=False)

    op.create_table('recon_days',
    sa.Column('client_id', sa.String(length=32), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_recon_days_client_id_clients')),
    sa.PrimaryKeyConstraint('client_id', 'provider', 'day', name=op.f('pk_recon_days'))
    )
    op.create_table('bank_lines',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.String(length=32), nullable=False),
    sa.Column('bank_ref', sa.String(length=80), nullable=False),
    sa.Column('booked_on', sa.Date(), nullable=False),
    sa.Column('booked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('memo_enc', sa.Text(), nullable=False),
    sa.Column('payer_name_enc', sa.Text(), nullable=False),
    sa.Column('payer_account_enc', sa.Text(), nullable=False),
    sa.Column('payer_account_bidx', sa.String(length=64), nullable=True),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('source_format', sa.String(length=10), nullable=False),
    sa.Column('payment_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_fen <> 0', name=op.f('ck_bank_lines_nonzero')),
    sa.ForeignKeyConstraint(['account_id'], ['bank_accounts.id'], name=op.f('fk_bank_lines_account_id_bank_accounts')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_bank_lines_client_id_clients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_lines')),
    sa.UniqueConstraint('account_id', 'bank_ref', name=op.f('uq_bank_lines_account_id_bank_ref'))
    )
    with op.batch_alter_table('bank_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_lines_client_id_booked_on'), ['client_id', 'booked_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_lines_key_id'), ['key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_lines_payer_account_bidx'), ['payer_account_bidx'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_lines_payment_id'), ['payment_id'], unique=False)

    op.create_table('review_items',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.String(length=32), nullable=False),
    sa.Column('payment_id', sa.String(length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('resolution', sa.JSON(), nullable=True),
    sa.Column('resolved_by', sa.String(length=80), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_review_items_client_id_clients')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_review_items_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_items')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_review_items_payment_id'))
    )
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_items_client_id_status_received_at'), ['client_id', 'status', 'received_at'], unique=False)

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('requested_by', sa.String(length=80), server_default='provider', nullable=False))
        batch_op.add_column(sa.Column('reason', sa.String(length=200), server_default='', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_column('reason')
        batch_op.drop_column('requested_by')
        batch_op.drop_column('reversed_at')

    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_items_client_id_status_received_at'))

    op.drop_table('review_items')
    with op.batch_alter_table('bank_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_lines_payment_id'))
        batch_op.drop_index(batch_op.f('ix_bank_lines_payer_account_bidx'))
        batch_op.drop_index(batch_op.f('ix_bank_lines_key_id'))
        batch_op.drop_index(batch_op.f('ix_bank_lines_client_id_booked_on'))

    op.drop_table('bank_lines')
    op.drop_table('recon_days')
    with op.batch_alter_table('bank_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_accounts_client_id'))

    op.drop_table('bank_accounts')
