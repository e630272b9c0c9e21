"""A bank-transfer refund is paid by hand: an approver confirms it on the payment page, once."""

from __future__ import annotations

from payments.persistence.tables import Payment, Refund
from payments.services.container import Services
from tests.console.conftest import NewBrowser, add_staff, csrf_of, item_row, logged_in, post_form, review_item


async def _refund_requested(services: Services, new_browser: NewBrowser, tenant) -> tuple[str, str]:
    item = await review_item(services, tenant.client_id, 25_000)
    clerk = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await post_form(
        clerk, f"/console/queue/{item.id}", f"/console/queue/{item.id}/refund", {"reason": "not our debtor"}
    )
    assert resp.status_code == 303, resp.text
    row = await item_row(services, item.id)
    assert row.resolution is not None
    return item.payment_id, row.resolution["refund_id"]


async def test_an_approver_confirms_a_refund_paid_by_hand(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    payment_id, refund_id = await _refund_requested(services, new_browser, tenant)
    approver = await logged_in(new_browser, await add_staff(services, "approver", tenant.client_id))
    page = await approver.get(f"/console/payments/{payment_id}")
    assert "确认已退款" in page.text

    resp = await post_form(
        approver,
        f"/console/payments/{payment_id}",
        f"/console/payments/{payment_id}/refunds/{refund_id}/confirm",
        {},
    )

    assert resp.status_code == 303 and resp.headers["location"].endswith("msg=refund_confirmed"), resp.text
    async with services.db.sessions() as session:
        refund = await session.get_one(Refund, refund_id)
        payment = await session.get_one(Payment, payment_id)
    assert refund.status == "success" and refund.reversed_at is not None
    assert (payment.status, payment.unapplied_fen) == ("refunded", 0)


async def test_a_clerk_cannot_confirm_a_refund(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    payment_id, refund_id = await _refund_requested(services, new_browser, tenant)
    clerk = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))

    resp = await post_form(
        clerk,
        f"/console/payments/{payment_id}",
        f"/console/payments/{payment_id}/refunds/{refund_id}/confirm",
        {},
    )

    assert resp.status_code == 403
    async with services.db.sessions() as session:
        assert (await session.get_one(Refund, refund_id)).status == "processing"


async def test_another_clients_approver_gets_not_found(
    services: Services, client, new_browser: NewBrowser, tenant, other_tenant
) -> None:
    payment_id, refund_id = await _refund_requested(services, new_browser, tenant)
    stranger = await logged_in(new_browser, await add_staff(services, "approver", other_tenant.client_id))
    page = await stranger.get("/console/queue")

    resp = await stranger.post(
        f"/console/payments/{payment_id}/refunds/{refund_id}/confirm",
        data={"_csrf_token": csrf_of(page.text)},
    )

    assert resp.status_code == 404
    async with services.db.sessions() as session:
        assert (await session.get_one(Refund, refund_id)).status == "processing"
