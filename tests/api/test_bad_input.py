"""Bad input to POST /v1/cases: a 4xx problem naming the field, and nothing written."""

from __future__ import annotations

import json

import pytest

from payments.domain.identity import id_check_digit
from tests.api.conftest import (
    ID_NUMBER,
    PHONE,
    assert_no_plain_pii,
    assert_problem,
    case_body,
    cases_with_ref,
    count_cases,
    debt,
)


async def _refused(client, services, tenant, body: dict, status: int, slug: str, *fields: str) -> dict:
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    problem = assert_problem(resp, status, slug, *fields)
    assert await cases_with_ref(client, tenant.headers, body["external_ref"]) == []
    assert await count_cases(services, tenant.client_id) == 0
    return problem


async def _refused_raw(client, services, tenant, raw: bytes, status: int, slug: str) -> dict:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    resp = await client.post("/v1/cases", content=raw, headers=headers)
    problem = assert_problem(resp, status, slug)
    assert await count_cases(services, tenant.client_id) == 0
    return problem


@pytest.mark.parametrize(
    "amount", ["12.345", "-1", "0", "0.00", "1e3", "NaN", "Infinity", " 12", "12 ", "1,000", "+5", ""]
)
async def test_a_bad_yuan_principal_is_a_422_naming_it(client, services, tenant, amount):
    body = case_body(None, debt(principal=amount))
    await _refused(client, services, tenant, body, 422, "validation-error", "debts[0].principal")


@pytest.mark.parametrize("amount", ["12.345", "-1", "1e3", "NaN", " 12"])
async def test_a_bad_yuan_interest_is_a_422_naming_it(client, services, tenant, amount):
    body = case_body(None, debt(principal="100.00", interest=amount))
    await _refused(client, services, tenant, body, 422, "validation-error", "debts[0].interest")


@pytest.mark.parametrize("fen", [0, -1, 2**63, 2**63 - 1, 2**64, 10**30, -(2**63) - 1])
async def test_a_bad_principal_fen_is_a_422_naming_it(client, services, tenant, fen):
    body = case_body(None, debt(principal_fen=fen))
    await _refused(client, services, tenant, body, 422, "validation-error", "debts[0].principal_fen")


@pytest.mark.parametrize("value", [12.5, True, "100"])
async def test_a_principal_fen_that_is_not_an_integer_is_a_422_naming_it(client, services, tenant, value):
    body = case_body(None, debt(principal_fen=value))
    await _refused(client, services, tenant, body, 422, "validation-error", "debts[0].principal_fen")


async def test_a_json_number_as_yuan_is_a_422_naming_it(client, services, tenant):
    body = case_body(None, debt(principal=12.5))
    await _refused(client, services, tenant, body, 422, "validation-error", "debts[0].principal")


async def test_a_missing_principal_is_a_422_naming_it(client, services, tenant):
    body = case_body(None, debt(interest="10.00"))
    await _refused(client, services, tenant, body, 422, "validation-error", "debts[0].principal")


async def test_both_principal_and_principal_fen_is_a_422(client, services, tenant):
    body = case_body(None, debt(principal="10.00", principal_fen=1000))
    await _refused(client, services, tenant, body, 422, "validation-error", "debts[0].principal")


@pytest.mark.parametrize("currency", ["USD", "XXX", "cny", ""])
async def test_an_unknown_currency_is_a_422_naming_currency(client, services, tenant, currency):
    body = case_body(None, currency=currency)
    await _refused(client, services, tenant, body, 422, "validation-error", "currency")


async def test_a_missing_debtor_is_a_422_naming_debtor(client, services, tenant):
    body = case_body()
    del body["debtor"]
    await _refused(client, services, tenant, body, 422, "validation-error", "debtor")


async def test_a_null_debtor_is_a_422_naming_debtor(client, services, tenant):
    await _refused(client, services, tenant, case_body(None, debtor=None), 422, "validation-error", "debtor")


async def test_a_debtor_without_a_phone_is_a_422_naming_it(client, services, tenant):
    body = case_body()
    del body["debtor"]["phone"]
    await _refused(client, services, tenant, body, 422, "validation-error", "debtor.phone")


async def test_an_id_number_with_a_wrong_check_digit_is_a_422_naming_it(client, services, tenant):
    first17 = ID_NUMBER[:17]
    right = id_check_digit(first17)
    wrong = next(c for c in "0123456789X" if c != right)
    body = case_body()
    body["debtor"]["id_number"] = first17 + wrong
    problem = await _refused(client, services, tenant, body, 422, "validation-error", "debtor.id_number")
    assert first17 not in json.dumps(problem, ensure_ascii=False)  # the error does not echo the number


