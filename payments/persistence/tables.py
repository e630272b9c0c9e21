"""SQLAlchemy 2 typed models. Amounts are BIGINT fen; personal data is ciphertext plus blind indexes.

Ids are application-generated, time-ordered strings (see ids.py), so cursor pagination can order by id
and rows can be encrypted with their id in the associated data before they are inserted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(32)
Fen = BigInteger
TS = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: TS}


class Client(Base):
    """A lender or agency whose case system talks to us: the tenant boundary."""

    __tablename__ = "clients"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Allocation order from the client's contract; NULL means the Civil Code default.
    allocation_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="")
    # SHA-256 of the whole key: keys carry 256 random bits, so a slow hash would add nothing.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    __table_args__ = (CheckConstraint("role in ('case_system','finance','admin')", name="role"),)


class Debtor(Base):
    __tablename__ = "debtors"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    name_enc: Mapped[str] = mapped_column(Text)
    id_number_enc: Mapped[str] = mapped_column(Text)
    phone_enc: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(32), index=True)  # for key rotation batches
    id_number_bidx: Mapped[str] = mapped_column(String(64))
    phone_bidx: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (
        Index(None, "client_id", "id_number_bidx"),
        Index(None, "client_id", "phone_bidx"),
    )


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    external_ref: Mapped[str] = mapped_column(String(64))
    debtor_id: Mapped[str] = mapped_column(ForeignKey("debtors.id"))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    contract_no: Mapped[str | None] = mapped_column(String(64))
    creditor_name: Mapped[str] = mapped_column(String(200))
    # Money received beyond what the case owed: a credit flagged for refund.
    credit_fen: Mapped[int] = mapped_column(Fen, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("client_id", "external_ref"),
        Index(None, "client_id", "status", "id"),
        CheckConstraint("credit_fen >= 0", name="credit_not_negative"),
    )


class Debt(Base):
    """One debt of a case. original_* never change; amendments are adjustment rows."""

    __tablename__ = "debts"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    debt_ref: Mapped[str] = mapped_column(String(64))
    due_date: Mapped[date] = mapped_column(Date)
    original_principal_fen: Mapped[int] = mapped_column(Fen)
    original_interest_fen: Mapped[int] = mapped_column(Fen)
    original_fees_fen: Mapped[int] = mapped_column(Fen)
    # Balances kept beside the ledger for fast reads; the ledger check recomputes them.
    principal_fen: Mapped[int] = mapped_column(Fen)
    interest_fen: Mapped[int] = mapped_column(Fen)
    fees_fen: Mapped[int] = mapped_column(Fen)
    __table_args__ = (
        UniqueConstraint("case_id", "debt_ref"),
        CheckConstraint(
            "principal_fen >= 0 AND interest_fen >= 0 AND fees_fen >= 0", name="balance_not_negative"
        ),
    )


class Adjustment(Base):
    """A change to what a debt component is owed, other than a payment (amendment, write-off)."""

    __tablename__ = "adjustments"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    debt_id: Mapped[str] = mapped_column(ForeignKey("debts.id"), index=True)
    component: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(Fen)  # signed: + owes more, - owes less
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]


class Payment(Base):
    __tablename__ = "payments"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    provider: Mapped[str] = mapped_column(String(20))
    provider_txn_id: Mapped[str] = mapped_column(String(64))
    out_trade_no: Mapped[str | None] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(String(3))
    # notification | query | statement | import: how we learned of the money
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))  # unmatched | matched | review | refunded ...
    unapplied_fen: Mapped[int] = mapped_column(Fen)
    received_at: Mapped[datetime]
    created_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("provider", "provider_txn_id"),
        Index(None, "client_id", "status", "id"),
        CheckConstraint("amount_fen > 0 AND unapplied_fen >= 0", name="amounts"),
    )


class AllocationRow(Base):
    __tablename__ = "allocations"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    debt_id: Mapped[str] = mapped_column(ForeignKey("debts.id"))
    component: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(Fen)  # negative rows reverse earlier ones (refunds)
    basis: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime]


class AuditEvent(Base):
    """Append-only: the services insert and never update or delete (PostgreSQL also forbids it)."""

    __tablename__ = "audit_events"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str | None] = mapped_column(String(32), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(200), default="")
    __table_args__ = (Index(None, "entity_type", "entity_id"),)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    client_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
