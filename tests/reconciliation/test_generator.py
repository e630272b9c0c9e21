"""The seeded month generator: reproducible, well-formed, and with a truth for every payment."""

from __future__ import annotations

from collections import Counter

from payments.domain.identity import normalise_id_number, normalise_mobile
from reconciliation.generator import TRANSFERS, generate_month


def test_same_seed_same_month() -> None:
    a, b = generate_month(7, n_debtors=300), generate_month(7, n_debtors=300)
    assert a.payments == b.payments and a.truth == b.truth and a.cases == b.cases


def test_different_seeds_differ() -> None:
    assert generate_month(1, n_debtors=200).payments != generate_month(2, n_debtors=200).payments


def test_identity_numbers_are_valid() -> None:
    month = generate_month(3, n_debtors=300)
    for debtor in month.debtors:
        assert normalise_id_number(debtor.id_number) == debtor.id_number
        assert normalise_mobile(debtor.phone) == debtor.phone


def test_every_payment_has_a_truth_and_a_statement_line() -> None:
    month = generate_month(4, n_debtors=500)
    lines = {line.line_id for line in month.statement}
    assert all(p.payment_id in month.truth for p in month.payments)
    assert all(p.statement_line_id in lines for p in month.payments)


def test_the_month_has_each_kind_of_trouble() -> None:
    month = generate_month(5)
    scenarios = {t.scenario.split("/")[0] for t in month.truth.values()}
    assert set(TRANSFERS) <= scenarios
    assert {
        "full",
        "partial",
        "rest",
        "instalment",
        "offer",
        "overpay",
        "pay_twice",
        "paid_twice",
        "wrong_link",
    } <= scenarios
    assert any(t.scenario.endswith("/missing_notification") for t in month.truth.values())
    assert any(t.duplicate for t in month.truth.values())  # a statement imported twice
    assert max(Counter(p.payment_id for p in month.payments).values()) == 2  # a notification delivered twice
    assert month.refunds
    assert {p.rail for p in month.payments} == {"alipay", "wechatpay", "bankcard", "bank_transfer"}


def test_cases_have_several_debts() -> None:
    month = generate_month(6, n_debtors=300)
    assert max(len(c.debts) for c in month.cases) >= 2
