"""POST /v1/cases for a new (client, external_ref): 201, amounts both ways, balances, debtor masked."""

from __future__ import annotations

from tests.api.conftest import (
    MASKED_ID,
    MASKED_NAME,
    MASKED_PHONE,
    assert_no_plain_pii,
    case_body,
    cases_with_ref,
    debt,
    new_ref,
)


async def test_create_returns_201_with_the_case(client, tenant):
    ref = new_ref()
    resp = await client.post("/v1/cases", json=case_body(ref), headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    case = resp.json()
    assert case["id"].startswith("case_")
    assert case["external_ref"] == ref
    assert case["status"] == "open"
    assert case["currency"] == "CNY"
    assert case["version"] == 1
    assert [d["debt_id"] for d in case["debts"]] == ["D1"]
    assert [c["id"] for c in await cases_with_ref(client, tenant.headers, ref)] == [case["id"]]


async def test_create_accepts_yuan_strings_and_returns_both_forms(client, tenant):
    body = case_body(None, debt(principal="1234.50", interest="10.05", fees="0.01"))
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    original = resp.json()["debts"][0]["original"]
    assert original == {
        "principal": "1234.50",
        "principal_fen": 123450,
        "interest": "10.05",
        "interest_fen": 1005,
        "fees": "0.01",
        "fees_fen": 1,
        "total": "1244.56",
        "total_fen": 124456,
    }


async def test_create_accepts_integer_fen_and_returns_both_forms(client, tenant):
    body = case_body(None, debt(principal_fen=123450, interest_fen=1005, fees_fen=1))
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    balance = resp.json()["debts"][0]["balance"]
    assert (balance["principal"], balance["principal_fen"]) == ("1234.50", 123450)
    assert (balance["interest"], balance["interest_fen"]) == ("10.05", 1005)
    assert (balance["fees"], balance["fees_fen"]) == ("0.01", 1)
    assert (balance["total"], balance["total_fen"]) == ("1244.56", 124456)


async def test_create_mixes_yuan_and_fen_across_components(client, tenant):
    body = case_body(None, debt(principal="100", interest_fen=250))
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    balance = resp.json()["debts"][0]["balance"]
    assert (balance["principal_fen"], balance["interest_fen"], balance["fees_fen"]) == (10000, 250, 0)
    assert balance["principal"] == "100.00"


async def test_create_reports_case_balance_by_component_over_all_debts(client, tenant):
    body = case_body(
        None,
        debt("D1", "2024-01-31", principal="1000.00", interest="50.00", fees="5.00"),
        debt("D2", "2024-02-29", principal_fen=200000, interest_fen=1000),
    )
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    case = resp.json()
    assert case["balance"] == {
        "principal": "3000.00",
        "principal_fen": 300000,
        "interest": "60.00",
        "interest_fen": 6000,
        "fees": "5.00",
        "fees_fen": 500,
        "total": "3065.00",
        "total_fen": 306500,
    }
    assert case["credit"] == "0.00" and case["credit_fen"] == 0
    debts = {d["debt_id"]: d for d in case["debts"]}
    assert debts["D2"]["due_date"] == "2024-02-29"
    assert debts["D2"]["owed"]["total_fen"] == 201000


async def test_create_lists_debts_by_due_date(client, tenant):
    body = case_body(None, debt("LATE", "2024-06-30"), debt("EARLY", "2023-12-31"))
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    assert [d["debt_id"] for d in resp.json()["debts"]] == ["EARLY", "LATE"]


async def test_create_masks_the_debtor(client, tenant):
    resp = await client.post("/v1/cases", json=case_body(), headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["debtor"] == {"name": MASKED_NAME, "id_number": MASKED_ID, "phone": MASKED_PHONE}


async def test_create_response_holds_no_plain_personal_data(client, tenant):
    resp = await client.post("/v1/cases", json=case_body(), headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    assert_no_plain_pii(resp.text)


async def test_get_and_list_hold_no_plain_personal_data(client, tenant):
    ref = new_ref()
    created = await client.post("/v1/cases", json=case_body(ref), headers=tenant.headers)
    assert created.status_code == 201, created.text
    one = await client.get(f"/v1/cases/{created.json()['id']}", headers=tenant.headers)
    many = await client.get("/v1/cases", params={"external_ref": ref}, headers=tenant.headers)
    assert one.status_code == 200 and many.status_code == 200
    assert one.json()["debtor"]["id_number"] == MASKED_ID
    assert_no_plain_pii(one.text)
    assert_no_plain_pii(many.text)


async def test_create_normalises_phone_with_country_code_before_masking(client, tenant):
    body = case_body()
    body["debtor"]["phone"] = "+86 138-1234-5678"
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["debtor"]["phone"] == MASKED_PHONE


async def test_same_external_ref_from_two_clients_gives_two_cases(client, tenant, other_tenant):
    ref = new_ref()
    first = await client.post("/v1/cases", json=case_body(ref), headers=tenant.headers)
    second = await client.post("/v1/cases", json=case_body(ref), headers=other_tenant.headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert [c["id"] for c in await cases_with_ref(client, tenant.headers, ref)] == [first.json()["id"]]
    assert [c["id"] for c in await cases_with_ref(client, other_tenant.headers, ref)] == [second.json()["id"]]
