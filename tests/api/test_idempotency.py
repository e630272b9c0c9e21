"""Idempotency-Key on POST /v1/cases: replay byte for byte, 409 for another body, keys per client."""

from __future__ import annotations

import asyncio
import json
import uuid

from tests.api.conftest import assert_problem, case_body, cases_with_ref, count_cases, debt, new_ref


def _post(client, headers, key: str, body: dict):
    # Send the exact same bytes each time: the key is bound to the request's bytes.
    raw = json.dumps(body, ensure_ascii=False).encode()
    return client.post(
        "/v1/cases",
        content=raw,
        headers={**headers, "Idempotency-Key": key, "Content-Type": "application/json"},
    )


async def test_same_key_and_body_replays_the_first_response_byte_for_byte(client, tenant):
    key, body = str(uuid.uuid4()), case_body()
    first = await _post(client, tenant.headers, key, body)
    second = await _post(client, tenant.headers, key, body)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.content == first.content


async def test_replay_creates_nothing_new(client, tenant, services):
    key, body = str(uuid.uuid4()), case_body()
    first = await _post(client, tenant.headers, key, body)
    assert first.status_code == 201, first.text
    before = await count_cases(services, tenant.client_id)
    for _ in range(3):
        again = await _post(client, tenant.headers, key, body)
        assert again.status_code == 201
    assert await count_cases(services, tenant.client_id) == before == 1
    fetched = await client.get(f"/v1/cases/{first.json()['id']}", headers=tenant.headers)
    assert fetched.json()["version"] == 1


async def test_replay_answers_the_stored_response_even_after_the_case_changed(client, tenant):
    ref, key = new_ref(), str(uuid.uuid4())
    body = case_body(ref, debt(principal="1000.00"))
    first = await _post(client, tenant.headers, key, body)
    amended = await client.post(
        "/v1/cases", json=case_body(ref, debt(principal="1500.00")), headers=tenant.headers
    )
    assert (first.status_code, amended.status_code) == (201, 200)
    replayed = await _post(client, tenant.headers, key, body)
    assert replayed.status_code == 201
    assert replayed.content == first.content
    current = await client.get(f"/v1/cases/{first.json()['id']}", headers=tenant.headers)
    assert current.json()["balance"]["principal_fen"] == 150000


async def test_same_key_with_a_different_body_is_a_409_problem(client, tenant, services):
    ref, key = new_ref(), str(uuid.uuid4())
    first = await _post(client, tenant.headers, key, case_body(ref, debt(principal="1000.00")))
    assert first.status_code == 201, first.text
    resp = await _post(client, tenant.headers, key, case_body(ref, debt(principal="2000.00")))
    assert_problem(resp, 409, "conflict")
    case = (await cases_with_ref(client, tenant.headers, ref))[0]
    assert case["balance"]["principal_fen"] == 100000
    assert case["version"] == 1
    assert await count_cases(services, tenant.client_id) == 1


async def test_same_key_for_a_different_case_is_a_409_and_creates_nothing(client, tenant):
    key = str(uuid.uuid4())
    first = await _post(client, tenant.headers, key, case_body())
    assert first.status_code == 201, first.text
    other_ref = new_ref()
    resp = await _post(client, tenant.headers, key, case_body(other_ref))
    assert_problem(resp, 409, "conflict")
    assert await cases_with_ref(client, tenant.headers, other_ref) == []


async def test_keys_are_per_client(client, tenant, other_tenant):
    key, body = str(uuid.uuid4()), case_body()
    mine = await _post(client, tenant.headers, key, body)
    theirs = await _post(client, other_tenant.headers, key, body)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]


async def test_another_clients_key_with_another_body_is_no_conflict(client, tenant, other_tenant):
    key = str(uuid.uuid4())
    mine = await _post(client, tenant.headers, key, case_body())
    theirs = await _post(client, other_tenant.headers, key, case_body())
    assert (mine.status_code, theirs.status_code) == (201, 201)


async def test_a_refused_request_does_not_use_up_its_key(client, tenant):
    ref, key = new_ref(), str(uuid.uuid4())
    bad = await _post(client, tenant.headers, key, case_body(ref, debt(principal="0")))
    assert_problem(bad, 422, "validation-error", "debts[0].principal")
    good = await _post(client, tenant.headers, key, case_body(ref))
    assert good.status_code == 201, good.text
    assert "idempotent-replayed" not in good.headers


async def test_an_overlong_key_is_a_422_naming_the_header(client, tenant, services):
    ref = new_ref()
    resp = await _post(client, tenant.headers, "k" * 201, case_body(ref))
    assert_problem(resp, 422, "validation-error", "Idempotency-Key")
    assert await count_cases(services, tenant.client_id) == 0


async def test_an_empty_key_is_a_422_naming_the_header(client, tenant, services):
    resp = await _post(client, tenant.headers, "", case_body())
    assert_problem(resp, 422, "validation-error", "Idempotency-Key")
    assert await count_cases(services, tenant.client_id) == 0


async def test_concurrent_requests_with_one_key_create_one_case_and_answer_alike(client, tenant, services):
    key, body = str(uuid.uuid4()), case_body()
    answers = await asyncio.gather(*(_post(client, tenant.headers, key, body) for _ in range(8)))
    assert [r.status_code for r in answers] == [201] * 8
    assert len({r.content for r in answers}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in answers) == 1
    assert await count_cases(services, tenant.client_id) == 1
