"""Statement exceptions with their resolution, and the daily report: SVG charts and the CSV export."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import PaymentException
from payments.services.container import Services
from tests.console.conftest import NewBrowser, add_staff, audit_count, logged_in, post_form, review_item


async def exception(services: Services, client_id: str) -> str:
    exception_id = new_id("exc")
    async with services.db.transaction() as session:
        session.add(
            PaymentException(
                id=exception_id,
                client_id=client_id,
                kind="statement_amount_mismatch",
                provider="alipay",
                out_trade_no="PR123",
                payment_id=None,
                details={"ours_fen": 10_000, "statement_fen": 9_900},
                created_at=utcnow(),
                resolved_at=None,
            )
        )
    return exception_id


async def test_an_exception_is_resolved_with_a_note(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    exception_id = await exception(services, tenant.client_id)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    page = await browser.get("/console/exceptions")
    assert exception_id in page.text and "对账单金额不符" in page.text
    resp = await post_form(
        browser,
        "/console/exceptions",
        f"/console/exceptions/{exception_id}/resolve",
        {"note": "provider fee"},
    )
    assert resp.status_code == 303
    async with services.db.sessions() as session:
        row = await session.get_one(PaymentException, exception_id)
    assert row.resolved_at is not None and row.details["resolution"]["note"] == "provider fee"
    assert await audit_count(services, "payment_exception.resolved", exception_id) == 1


async def test_resolving_an_exception_needs_a_note(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    exception_id = await exception(services, tenant.client_id)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await post_form(
        browser, "/console/exceptions", f"/console/exceptions/{exception_id}/resolve", {"note": ""}
    )
    assert resp.status_code == 422
    async with services.db.sessions() as session:
        assert (await session.get_one(PaymentException, exception_id)).resolved_at is None


async def test_another_clients_exception_cannot_be_resolved(
    services: Services, client, new_browser: NewBrowser, tenant, other_tenant
) -> None:
    exception_id = await exception(services, other_tenant.client_id)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    assert exception_id not in (await browser.get("/console/exceptions")).text
    resp = await post_form(
        browser, "/console/exceptions", f"/console/exceptions/{exception_id}/resolve", {"note": "x"}
    )
    assert resp.status_code == 404


async def test_the_csv_export_has_a_bom_and_reads_as_utf8(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    await review_item(services, tenant.client_id, 12_345)
    user = await add_staff(services, "clerk", tenant.client_id)
    browser = await logged_in(new_browser, user)
    resp = await browser.get("/console/reports/daily.csv")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    assert resp.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[0][0] == "日期 Day"
    assert any(r[1] == tenant.client_id and r[9] == "123.45" for r in rows[1:]), rows
    assert await audit_count(services, "report.exported") >= 1


async def test_the_report_page_draws_its_charts_as_svg(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    await review_item(services, tenant.client_id, 12_345, age_days=2)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    page = await browser.get("/console/reports")
    assert page.status_code == 200
    assert page.text.count("<svg") == 3
    for name in ("days", "providers", "aging"):
        resp = await browser.get(f"/console/reports/chart/{name}.svg")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("image/svg+xml")
        root = ET.fromstring(resp.text)  # noqa: S314  (our own output, in a test)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.findall(".//{http://www.w3.org/2000/svg}rect")


async def test_the_csv_export_holds_only_the_users_clients(
    services: Services, client, new_browser: NewBrowser, tenant, other_tenant
) -> None:
    await review_item(services, other_tenant.client_id, 54_321)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await browser.get("/console/reports/daily.csv")
    assert other_tenant.client_id not in resp.content.decode("utf-8-sig")
