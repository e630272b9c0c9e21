"""A provider refund reverses allocations in reverse order and reopens a closed case."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments.domain.cases import CaseStatus, Component
from reconciliation.application import apply_payment
from reconciliation.refunds import reverse
from tests.reconciliation.factories import DAY, case, debt

BALANCE = 106_000


def _paid(amount: int, *cases_):  # type: ignore[no-untyped-def]
    records, after = apply_payment(amount, list(cases_), DAY)
    return records, {c.case_id: c for c in after}


def test_refund_takes_the_surplus_credit_first() -> None:
    records, now = _paid(BALANCE + 500, case("c1"))
    (rev,) = reverse(500, records, now)
    assert (rev.credit_fen, rev.lines, rev.status_after) == (500, (), CaseStatus.PAID)


def test_refund_reverses_the_last_allocation_first() -> None:
    records, now = _paid(BALANCE, case("c1"))
    (rev,) = reverse(100_500, records, now)
    assert [(line.component, line.fen) for line in rev.lines] == [
        (Component.PRINCIPAL, 100_000),
        (Component.INTEREST, 500),
    ]


def test_refund_reopens_a_paid_case() -> None:
    records, now = _paid(BALANCE, case("c1"))
    (rev,) = reverse(BALANCE, records, now)
    assert (rev.status_before, rev.status_after) == (CaseStatus.PAID, CaseStatus.OPEN)


def test_partial_refund_of_a_paid_case_leaves_it_partially_paid() -> None:
    records, now = _paid(BALANCE, case("c1"))
    (rev,) = reverse(1_000, records, now)
    assert rev.status_after is CaseStatus.PARTIALLY_PAID


def test_refund_of_a_settlement_reinstates_the_waiver() -> None:
    records, now = _paid(70_000, case("c1", offer_fen=70_000, settle_by=DAY))
    (rev,) = reverse(70_000, records, now)
    assert rev.reinstated_fen == BALANCE - 70_000 and rev.status_after is CaseStatus.OPEN


def test_refund_over_several_cases_starts_with_the_last() -> None:
    a = case("c1", debtor_id="d1", debts=(debt(due=DAY - timedelta(days=9), principal=40_000),))
    b = case("c2", debtor_id="d1", debts=(debt(due=DAY - timedelta(days=5), principal=60_000),))
    records, now = _paid(100_000, a, b)
    revs = reverse(70_000, records, now)
    assert [(r.case_id, r.reversed_fen) for r in revs] == [("c2", 60_000), ("c1", 10_000)]


def test_refund_cannot_exceed_the_payment() -> None:
    records, now = _paid(1_000, case("c1"))
    with pytest.raises(ValueError):
        reverse(1_001, records, now)
