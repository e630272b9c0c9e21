"""What finance does with a payment the engine left for review: match it to a case, split it across
cases, match it and write off a small shortfall, refund it, or ignore it with a reason. Also the
four-eyes approvals of those actions above an amount, and resolving statement exceptions.

Every action checks the user's client scope, runs in one transaction with its audit rows, and goes
through `apply_payment` for the money (allocations in the legal order, case status, outbox events).
An action above the four-eyes amount is only recorded as a request; another user, an approver, carries
it out by approving, and everything is validated again at that moment.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain.allocation import AllocationLine, allocate
from payments.domain.cases import CLOSED, CaseEvent, CaseStatus, Component, DebtBalance, transition
from payments.domain.errors import DomainError, NotFound
from payments.domain.money import format_yuan
from payments.persistence.db import Database, utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Case, Client, Debt, Payment, PaymentException
from payments.persistence.tables_console import Approval, StaffUser
from payments.persistence.tables_recon import ReviewItem
from payments.services import audit
from payments.services.application import apply_payment, client_policy, forgive_rest
from payments.services.outbox import emit
from payments.services.refunds import start_refund
from payments.services.staff import Forbidden, Staff
from payments.settings import ConsoleSettings

if TYPE_CHECKING:
    from payments.services.container import Services

log = logging.getLogger("payrecon.review")

ACTIONS = ("match", "split", "write_off", "refund", "ignore")
MONEY_ACTIONS = ("match", "split", "write_off")
RESOLVED_STATUS = {
    "match": "matched",
    "split": "matched",
    "write_off": "written_off",
    "refund": "refund",
    "ignore": "ignored",
}
MAX_REASON = 500
MAX_SPLIT = 20
COMPONENTS = (Component.PRINCIPAL, Component.INTEREST, Component.FEES)

# (payment id, amount in fen, actor, reason, client id) -> the refund's id; see `refund_starter`.
RefundStarter = Callable[[str, int, str, str, str], Awaitable[str]]


class ActionRefused(DomainError):
    """An action that cannot be done as asked. `code` names the reason for the page (which words it
    shows in the user's language); `params` fill them in."""

    type_slug = "action-refused"

    def __init__(self, code: str, detail: str, *, status: int = 422, **params: str) -> None:
        super().__init__(detail)
        self.code = code
        self.params = params
        self.status = status


class NotAllowed(Forbidden):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.params: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Share:
    case_id: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Balance:
    principal_fen: int
    interest_fen: int
    fees_fen: int

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.interest_fen + self.fees_fen


@dataclass(frozen=True, slots=True)
class CasePreview:
    """What a share of the payment would do to one case: allocation lines in the legal order, the
    credit it would leave (to refund), and the balance by component before and after."""

    case_id: str
    external_ref: str
    status: str
    share_fen: int
    lines: tuple[AllocationLine, ...]
    surplus_fen: int
    basis: str
    before: Balance
    after: Balance
    write_off_fen: int = 0


@dataclass(frozen=True, slots=True)
class Preview:
    payment_fen: int
    cases: tuple[CasePreview, ...]

    @property
    def total_fen(self) -> int:
        return sum(c.share_fen for c in self.cases)


@dataclass(frozen=True, slots=True)
class ActionResult:
    done: bool  # False: recorded as a request, waiting for an approver
    approval_id: str | None = None
    refund_id: str | None = None
    refund_error: str | None = None


@dataclass
class _Request:
    action: str
    shares: list[Share] = field(default_factory=list)
    reason: str = ""


def _reason(action: str, reason: str) -> str:
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise ActionRefused("reason_too_long", f"the reason must be at most {MAX_REASON} characters")
    if action in ("ignore", "refund") and not reason:
        raise ActionRefused("reason_required", "say why: a reason is required for this action")
    return reason


def _check_shares(action: str, shares: Sequence[Share], payment_fen: int) -> list[Share]:
    if action in ("match", "write_off") and len(shares) != 1:
        raise ActionRefused("one_case", "choose exactly one case")
    if action == "split" and len(shares) < 2:
        raise ActionRefused("split_two", "a split needs at least two cases")
    if len(shares) > MAX_SPLIT:
        raise ActionRefused("split_many", f"a split takes at most {MAX_SPLIT} cases")
    if len({s.case_id for s in shares}) != len(shares):
        raise ActionRefused("split_repeat", "each case may appear only once")
    if any(s.amount_fen <= 0 for s in shares):
        raise ActionRefused("share_positive", "every share must be more than zero")
    total = sum(s.amount_fen for s in shares)
    if total != payment_fen:
        raise ActionRefused(
            "split_sum",
            f"the shares add up to {format_yuan(total)} yuan but the payment is {format_yuan(payment_fen)} yuan",
            total=format_yuan(total),
            payment=format_yuan(payment_fen),
        )
    return list(shares)


def _balance(debts: Sequence[Debt]) -> Balance:
    return Balance(
        sum(d.principal_fen for d in debts),
        sum(d.interest_fen for d in debts),
        sum(d.fees_fen for d in debts),
    )


async def _debts(session: AsyncSession, case_id: str, *, lock: bool = False) -> list[Debt]:
    query = select(Debt).where(Debt.case_id == case_id).order_by(Debt.due_date, Debt.debt_ref)
    if lock:
        query = query.with_for_update()
    return list((await session.scalars(query)).all())


async def find_case(session: AsyncSession, client_id: str, id_or_ref: str) -> Case:
    """A case of this client by its id or the case system's reference; another client's case is
    refused exactly like one that does not exist."""
    text = id_or_ref.strip()
    case = (
        await session.scalar(
            select(Case)
            .where(Case.client_id == client_id, or_(Case.id == text, Case.external_ref == text))
            .limit(1)
        )
        if text
        else None
    )
    if case is None:
        raise ActionRefused("case_unknown", "no such case for this client", case=text[:64])
    return case


async def preview_shares(
    session: AsyncSession,
    item: ReviewItem,
    payment: Payment,
    action: str,
    shares: Sequence[Share],
    write_off_limit_fen: int,
) -> Preview:
    """Pure computation over the cases' current debts: nothing is written, nothing locked. A match or
    a write-off always takes the whole payment, whatever amount its share names."""
    if action in ("match", "write_off"):
        shares = [Share(s.case_id, payment.unapplied_fen) for s in shares]
    shares = _check_shares(action, shares, payment.unapplied_fen)
    client = await session.get_one(Client, item.client_id)
    policy = client_policy(client)
    out: list[CasePreview] = []
    seen: set[str] = set()
    for share in shares:
        case = await find_case(session, item.client_id, share.case_id)
        if case.id in seen:
            raise ActionRefused("split_repeat", "each case may appear only once")
        seen.add(case.id)
        debts = await _debts(session, case.id)
        before = _balance(debts)
        result = allocate(
            share.amount_fen,
            [DebtBalance(d.debt_ref, d.due_date, d.fees_fen, d.interest_fen, d.principal_fen) for d in debts],
            policy,
        )
        taken = {c: sum(ln.fen for ln in result.lines if ln.component is c) for c in COMPONENTS}
        after = Balance(
            before.principal_fen - taken[Component.PRINCIPAL],
            before.interest_fen - taken[Component.INTEREST],
            before.fees_fen - taken[Component.FEES],
        )
        write_off = 0
        if action == "write_off":
            write_off = after.total_fen
            if CaseStatus(case.status) in CLOSED or write_off <= 0:
                raise ActionRefused(
                    "nothing_to_write_off",
                    "the payment covers what the case owes: match it instead (any surplus stays as a credit)",
                )
            if write_off > write_off_limit_fen:
                raise ActionRefused(
                    "write_off_limit",
                    f"the difference of {format_yuan(write_off)} yuan is above the write-off limit of "
                    f"{format_yuan(write_off_limit_fen)} yuan",
                    difference=format_yuan(write_off),
                    limit=format_yuan(write_off_limit_fen),
                )
        out.append(
            CasePreview(
                case_id=case.id,
                external_ref=case.external_ref,
                status=case.status,
                share_fen=share.amount_fen,
                lines=result.lines,
                surplus_fen=result.surplus_fen,
                basis=result.basis,
                before=before,
                after=after,
                write_off_fen=write_off,
            )
        )
    return Preview(payment.unapplied_fen, tuple(out))


class ReviewService:
    def __init__(
        self, db: Database, settings: ConsoleSettings, refund_starter: RefundStarter | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.refund_starter = refund_starter

    # -- reading what an action would do ----------------------------------------------------------

    async def preview(self, staff: Staff, item_id: str, action: str, shares: Sequence[Share]) -> Preview:
        async with self.db.sessions() as session:
            item = await self._item(session, staff, item_id)
            payment = await session.get_one(Payment, item.payment_id)
            return await preview_shares(
                session, item, payment, action, shares, self.settings.write_off_limit_fen
            )

    def needs_approval(self, amount_fen: int) -> bool:
        return amount_fen > self.settings.four_eyes_above_fen

    # -- acting -----------------------------------------------------------------------------------

    async def act(
        self, staff: Staff, item_id: str, action: str, *, shares: Sequence[Share] = (), reason: str = ""
    ) -> ActionResult:
        """Carry out `action`, or, above the four-eyes amount, record it for an approver."""
        if action not in ACTIONS:
            raise ActionRefused("unknown_action", f"no action {action!r}")
        request = _Request(action, list(shares) if action in MONEY_ACTIONS else [], _reason(action, reason))
        async with self.db.transaction() as session:
            item = await self._item(session, staff, item_id, lock=True)
            await self._check_open(session, item)
            payment = await session.get_one(Payment, item.payment_id, with_for_update=True)
            if action in MONEY_ACTIONS:
                preview = await preview_shares(
                    session, item, payment, action, request.shares, self.settings.write_off_limit_fen
                )
                request.shares = [Share(c.case_id, c.share_fen) for c in preview.cases]
            if self.needs_approval(item.amount_fen):
                approval_id = self._request_approval(session, staff, item, request)
                return ActionResult(done=False, approval_id=approval_id)
            await self._execute(session, item, payment, request, staff.actor, requested_by=staff.username)
        return await self._after(staff.actor, item_id, request)

    def _request_approval(
        self, session: AsyncSession, staff: Staff, item: ReviewItem, request: _Request
    ) -> str:
        approval_id, now = new_id("apr"), utcnow()
        params: dict[str, Any] = {"shares": [[s.case_id, s.amount_fen] for s in request.shares]}
        session.add(
            Approval(
                id=approval_id,
                client_id=item.client_id,
                review_item_id=item.id,
                action=request.action,
                params=params,
                amount_fen=item.amount_fen,
                reason=request.reason,
                status="pending",
                requested_by=staff.id,
                requested_at=now,
                decided_by=None,
                decided_at=None,
                note="",
            )
        )
        audit.record(
            session,
            actor=staff.actor,
            action="review.approval_requested",
            entity_type="review_item",
            entity_id=item.id,
            client_id=item.client_id,
            after={"approval_id": approval_id, "action": request.action, **params},
            reason=request.reason[:200],
        )
        return approval_id

    async def approve(self, staff: Staff, approval_id: str, note: str = "") -> ActionResult:
        """An approver other than the requester carries out the request, validated again now."""
        if not staff.can_approve:
            raise NotAllowed("approver_only", "only an approver can approve")
        async with self.db.transaction() as session:
            approval = await self._approval(session, staff, approval_id, lock=True)
            if approval.requested_by == staff.id:
                raise NotAllowed("own_request", "someone else must approve your own request")
            item = await session.get_one(ReviewItem, approval.review_item_id, with_for_update=True)
            if item.status != "open":
                raise ActionRefused("not_open", "this payment was resolved already", status=409)
            payment = await session.get_one(Payment, item.payment_id, with_for_update=True)
            request = _Request(
                approval.action,
                [Share(c, int(f)) for c, f in approval.params.get("shares", [])],
                approval.reason,
            )
            if request.action in MONEY_ACTIONS:
                await preview_shares(
                    session, item, payment, request.action, request.shares, self.settings.write_off_limit_fen
                )
            requester = await self._username(session, approval.requested_by)
            await self._execute(
                session, item, payment, request, staff.actor, requested_by=requester, approval_id=approval.id
            )
            approval.status, approval.decided_by, approval.decided_at = "approved", staff.id, utcnow()
            approval.note = note.strip()[:MAX_REASON]
            audit.record(
                session,
                actor=staff.actor,
                action="review.approved",
                entity_type="approval",
                entity_id=approval.id,
                client_id=approval.client_id,
                after={"review_item_id": item.id, "action": approval.action, "requested_by": requester},
                reason=approval.note[:200],
            )
            item_id = item.id
        return await self._after(staff.actor, item_id, request)

    async def decline(self, staff: Staff, approval_id: str, note: str = "") -> str:
        """The requester withdraws their request, or an approver rejects it; the item stays open."""
        async with self.db.transaction() as session:
            approval = await self._approval(session, staff, approval_id, lock=True)
            if approval.requested_by == staff.id:
                status = "withdrawn"
            elif staff.can_approve:
                status = "rejected"
            else:
                raise NotAllowed("approver_only", "only an approver can reject")
            approval.status, approval.decided_by, approval.decided_at = status, staff.id, utcnow()
            approval.note = note.strip()[:MAX_REASON]
            audit.record(
                session,
                actor=staff.actor,
                action=f"review.{status}",
                entity_type="approval",
                entity_id=approval.id,
                client_id=approval.client_id,
                after={"review_item_id": approval.review_item_id, "action": approval.action},
                reason=approval.note[:200],
            )
        return status

    async def resolve_exception(self, staff: Staff, exception_id: str, note: str) -> None:
        note = note.strip()
        if not note:
            raise ActionRefused("note_required", "write a note on how it was resolved")
        if len(note) > MAX_REASON:
            raise ActionRefused("reason_too_long", f"the note must be at most {MAX_REASON} characters")
        async with self.db.transaction() as session:
            row = await session.get(PaymentException, exception_id, with_for_update=True)
            if row is None or not staff.sees(row.client_id):
                raise NotFound("no such exception")
            if row.resolved_at is not None:
                raise ActionRefused("exception_resolved", "this exception is resolved already", status=409)
            now = utcnow()
            row.resolved_at = now
            row.details = {
                **row.details,
                "resolution": {"note": note, "by": staff.actor, "at": now.isoformat()},
            }
            audit.record(
                session,
                actor=staff.actor,
                action="payment_exception.resolved",
                entity_type="payment_exception",
                entity_id=row.id,
                client_id=row.client_id,
                after={"kind": row.kind, "payment_id": row.payment_id},
                reason=note[:200],
            )

    # -- carrying an action out -------------------------------------------------------------------

    async def _execute(
        self,
        session: AsyncSession,
        item: ReviewItem,
        payment: Payment,
        request: _Request,
        actor: str,
        *,
        requested_by: str,
        approval_id: str | None = None,
    ) -> None:
        for share in request.shares:
            await apply_payment(
                session, payment, share.case_id, None, amount_fen=share.amount_fen, actor=actor
            )
        written_off = 0
        if request.action == "write_off":
            written_off = await self._write_off_rest(
                session, item, request.shares[0].case_id, actor, request.reason
            )
        if request.action == "ignore":
            # Out of review for good: not "unmatched", which the matching job would pick up again.
            payment.status = "ignored"
        now = utcnow()
        resolution: dict[str, Any] = {
            "action": request.action,
            "shares": [{"case_id": s.case_id, "amount_fen": s.amount_fen} for s in request.shares],
            "reason": request.reason,
            "requested_by": requested_by,
        }
        if written_off:
            resolution["written_off_fen"] = written_off
        if approval_id:
            resolution["approval_id"] = approval_id
            resolution["approved_by"] = actor.removeprefix("staff:")
        if request.action == "refund":
            resolution["refund_amount_fen"] = payment.unapplied_fen
        item.status = RESOLVED_STATUS[request.action]
        item.resolution = resolution
        item.resolved_by = actor
        item.resolved_at = item.updated_at = now
        audit.record(
            session,
            actor=actor,
            action=f"review.{request.action}",
            entity_type="review_item",
            entity_id=item.id,
            client_id=item.client_id,
            before={"status": "open"},
            after={"status": item.status, "payment_id": payment.id, **resolution},
            reason=request.reason[:200],
        )

    async def _write_off_rest(
        self, session: AsyncSession, item: ReviewItem, case_id: str, actor: str, reason: str
    ) -> int:
        """After the payment: what the case still owes, within the limit, forgiven by adjustment rows."""
        case = await session.get_one(Case, case_id, with_for_update=True)
        debts = await _debts(session, case_id, lock=True)
        rest = _balance(debts).total_fen
        if rest <= 0 or rest > self.settings.write_off_limit_fen:  # checked in the preview; never trust it
            raise ActionRefused("write_off_limit", "the difference is not within the write-off limit")
        now = utcnow()
        forgive_rest(session, debts, now, "write_off")
        before = case.status
        if CaseStatus(case.status) not in CLOSED:
            case.status = transition(CaseStatus(case.status), CaseEvent.AMEND, CaseStatus.PAID).value
        case.version += 1
        case.updated_at = now
        audit.record(
            session,
            actor=actor,
            action="case.difference_written_off",
            entity_type="case",
            entity_id=case.id,
            client_id=case.client_id,
            before={"status": before, "outstanding_fen": rest},
            after={"status": case.status, "written_off_fen": rest, "review_item_id": item.id},
            reason=reason[:200],
        )
        emit(
            session,
            case.client_id,
            "case.updated",
            case_id=case.id,
            payload={
                "case_id": case.id,
                "status": case.status,
                "balance": {"principal_fen": 0, "interest_fen": 0, "fees_fen": 0, "total_fen": 0},
                "credit_fen": case.credit_fen,
            },
        )
        if case.status != before and CaseStatus(case.status) in CLOSED:
            emit(
                session,
                case.client_id,
                "case.closed",
                case_id=case.id,
                payload={"case_id": case.id, "status": case.status},
            )
        return rest

    async def _after(self, actor: str, item_id: str, request: _Request) -> ActionResult:
        """A refund marked on the item goes to the provider once the item is claimed (committed)."""
        if request.action != "refund" or self.refund_starter is None:
            return ActionResult(done=True)
        async with self.db.sessions() as session:
            item = await session.get_one(ReviewItem, item_id)
        amount = int((item.resolution or {}).get("refund_amount_fen") or item.amount_fen)
        try:
            refund_id = await self.refund_starter(
                item.payment_id, amount, actor, request.reason, item.client_id
            )
        except Exception as exc:  # a provider or validation failure: the item goes back to the queue
            log.warning("refund for review item %s could not start: %s", item_id, type(exc).__name__)
            detail = getattr(exc, "detail", "") or type(exc).__name__
            await self._reopen(actor, item_id, str(detail))
            return ActionResult(done=False, refund_error=str(detail))
        async with self.db.transaction() as session:
            item = await session.get_one(ReviewItem, item_id, with_for_update=True)
            item.resolution = {**(item.resolution or {}), "refund_id": refund_id}
            item.updated_at = utcnow()
        return ActionResult(done=True, refund_id=refund_id)

    async def _reopen(self, actor: str, item_id: str, why: str) -> None:
        async with self.db.transaction() as session:
            item = await session.get_one(ReviewItem, item_id, with_for_update=True)
            item.status, item.resolution, item.resolved_by, item.resolved_at = "open", None, None, None
            item.updated_at = utcnow()
            audit.record(
                session,
                actor=actor,
                action="review.refund_failed",
                entity_type="review_item",
                entity_id=item.id,
                client_id=item.client_id,
                reason=why[:200],
            )

    # -- look-ups that double as the scope check --------------------------------------------------

    @staticmethod
    async def _item(session: AsyncSession, staff: Staff, item_id: str, *, lock: bool = False) -> ReviewItem:
        item = await session.get(ReviewItem, item_id, with_for_update=lock or None)
        if item is None or not staff.sees(item.client_id):
            raise NotFound("no such review item")
        return item

    @staticmethod
    async def _approval(session: AsyncSession, staff: Staff, approval_id: str, *, lock: bool) -> Approval:
        approval = await session.get(Approval, approval_id, with_for_update=lock or None)
        if approval is None or not staff.sees(approval.client_id):
            raise NotFound("no such approval")
        if approval.status != "pending":
            raise ActionRefused("approval_decided", "this request was decided already", status=409)
        return approval

    @staticmethod
    async def _check_open(session: AsyncSession, item: ReviewItem) -> None:
        if item.status != "open":
            raise ActionRefused("not_open", "this payment was resolved already", status=409)
        pending = await session.scalar(
            select(Approval.id).where(Approval.review_item_id == item.id, Approval.status == "pending")
        )
        if pending:
            raise ActionRefused(
                "awaiting_approval", "an action on this payment waits for approval", status=409
            )

    @staticmethod
    async def _username(session: AsyncSession, user_id: str) -> str:
        row = await session.get(StaffUser, user_id)
        return row.username if row is not None else user_id


def refund_starter(services: Services) -> RefundStarter:
    """The refund through the provider (for a bank transfer: a refund row that finance pays by hand)."""

    async def run(payment_id: str, amount_fen: int, actor: str, reason: str, client_id: str) -> str:
        refund = await start_refund(
            services, payment_id, amount_fen, actor=actor, reason=reason, client_ids=[client_id]
        )
        if refund.status == "failed":
            raise ActionRefused("refund_failed", "the provider refused or failed the refund")
        return refund.id

    return run
