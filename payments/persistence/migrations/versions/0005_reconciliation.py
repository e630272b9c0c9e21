"""reconciliation: statement lines, one row per provider transaction (and refund) checked

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('statement_lines',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('out_trade_no', sa.String(length=64), nullable=False),
    sa.Column('provider_txn_id', sa.String(length=64), nullable=False),
    sa.Column('refund_no', sa.String(length=64), server_default='', nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('fee_fen', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=30), nullable=False),
    sa.Column('payment_id', sa.String(length=32), nullable=True),
    sa.Column('client_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statement_lines')),
    sa.UniqueConstraint('provider', 'provider_txn_id', 'kind', 'refund_no', name=op.f('uq_statement_lines_provider_provider_txn_id_kind_refund_no'))
    )
    with op.batch_alter_table('statement_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statement_lines_payment_id'), ['payment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_statement_lines_provider_day'), ['provider', 'day'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('statement_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_statement_lines_provider_day'))
        batch_op.drop_index(batch_op.f('ix_statement_lines_payment_id'))

    op.drop_table('statement_lines')
