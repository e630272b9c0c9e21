"""A user of client A never sees client B's data: every id of B answers exactly like an unknown id."""

from __future__ import annotations

from datetime import timedelta

import httpx

from payments.outbox.signing import new_secret
from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import WebhookEndpoint, WebhookMessage
from payments.services.container import Services
from tests.console.conftest import (
    ONE_DEBT,
    NewBrowser,
    add_staff,
    candidate,
    item_row,
    logged_in,
    new_case,
    post_form,
    review_item,
)


async def _same_as_unknown(browser: httpx.AsyncClient, path: str, unknown: str) -> None:
    theirs = await browser.get(path)
    missing = await browser.get(unknown)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.text == missing.text


async def webhook_message(services: Services, client_id: str, status: str = "failed") -> str:
    now = utcnow()
    endpoint_id, message_id = new_id("whe"), new_id("msg")
    async with services.db.transaction() as session:
        session.add(
            WebhookEndpoint(
                id=endpoint_id,
                client_id=client_id,
                url="https://case-system.example.com/hooks",
                description="",
                event_types=None,
                secret_enc=services.pii.encrypt(
                    new_secret(), column="webhook_endpoints.secret", row_id=endpoint_id
                ),
                status="enabled",
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        session.add(
            WebhookMessage(
                id=message_id,
                client_id=client_id,
                endpoint_id=endpoint_id,
                event_id=new_id("evt"),
                event_type="payment.matched",
                case_id=None,
                body=b"{}",
                status=status,
                attempts=3,
                tries=3,
                next_attempt_at=None,
                last_attempt_at=now - timedelta(minutes=5),
                last_status_code=500,
                created_at=now - timedelta(minutes=10),
            )
        )
    return message_id


async def test_another_clients_review_item_is_not_found(
    services: Services, client, new_browser: NewBrowser, tenant, other_tenant
) -> None:
    theirs = await review_item(services, other_tenant.client_id, 10_000)
    browser = await logged_in(new_browser, await add_staff(services, "approver", tenant.client_id))
    await _same_as_unknown(browser, f"/console/queue/{theirs.id}", f"/console/queue/{new_id('rvw')}")


async def test_another_clients_review_item_cannot_be_acted_on(
    services: Services, client, new_browser: NewBrowser, tenant, other_tenant
) -> None:
    theirs = await review_item(services, other_tenant.client_id, 10_000)
    browser = await logged_in(new_browser, await add_staff(services, "approver", tenant.client_id))
    resp = await post_form(
        browser, "/console/queue", f"/console/queue/{theirs.id}/ignore", {"reason": "mine now"}
    )
    assert resp.status_code == 404
    assert (await item_row(services, theirs.id)).status == "open"


async def test_another_clients_review_item_is_not_in_the_queue(
    services: Services, client, new_browser: NewBrowser, tenant, other_tenant
) -> None:
    theirs = await review_item(services, other_tenant.client_id, 10_000)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    assert theirs.id not in (await browser.get("/console/queue")).text


async def test_another_clients_case_is_not_found(
    services: Services, client, new_browser: NewBrowser, tenant, other_tenant
) -> None:
    theirs = await new_case(client, other_tenant, ONE_DEBT)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    await _same_as_unknown(browser, f"/console/cases/{theirs['id']}", f"/console/cases/{new_id('case')}")
    found = await browser.get("/console/cases", params={"q": theirs["external_ref"]})
    assert theirs["id"] not in found.text


async def test_another_clients_payment_is_not_found(
    services: Services, client, new_browser: NewBrowser, tenant, other_tenant
) -> None:
    theirs = await review_item(services, other_tenant.client_id, 10_000)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    await _same_as_unknown(
        browser, f"/console/payments/{theirs.payment_id}", f"/console/payments/{new_id('pay')}"
    )


async def test_another_clients_webhook_message_is_not_found(
    services: Services, client, new_browser: NewBrowser, tenant, other_tenant
) -> None:
    theirs = await webhook_message(services, other_tenant.client_id)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    await _same_as_unknown(browser, f"/console/webhooks/{theirs}", f"/console/webhooks/{new_id('msg')}")
    replay = await post_form(browser, "/console/webhooks", f"/console/webhooks/{theirs}/replay", {})
    assert replay.status_code == 404


async def test_matching_to_another_clients_case_is_refused_like_an_unknown_case(
    services: Services, client, new_browser: NewBrowser, tenant, other_tenant
) -> None:
    theirs = await new_case(client, other_tenant, ONE_DEBT)
    item = await review_item(services, tenant.client_id, 10_000, [candidate([theirs["id"]])])
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    page = await browser.get(f"/console/queue/{item.id}")
    assert theirs["external_ref"] not in page.text  # a candidate of another client is not shown
    theirs_resp = await post_form(
        browser, f"/console/queue/{item.id}", f"/console/queue/{item.id}/match", {"case": theirs["id"]}
    )
    unknown_resp = await post_form(
        browser, f"/console/queue/{item.id}", f"/console/queue/{item.id}/match", {"case": "case_nope"}
    )
    assert theirs_resp.status_code == unknown_resp.status_code == 422
    assert (await item_row(services, item.id)).status == "open"


async def test_an_all_clients_user_sees_every_clients_queue(
    services: Services, client, new_browser: NewBrowser, tenant, other_tenant
) -> None:
    # An amount no other test uses, so the first page is this test's whatever the shared database holds.
    mine = await review_item(services, tenant.client_id, 987_654)
    theirs = await review_item(services, other_tenant.client_id, 987_654)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", None))
    page = (await browser.get("/console/queue?min=9876.54&max=9876.54")).text
    assert mine.id in page and theirs.id in page


async def test_webhook_replay_queues_the_message_again_and_is_audited(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    from tests.console.conftest import audit_count

    message_id = await webhook_message(services, tenant.client_id)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    page = await browser.get(f"/console/webhooks/{message_id}")
    assert page.status_code == 200 and "payment.matched" in page.text
    resp = await post_form(
        browser, f"/console/webhooks/{message_id}", f"/console/webhooks/{message_id}/replay", {}
    )
    assert resp.status_code == 303
    assert await audit_count(services, "webhook_message.replayed", message_id) == 1
