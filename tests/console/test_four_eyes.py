"""Actions above the four-eyes amount wait for a second person, an approver other than the requester."""

from __future__ import annotations

from sqlalchemy import func, select

from payments.persistence.tables import AllocationRow
from payments.persistence.tables_console import Approval
from payments.services.container import Services
from tests.api.conftest import debt
from tests.console.conftest import (
    NewBrowser,
    add_staff,
    audit_count,
    candidate,
    item_row,
    logged_in,
    new_case,
    post_form,
    review_item,
)

BIG_FEN = 800_000  # 8,000.00 yuan: above the default four-eyes amount of 5,000.00


async def _requested(services: Services, client, new_browser: NewBrowser, tenant):  # type: ignore[no-untyped-def]
    case = await new_case(client, tenant, debt("D1", "2024-01-31", principal="9000.00"))
    item = await review_item(services, tenant.client_id, BIG_FEN, [candidate([case["id"]])])
    clerk = await add_staff(services, "clerk", tenant.client_id)
    browser = await logged_in(new_browser, clerk)
    resp = await post_form(
        browser, f"/console/queue/{item.id}", f"/console/queue/{item.id}/match", {"case": case["id"]}
    )
    assert resp.status_code == 303 and resp.headers["location"].endswith("msg=approval_requested"), resp.text
    async with services.db.sessions() as session:
        approval = await session.scalar(select(Approval).where(Approval.review_item_id == item.id))
    assert approval is not None
    return item, approval, clerk, browser


async def _allocated(services: Services, payment_id: str) -> int:
    async with services.db.sessions() as session:
        return int(
            await session.scalar(
                select(func.coalesce(func.sum(AllocationRow.amount_fen), 0)).where(
                    AllocationRow.payment_id == payment_id
                )
            )
            or 0
        )


async def test_a_large_match_only_records_a_request(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item, approval, _, _ = await _requested(services, client, new_browser, tenant)
    assert approval.status == "pending" and approval.action == "match"
    assert (await item_row(services, item.id)).status == "open"
    assert await _allocated(services, item.payment_id) == 0


async def test_a_clerk_cannot_approve(services: Services, client, new_browser: NewBrowser, tenant) -> None:
    item, approval, _, _ = await _requested(services, client, new_browser, tenant)
    other_clerk = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await post_form(other_clerk, "/console/approvals", f"/console/approvals/{approval.id}/approve", {})
    assert resp.status_code == 403
    assert (await item_row(services, item.id)).status == "open"


async def test_an_approver_cannot_approve_their_own_request(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    case = await new_case(client, tenant, debt("D1", "2024-01-31", principal="9000.00"))
    item = await review_item(services, tenant.client_id, BIG_FEN, [candidate([case["id"]])])
    approver = await logged_in(new_browser, await add_staff(services, "approver", tenant.client_id))
    await post_form(
        approver, f"/console/queue/{item.id}", f"/console/queue/{item.id}/match", {"case": case["id"]}
    )
    async with services.db.sessions() as session:
        approval = await session.scalar(select(Approval).where(Approval.review_item_id == item.id))
    assert approval is not None
    resp = await post_form(approver, "/console/approvals", f"/console/approvals/{approval.id}/approve", {})
    assert resp.status_code == 403
    assert "不能审批自己提交的申请" in resp.text
    assert (await item_row(services, item.id)).status == "open"


async def test_a_second_person_approves_and_the_match_is_carried_out(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item, approval, clerk, _ = await _requested(services, client, new_browser, tenant)
    approver = await add_staff(services, "approver", tenant.client_id)
    browser = await logged_in(new_browser, approver)
    resp = await post_form(
        browser, "/console/approvals", f"/console/approvals/{approval.id}/approve", {"note": "ok"}
    )
    assert resp.status_code == 303, resp.text
    row = await item_row(services, item.id)
    assert row.status == "matched" and row.resolution
    assert row.resolution["requested_by"] == clerk.username
    assert row.resolution["approved_by"] == approver.username
    assert await _allocated(services, item.payment_id) == BIG_FEN
    assert await audit_count(services, "review.approved", approval.id) == 1


async def test_an_item_waiting_for_approval_takes_no_other_action(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item, _, _, browser = await _requested(services, client, new_browser, tenant)
    resp = await post_form(
        browser, f"/console/queue/{item.id}", f"/console/queue/{item.id}/ignore", {"reason": "x"}
    )
    assert resp.status_code == 409
    assert "待审批" in resp.text


async def test_a_rejected_request_leaves_the_payment_open(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item, approval, _, _ = await _requested(services, client, new_browser, tenant)
    approver = await logged_in(new_browser, await add_staff(services, "approver", tenant.client_id))
    resp = await post_form(approver, "/console/approvals", f"/console/approvals/{approval.id}/decline", {})
    assert resp.status_code == 303 and resp.headers["location"].endswith("msg=rejected")
    assert (await item_row(services, item.id)).status == "open"
    assert await _allocated(services, item.payment_id) == 0
