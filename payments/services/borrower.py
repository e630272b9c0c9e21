"""The borrower's side of a link: resolve the token, prove identity, see what is due, pay, get a receipt.

Anything wrong with a token (unknown, tampered, expired, revoked) looks the same to the caller: None.
Amounts and names are shown only after the identity check; five wrong answers lock the link for 30 min.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from payments.domain.errors import Conflict, FieldError
from payments.domain.identity import mask_name
from payments.domain.links import PAYABLE, AmountChoice, LinkStatus, check_amount, payable_range
from payments.persistence.db import Database, utcnow
from payments.persistence.tables import Case, Client, Debt, Debtor, Link, Order, Payment
from payments.security.pii import PiiCipher
from payments.services import audit
from payments.services.links import policy_from_json, token_hash
from payments.services.orders import OrderService, StartedOrder
from providers.base import Scene

MAX_TRIES = 5
LOCK_FOR = timedelta(minutes=30)
MAX_LOCK = timedelta(days=7)


@dataclass(frozen=True)
class LinkRef:
    link_id: str
    token: str
    status: LinkStatus
    channels: tuple[str, ...]
    identity_check: str  # id_number | phone
    locked_until: datetime | None


@dataclass(frozen=True)
class DueView:
    creditor_name: str
    debtor_name_masked: str
    principal_fen: int
    interest_fen: int
    fees_fen: int
    total_fen: int
    earliest_due: date | None
    choice: AmountChoice | None
    link_status: LinkStatus


@dataclass(frozen=True)
class OrderView:
    order_id: str
    status: str  # pending | paid | closed | failed
    amount_fen: int
    out_trade_no: str
    provider: str
    paid_at: datetime | None
    remaining_fen: int


class VerifyResult:
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"


class BorrowerService:
    def __init__(self, db: Database, pii: PiiCipher, orders: OrderService) -> None:
        self.db = db
        self.pii = pii
        self.orders = orders

    async def resolve(self, token: str, now: datetime | None = None) -> LinkRef | None:
        """The link behind a token if it can be shown at all; None for anything else (no oracle)."""
        if not (16 <= len(token) <= 64) or not token.replace("-", "").replace("_", "").isalnum():
            return None
        now = now or utcnow()
        async with self.db.sessions() as session:
            link = await session.scalar(select(Link).where(Link.token_hash == token_hash(token)))
        if link is None:
            return None
        status = LinkStatus(link.status)
        if status not in PAYABLE and status is not LinkStatus.PAID:
            return None
        if link.expires_at <= now and status is not LinkStatus.PAID:
            return None
        return LinkRef(
            link.id,
            token,
            status,
            tuple(link.channels["allowed"]),
            link.identity_check,
            link.locked_until if link.locked_until and link.locked_until > now else None,
        )

    async def verify_identity(
        self, ref: LinkRef, answer: str, now: datetime | None = None
    ) -> tuple[str, int]:
        """Check the last four characters; returns (result, tries left)."""
        now = now or utcnow()
        async with self.db.transaction() as session:
            link = await session.get_one(Link, ref.link_id, with_for_update=True)
            if link.locked_until and link.locked_until > now:
                return VerifyResult.LOCKED, 0
            case = await session.get_one(Case, link.case_id)
            debtor = await session.get_one(Debtor, case.debtor_id)
            column = "id_number" if link.identity_check == "id_number" else "phone"
            secret = self.pii.decrypt(
                getattr(debtor, f"{column}_enc"), column=f"debtors.{column}", row_id=debtor.id
            )
            expected = secret[-4:].upper()
            given = answer.strip().upper()[:8]
            if len(given) == 4 and hmac.compare_digest(given.encode(), expected.encode()):
                link.failed_checks = 0
                link.locked_until = None
                return VerifyResult.OK, MAX_TRIES
            # The count is not reset by a lock: each further round of five wrong answers doubles the
            # lock (30 min, 1 h, 2 h, ... up to a week), so guessing 4 digits over a link's life stays hopeless.
            link.failed_checks += 1
            left = MAX_TRIES - link.failed_checks % MAX_TRIES
            if link.failed_checks % MAX_TRIES == 0:
                rounds = link.failed_checks // MAX_TRIES
                link.locked_until = now + min(LOCK_FOR * 2 ** (rounds - 1), MAX_LOCK)
                audit.record(
                    session,
                    actor="borrower",
                    action="link.locked",
                    entity_type="link",
                    entity_id=link.id,
                    client_id=link.client_id,
                    reason=f"{link.failed_checks} wrong identity answers; locked until {link.locked_until.isoformat()}",
                )
                return VerifyResult.LOCKED, 0
            return VerifyResult.WRONG, left

    async def due(self, ref: LinkRef) -> DueView:
        async with self.db.sessions() as session:
            link = await session.get_one(Link, ref.link_id)
            case = await session.get_one(Case, link.case_id)
            client = await session.get_one(Client, link.client_id)
            debtor = await session.get_one(Debtor, case.debtor_id)
            debts = list((await session.execute(select(Debt).where(Debt.case_id == case.id))).scalars())
        name = self.pii.decrypt(debtor.name_enc, column="debtors.name", row_id=debtor.id)
        principal = sum(d.principal_fen for d in debts)
        interest = sum(d.interest_fen for d in debts)
        fees = sum(d.fees_fen for d in debts)
        total = principal + interest + fees
        open_debts = [d.due_date for d in debts if d.principal_fen + d.interest_fen + d.fees_fen > 0]
        status = LinkStatus(link.status)
        choice = (
            payable_range(policy_from_json(link.policy), total, link.paid_fen) if status in PAYABLE else None
        )
        return DueView(
            creditor_name=case.creditor_name or client.name,
            debtor_name_masked=mask_name(name),
            principal_fen=principal,
            interest_fen=interest,
            fees_fen=fees,
            total_fen=total,
            earliest_due=min(open_debts) if open_debts else None,
            choice=choice,
            link_status=status,
        )

    async def check_payment(self, ref: LinkRef, amount_fen: int, channel: str) -> tuple[Link, DueView]:
        """What start_payment checks before it creates an order; raises the same errors.

        The pay page runs it before sending a WeChat browser through OAuth, so a wrong amount is told
        at once rather than after the round trip.
        """
        if channel not in ref.channels:
            raise FieldError("channel", "is not offered by this link")
        due = await self.due(ref)
        if due.choice is None:
            raise Conflict("nothing is payable through this link now")
        check_amount(due.choice, amount_fen)
        async with self.db.sessions() as session:
            link = await session.get_one(Link, ref.link_id)
        if link.max_payments is not None and link.payments_count >= link.max_payments:
            raise Conflict("this link has reached its number of payments")
        return link, due

    async def start_payment(
        self,
        ref: LinkRef,
        amount_fen: int,
        channel: str,
        scene: Scene,
        return_url: str,
        client_ip: str,
        payer_id: str = "",
    ) -> StartedOrder:
        link, due = await self.check_payment(ref, amount_fen, channel)
        return await self.orders.start(
            client_id=link.client_id,
            case_id=link.case_id,
            link_id=link.id,
            provider=channel,
            amount_fen=amount_fen,
            scene=scene,
            subject=f"还款 {due.creditor_name}"[:60],
            return_url=return_url,
            client_ip=client_ip,
            payer_id=payer_id,
        )

    async def order_view(self, ref: LinkRef, order_id: str) -> OrderView | None:
        async with self.db.sessions() as session:
            order = await session.get(Order, order_id)
            if order is None or order.link_id != ref.link_id:
                return None
            rows = await session.execute(
                select(Debt.principal_fen, Debt.interest_fen, Debt.fees_fen).where(
                    Debt.case_id == order.case_id
                )
            )
            remaining = sum(p + i + f for p, i, f in rows.all())
            # Money recorded but not applied yet (a moment, normally): the receipt would show a
            # balance that is about to change, so the page keeps waiting until it has been applied.
            payments = (
                await session.execute(
                    select(Payment.amount_fen, Payment.status).where(Payment.order_id == order.id)
                )
            ).all()
            unapplied = any(status == "unmatched" for _, status in payments)
            # The receipt shows what the provider says was paid, which can differ from what was asked.
            received = sum(fen for fen, _ in payments)
        return OrderView(
            order.id,
            "pending" if order.status == "paid" and unapplied else order.status,
            received or order.amount_fen,
            order.out_trade_no,
            order.provider,
            order.paid_at,
            remaining,
        )

    async def latest_order(self, ref: LinkRef) -> OrderView | None:
        async with self.db.sessions() as session:
            order_id = await session.scalar(
                select(Order.id).where(Order.link_id == ref.link_id).order_by(Order.id.desc()).limit(1)
            )
        return await self.order_view(ref, order_id) if order_id else None

    async def qr_payload(self, order_id: str) -> str | None:
        async with self.db.sessions() as session:
            return await session.scalar(select(Order.qr_payload).where(Order.id == order_id))

    async def provider_ref(self, order_id: str) -> str:
        """The rail's handle of the order (for a WeChat JSAPI order, its prepay package)."""
        async with self.db.sessions() as session:
            return await session.scalar(select(Order.provider_ref).where(Order.id == order_id)) or ""
