"""Small builders of engine facts for the reconciliation tests."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from payments.domain.cases import DebtBalance
from reconciliation.facts import CHINA, CaseFacts, PaymentFacts

DAY = date(2025, 3, 10)


def debt(
    ref: str = "D1", due: date = date(2024, 1, 1), fees: int = 0, interest: int = 0, principal: int = 0
) -> DebtBalance:
    return DebtBalance(ref, due, fees, interest, principal)


def case(case_id: str = "c1", **kw: Any) -> CaseFacts:
    defaults: dict[str, Any] = {
        "debtor_id": "d-" + case_id,
        "debtor_name": "张小三",
        "debts": (debt(fees=1_000, interest=5_000, principal=100_000),),
        "client_id": "client-a",
        "case_number": "AJ-2024-" + case_id.rjust(6, "0")[-6:],
        "contract_number": "HT" + case_id.rjust(12, "7")[-12:],
        "id_last4": "1234",
        "phone_last4": "5678",
        "link_ids": ("link-" + case_id,),
    }
    defaults.update(kw)
    return CaseFacts(case_id=case_id, **defaults)


def payment(payment_id: str = "p1", amount_fen: int = 106_000, day: date = DAY, **kw: Any) -> PaymentFacts:
    at = kw.pop("received_at", datetime.combine(day, time(10, 0), CHINA))
    return PaymentFacts(payment_id=payment_id, amount_fen=amount_fen, received_at=at, **kw)
