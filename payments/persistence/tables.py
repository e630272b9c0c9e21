"""SQLAlchemy 2 typed models. Amounts are BIGINT fen; personal data is ciphertext plus blind indexes.

Ids are application-generated, time-ordered strings (see ids.py), so cursor pagination can order by id
and rows can be encrypted with their id in the associated data before they are inserted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
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
    TypeDecorator,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(32)
Fen = BigInteger


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are stored and returned in UTC, aware, on every backend.

    SQLite has no time zone type and hands back naive values; comparing those with aware ones raises.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TS = UtcDateTime()


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
    # What the borrower proves before a link shows amounts: last 4 of the id_number, or of the phone.
    identity_check: Mapped[str] = mapped_column(String(20), default="id_number", server_default="id_number")
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
    status: Mapped[str] = mapped_column(String(20))  # unmatched | matched | review | exception | refunded
    order_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # The case the money was applied to, once matched (one payment over several cases: see allocations).
    case_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # What was not owed: stays on the payment and shows as the case's credit, flagged for refund.
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


class Order(Base):
    """A provider order we created for a payment attempt; notifications are checked against it."""

    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), index=True)
    link_id: Mapped[str | None] = mapped_column(String(32), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))  # pending | paid | closed | failed
    provider_txn_id: Mapped[str | None] = mapped_column(String(64))
    # What the pay page shows while waiting: the provider's QR payload (Native code_url, precreate qr_code).
    qr_payload: Mapped[str | None] = mapped_column(Text)
    # The rail's handle for later queries (PayAction.provider_ref), opaque here.
    provider_ref: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    __table_args__ = (
        Index(None, "status", "expires_at"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )


class InboxMessage(Base):
    """Every verified notification, stored before it is acknowledged; unique per provider event."""

    __tablename__ = "inbox"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_key: Mapped[str] = mapped_column(String(200))
    out_trade_no: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # payment | refund
    status: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(Fen)
    body: Mapped[bytes] = mapped_column(LargeBinary)  # raw, as received: evidence for disputes
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(30))  # recorded | exception | state_only
    __table_args__ = (UniqueConstraint("provider", "event_key"),)


class PaymentException(Base):
    """Something finance must look at: the money or the record does not add up."""

    __tablename__ = "payment_exceptions"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # amount_mismatch | currency_mismatch | ...
    provider: Mapped[str] = mapped_column(String(20))
    out_trade_no: Mapped[str | None] = mapped_column(String(32))
    payment_id: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class Refund(Base):
    __tablename__ = "refunds"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    out_trade_no: Mapped[str] = mapped_column(String(32))
    refund_no: Mapped[str] = mapped_column(String(64))
    provider_ref: Mapped[str] = mapped_column(String(64), default="", server_default="")
    amount_fen: Mapped[int] = mapped_column(Fen)
    status: Mapped[str] = mapped_column(String(20))
    # Taken back from the payment's cases (allocations reversed, credit reduced) once it succeeded:
    # set in the same transaction as the reversal, so a refund is never reversed twice.
    reversed_at: Mapped[datetime | None]
    # Who asked for it: a staff user from the console, or "provider" when we learned of it from them.
    requested_by: Mapped[str] = mapped_column(String(80), default="provider", server_default="provider")
    reason: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("provider", "refund_no"),)


class OutboxEvent(Base):
    """An event for case systems, written in the same transaction as the change it reports."""

    __tablename__ = "outbox"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    type: Mapped[str] = mapped_column(String(60))
    case_id: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    __table_args__ = (Index(None, "client_id", "id"),)


class Link(Base):
    """A repayment link. The token is stored only as a hash (for look-up) and encrypted (to show again)."""

    __tablename__ = "links"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_enc: Mapped[str] = mapped_column(Text)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    channels: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"allowed": ["alipay", ...]}
    status: Mapped[str] = mapped_column(String(20))
    max_payments: Mapped[int | None] = mapped_column(Integer)
    payments_count: Mapped[int] = mapped_column(Integer, default=0)
    paid_fen: Mapped[int] = mapped_column(Fen, default=0)
    identity_check: Mapped[str] = mapped_column(String(20))  # id_number | phone
    failed_checks: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(String(80))
    approved_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (Index(None, "status", "expires_at"),)


# -- Outbound webhooks -------------------------------------------------------------------------------

# An integer that counts up: SQLite only numbers an INTEGER PRIMARY KEY by itself.
Seq = BigInteger().with_variant(Integer, "sqlite")
PENDING_ONLY = text("status = 'pending'")


class WebhookEndpoint(Base):
    """Where a client's case system wants events. The signing secret is stored only encrypted."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str] | None] = mapped_column(JSON)  # NULL: every event type
    secret_enc: Mapped[str] = mapped_column(Text)
    # After a rotation the old secret keeps signing beside the new one until previous_secret_until.
    previous_secret_enc: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))  # enabled | disabled | deleted
    disabled_reason: Mapped[str | None] = mapped_column(String(20))  # by_client | gone | failing
    disabled_at: Mapped[datetime | None]
    # Since when every attempt has failed; cleared by a success. Five days of it disables the endpoint.
    failing_since: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookPending(Base):
    """An outbox event not yet fanned out to endpoints: written with the event (see the hook below)."""

    __tablename__ = "webhook_pending"
    seq: Mapped[int] = mapped_column(Seq, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox.id"), unique=True)


class WebhookMessage(Base):
    """One event for one endpoint. `id` is the webhook-id: the same on every retry and replay.

    `seq` orders the messages of an endpoint and case: one is due only when no earlier one is pending.
    """

    __tablename__ = "webhook_messages"
    seq: Mapped[int] = mapped_column(Seq, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(60))
    case_id: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # rendered once, sent unchanged on every attempt
    status: Mapped[str] = mapped_column(String(20))  # pending | delivered | failed | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # every attempt ever made
    tries: Mapped[int] = mapped_column(Integer, default=0)  # attempts since last queued: the schedule step
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index(None, "endpoint_id", "id"),
        Index(None, "client_id", "created_at"),
        Index(
            "ix_webhook_messages_due",
            "next_attempt_at",
            postgresql_where=PENDING_ONLY,
            sqlite_where=PENDING_ONLY,
        ),
        Index(
            "ix_webhook_messages_queue",
            "endpoint_id",
            "case_id",
            "seq",
            postgresql_where=PENDING_ONLY,
            sqlite_where=PENDING_ONLY,
        ),
    )


