"""Matching payments that carry no reference of ours (bank transfers to a collection account, money we
learned of without an order) to cases, with the pure rules engine.

Per client: read the unmatched payments and the client's cases as facts (debtor names and identity
digits decrypted in memory only), let `reconcile` decide, then write each decision in its own short
transaction: an automatic application goes through `apply_payment` (allocations in the legal order,
case status, `payment.matched`); anything else becomes a review item with its ranked candidates and a
`payment.unmatched` event. Each payment row is locked and its status checked when its decision is
written, so a crash or a second worker never applies a payment twice; running again picks up what is
left. A dry run returns the decisions and writes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain.cases import CLOSED, CaseStatus, DebtBalance
from payments.domain.links import PolicyKind
from payments.persistence.db import utcnow
from payments.persistence.tables import AllocationRow, Case, Client, Debt, Debtor, Link, Payment
from payments.persistence.tables_recon import BankLine
from payments.security.pii import PiiCipher
from payments.services.application import apply_payment, client_policy
from payments.services.container import Services
from payments.services.links import policy_from_json
from payments.services.review_queue import open_review_item
from reconciliation.config import RuleConfig
from reconciliation.decision import Decision, Outcome
from reconciliation.engine import reconcile
from reconciliation.facts import CaseFacts, PaymentFacts
from reconciliation.index import CandidateIndex

log = logging.getLogger("payrecon.matching")

# Closed cases stay candidates this long: money for a case just paid off should go to review as
# "case closed", not look like a stranger's transfer.
CLOSED_CASES_KEPT = timedelta(days=180)
BATCH = 2000  # payments decided per pass; the client's cases are read once per pass
WRITE_BATCH = 200  # decisions written per transaction
LIVE_LINK_STATES = ("active", "partially_paid")


@dataclass
class MatchReport:
    clients: int = 0
    payments: int = 0
    applied: int = 0
    review: int = 0
    duplicate: int = 0
    skipped: int = 0  # taken by another worker, or changed, between reading and writing
    decisions: list[Decision] = field(default_factory=list)  # dry run only

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "decisions"}


async def match_unreferenced(
    services: Services,
    *,
    client_id: str | None = None,
    dry_run: bool = False,
    config: RuleConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> MatchReport:
    config = config or RuleConfig()
    report = MatchReport()
    async with services.db.sessions() as session:
        q = select(Payment.client_id).where(Payment.status == "unmatched", Payment.order_id.is_(None))
        if client_id is not None:
            q = q.where(Payment.client_id == client_id)
        clients = sorted(set(await session.scalars(q.distinct())))
    for cid in clients:
        report.clients += 1
        after = ""
        while True:
            async with services.db.sessions() as session:
                payments = await _payment_facts(session, services.pii, cid, after)
                if not payments:
                    break
                index = CandidateIndex(await _case_facts(session, services.pii, cid))
            decisions = reconcile(payments, index, config)
            report.payments += len(decisions)
            after = max(p.payment_id for p in payments)
            if dry_run:
                report.decisions.extend(decisions)
                _count(report, decisions)
            else:
                await _write_all(services, decisions, report)
            if progress is not None:
                progress(len(decisions))
            if len(payments) < BATCH:
                break
    if report.payments:
        log.info("matching: %s", report.as_dict())
    return report


def _count(report: MatchReport, decisions: Iterable[Decision]) -> None:
    for d in decisions:
        if d.outcome is Outcome.APPLY:
            report.applied += 1
        elif d.outcome is Outcome.REVIEW:
            report.review += 1
        else:
            report.duplicate += 1


async def _payment_facts(
    session: AsyncSession, pii: PiiCipher, client_id: str, after: str
) -> list[PaymentFacts]:
    rows = await session.execute(
        select(Payment, BankLine)
        .outerjoin(BankLine, BankLine.payment_id == Payment.id)
        .where(
            Payment.client_id == client_id,
            Payment.status == "unmatched",
            Payment.order_id.is_(None),
            Payment.id > after,
        )
        .order_by(Payment.id)
        .limit(BATCH)
    )
    out = []
    for payment, line in rows:
        memo = payer = ""
        account = None
        if line is not None:
            memo = pii.decrypt(line.memo_enc, column="bank_lines.memo", row_id=line.id)
            payer = pii.decrypt(line.payer_name_enc, column="bank_lines.payer_name", row_id=line.id)
            # The "paid this case before" rule compares blind indexes, so no account number is
            # ever held in memory in the clear beyond the line being read.
            account = line.payer_account_bidx
        out.append(
            PaymentFacts(
                payment_id=payment.id,
                amount_fen=payment.unapplied_fen,
                received_at=payment.received_at,
                memo=memo,
                payer_name=payer,
                payer_account=account,
                client_id=client_id,
                rail=payment.provider,
            )
        )
    return out


async def _case_facts(session: AsyncSession, pii: PiiCipher, client_id: str) -> list[CaseFacts]:
    """The client's cases a payment may belong to, streamed from the database in id order."""
    kept_since = utcnow() - CLOSED_CASES_KEPT
    closed = [s.value for s in CLOSED]
    cases = (
        select(Case, Debtor)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(Case.client_id == client_id)
        .where((Case.status.not_in(closed)) | (Case.updated_at >= kept_since))
        .order_by(Case.id)
    )
    client = await session.get_one(Client, client_id)
    policy = client_policy(client)
    debts: dict[str, list[DebtBalance]] = defaultdict(list)
    for d in await session.scalars(
        select(Debt)
        .join(Case, Case.id == Debt.case_id)
        .where(Case.client_id == client_id)
        .order_by(Debt.due_date)
    ):
        debts[d.case_id].append(
            DebtBalance(d.debt_ref, d.due_date, d.fees_fen, d.interest_fen, d.principal_fen)
        )
    links: dict[str, list[Link]] = defaultdict(list)
    for link in await session.scalars(select(Link).where(Link.client_id == client_id)):
        links[link.case_id].append(link)
    paid: dict[str, int] = defaultdict(int)
    for case_id, fen in await session.execute(
        select(AllocationRow.case_id, AllocationRow.amount_fen)
        .join(Case, Case.id == AllocationRow.case_id)
        .where(Case.client_id == client_id)
    ):
        paid[case_id] += fen
    accounts: dict[str, set[str]] = defaultdict(set)
    for case_id, bidx in await session.execute(
        select(Payment.case_id, BankLine.payer_account_bidx)
        .join(BankLine, BankLine.payment_id == Payment.id)
        .where(
            Payment.client_id == client_id,
            Payment.case_id.is_not(None),
            BankLine.payer_account_bidx.is_not(None),
        )
    ):
        accounts[case_id].add(bidx)

    out = []
    for case, debtor in await session.execute(cases):
        offer_fen, settle_by, offer_paid, instalments = 0, None, 0, ()
        for link in links.get(case.id, ()):
            if link.status not in LIVE_LINK_STATES:
                continue
            pol = policy_from_json(link.policy)
            if pol.kind is PolicyKind.SETTLEMENT:
                offer_fen, settle_by, offer_paid = pol.amount_fen, pol.settle_by, link.paid_fen
            elif pol.kind is PolicyKind.INSTALMENTS:
                instalments = pol.instalments
        id_number = pii.decrypt(debtor.id_number_enc, column="debtors.id_number", row_id=debtor.id)
        phone = pii.decrypt(debtor.phone_enc, column="debtors.phone", row_id=debtor.id)
        out.append(
            CaseFacts(
                case_id=case.id,
                # One person at one client may have several cases, each with its own debtor row: the
                # blind index of the ID number is what makes them one debtor (one payment, many cases).
                debtor_id="dbx_" + debtor.id_number_bidx[:20],
                debtor_name=pii.decrypt(debtor.name_enc, column="debtors.name", row_id=debtor.id),
                debts=tuple(debts.get(case.id, ())),
                status=CaseStatus(case.status),
                client_id=client_id,
                case_number=case.external_ref,
                contract_number=case.contract_no or "",
                id_last4=id_number[-4:],
                phone_last4=phone[-4:],
                link_ids=tuple(link.id for link in links.get(case.id, ())),
                instalments=instalments,
                offer_fen=offer_fen,
                settle_by=settle_by,
                offer_paid_fen=offer_paid,
                paid_fen=paid.get(case.id, 0),
                payer_accounts=tuple(sorted(accounts.get(case.id, ()))),
                policy=policy,
            )
        )
    return out


