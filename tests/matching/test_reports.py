"""The daily reconciliation report through the API: JSON and an Excel-friendly CSV."""

from __future__ import annotations

from datetime import datetime

from payments.services.container import Services
from providers.base import BEIJING
from reconciliation.matching import match_unreferenced
from tests.conftest import Tenant
from tests.matching.conftest import line, make_case, transfer


async def _day_with_activity(client, services: Services, tenant: Tenant) -> str:
    await make_case(client, tenant, name="王小明", ref="HT2024-400001", principal="1500.00")
    await transfer(
        services,
        tenant,
        line(150_000, memo="HT2024-400001", payer_name="王小明"),
        line(3_333, memo="货款", payer_name="某某贸易有限公司"),
    )
    await match_unreferenced(services, client_id=tenant.client_id)
    return datetime.now(BEIJING).date().isoformat()


async def test_the_report_counts_matched_and_review_payments_of_the_day(
    client, services: Services, tenant: Tenant
):
    day = await _day_with_activity(client, services, tenant)

    resp = await client.get(f"/v1/reports/daily?start={day}&end={day}", headers=tenant.finance_headers)

    assert resp.status_code == 200, resp.text
    [row] = resp.json()["rows"]
    assert (row["provider"], row["payments_count"], row["payments_fen"]) == ("bank_transfer", 2, 153_333)
    assert (row["matched_count"], row["auto_applied_count"], row["review_count"], row["review_fen"]) == (
        1,
        1,
        1,
        3_333,
    )


async def test_the_csv_report_starts_with_a_byte_order_mark_and_has_yuan_amounts(
    client, services: Services, tenant: Tenant
):
    day = await _day_with_activity(client, services, tenant)

    resp = await client.get(
        f"/v1/reports/daily?start={day}&end={day}&format=csv", headers=tenant.finance_headers
    )

    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.content.startswith(b"\xef\xbb\xbf")
    text = resp.content.decode("utf-8-sig")
    header, data = text.splitlines()[:2]
    assert header.startswith("日期 Day,")
    assert ",1533.33," in data and ",33.33," in data


async def test_another_clients_report_does_not_show_this_clients_payments(
    client, services: Services, tenant: Tenant, other_tenant: Tenant
):
    day = await _day_with_activity(client, services, tenant)

    resp = await client.get(f"/v1/reports/daily?start={day}&end={day}", headers=other_tenant.finance_headers)

    assert resp.status_code == 200 and resp.json()["rows"] == []


async def test_a_report_with_a_malformed_date_is_a_problem_naming_the_field(client, tenant: Tenant):
    resp = await client.get("/v1/reports/daily?start=2026-13-01", headers=tenant.finance_headers)

    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == ["start"]


async def test_a_report_longer_than_a_year_is_refused(client, tenant: Tenant):
    resp = await client.get(
        "/v1/reports/daily?start=2025-01-01&end=2026-06-01", headers=tenant.finance_headers
    )

    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["end"]


async def test_a_report_without_an_api_key_is_refused(client):
    resp = await client.get("/v1/reports/daily")

    assert resp.status_code == 401
