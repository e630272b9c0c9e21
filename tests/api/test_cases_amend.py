"""POST /v1/cases for an existing (client, external_ref): amend (200), refuse balances below zero."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import AllocationRow, Debt, Payment
from tests.api.conftest import assert_problem, case_body, cases_with_ref, count_cases, debt, new_ref


async def _create(client, tenant, body) -> dict:
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def _simulate_paid_principal(services, tenant, case_id: str, debt_ref: str, fen: int) -> None:
    """What the payment flow will do: a payment allocated to the principal of one debt."""
    async with services.db.transaction() as session:
        row = (
            await session.execute(select(Debt).where(Debt.case_id == case_id, Debt.debt_ref == debt_ref))
        ).scalar_one()
        now = utcnow()
        payment_id = new_id("pay")
        session.add(
            Payment(
                id=payment_id,
                client_id=tenant.client_id,
                provider="alipay",
                provider_txn_id=uuid.uuid4().hex,
                out_trade_no=None,
                amount_fen=fen,
                currency="CNY",
                source="notification",
                status="matched",
                unapplied_fen=0,
                received_at=now,
                created_at=now,
            )
        )
        await session.flush()
        session.add(
            AllocationRow(
                id=new_id("alc"),
                payment_id=payment_id,
                case_id=case_id,
                debt_id=row.id,
                component="principal",
                amount_fen=fen,
                basis="test",
                created_at=now,
            )
        )
        row.principal_fen -= fen


async def test_same_post_again_with_a_higher_component_amends_with_200(client, tenant):
    ref = new_ref()
    created = await _create(client, tenant, case_body(ref, debt(principal="1000.00")))
    resp = await client.post(
        "/v1/cases", json=case_body(ref, debt(principal="1200.00")), headers=tenant.headers
    )
    assert resp.status_code == 200, resp.text
    case = resp.json()
    assert case["id"] == created["id"]
    assert case["version"] == 2
    only = case["debts"][0]
    assert only["original"]["principal_fen"] == 100000
    assert only["owed"]["principal_fen"] == 120000
    assert only["balance"]["principal_fen"] == 120000
    assert case["balance"]["principal"] == "1200.00"
    assert len(await cases_with_ref(client, tenant.headers, ref)) == 1


async def test_increase_adds_to_a_partly_paid_balance(client, tenant, services):
    ref = new_ref()
    created = await _create(client, tenant, case_body(ref, debt(principal="1000.00")))
    await _simulate_paid_principal(services, tenant, created["id"], "D1", 60000)
    resp = await client.post(
        "/v1/cases", json=case_body(ref, debt(principal_fen=120000)), headers=tenant.headers
    )
    assert resp.status_code == 200, resp.text
    only = resp.json()["debts"][0]
    # 1000 owed, 600 paid, 400 left; the case system now says 1200 is owed: 200 more, 600 left.
    assert only["owed"]["principal_fen"] == 120000
    assert only["balance"]["principal_fen"] == 60000
    assert resp.json()["status"] == "partially_paid"


async def test_reduction_below_what_was_paid_is_refused_with_422(client, tenant, services):
    ref = new_ref()
    created = await _create(client, tenant, case_body(ref, debt(principal="1000.00")))
    await _simulate_paid_principal(services, tenant, created["id"], "D1", 60000)
    resp = await client.post(
        "/v1/cases", json=case_body(ref, debt(principal="500.00")), headers=tenant.headers
    )
    assert_problem(resp, 422, "validation-error", "debts[0].principal")
    after = await client.get(f"/v1/cases/{created['id']}", headers=tenant.headers)
    assert after.json()["version"] == 1
    assert after.json()["debts"][0]["balance"]["principal_fen"] == 40000
    assert after.json()["debts"][0]["owed"]["principal_fen"] == 100000


async def test_reduction_that_stays_above_what_was_paid_is_applied(client, tenant, services):
    ref = new_ref()
    created = await _create(client, tenant, case_body(ref, debt(principal="1000.00")))
    await _simulate_paid_principal(services, tenant, created["id"], "D1", 60000)
    resp = await client.post(
        "/v1/cases", json=case_body(ref, debt(principal="700.00")), headers=tenant.headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["debts"][0]["balance"]["principal_fen"] == 10000


async def test_unchanged_body_answers_200_with_the_same_version(client, tenant):
    ref = new_ref()
    body = case_body(ref, debt(principal="1000.00", interest="3.00"))
    created = await _create(client, tenant, body)
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["version"] == created["version"] == 1
    assert resp.json()["updated_at"] == created["updated_at"]
    assert resp.json()["debts"] == created["debts"]


async def test_same_amounts_in_the_other_form_are_unchanged(client, tenant):
    ref = new_ref()
    created = await _create(client, tenant, case_body(ref, debt(principal="1000.00")))
    resp = await client.post(
        "/v1/cases", json=case_body(ref, debt(principal_fen=100000)), headers=tenant.headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["version"] == created["version"]


async def test_amend_adds_a_new_debt(client, tenant):
    ref = new_ref()
    await _create(client, tenant, case_body(ref, debt("D1", "2024-01-31", principal="1000.00")))
    body = case_body(
        ref,
        debt("D1", "2024-01-31", principal="1000.00"),
        debt("D2", "2024-02-29", principal="500.00", fees="20.00"),
    )
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    case = resp.json()
    assert case["version"] == 2
    assert [d["debt_id"] for d in case["debts"]] == ["D1", "D2"]
    assert case["balance"]["total_fen"] == 152000
    assert case["balance"]["fees"] == "20.00"


async def test_amend_changing_a_due_date_is_refused(client, tenant):
    ref = new_ref()
    created = await _create(client, tenant, case_body(ref, debt("D1", "2024-01-31")))
    resp = await client.post(
        "/v1/cases", json=case_body(ref, debt("D1", "2024-03-31")), headers=tenant.headers
    )
    assert_problem(resp, 422, "validation-error", "debts[0].due_date")
    after = await client.get(f"/v1/cases/{created['id']}", headers=tenant.headers)
    assert after.json()["debts"][0]["due_date"] == "2024-01-31"


async def test_amend_changing_the_currency_is_refused(client, tenant):
    ref = new_ref()
    await _create(client, tenant, case_body(ref))
    resp = await client.post("/v1/cases", json=case_body(ref, currency="USD"), headers=tenant.headers)
    assert_problem(resp, 422, "validation-error", "currency")


async def test_amend_of_the_debtor_phone_shows_the_new_masked_phone(client, tenant):
    ref = new_ref()
    await _create(client, tenant, case_body(ref))
    body = case_body(ref)
    body["debtor"]["phone"] = "13987654321"
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["debtor"]["phone"] == "139****4321"
    assert resp.json()["version"] == 2
    assert "13987654321" not in resp.text


async def test_concurrent_posts_of_one_new_case_create_it_once(client, tenant, services):
    body = case_body()
    answers = await asyncio.gather(
        *(client.post("/v1/cases", json=body, headers=tenant.headers) for _ in range(8))
    )
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert await count_cases(services, tenant.client_id) == 1