async def _write_all(services: Services, decisions: list[Decision], report: MatchReport) -> None:
    """Write decisions in transactions of WRITE_BATCH: a commit per payment would cost more than the
    payment's own writes. A batch that fails is written again one decision per transaction, so one bad
    payment holds up only itself (and is logged and left unmatched for the next run)."""
    for start in range(0, len(decisions), WRITE_BATCH):
        batch = decisions[start : start + WRITE_BATCH]
        counts = MatchReport()
        try:
            async with services.db.transaction() as session:
                rows = await _lock_batch(session, batch)
                # Everything is loaded and locked: the writes go to the database in one flush at the
                # commit, as multi-row statements, instead of a flush before every query.
                with session.no_autoflush:
                    for decision in batch:
                        await _write(session, decision, counts, rows)
        except Exception:
            log.exception("matching: a batch of %d failed; writing its decisions one by one", len(batch))
            counts = MatchReport()
            for decision in batch:
                try:
                    async with services.db.transaction() as session:
                        await _write(session, decision, counts)
                except Exception:
                    log.exception("matching: payment %s not written", decision.payment_id)
                    counts.skipped += 1
        for name in ("applied", "review", "duplicate", "skipped"):
            setattr(report, name, getattr(report, name) + getattr(counts, name))


@dataclass
class _Locked:
    payments: dict[str, Payment]
    cases: dict[str, tuple[Case, Client, list[Debt]]]


