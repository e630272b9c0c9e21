"""Repayment links for case systems: issue, read, revoke, approve (settlement offers), expire."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, date, datetime, time, timedelta, timezone

import msgspec
from sqlalchemy import func, select

from payments.domain.errors import Conflict, FieldError, NotFound
from payments.domain.links import (
    AmountPolicy,
    Instalment,
    LinkStatus,
    PolicyKind,
    check_against_balance,
    expiry_for,
    link_transition,
)
from payments.domain.money import check_fen, format_yuan, parse_yuan
from payments.persistence.db import Database, utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Case, Client, Debt, Link
from payments.security.pii import PiiCipher
from payments.services import audit
from payments.services.access import Principal
from payments.services.outbox import emit

BEIJING = timezone(timedelta(hours=8))
CHANNELS = ("alipay", "wechatpay", "bankcard")


class InstalmentIn(msgspec.Struct, forbid_unknown_fields=True):
    due_date: date
    amount: str | None = None
    amount_fen: int | None = None


class AmountPolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: PolicyKind = PolicyKind.FULL_BALANCE
    amount: str | None = None
    amount_fen: int | None = None
    min_amount: str | None = None
    min_amount_fen: int | None = None
    settle_by: date | None = None
    instalments: list[InstalmentIn] = []


class LinkIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_policy: AmountPolicyIn = msgspec.field(default_factory=AmountPolicyIn)
    expires_at: datetime | None = None
    channels: list[str] | None = None  # default: every enabled channel
    max_payments: int | None = None


class LinkView(msgspec.Struct):
    id: str
    case_id: str
    url: str
    qr_png_url: str
    qr_svg_url: str
    status: str
    amount_policy: dict[str, object]
    channels: list[str]
    max_payments: int | None
    payments_count: int
    paid: str
    paid_fen: int
    expires_at: datetime
    created_at: datetime
    approved_at: datetime | None


def _fen(text: str | None, fen: int | None, field: str, *, required: bool) -> int:
    if text is not None and fen is not None:
        raise FieldError(field, f"give {field.rsplit('.', 1)[-1]} or its _fen form, not both")
    if text is not None:
        return parse_yuan(text, field)
    if fen is not None:
        return check_fen(fen, f"{field}_fen")
    if required:
        raise FieldError(field, "is required")
    return 0


def to_policy(data: AmountPolicyIn) -> AmountPolicy:
    kind = data.kind
    base = "amount_policy"
    return AmountPolicy(
        kind=kind,
        amount_fen=_fen(
            data.amount,
            data.amount_fen,
            f"{base}.amount",
            required=kind in (PolicyKind.FIXED, PolicyKind.SETTLEMENT),
        ),
        min_fen=_fen(
            data.min_amount, data.min_amount_fen, f"{base}.min_amount", required=kind is PolicyKind.RANGE
        ),
        settle_by=data.settle_by,
        instalments=tuple(
            Instalment(
                _fen(i.amount, i.amount_fen, f"{base}.instalments[{n}].amount", required=True), i.due_date
            )
            for n, i in enumerate(data.instalments)
        )
        if kind is PolicyKind.INSTALMENTS
        else (),
    )


def policy_to_json(p: AmountPolicy) -> dict[str, object]:
    out: dict[str, object] = {"kind": p.kind.value}
    if p.kind in (PolicyKind.FIXED, PolicyKind.SETTLEMENT):
        out |= {"amount": format_yuan(p.amount_fen), "amount_fen": p.amount_fen}
    if p.kind is PolicyKind.RANGE:
        out |= {"min_amount": format_yuan(p.min_fen), "min_amount_fen": p.min_fen}
    if p.settle_by:
        out["settle_by"] = p.settle_by.isoformat()
    if p.instalments:
        out["instalments"] = [
            {
                "due_date": i.due_date.isoformat(),
                "amount": format_yuan(i.amount_fen),
                "amount_fen": i.amount_fen,
            }
            for i in p.instalments
        ]
    return out


def policy_from_json(data: dict[str, object]) -> AmountPolicy:
    kind = PolicyKind(str(data["kind"]))
    return AmountPolicy(
        kind=kind,
        amount_fen=int(data.get("amount_fen", 0)),  # type: ignore[arg-type]
        min_fen=int(data.get("min_amount_fen", 0)),  # type: ignore[arg-type]
        settle_by=date.fromisoformat(str(data["settle_by"])) if data.get("settle_by") else None,
        instalments=tuple(
            Instalment(int(i["amount_fen"]), date.fromisoformat(i["due_date"]))
            for i in data.get("instalments", [])  # type: ignore[union-attr]
        ),
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LinkService:
    def __init__(
        self, db: Database, pii: PiiCipher, public_base_url: str, enabled_channels: tuple[str, ...]
    ) -> None:
        self.db = db
        self.pii = pii
        self.public_base_url = public_base_url
        self.enabled_channels = enabled_channels

    def url_for(self, token: str) -> str:
        return f"{self.public_base_url}/pay/{token}"

    async def issue_link(self, principal: Principal, case_id: str, data: LinkIn) -> LinkView:
        policy = to_policy(data.amount_policy)
        now = utcnow()
        if policy.settle_by is not None and policy.settle_by < now.astimezone(BEIJING).date():
            raise FieldError("amount_policy.settle_by", "must not be in the past")
        requested = data.expires_at
        if requested is None and policy.settle_by is not None:
            # A settlement offer lives until the end of its last day (Beijing), not the default week.
            requested = datetime.combine(policy.settle_by, time(23, 59, 59), BEIJING)
        expires_at = expiry_for(now, requested).astimezone(UTC)
        if policy.settle_by is not None:
            # Settlement dates are Beijing dates, as the borrower and the creditor read them.
            if policy.settle_by > expires_at.astimezone(BEIJING).date():
                raise FieldError("amount_policy.settle_by", "must not be after the link expires")
        channels = data.channels if data.channels is not None else list(self.enabled_channels)
        if not channels:
            raise FieldError("channels", "must allow at least one channel")
        for i, ch in enumerate(channels):
            if ch not in self.enabled_channels:
                raise FieldError(f"channels[{i}]", f"must be one of {', '.join(self.enabled_channels)}")
        if data.max_payments is not None and not 1 <= data.max_payments <= 1000:
            raise FieldError("max_payments", "must be between 1 and 1000")
        token = secrets.token_urlsafe(16)  # 128 bits, 22 characters: the URL fits an SMS
        link_id = new_id("lnk")
        async with self.db.transaction() as session:
            case = await session.get(Case, case_id)
            if case is None or case.client_id != principal.client_id:
                raise NotFound("no such case")
            if case.status not in ("open", "partially_paid", "on_hold"):
                raise Conflict(f"the case is {case.status}; links can only be issued for open cases")
            owed = await session.scalar(
                select(
                    func.coalesce(func.sum(Debt.principal_fen + Debt.interest_fen + Debt.fees_fen), 0)
                ).where(Debt.case_id == case_id)
            )
            check_against_balance(policy, int(owed or 0))
            client = await session.get_one(Client, principal.client_id)
            link = Link(
                id=link_id,
                client_id=principal.client_id,
                case_id=case_id,
                token_hash=token_hash(token),
                token_enc=self.pii.encrypt(token, column="links.token", row_id=link_id),
                policy=policy_to_json(policy),
                channels={"allowed": channels},
                status=(LinkStatus.CREATED if policy.needs_approval else LinkStatus.ACTIVE).value,
                max_payments=data.max_payments,
                payments_count=0,
                paid_fen=0,
                identity_check=client.identity_check,
                failed_checks=0,
                locked_until=None,
                expires_at=expires_at,
                approved_by=None,
                approved_at=None,
                created_at=now,
                updated_at=now,
            )
            session.add(link)
            audit.record(
                session,
                actor=principal.actor,
                action="link.created",
                entity_type="link",
                entity_id=link_id,
                client_id=principal.client_id,
                after={"case_id": case_id, "policy": link.policy, "status": link.status},
            )
            emit(
                session,
                principal.client_id,
                "link.created",
                case_id=case_id,
                payload={
                    "link_id": link_id,
                    "case_id": case_id,
                    "status": link.status,
                    "expires_at": expires_at.isoformat(),
                    "url": self.url_for(token),
                },
            )
        return self._view(link)

    async def get_link(self, principal: Principal, link_id: str) -> LinkView:
        async with self.db.sessions() as session:
            link = await session.get(Link, link_id)
        if link is None or link.client_id != principal.client_id:
            raise NotFound("no such link")
        return self._view(link)

    async def revoke_link(self, principal: Principal, link_id: str, reason: str = "") -> LinkView:
        return await self._move(principal, link_id, LinkStatus.REVOKED, "link.revoked", reason)

    async def approve_link(self, principal: Principal, link_id: str) -> LinkView:
        return await self._move(
            principal, link_id, LinkStatus.ACTIVE, "link.approved", "settlement offer approved"
        )

    async def _move(
        self, principal: Principal, link_id: str, target: LinkStatus, action: str, reason: str
    ) -> LinkView:
        async with self.db.transaction() as session:
            link = await session.get(Link, link_id, with_for_update=True)
            if link is None or link.client_id != principal.client_id:
                raise NotFound("no such link")
            before = link.status
            if target is LinkStatus.ACTIVE and before != LinkStatus.CREATED:
                raise Conflict(f"only a link waiting for approval can be approved; this one is {before}")
            link.status = link_transition(LinkStatus(before), target).value
            link.updated_at = utcnow()
            if target is LinkStatus.ACTIVE:
                link.approved_by, link.approved_at = principal.actor, link.updated_at
            audit.record(
                session,
                actor=principal.actor,
                action=action,
                entity_type="link",
                entity_id=link.id,
                client_id=link.client_id,
                before={"status": before},
                after={"status": link.status},
                reason=reason,
            )
        return self._view(link)

    async def expire_links(self, now: datetime, batch: int = 500) -> int:
        """Mark links past their expiry; one event per link. Safe to run on several workers at once."""
        async with self.db.transaction() as session:
            rows = list(
                (
                    await session.execute(
                        select(Link)
                        .where(
                            Link.status.in_(["created", "active", "partially_paid"]), Link.expires_at < now
                        )
                        .order_by(Link.id)
                        .limit(batch)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            for link in rows:
                before = link.status
                link.status = LinkStatus.EXPIRED.value
                link.updated_at = now
                audit.record(
                    session,
                    actor="job:link_expiry",
                    action="link.expired",
                    entity_type="link",
                    entity_id=link.id,
                    client_id=link.client_id,
                    before={"status": before},
                    after={"status": link.status},
                )
                emit(
                    session,
                    link.client_id,
                    "link.expired",
                    case_id=link.case_id,
                    payload={"link_id": link.id, "case_id": link.case_id},
                )
        return len(rows)

    def token_of(self, link: Link) -> str:
        return self.pii.decrypt(link.token_enc, column="links.token", row_id=link.id)

    def _view(self, link: Link) -> LinkView:
        url = self.url_for(self.token_of(link))
        return LinkView(
            id=link.id,
            case_id=link.case_id,
            url=url,
            qr_png_url=f"{url}/qr.png",
            qr_svg_url=f"{url}/qr.svg",
            status=_effective_status(link),
            amount_policy=link.policy,
            channels=list(link.channels["allowed"]),
            max_payments=link.max_payments,
            payments_count=link.payments_count,
            paid=format_yuan(link.paid_fen),
            paid_fen=link.paid_fen,
            expires_at=link.expires_at,
            created_at=link.created_at,
            approved_at=link.approved_at,
        )


def _effective_status(link: Link) -> str:
    """A link past its expiry reads as expired at once, before the expiry job gets to its row."""
    if link.status in ("created", "active", "partially_paid") and link.expires_at <= utcnow():
        return LinkStatus.EXPIRED.value
    return link.status