class WebhookDelivery(Base):
    """One attempt to deliver a message: what the receiver answered, and how fast."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(32))
    endpoint_id: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    latency_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))  # delivered | retry | failed | gone
    error: Mapped[str] = mapped_column(String(300), default="")
    response_body: Mapped[str] = mapped_column(Text, default="")  # the first 1000 characters
    __table_args__ = (UniqueConstraint("message_id", "attempt"), Index(None, "endpoint_id", "id"))


OUTBOX_WRITTEN = "payrecon.outbox_written"
# PostgreSQL: a NOTIFY on this channel, sent with the commit, wakes dispatchers in other processes.
OUTBOX_CHANNEL = "payrecon_outbox"
_NOTIFIED = "payrecon.outbox_notified"


@event.listens_for(Session, "before_flush")
def _queue_outbox_events(session: Session, _flush_context: Any, _instances: Any) -> None:
    """Every outbox event gets a pending row in the same transaction, in the order it was emitted.

    The webhook dispatcher works from these rows, so no event committed is ever missed and none is
    fanned out twice. `OUTBOX_WRITTEN` in session.info wakes a dispatcher in this process right after
    the commit; on PostgreSQL a NOTIFY (delivered only if the transaction commits) wakes the others.
    """
    events = [obj for obj in session.new if isinstance(obj, OutboxEvent)]
    if not events:
        return
    events.sort(key=lambda obj: inspect(obj).insert_order or 0)
    session.add_all([WebhookPending(event_id=obj.id) for obj in events])
    session.info[OUTBOX_WRITTEN] = True
    transaction = session.get_transaction()
    if session.info.get(_NOTIFIED) is not transaction and session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql(f"NOTIFY {OUTBOX_CHANNEL}")
        session.info[_NOTIFIED] = transaction


# -- Statement checks --------------------------------------------------------------------------------


class StatementLineRow(Base):
    """One line of a provider's daily statement, as checked against our payments and notifications.

    Unique per provider transaction (and refund), across days: a line is checked once, however often
    the day is run again or re-stated by the provider, and it points at no more than one payment.
    """

    __tablename__ = "statement_lines"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    day: Mapped[date] = mapped_column(Date)  # the statement's Beijing day
    line_no: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  # payment | refund
    out_trade_no: Mapped[str] = mapped_column(String(64))
    provider_txn_id: Mapped[str] = mapped_column(String(64))
    refund_no: Mapped[str] = mapped_column(String(64), default="", server_default="")
    amount_fen: Mapped[int] = mapped_column(Fen)  # signed: refunds are negative
    fee_fen: Mapped[int] = mapped_column(Fen)  # positive: charged to us
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime]
    # matched | unnotified | recorded | amount_mismatch | refund | refund_unrecorded | unknown_order
    outcome: Mapped[str] = mapped_column(String(30))
    payment_id: Mapped[str | None] = mapped_column(String(32), index=True)
    client_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("provider", "provider_txn_id", "kind", "refund_no"),
        Index(None, "provider", "day"),
    )


# The other model modules register on the same metadata; importing them here means whoever has the
# metadata (migrations, tests, create_all) has every table.
from payments.persistence import (  # noqa: E402
    tables_console,  # noqa: F401
    tables_recon,  # noqa: F401
)