async def _lock_batch(session: AsyncSession, batch: list[Decision]) -> _Locked:
    """Lock the batch's payments, then its cases, then their debts, each in id order (the order the
    applier locks in too), and load them in three queries."""
    ids = sorted(d.payment_id for d in batch)
    payments = {
        p.id: p
        for p in await session.scalars(
            select(Payment).where(Payment.id.in_(ids)).order_by(Payment.id).with_for_update()
        )
    }
    case_ids = sorted({a.case_id for d in batch if d.outcome is Outcome.APPLY for a in d.applications})
    if not case_ids:
        return _Locked(payments, {})
    cases = list(
        await session.scalars(select(Case).where(Case.id.in_(case_ids)).order_by(Case.id).with_for_update())
    )
    debts: dict[str, list[Debt]] = defaultdict(list)
    for debt in await session.scalars(
        select(Debt)
        .where(Debt.case_id.in_(case_ids))
        .order_by(Debt.case_id, Debt.due_date, Debt.debt_ref)
        .with_for_update()
    ):
        debts[debt.case_id].append(debt)
    clients = {
        c.id: c
        for c in await session.scalars(select(Client).where(Client.id.in_({c.client_id for c in cases})))
    }
    return _Locked(payments, {c.id: (c, clients[c.client_id], debts[c.id]) for c in cases})


async def _write(
    session: AsyncSession, decision: Decision, report: MatchReport, rows: _Locked | None = None
) -> None:
    if rows is not None:
        payment = rows.payments.get(decision.payment_id)
    else:
        payment = await session.get(Payment, decision.payment_id, with_for_update=True)
    if payment is None or payment.status != "unmatched" or payment.unapplied_fen != decision.amount_fen:
        report.skipped += 1
        return
    if decision.outcome is Outcome.APPLY:
        apps = decision.applications
        for i, app in enumerate(apps):
            # The last case takes whatever is left, so rounding in the decision can't strand a fen.
            share = payment.unapplied_fen if i == len(apps) - 1 else app.total_fen
            if share > 0:
                await apply_payment(
                    session,
                    payment,
                    app.case_id,
                    None,
                    amount_fen=share,
                    actor="system:matching",
                    locked=rows.cases.get(app.case_id) if rows is not None else None,
                )
        report.applied += 1
        return
    open_review_item(session, payment, decision.reason.value, _candidates(decision))
    if decision.outcome is Outcome.REVIEW:
        report.review += 1
    else:
        report.duplicate += 1


def _candidates(decision: Decision) -> list[dict[str, Any]]:
    return [
        {
            "case_ids": list(c.case_ids),
            "debtor_id": c.debtor_id,
            "score": c.score,
            "criteria": [{"code": k.code, "label": k.label, "weight": k.weight} for k in c.criteria],
            "active": c.active,
        }
        for c in decision.candidates
    ]
