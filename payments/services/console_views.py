"""Read queries behind the console's pages. Every one takes the logged-in staff member and shows only
their clients' rows: a row of another client is reported exactly like a row that does not exist.

Personal data (debtor and payer details) comes out masked. Clear values come only from the two reveal
functions, which check the permission and write an audit row in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain.errors import NotFound
from payments.domain.identity import mask_id_number, mask_name, mask_phone
from payments.logs import mask_text
from payments.persistence.db import Database, utcnow
from payments.persistence.tables import (
    AllocationRow,
    AuditEvent,
    Case,
    Client,
    Debt,
    Debtor,
    Link,
    Payment,
    PaymentException,
    Refund,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from payments.persistence.tables_console import Approval, StaffUser
from payments.persistence.tables_recon import BankLine, ReviewItem
from payments.security.pii import PiiCipher
from payments.services import audit
from payments.services.reports import DayReport, daily_report
from payments.services.staff import Forbidden, Staff

BEIJING = timezone(timedelta(hours=8))
QUEUE_LIMIT = 200
LIST_LIMIT = 200
TIMELINE_LIMIT = 300
# Aging of the open queue: (label key, lower bound in days, upper bound or None)
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("age_0_1", 0, 1),
    ("age_1_3", 1, 3),
    ("age_3_7", 3, 7),
    ("age_7_30", 7, 30),
    ("age_30", 30, None),
)


def _scoped(query: Select[Any], column: Any, staff: Staff) -> Select[Any]:
    return query if staff.client_id is None else query.where(column == staff.client_id)


def beijing_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), BEIJING)
    return start, start + timedelta(days=1)


# -- the queue ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueFilters:
    provider: str | None = None
    day: date | None = None  # Beijing day the money arrived
    min_fen: int | None = None
    max_fen: int | None = None
    older_than_days: int | None = None
    # Keyset paging: the (received_at, item id) of the last row of the previous page.
    after: tuple[datetime, str] | None = None


@dataclass(frozen=True, slots=True)
class QueueRow:
    item_id: str
    client_id: str
    client_name: str
    payment_id: str
    amount_fen: int
    provider: str
    received_at: datetime
    reason: str
    candidates: int
    top_score: int | None
    awaiting_approval: bool


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[QueueRow]
    more: bool
    total_fen: int
    providers: list[str]

    @property
    def next_after(self) -> str | None:
        """The cursor of the next page (the last row's received time and id), if there is one."""
        if not self.more or not self.rows:
            return None
        last = self.rows[-1]
        return f"{last.received_at.isoformat()}|{last.item_id}"


@dataclass(frozen=True, slots=True)
class Payer:
    """The payer of a bank transfer as the bank told us: masked unless `revealed`."""

    name: str
    account: str
    memo: str
    booked_on: date
    bank_ref: str
    revealed: bool


@dataclass(frozen=True, slots=True)
class CaseBrief:
    id: str
    external_ref: str
    status: str
    debtor: str  # masked name
    balance_fen: int
    credit_fen: int


@dataclass(frozen=True, slots=True)
class CandidateView:
    score: int
    active: bool
    criteria: list[dict[str, Any]]
    cases: list[CaseBrief]


@dataclass(frozen=True, slots=True)
class ApprovalView:
    id: str
    client_id: str
    review_item_id: str
    action: str
    shares: list[tuple[str, str, int]]  # case id, the case system's reference, fen
    amount_fen: int
    reason: str
    status: str
    requested_by: str  # username
    requested_by_id: str
    requested_at: datetime
    payment_id: str = ""
    provider: str = ""


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    reason: str
    details: dict[str, Any] | None


@dataclass
class ItemDetail:
    item: ReviewItem
    payment: Payment
    client_name: str
    payer: Payer | None
    candidates: list[CandidateView]
    approval: ApprovalView | None
    history: list[TimelineEntry]


@dataclass(frozen=True, slots=True)
class DebtorView:
    name: str
    id_number: str
    phone: str
    revealed: bool


@dataclass(frozen=True, slots=True)
class DebtRow:
    debt_ref: str
    due_date: date
    principal_fen: int
    interest_fen: int
    fees_fen: int
    original_fen: int

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.interest_fen + self.fees_fen


@dataclass(frozen=True, slots=True)
class AllocationView:
    payment_id: str
    debt_ref: str
    component: str
    amount_fen: int
    basis: str
    created_at: datetime


@dataclass
class CaseDetail:
    case: Case
    client_name: str
    debtor: DebtorView
    debts: list[DebtRow]
    payments: list[Payment]
    allocations: list[AllocationView]
    links: list[Link]
    timeline: list[TimelineEntry]

    @property
    def balance(self) -> dict[str, int]:
        out = {
            "principal": sum(d.principal_fen for d in self.debts),
            "interest": sum(d.interest_fen for d in self.debts),
            "fees": sum(d.fees_fen for d in self.debts),
        }
        out["total"] = sum(out.values())
        return out


@dataclass
class PaymentDetail:
    payment: Payment
    client_name: str
    payer: Payer | None
    allocations: list[tuple[AllocationView, str]]  # with the case's external ref
    item: ReviewItem | None
    refunds: list[Refund]
    exceptions: list[PaymentException]


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: str
    client_id: str
    endpoint_id: str
    endpoint_url: str
    event_type: str
    case_id: str | None
    status: str
    attempts: int
    last_status_code: int | None
    next_attempt_at: datetime | None
    created_at: datetime


@dataclass
class MessageDetail:
    message: MessageRow
    endpoint_status: str
    deliveries: list[WebhookDelivery] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AgingBucket:
    key: str
    count: int
    amount_fen: int


class ConsoleViews:
    def __init__(self, db: Database, pii: PiiCipher) -> None:
        self.db = db
        self.pii = pii

    # the review queue

    async def queue(self, staff: Staff, filters: QueueFilters) -> QueuePage:
        query = select(ReviewItem, Client.name).join(Client, Client.id == ReviewItem.client_id)
        query = _scoped(query, ReviewItem.client_id, staff).where(ReviewItem.status == "open")
        if filters.provider:
            query = query.where(ReviewItem.provider == filters.provider)
        if filters.day is not None:
            lo, hi = beijing_bounds(filters.day)
            query = query.where(ReviewItem.received_at >= lo, ReviewItem.received_at < hi)
        if filters.min_fen is not None:
            query = query.where(ReviewItem.amount_fen >= filters.min_fen)
        if filters.max_fen is not None:
            query = query.where(ReviewItem.amount_fen <= filters.max_fen)
        if filters.older_than_days:
            query = query.where(ReviewItem.received_at <= utcnow() - timedelta(days=filters.older_than_days))
        if filters.after is not None:
            at, item_id = filters.after
            query = query.where(
                or_(ReviewItem.received_at > at, and_(ReviewItem.received_at == at, ReviewItem.id > item_id))
            )
        query = query.order_by(ReviewItem.received_at, ReviewItem.id).limit(QUEUE_LIMIT + 1)
        async with self.db.sessions() as session:
            rows = (await session.execute(query)).all()
            ids = [item.id for item, _ in rows[:QUEUE_LIMIT]]
            waiting = (
                set(
                    (
                        await session.scalars(
                            select(Approval.review_item_id).where(
                                Approval.review_item_id.in_(ids), Approval.status == "pending"
                            )
                        )
                    ).all()
                )
                if ids
                else set()
            )
            providers = list(
                (
                    await session.scalars(
                        _scoped(select(ReviewItem.provider).distinct(), ReviewItem.client_id, staff).order_by(
                            ReviewItem.provider
                        )
                    )
                ).all()
            )
        out = [
            QueueRow(
                item_id=item.id,
                client_id=item.client_id,
                client_name=name,
                payment_id=item.payment_id,
                amount_fen=item.amount_fen,
                provider=item.provider,
                received_at=item.received_at,
                reason=item.reason,
                candidates=len(item.candidates or []),
                top_score=max((int(c.get("score", 0)) for c in item.candidates or []), default=None),
                awaiting_approval=item.id in waiting,
            )
            for item, name in rows[:QUEUE_LIMIT]
        ]
        return QueuePage(out, len(rows) > QUEUE_LIMIT, sum(r.amount_fen for r in out), providers)

    async def item(self, staff: Staff, item_id: str, *, reveal: bool = False) -> ItemDetail:
        """`reveal`: the payer's details in clear (needs the permission; audited)."""
        async with self.db.transaction() as session:
            item = await session.get(ReviewItem, item_id)
            if item is None or not staff.sees(item.client_id):
                raise NotFound("no such review item")
            payment = await session.get_one(Payment, item.payment_id)
            client = await session.get_one(Client, item.client_id)
            payer = await self._payer(session, staff, payment, reveal=reveal)
            candidates = []
            for raw in sorted(item.candidates or [], key=lambda c: -int(c.get("score", 0))):
                briefs = await self._briefs(
                    session, item.client_id, [str(c) for c in raw.get("case_ids", [])]
                )
                if not briefs:
                    continue  # a candidate whose cases are gone (or never were this client's) shows nothing
                candidates.append(
                    CandidateView(
                        score=int(raw.get("score", 0)),
                        active=bool(raw.get("active", True)),
                        criteria=list(raw.get("criteria", [])),
                        cases=briefs,
                    )
                )
            pending = await session.scalar(
                select(Approval).where(Approval.review_item_id == item.id, Approval.status == "pending")
            )
            approval = (await self._approval_views(session, [pending]))[0] if pending is not None else None
            history = await self._timeline(session, [("review_item", [item.id]), ("payment", [payment.id])])
        return ItemDetail(item, payment, client.name, payer, candidates, approval, history)

    async def aging(self, staff: Staff) -> list[AgingBucket]:
        now = utcnow()
        async with self.db.sessions() as session:
            rows = (
                await session.execute(
                    _scoped(
                        select(ReviewItem.received_at, ReviewItem.amount_fen), ReviewItem.client_id, staff
                    ).where(ReviewItem.status == "open")
                )
            ).all()
        counts: dict[str, list[int]] = {key: [0, 0] for key, _, _ in AGE_BUCKETS}
        for received_at, amount in rows:
            days = (now - received_at).total_seconds() / 86400
            for key, lo, hi in AGE_BUCKETS:
                if days >= lo and (hi is None or days < hi):
                    counts[key][0] += 1
                    counts[key][1] += int(amount)
                    break
        return [AgingBucket(key, *counts[key]) for key, _, _ in AGE_BUCKETS]

    # approvals

    async def approvals(self, staff: Staff) -> list[ApprovalView]:
        async with self.db.sessions() as session:
            rows = (
                await session.scalars(
                    _scoped(select(Approval), Approval.client_id, staff)
                    .where(Approval.status == "pending")
                    .order_by(Approval.requested_at)
                    .limit(LIST_LIMIT)
                )
            ).all()
            return await self._approval_views(session, list(rows))

    async def _approval_views(self, session: AsyncSession, rows: Sequence[Approval]) -> list[ApprovalView]:
        names: dict[str, str] = {}
        if rows:
            found = await session.execute(
                select(StaffUser.id, StaffUser.username).where(
                    StaffUser.id.in_([r.requested_by for r in rows])
                )
            )
            names = {user_id: username for user_id, username in found.all()}
        items = (
            {
                i.id: i
                for i in (
                    await session.scalars(
                        select(ReviewItem).where(ReviewItem.id.in_([r.review_item_id for r in rows]))
                    )
                ).all()
            }
            if rows
            else {}
        )
        case_ids = {str(c) for r in rows for c, _ in r.params.get("shares", [])}
        refs: dict[str, str] = {}
        if case_ids:
            found_refs = await session.execute(
                select(Case.id, Case.external_ref).where(Case.id.in_(case_ids))
            )
            refs = {case_id: ref for case_id, ref in found_refs.all()}
        return [
            ApprovalView(
                id=r.id,
                client_id=r.client_id,
                review_item_id=r.review_item_id,
                action=r.action,
                shares=[(str(c), refs.get(str(c), str(c)), int(f)) for c, f in r.params.get("shares", [])],
                amount_fen=r.amount_fen,
                reason=r.reason,
                status=r.status,
                requested_by=names.get(r.requested_by, r.requested_by),
                requested_by_id=r.requested_by,
                requested_at=r.requested_at,
                payment_id=items[r.review_item_id].payment_id if r.review_item_id in items else "",
                provider=items[r.review_item_id].provider if r.review_item_id in items else "",
            )
            for r in rows
        ]

    # statement exceptions

    async def exceptions(self, staff: Staff, *, resolved: bool) -> list[PaymentException]:
        query = _scoped(select(PaymentException), PaymentException.client_id, staff)
        query = query.where(
            PaymentException.resolved_at.is_not(None) if resolved else PaymentException.resolved_at.is_(None)
        )
        async with self.db.sessions() as session:
            return list(
                (
                    await session.scalars(
                        query.order_by(PaymentException.created_at.desc()).limit(LIST_LIMIT)
                    )
                ).all()
            )

    # cases

    async def find_cases(self, staff: Staff, text: str) -> list[CaseBrief]:
        """By case id, external reference or contract number: exact, within the user's clients."""
        text = text.strip()
        if not text:
            return []
        async with self.db.sessions() as session:
            ids = (
                await session.scalars(
                    _scoped(select(Case.id), Case.client_id, staff)
                    .where(or_(Case.id == text, Case.external_ref == text, Case.contract_no == text))
                    .limit(50)
                )
            ).all()
            if not ids:
                return []
            client_ids = (await session.scalars(select(Case.client_id).where(Case.id.in_(ids)))).all()
            out: list[CaseBrief] = []
            for client_id in sorted(set(client_ids)):
                out += await self._briefs(session, client_id, list(ids))
            return out

    async def case(self, staff: Staff, case_id: str, *, reveal: bool = False) -> CaseDetail:
        async with self.db.transaction() as session:
            case = await session.get(Case, case_id)
            if case is None or not staff.sees(case.client_id):
                raise NotFound("no such case")
            client = await session.get_one(Client, case.client_id)
            debtor = await session.get_one(Debtor, case.debtor_id)
            debtor_view = self._debtor(session, staff, debtor, reveal=reveal)
            debts = list(
                (
                    await session.scalars(
                        select(Debt).where(Debt.case_id == case.id).order_by(Debt.due_date, Debt.debt_ref)
                    )
                ).all()
            )
            refs = {d.id: d.debt_ref for d in debts}
            allocations = list(
                (
                    await session.scalars(
                        select(AllocationRow)
                        .where(AllocationRow.case_id == case.id)
                        .order_by(AllocationRow.created_at, AllocationRow.id)
                    )
                ).all()
            )
            payment_ids = sorted({a.payment_id for a in allocations})
            payments = list(
                (
                    await session.scalars(
                        select(Payment)
                        .where(or_(Payment.id.in_(payment_ids), Payment.case_id == case.id))
                        .order_by(Payment.received_at)
                    )
                ).all()
            )
            links = list(
                (
                    await session.scalars(
                        select(Link).where(Link.case_id == case.id).order_by(Link.created_at)
                    )
                ).all()
            )
            items = (
                list(
                    (
                        await session.scalars(
                            select(ReviewItem.id).where(ReviewItem.payment_id.in_([p.id for p in payments]))
                        )
                    ).all()
                )
                if payments
                else []
            )
            timeline = await self._timeline(
                session,
                [
                    ("case", [case.id]),
                    ("debtor", [debtor.id]),
                    ("payment", [p.id for p in payments]),
                    ("link", [lk.id for lk in links]),
                    ("review_item", items),
                ],
            )
        return CaseDetail(
            case=case,
            client_name=client.name,
            debtor=debtor_view,
            debts=[
                DebtRow(
                    d.debt_ref,
                    d.due_date,
                    d.principal_fen,
                    d.interest_fen,
                    d.fees_fen,
                    d.original_principal_fen + d.original_interest_fen + d.original_fees_fen,
                )
                for d in debts
            ],
            payments=payments,
            allocations=[
                AllocationView(
                    a.payment_id, refs.get(a.debt_id, "?"), a.component, a.amount_fen, a.basis, a.created_at
                )
                for a in allocations
            ],
            links=links,
            timeline=timeline,
        )

    # payments

    async def payment(self, staff: Staff, payment_id: str, *, reveal: bool = False) -> PaymentDetail:
        async with self.db.transaction() as session:
            payment = await session.get(Payment, payment_id)
            if payment is None or not staff.sees(payment.client_id):
                raise NotFound("no such payment")
            client = await session.get_one(Client, payment.client_id)
            payer = await self._payer(session, staff, payment, reveal=reveal)
            rows = (
                await session.execute(
                    select(AllocationRow, Debt.debt_ref, Case.external_ref)
                    .join(Debt, Debt.id == AllocationRow.debt_id)
                    .join(Case, Case.id == AllocationRow.case_id)
                    .where(AllocationRow.payment_id == payment.id)
                    .order_by(AllocationRow.created_at, AllocationRow.id)
                )
            ).all()
            item = await session.scalar(select(ReviewItem).where(ReviewItem.payment_id == payment.id))
            refunds = list(
                (
                    await session.scalars(
                        select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.created_at)
                    )
                ).all()
            )
            exceptions = list(
                (
                    await session.scalars(
                        select(PaymentException).where(PaymentException.payment_id == payment.id)
                    )
                ).all()
            )
        return PaymentDetail(
            payment=payment,
            client_name=client.name,
            payer=payer,
            allocations=[
                (AllocationView(a.payment_id, ref, a.component, a.amount_fen, a.basis, a.created_at), ext)
                for a, ref, ext in rows
            ],
            item=item,
            refunds=refunds,
            exceptions=exceptions,
        )

    # webhooks

    async def messages(self, staff: Staff, *, status: str | None) -> list[MessageRow]:
        query = select(WebhookMessage, WebhookEndpoint.url).join(
            WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id
        )
        query = _scoped(query, WebhookMessage.client_id, staff)
        if status:
            query = query.where(WebhookMessage.status == status)
        async with self.db.sessions() as session:
            rows = (await session.execute(query.order_by(WebhookMessage.seq.desc()).limit(LIST_LIMIT))).all()
        return [_message_row(m, url) for m, url in rows]

    async def message(self, staff: Staff, message_id: str) -> MessageDetail:
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    select(WebhookMessage, WebhookEndpoint)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
                    .where(WebhookMessage.id == message_id)
                )
            ).one_or_none()
            if row is None or not staff.sees(row[0].client_id):
                raise NotFound("no such webhook message")
            message, endpoint = row
            deliveries = list(
                (
                    await session.scalars(
                        select(WebhookDelivery)
                        .where(WebhookDelivery.message_id == message.id)
                        .order_by(WebhookDelivery.attempt.desc())
                        .limit(LIST_LIMIT)
                    )
                ).all()
            )
        return MessageDetail(_message_row(message, endpoint.url), endpoint.status, deliveries)

    # the daily report

    async def report(self, staff: Staff, start: date, end: date, provider: str | None) -> list[DayReport]:
        async with self.db.sessions() as session:
            return await daily_report(
                session, client_ids=staff.client_ids, start=start, end=end, provider=provider or None
            )

    async def record_export(self, staff: Staff, report: str, params: dict[str, Any]) -> None:
        """Data leaving the system is an action too: who exported what."""
        async with self.db.transaction() as session:
            audit.record(
                session,
                actor=staff.actor,
                action="report.exported",
                entity_type="report",
                entity_id=report,
                client_id=staff.client_id,
                after=params,
            )

    async def client_names(self, staff: Staff) -> dict[str, str]:
        async with self.db.sessions() as session:
            rows = (await session.execute(_scoped(select(Client.id, Client.name), Client.id, staff))).all()
        return {client_id: name for client_id, name in rows}

    # helpers

    async def _briefs(self, session: AsyncSession, client_id: str, case_ids: list[str]) -> list[CaseBrief]:
        if not case_ids:
            return []
        cases = (
            await session.scalars(select(Case).where(Case.id.in_(case_ids), Case.client_id == client_id))
        ).all()
        if not cases:
            return []
        balances: dict[str, int] = defaultdict(int)
        for case_id, total in (
            await session.execute(
                select(Debt.case_id, func.sum(Debt.principal_fen + Debt.interest_fen + Debt.fees_fen))
                .where(Debt.case_id.in_([c.id for c in cases]))
                .group_by(Debt.case_id)
            )
        ).all():
            balances[case_id] = int(total or 0)
        debtors = {
            d.id: d
            for d in (
                await session.scalars(select(Debtor).where(Debtor.id.in_({c.debtor_id for c in cases})))
            ).all()
        }
        order = {cid: i for i, cid in enumerate(case_ids)}
        return [
            CaseBrief(
                id=c.id,
                external_ref=c.external_ref,
                status=c.status,
                debtor=mask_name(
                    self.pii.decrypt(debtors[c.debtor_id].name_enc, column="debtors.name", row_id=c.debtor_id)
                ),
                balance_fen=balances[c.id],
                credit_fen=c.credit_fen,
            )
            for c in sorted(cases, key=lambda c: order.get(c.id, 0))
        ]

    def _debtor(self, session: AsyncSession, staff: Staff, row: Debtor, *, reveal: bool) -> DebtorView:
        dec = self.pii.decrypt
        name = dec(row.name_enc, column="debtors.name", row_id=row.id)
        id_number = dec(row.id_number_enc, column="debtors.id_number", row_id=row.id)
        phone = dec(row.phone_enc, column="debtors.phone", row_id=row.id)
        if reveal:
            _check_reveal(staff)
            audit.record(
                session,
                actor=staff.actor,
                action="debtor.revealed",
                entity_type="debtor",
                entity_id=row.id,
                client_id=row.client_id,
                after={"fields": ["name", "id_number", "phone"]},
            )
            return DebtorView(name, id_number, phone, True)
        return DebtorView(mask_name(name), mask_id_number(id_number), mask_phone(phone), False)

    async def _payer(
        self, session: AsyncSession, staff: Staff, payment: Payment, *, reveal: bool
    ) -> Payer | None:
        line = await session.scalar(select(BankLine).where(BankLine.payment_id == payment.id).limit(1))
        if line is None:
            if reveal:
                raise NotFound("nothing to reveal")
            return None
        dec = self.pii.decrypt
        name = dec(line.payer_name_enc, column="bank_lines.payer_name", row_id=line.id)
        account = dec(line.payer_account_enc, column="bank_lines.payer_account", row_id=line.id)
        memo = dec(line.memo_enc, column="bank_lines.memo", row_id=line.id)
        if reveal:
            _check_reveal(staff)
            audit.record(
                session,
                actor=staff.actor,
                action="bank_line.revealed",
                entity_type="bank_line",
                entity_id=line.id,
                client_id=line.client_id,
                after={"fields": ["payer_name", "payer_account", "memo"], "payment_id": payment.id},
            )
            return Payer(name, account, memo, line.booked_on, line.bank_ref, True)
        return Payer(
            mask_name(name),
            mask_account(account),
            mask_memo(memo, name),
            line.booked_on,
            line.bank_ref,
            False,
        )

    async def _timeline(
        self, session: AsyncSession, entities: Sequence[tuple[str, Sequence[str]]]
    ) -> list[TimelineEntry]:
        conditions = [
            and_(AuditEvent.entity_type == kind, AuditEvent.entity_id.in_(list(ids)))
            for kind, ids in entities
            if ids
        ]
        if not conditions:
            return []
        rows = (
            await session.scalars(
                select(AuditEvent)
                .where(or_(*conditions))
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                .limit(TIMELINE_LIMIT)
            )
        ).all()
        return [
            TimelineEntry(r.at, r.actor, r.action, r.entity_type, r.entity_id, r.reason, r.after)
            for r in rows
        ]


def _check_reveal(staff: Staff) -> None:
    if not staff.can_reveal:
        raise Forbidden("you may not see personal data in clear")


def _message_row(m: WebhookMessage, url: str) -> MessageRow:
    return MessageRow(
        id=m.id,
        client_id=m.client_id,
        endpoint_id=m.endpoint_id,
        endpoint_url=url,
        event_type=m.event_type,
        case_id=m.case_id,
        status=m.status,
        attempts=m.attempts,
        last_status_code=m.last_status_code,
        next_attempt_at=m.next_attempt_at,
        created_at=m.created_at,
    )


def mask_account(account: str) -> str:
    """A bank account as on a receipt: the last four digits only."""
    digits = "".join(ch for ch in account if ch.isalnum())
    return f"**** {digits[-4:]}" if len(digits) > 4 else "****"


def mask_memo(memo: str, *names: str) -> str:
    """The memo keeps what helps matching (references, words) and loses ID, card and phone numbers and
    the payer's own name."""
    out = mask_text(memo)
    for name in names:
        if name and len(name) >= 2:
            out = out.replace(name, mask_name(name))
    return out
