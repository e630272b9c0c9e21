"""The payments of a generated month (see `generator`). Events are planned first, then built in time
order against running balances, so "pays the balance" means the balance at that moment."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from payments.domain.links import PolicyKind
from reconciliation import fakes
from reconciliation.facts import CaseFacts, PaymentFacts
from reconciliation.generator import DAYS, RAILS, TRANSFERS, Month, Refund, StatementLine, Truth, moment
from reconciliation.names import mask_reveals_enough
from reconciliation.rules import compact_reference

STRANGER_MEMOS = ("货款", "房租", "工资", "往来款", "借款", "订单{n}", "转账", "")
REF_MEMOS = ("还款 {ref}", "{ref}", "案件号:{ref}", "{name}还款{ref}", "还{ref}欠款", "ref {ref} repayment")


class Pool:
    """Active cases not yet used by a flow, drawn at random without replacement (the list is shuffled)."""

    def __init__(self, cases: list[CaseFacts]) -> None:
        self.cases = cases[::-1]  # popped from the end: the shuffled order, first case first
        self.offers = [c for c in self.cases if c.offer_fen]
        counts: dict[str, int] = {}
        for c in cases:
            counts[c.debtor_id] = counts.get(c.debtor_id, 0) + 1
        self.debtors = [c.debtor_id for c in self.cases if counts[c.debtor_id] >= 2]
        self.used_debtors: set[str] = set()

    # One transfer flow per debtor: a transfer the engine rightly sends to review leaves the balance
    # as it was, while the generator counts the money as paid; a second transfer of the same debtor
    # would then be generated against a balance the engine cannot know, and its truth would be unfair.
    def take(self, source: list[CaseFacts]) -> CaseFacts | None:
        while source:
            case = source.pop()
            if case.debtor_id not in self.used_debtors:
                self.used_debtors.add(case.debtor_id)
                return case
        return None

    def take_debtor(self) -> str | None:
        """A debtor with several cases in the pool, not used by another flow."""
        while self.debtors:
            debtor_id = self.debtors.pop()
            if debtor_id not in self.used_debtors:
                self.used_debtors.add(debtor_id)
                return debtor_id
        return None


class Flows:
    def __init__(self, rng: random.Random, month: Month) -> None:
        self.rng, self.month = rng, month
        self.cases = {c.case_id: c for c in month.cases}
        self.balance = {c.case_id: c.balance_fen for c in month.cases}
        self.offer_left = {c.case_id: c.offer_fen for c in month.cases}
        self.closed = {c.case_id for c in month.cases if not c.active}
        self.kinds = {link.case_id: link.kind for link in month.links}
        self.events: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self.n = 0
        self.by_debtor: dict[str, list[CaseFacts]] = {}
        for case in month.cases:
            self.by_debtor.setdefault(case.debtor_id, []).append(case)
        self.references = {
            compact_reference(r) for c in month.cases for r in (c.case_number, c.contract_number)
        }

    # --- planning -------------------------------------------------------------------------------

    def plan(self, when: datetime, build: Callable[[datetime], None]) -> None:
        self.events.append((when, len(self.events), build))

    def when(self, day_from: int = 0, day_to: int = DAYS - 1) -> datetime:
        return moment(self.rng, self.month.start, day_from, day_to)

    def run(self, paid_share: float, transfers: int) -> None:
        rng = self.rng
        active = [c for c in self.month.cases if c.active]
        rng.shuffle(active)
        cut = round(paid_share * len(active))
        for case in active[:cut]:
            self.plan_link_payments(case)
        pool = Pool(active[cut:])
        self.plan_wrong_links(pool)
        for _ in range(transfers):
            scenario = rng.choices(list(TRANSFERS), list(TRANSFERS.values()))[0]
            self.plan_transfer(scenario, pool)
        for when, _, build in sorted(self.events, key=lambda e: (e[0], e[1])):
            build(when)

    def plan_link_payments(self, case: CaseFacts) -> None:
        kind, rng, cid = self.kinds[case.case_id], self.rng, case.case_id
        if kind is PolicyKind.INSTALMENTS:
            self.plan(
                self.when(), lambda t: self.referenced(t, cid, case.instalments[0].amount_fen, "instalment")
            )
        elif kind is PolicyKind.SETTLEMENT:
            last = (case.settle_by - self.month.start).days if case.settle_by else DAYS - 1
            self.plan(
                self.when(0, min(last, DAYS - 1)),
                lambda t: self.referenced(t, cid, self.offer_left[cid], "offer"),
            )
        elif kind is PolicyKind.RANGE:
            first = self.when(0, 20)
            self.plan(first, lambda t: self.referenced(t, cid, self.part(cid), "partial"))
            if rng.random() < 0.4:  # many-to-one: the rest later, which pays the case
                self.plan(
                    first + timedelta(days=rng.randint(1, 9)),
                    lambda t: self.referenced(t, cid, self.balance[cid], "rest"),
                )
        else:
            style = rng.choices(("full", "overpay", "pay_twice"), (80, 10, 10))[0]
            extra = rng.randint(100, 20_000) if style == "overpay" else 0
            first = self.when(0, 25)
            self.plan(first, lambda t: self.referenced(t, cid, self.balance[cid] + extra, style))
            if style == "pay_twice":
                again = first + timedelta(hours=rng.randint(1, 72))
                self.plan(again, lambda t: self.referenced(t, cid, case.balance_fen, "paid_twice"))

    def plan_wrong_links(self, pool: Pool) -> None:
        """Half the debtors with a closed case and an open one pay the open one through the closed one's link."""
        for debtor_id in sorted(self.by_debtor):
            group = self.by_debtor[debtor_id]
            closed = [c for c in group if not c.active]
            open_ = [c for c in group if c.active]
            if closed and open_ and self.rng.random() < 0.5:
                pool.used_debtors.add(debtor_id)
                via, target = closed[0], open_[0].case_id
                self.plan(
                    self.when(),
                    lambda t, v=via, c=target: self.referenced(
                        t, c, self.balance[c], "wrong_link", v.link_ids[0]
                    ),
                )

    def plan_transfer(self, scenario: str, pool: Pool) -> None:
        if scenario == "stranger":
            self.plan(self.when(), lambda t: self.stranger(t))
            return
        if scenario == "multi_case":
            debtor_id = pool.take_debtor()
            if debtor_id is not None:
                group = self.by_debtor[debtor_id]
                self.plan(self.when(), lambda t: self.multi(t, group))
                return
            scenario = "exact_ref"
        if scenario == "offer_ref":
            case = pool.take(pool.offers)
            if case is not None:
                last = (case.settle_by - self.month.start).days if case.settle_by else DAYS - 1
                self.plan(self.when(0, min(last, DAYS - 1)), lambda t: self.transfer(t, case, "offer_ref"))
                return
            scenario = "exact_ref"
        case = pool.take(pool.cases)
        if case is not None:
            self.plan(self.when(), lambda t: self.transfer(t, case, scenario))

    # --- building, in time order ----------------------------------------------------------------

    def typo(self, reference: str) -> str:
        """A typo that is not another real case number: turning one of our numbers into another of ours
        is not a typo anyone can see, it is quoting that case (and a clerk would apply it there too)."""
        for _ in range(50):
            slip = fakes.typo(reference, self.rng)
            if compact_reference(slip) not in self.references:
                return slip
        return "还款"

    def part(self, cid: str) -> int:
        return max(100, self.balance[cid] * self.rng.randint(10, 90) // 100 // 100 * 100)

    def settle(self, cid: str, amount: int, when: datetime) -> None:
        case = self.cases[cid]
        if cid in self.closed:
            return
        if case.offer_fen and case.settle_by and when.date() <= case.settle_by:
            self.offer_left[cid] -= amount
            if self.offer_left[cid] <= 0:
                self.closed.add(cid)
        self.balance[cid] = max(0, self.balance[cid] - amount)
        if self.balance[cid] == 0:
            self.closed.add(cid)

    def line(
        self, when: datetime, rail: str, amount: int, ref: str | None, memo: str = "", payer: str = ""
    ) -> StatementLine:
        self.n += 1
        line = StatementLine(
            f"{rail}-line-{self.n:06d}", rail, when, amount, ref, f"txn{self.n:08d}", memo, payer
        )
        self.month.statement.append(line)
        return line

    def referenced(
        self, when: datetime, cid: str, amount: int, scenario: str, via: str | None = None
    ) -> None:
        rng, case = self.rng, self.cases[cid]
        amount = max(amount, 100)
        rail = rng.choice(RAILS)
        ref = via or case.link_ids[0]
        payer = fakes.masked_spelling(case.debtor_name, rng) if rail == "alipay" else ""
        line = self.line(when, rail, amount, ref, payer=payer)
        missing = rng.random() < 0.03  # the notification never came: only the statement has it
        pid = f"stmt-{line.line_id}" if missing else f"{rail}-pay-{self.n:06d}"
        payment = PaymentFacts(pid, amount, when, "", payer, None, ref, line.line_id, case.client_id, rail)
        self.month.payments.append(payment)
        self.month.truth[pid] = Truth(
            (cid,), f"{scenario}/missing_notification" if missing else scenario, clear=True
        )
        if rng.random() < 0.03:  # the provider delivered the notification twice
            self.month.payments.append(payment)
        if scenario == "full" and rng.random() < 0.1:
            back = amount if rng.random() < 0.5 else amount // 2
            self.month.refunds.append(
                Refund(f"refund-{pid}", pid, back, when + timedelta(days=rng.randint(1, 5)))
            )
        self.settle(cid, amount, when)

    def bank(
        self, when: datetime, amount: int, memo: str, payer: str, truth: Truth, client: str | None
    ) -> None:
        line = self.line(when, "bank_transfer", amount, None, memo, payer)
        account = "62" + "".join(self.rng.choice("0123456789") for _ in range(17))
        payment = PaymentFacts(
            f"bt-{line.line_id}",
            amount,
            when,
            memo,
            payer,
            account,
            None,
            line.line_id,
            client,
            "bank_transfer",
        )
        self.month.payments.append(payment)
        self.month.truth[payment.payment_id] = truth
        if self.rng.random() < 0.015:  # the bank statement was imported twice
            again = PaymentFacts(
                f"{payment.payment_id}-reimport",
                amount,
                when,
                memo,
                payer,
                account,
                None,
                line.line_id,
                client,
                "bank_transfer",
            )
            self.month.payments.append(again)
            self.month.truth[again.payment_id] = Truth(
                truth.case_ids, truth.scenario, truth.clear, duplicate=True
            )

    def stranger(self, when: datetime) -> None:
        rng = self.rng
        payer = fakes.fake_company(rng) if rng.random() < 0.3 else fakes.fake_name(rng)
        memo = rng.choice(STRANGER_MEMOS).format(n=rng.randint(1000, 99999))
        self.bank(when, rng.randint(1_000, 3_000_000), memo, payer, Truth((), "stranger"), None)

    def multi(self, when: datetime, group: list[CaseFacts]) -> None:
        live = [c for c in group if c.case_id not in self.closed]
        if not live:
            return
        first = live[0]
        amount = sum(self.balance[c.case_id] for c in live)
        memo = self.rng.choice(REF_MEMOS).format(ref=first.case_number, name=first.debtor_name)
        ids = tuple(c.case_id for c in live)
        self.bank(
            when, amount, memo, first.debtor_name, Truth(ids, "multi_case", clear=True), first.client_id
        )
        for c in live:
            self.settle(c.case_id, self.balance[c.case_id], when)

    def transfer(self, when: datetime, case: CaseFacts, scenario: str) -> None:
        rng, cid, name = self.rng, case.case_id, case.debtor_name
        due = self.balance[cid]
        style = rng.choices(("balance", "part", "instalment", "over"), (50, 30, 10, 10))[0]
        amount = {"balance": due, "part": self.part(cid), "over": due + rng.randint(200, 50_000)}.get(
            style, case.instalments[0].amount_fen if case.instalments else due
        )
        other = fakes.fake_name(rng)
        while other == name:
            other = fakes.fake_name(rng)
        ref_memo = rng.choice(REF_MEMOS).format(ref=case.case_number, name=name)
        clear = True
        if scenario == "traditional_ref":
            payer, memo = fakes.traditional(name), ref_memo
        elif scenario == "pinyin_contract":
            payer, memo = fakes.pinyin_spelling(name, rng), f"{case.contract_number} 还款"
        elif scenario == "masked_ref":
            payer, memo = fakes.masked_spelling(name, rng), ref_memo
            # 张* or *三 is a hint, not a name: clear only with the amount owed beside the number.
            clear = mask_reveals_enough(payer) or style in ("balance", "instalment")
        elif scenario == "fullwidth_ref":
            payer, memo = (
                fakes.full_width(fakes.pinyin_spelling(name, rng)),
                "还款" + fakes.full_width(case.case_number),
            )
        elif scenario in ("guarantor_ref", "company_contract"):
            amount = due if style != "instalment" or not case.instalments else amount
            payer = other if scenario == "guarantor_ref" else fakes.fake_company(rng)
            memo = (
                f"代{name}还款 {case.case_number}"
                if scenario == "guarantor_ref"
                else f"{case.contract_number} 代付"
            )
        elif scenario == "offer_ref":
            payer, memo, amount = name, ref_memo, self.offer_left[cid]
        elif scenario == "name_amount_id4":
            payer, memo, amount, clear = name, f"身份证尾号{case.id_last4}", due, False
        elif scenario in ("name_amount", "pinyin_amount"):
            payer = name if scenario == "name_amount" else fakes.pinyin_spelling(name, rng)
            memo, amount, clear = "还款", due, False
        elif scenario == "name_only":
            payer, memo, amount, clear = name, "还款", rng.randint(1_000, 500_000), False
        elif scenario in ("typo_with_name", "guarantor_typo"):
            payer = name if scenario == "typo_with_name" else other
            memo, clear = f"还款 {self.typo(case.case_number)}", False
        else:
            payer, memo = name, ref_memo
        amount = max(amount, 100)
        self.bank(
            when,
            amount,
            memo,
            payer,
            Truth((cid,), scenario, clear),
            case.client_id if rng.random() < 0.5 else None,
        )
        self.settle(cid, amount, when)
