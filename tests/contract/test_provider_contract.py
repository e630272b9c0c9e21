"""One contract, three rails: each adapter honours the Provider protocol against its own sandbox."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from payments.domain.money import Money
from providers.base import (
    BEIJING,
    ExpectedOrder,
    InAppPayments,
    NotificationRejected,
    OrderRequest,
    PayAction,
    Provider,
    RefundRequest,
    RejectReason,
    Scene,
    StatementError,
    TxnStatus,
)
from providers.registry import RAILS, Rails, _provider, sandbox_pay, sandbox_rails
from providers.simulator import SandboxOptions

BASE = "http://merchant.test"


@dataclass
class Rig:
    name: str
    rails: Rails
    provider: Provider
    notifications: list[httpx.Request] = field(default_factory=list)

    async def order(
        self, fen: int = 12345, scene: Scene = Scene.QR, payer_id: str = ""
    ) -> tuple[str, PayAction]:
        out_trade_no = "CT" + secrets.token_hex(10).upper()
        action = await self.provider.create_order(OrderRequest(
            out_trade_no=out_trade_no, amount=Money(fen), subject="contract test", notify_url=f"{BASE}/notify",
            return_url=f"{BASE}/back", expires_at=datetime.now(UTC) + timedelta(minutes=30), scene=scene,
            payer_id=payer_id,
        ))
        if action.kind == "form":
            # The bank's hosted page learns of the order only when the browser posts the signed form.
            answer = await self.rails.sandboxes[self.name].handle(
                httpx.Request("POST", action.url, data=dict(action.fields)))
            assert answer.status_code < 400, answer.text
        return out_trade_no, action

    async def pay(self, out_trade_no: str, outcome: str = "pay") -> httpx.Request:
        before = len(self.notifications)
        await sandbox_pay(self.rails, self.name, out_trade_no, outcome)
        await asyncio.wait_for(self.rails.sandboxes[self.name].sender.drain(), 10)  # type: ignore[attr-defined]
        assert len(self.notifications) > before, "the sandbox sent no notification"
        return self.notifications[before]


@pytest.fixture(params=RAILS)
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    holder: dict[str, Rig] = {}

    def answer(req: httpx.Request) -> httpx.Response:
        holder["rig"].notifications.append(req)
        ack = holder["rig"].provider.ack_success()
        return httpx.Response(ack.status_code, content=ack.body)

    def notify_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(answer))

    options = SandboxOptions(data_dir=tmp_path, public_base_url=BASE, time_factor=10_000)
    rails = sandbox_rails(options, notify_client, enabled=(request.param,))
    holder["rig"] = Rig(request.param, rails, rails.providers[request.param])
    yield holder["rig"]
    await rails.aclose()


def _headers(req: httpx.Request) -> dict[str, str]:
    return {k.lower(): v for k, v in req.headers.items()}


async def test_adapter_satisfies_the_provider_protocol(rig: Rig):
    assert isinstance(rig.provider, Provider)
    assert rig.provider.name == rig.name


async def test_qr_scene_gives_something_a_page_can_show(rig: Rig):
    _, action = await rig.order(scene=Scene.QR)
    assert (action.kind == "qr" and action.qr_payload) or (action.kind == "form" and action.fields)


async def test_mobile_scene_sends_the_browser_to_the_provider(rig: Rig):
    _, action = await rig.order(scene=Scene.MOBILE)
    assert action.kind in ("redirect", "form") and action.url


async def test_in_app_scene_gives_something_the_page_can_act_on(rig: Rig):
    payer_id = ""
    if isinstance(rig.provider, InAppPayments):
        # The wallet's web OAuth, as a browser inside the app goes through it.
        url = rig.provider.payer_auth_url(f"{BASE}/pay/t/in-app/{rig.name}", "S1")
        answer = await rig.rails.sandboxes[rig.name].handle(httpx.Request("GET", url))
        payer_id = await rig.provider.payer_id_for_code(httpx.URL(answer.headers["location"]).params["code"])
    _, action = await rig.order(scene=Scene.IN_APP, payer_id=payer_id)
    if action.kind == "bridge":
        assert isinstance(rig.provider, InAppPayments) and rig.provider.bridge_params(action.provider_ref)
    else:  # a rail without an in-app product treats the scene as mobile
        assert action.kind in ("redirect", "form") and action.url


async def test_paid_order_notification_parses_into_a_successful_payment(rig: Rig):
    out_trade_no, _ = await rig.order(fen=12345)
    req = await rig.pay(out_trade_no)
    event = rig.provider.parse_notification(_headers(req), req.content, datetime.now(UTC))
    assert (event.kind, event.status, event.out_trade_no, event.amount, event.merchant_id) == (
        "payment", TxnStatus.SUCCESS, out_trade_no, Money(12345), rig.provider.merchant_id)


async def test_integrity_check_accepts_the_order_it_was_paid_for(rig: Rig):
    out_trade_no, _ = await rig.order(fen=500)
    req = await rig.pay(out_trade_no)
    event = rig.provider.parse_notification(_headers(req), req.content, datetime.now(UTC))
    rig.provider.check_integrity(event, ExpectedOrder(out_trade_no, Money(500)))


async def test_integrity_check_refuses_another_amount(rig: Rig):
    out_trade_no, _ = await rig.order(fen=500)
    req = await rig.pay(out_trade_no)
    event = rig.provider.parse_notification(_headers(req), req.content, datetime.now(UTC))
    with pytest.raises(NotificationRejected) as err:
        rig.provider.check_integrity(event, ExpectedOrder(out_trade_no, Money(501)))
    assert err.value.reason is RejectReason.AMOUNT_MISMATCH


async def test_a_tampered_notification_is_refused(rig: Rig):
    out_trade_no, _ = await rig.order(fen=700)
    req = await rig.pay(out_trade_no)
    body = req.content.replace(b"700", b"701", 1) if b"700" in req.content else req.content[:-2] + b"xx"
    with pytest.raises(NotificationRejected):
        rig.provider.parse_notification(_headers(req), body, datetime.now(UTC))


@pytest.mark.parametrize("body", [b"", b"\xff\xfe\x00garbage", b"{}", b"a=b&c=d"])
async def test_garbage_raises_only_notification_rejected(rig: Rig, body: bytes):
    with pytest.raises(NotificationRejected):
        rig.provider.parse_notification({}, body, datetime.now(UTC))


async def test_acknowledgements_differ_for_success_and_failure(rig: Rig):
    ok, failed = rig.provider.ack_success(), rig.provider.ack_failure("test")
    assert 200 <= ok.status_code < 300 and (ok.status_code, ok.body) != (failed.status_code, failed.body)


async def test_a_restarted_adapter_finds_the_paid_order_by_its_reference(rig: Rig):
    out_trade_no, action = await rig.order()
    req = await rig.pay(out_trade_no)
    event = rig.provider.parse_notification(_headers(req), req.content, datetime.now(UTC))
    fresh = _provider(rig.provider.config, httpx.AsyncClient(  # type: ignore[attr-defined]
        transport=rig.rails.sandboxes[rig.name].transport()))
    state = await fresh.query_order(out_trade_no, action.provider_ref)
    assert (state.status, state.provider_txn_id) == (TxnStatus.SUCCESS, event.provider_txn_id)


async def test_an_unpaid_order_is_not_reported_paid(rig: Rig):
    out_trade_no, action = await rig.order()
    state = await rig.provider.query_order(out_trade_no, action.provider_ref)
    assert state.status in (TxnStatus.PENDING, TxnStatus.NOT_FOUND)


async def test_refunding_twice_with_one_number_refunds_once(rig: Rig):
    out_trade_no, action = await rig.order(fen=1000)
    req = await rig.pay(out_trade_no)
    event = rig.provider.parse_notification(_headers(req), req.content, datetime.now(UTC))
    refund = RefundRequest(out_trade_no=out_trade_no, refund_no="RF" + secrets.token_hex(8).upper(),
                           amount=Money(300), order_total=Money(1000), provider_txn_id=event.provider_txn_id,
                           provider_ref=action.provider_ref)
    first = await rig.provider.refund(refund)
    second = await rig.provider.refund(refund)
    assert (first.refund_no, second.refund_no) == (refund.refund_no, refund.refund_no)
    await asyncio.wait_for(rig.rails.sandboxes[rig.name].sender.drain(), 10)  # type: ignore[attr-defined]
    day = datetime.now(BEIJING).date()
    lines = rig.provider.parse_statement(await rig.provider.fetch_statement(day))
    refunds = [ln for ln in lines if ln.kind == "refund" and ln.out_trade_no == out_trade_no]
    assert [ln.amount for ln in refunds] == [Money(-300)]


async def test_the_statement_lists_a_payment_that_was_never_notified(rig: Rig):
    out_trade_no, _ = await rig.order(fen=4321)
    await sandbox_pay(rig.rails, rig.name, out_trade_no, "no_notify")
    day = datetime.now(BEIJING).date()
    lines = rig.provider.parse_statement(await rig.provider.fetch_statement(day))
    assert [(ln.kind, ln.amount) for ln in lines if ln.out_trade_no == out_trade_no] == [("payment", Money(4321))]


@pytest.mark.parametrize("data", [b"", b"not a statement", b"PK\x03\x04broken zip"])
async def test_a_broken_statement_raises_only_statement_error(rig: Rig, data: bytes):
    with pytest.raises(StatementError):
        rig.provider.parse_statement(data)