@pytest.mark.parametrize("id_number", ["11010519600415123", "110105196002301234", "A10105196004151234"])
async def test_a_malformed_id_number_is_a_422_naming_it(client, services, tenant, id_number):
    body = case_body()
    body["debtor"]["id_number"] = id_number
    await _refused(client, services, tenant, body, 422, "validation-error", "debtor.id_number")


@pytest.mark.parametrize(
    "phone", ["02112345678", "1381234567", "12812345678", "138123456789", "+1 4155550100"]
)
async def test_a_phone_that_is_not_a_mainland_mobile_is_a_422_naming_it(client, services, tenant, phone):
    body = case_body()
    body["debtor"]["phone"] = phone
    problem = await _refused(client, services, tenant, body, 422, "validation-error", "debtor.phone")
    assert phone not in json.dumps(problem)


async def test_a_refusal_for_one_field_does_not_echo_the_others(client, services, tenant):
    body = case_body(currency="USD")
    problem = await _refused(client, services, tenant, body, 422, "validation-error", "currency")
    assert_no_plain_pii(json.dumps(problem, ensure_ascii=False))
    assert PHONE not in json.dumps(problem)


async def test_malformed_json_is_a_400_malformed_request(client, services, tenant):
    await _refused_raw(client, services, tenant, b'{"external_ref": "x", ', 400, "malformed-request")


async def test_a_body_that_is_not_utf8_is_a_400_malformed_request(client, services, tenant):
    await _refused_raw(client, services, tenant, b'{"external_ref": "\xff\xfe"}', 400, "malformed-request")


async def test_an_empty_body_is_a_400_malformed_request(client, services, tenant):
    await _refused_raw(client, services, tenant, b"", 400, "malformed-request")


@pytest.mark.parametrize("raw", [b"[]", b"null", b'"case"', b"42"])
async def test_a_body_that_is_not_an_object_is_a_422(client, services, tenant, raw):
    problem = await _refused_raw(client, services, tenant, raw, 422, "validation-error")
    assert [e["field"] for e in problem["errors"]] == ["body"]


async def test_a_10_mb_body_is_a_413_problem(client, services, tenant):
    padding = "a" * (10 * 1024 * 1024)
    raw = json.dumps({**case_body(), "creditor_name": padding}).encode()
    await _refused_raw(client, services, tenant, raw, 413, "payload-too-large")


async def test_duplicate_debt_ids_are_a_422_naming_the_second(client, services, tenant):
    body = case_body(None, debt("D1", "2024-01-31"), debt("D1", "2024-02-29"))
    problem = await _refused(client, services, tenant, body, 422, "validation-error", "debts[1].debt_id")
    assert "debts[0].debt_id" not in [e["field"] for e in problem["errors"]]


async def test_an_unknown_top_level_field_is_a_422_naming_it(client, services, tenant):
    body = case_body(None, surprise=1)
    await _refused(client, services, tenant, body, 422, "validation-error", "surprise")


async def test_an_unknown_debt_field_is_a_422_naming_it(client, services, tenant):
    body = case_body(None, debt(principal="1.00", penalty="2.00"))
    await _refused(client, services, tenant, body, 422, "validation-error", "debts[0].penalty")


async def test_an_empty_debts_list_is_a_422_naming_debts(client, services, tenant):
    await _refused(client, services, tenant, case_body(None, debts=[]), 422, "validation-error", "debts")


async def test_debts_that_are_not_a_list_is_a_422_naming_debts(client, services, tenant):
    await _refused(client, services, tenant, case_body(None, debts={}), 422, "validation-error", "debts")


@pytest.mark.parametrize("due_date", ["2024-02-30", "31/01/2024", "", "2024-01-31T00:00:00"])
async def test_a_bad_due_date_is_a_422_naming_it(client, services, tenant, due_date):
    body = case_body(None, debt(due_date=due_date))
    await _refused(client, services, tenant, body, 422, "validation-error", "debts[0].due_date")


@pytest.mark.parametrize("ref", ["", " x", "x" * 65, "a b", "案件1"])
async def test_a_bad_external_ref_is_a_422_naming_it(client, services, tenant, ref):
    resp = await client.post("/v1/cases", json=case_body(ref), headers=tenant.headers)
    assert_problem(resp, 422, "validation-error", "external_ref")
    assert await count_cases(services, tenant.client_id) == 0


async def test_every_bad_field_is_reported_at_once(client, services, tenant):
    body = case_body(None, debt(principal="12.345"), currency="USD")
    body["debtor"]["phone"] = "02112345678"
    await _refused(
        client,
        services,
        tenant,
        body,
        422,
        "validation-error",
        "currency",
        "debtor.phone",
        "debts[0].principal",
    )
