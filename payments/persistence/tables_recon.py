"""Models of reconciliation beyond provider statements: collection bank accounts and their imported
lines, the review queue the rules engine fills, and the record of each closed day.

Kept apart from tables.py so each module stays readable; both share one `Base` (one metadata).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from payments.persistence.tables import ID, Base, Fen


class BankAccount(Base):
    """A client's collection account: borrowers transfer to it directly, without our reference."""

    __tablename__ = "bank_accounts"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # what `recon import --account` names
    name: Mapped[str] = mapped_column(String(200), default="")
    account_tail: Mapped[str] = mapped_column(String(8), default="")  # last digits only, for display
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    created_at: Mapped[datetime]


class BankLine(Base):
    """One line of an imported bank statement. Credits become payments (source `bank_import`); debits
    are kept for the day's totals only. The payer's name, account and the memo are personal data:
    ciphertext bound to this row, with a blind index of the account for the "paid before" rule.

    Unique per (account, bank_ref): importing the same file, or an overlapping one, adds nothing twice.
    """

    __tablename__ = "bank_lines"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("bank_accounts.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    bank_ref: Mapped[str] = mapped_column(String(80))
    booked_on: Mapped[date] = mapped_column(Date)
    booked_at: Mapped[datetime]
    amount_fen: Mapped[int] = mapped_column(Fen)  # signed: credits positive
    currency: Mapped[str] = mapped_column(String(3))
    memo_enc: Mapped[str] = mapped_column(Text)
    payer_name_enc: Mapped[str] = mapped_column(Text)
    payer_account_enc: Mapped[str] = mapped_column(Text)
    payer_account_bidx: Mapped[str | None] = mapped_column(String(64), index=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    source_format: Mapped[str] = mapped_column(String(10))  # csv | camt053 | mt940
    payment_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("account_id", "bank_ref"),
        Index(None, "client_id", "booked_on"),
        CheckConstraint("amount_fen <> 0", name="nonzero"),
    )


class ReviewItem(Base):
    """A payment the engine would not apply on its own, with its ranked candidates for a person.

    `candidates` hold case ids, scores and the criteria that fired (codes and labels), never names or
    identity digits: the console shows those from the cases, masked, to users allowed to see them.
    """

    __tablename__ = "review_items"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), unique=True)
    amount_fen: Mapped[int] = mapped_column(Fen)
    provider: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(30))
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # open | matched | refund | written_off | ignored
    status: Mapped[str] = mapped_column(String(20))
    resolution: Mapped[dict[str, Any] | None]
    resolved_by: Mapped[str | None] = mapped_column(String(80))
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (Index(None, "client_id", "status", "received_at"),)


class ReconDay(Base):
    """A (client, provider, day) whose statement check finished: `reconciliation.day_closed` is sent
    once, when this row is first written, and the report keeps the figures as they were then."""

    __tablename__ = "recon_days"
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    report: Mapped[dict[str, Any]]
    runs: Mapped[int] = mapped_column(Integer, default=1)
    closed_at: Mapped[datetime]
