"""What the API returns about cases: ids and amounts (yuan strings and fen), personal data masked."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from payments.domain.money import format_yuan


class Amounts(msgspec.Struct):
    principal: str
    principal_fen: int
    interest: str
    interest_fen: int
    fees: str
    fees_fen: int
    total: str
    total_fen: int

    @classmethod
    def of(cls, principal: int, interest: int, fees: int) -> Amounts:
        total = principal + interest + fees
        return cls(
            format_yuan(principal),
            principal,
            format_yuan(interest),
            interest,
            format_yuan(fees),
            fees,
            format_yuan(total),
            total,
        )


class MaskedDebtor(msgspec.Struct):
    name: str
    id_number: str
    phone: str


class DebtView(msgspec.Struct):
    debt_id: str
    due_date: date
    original: Amounts
    owed: Amounts  # original plus amendments
    balance: Amounts  # still to pay


class CaseView(msgspec.Struct):
    id: str
    external_ref: str
    status: str
    currency: str
    contract_no: str | None
    creditor_name: str
    debtor: MaskedDebtor
    debts: list[DebtView]
    balance: Amounts
    credit: str  # paid beyond what was owed, to be refunded
    credit_fen: int
    version: int
    created_at: datetime
    updated_at: datetime


class CasePage(msgspec.Struct):
    items: list[CaseView]
    next_cursor: str | None
