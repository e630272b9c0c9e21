"""Bearer API keys: who may call, in which role, and what another client's case looks like."""

from __future__ import annotations

import pytest

from payments.services.access import Role, create_api_key, revoke_api_key
from tests.api.conftest import assert_problem, case_body, cases_with_ref, count_cases, new_ref


async def test_no_authorization_header_is_a_401_with_a_bearer_challenge(client):
    resp = await client.get("/v1/cases")
    assert_problem(resp, 401, "unauthenticated")
    assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_post_without_a_key_is_a_401_and_writes_nothing(client, tenant):
    ref = new_ref()
    resp = await client.post("/v1/cases", json=case_body(ref))
    assert_problem(resp, 401, "unauthenticated")
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert await cases_with_ref(client, tenant.headers, ref) == []


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer prk_unknownkeyunknownkeyunknownkey00000000",
        "Bearer not-even-a-key",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
async def test_an_unknown_or_malformed_key_is_a_401(client, authorization):
    resp = await client.get("/v1/cases", headers={"Authorization": authorization})
    assert_problem(resp, 401, "unauthenticated")
    assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_a_revoked_key_is_a_401(client, tenant, services):
    key_id, token = await create_api_key(services.db, tenant.client_id, Role.CASE_SYSTEM)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/cases", headers=headers)).status_code == 200
    assert await revoke_api_key(services.db, key_id) is True
    resp = await client.get("/v1/cases", headers=headers)
    assert_problem(resp, 401, "unauthenticated")
    ref = new_ref()
    resp = await client.post("/v1/cases", json=case_body(ref), headers=headers)
    assert_problem(resp, 401, "unauthenticated")
    assert await cases_with_ref(client, tenant.headers, ref) == []


async def test_a_finance_key_cannot_post_a_case(client, tenant, services):
    resp = await client.post("/v1/cases", json=case_body(), headers=tenant.finance_headers)
    assert_problem(resp, 403, "forbidden")
    assert await count_cases(services, tenant.client_id) == 0


async def test_a_finance_key_can_read_cases(client, tenant):
    ref = new_ref()
    created = await client.post("/v1/cases", json=case_body(ref), headers=tenant.headers)
    one = await client.get(f"/v1/cases/{created.json()['id']}", headers=tenant.finance_headers)
    many = await client.get("/v1/cases", params={"external_ref": ref}, headers=tenant.finance_headers)
    assert (one.status_code, many.status_code) == (200, 200)
    assert one.json()["id"] == created.json()["id"]
    assert [c["id"] for c in many.json()["items"]] == [created.json()["id"]]


async def test_an_admin_key_can_post_a_case(client, tenant):
    resp = await client.post("/v1/cases", json=case_body(), headers=tenant.admin_headers)
    assert resp.status_code == 201, resp.text


async def test_another_clients_case_is_a_404_like_a_missing_one(client, tenant, other_tenant):
    theirs = await client.post("/v1/cases", json=case_body(), headers=other_tenant.headers)
    assert theirs.status_code == 201
    their_id = theirs.json()["id"]
    missing_id = "case_" + "0" * (len(their_id) - len("case_"))
    hidden = await client.get(f"/v1/cases/{their_id}", headers=tenant.headers)
    missing = await client.get(f"/v1/cases/{missing_id}", headers=tenant.headers)
    assert_problem(hidden, 404, "not-found")
    assert_problem(missing, 404, "not-found")
    # Identical but for `instance`, which echoes the path the caller asked for.
    h, m = hidden.json(), missing.json()
    assert (h.pop("instance"), m.pop("instance")) == (f"/v1/cases/{their_id}", f"/v1/cases/{missing_id}")
    assert h == m
    assert len(hidden.content) == len(missing.content)
    assert hidden.headers.get("content-type") == missing.headers.get("content-type")


async def test_another_clients_case_is_hidden_from_their_finance_key_too(client, tenant, other_tenant):
    theirs = await client.post("/v1/cases", json=case_body(), headers=other_tenant.headers)
    resp = await client.get(f"/v1/cases/{theirs.json()['id']}", headers=tenant.finance_headers)
    assert_problem(resp, 404, "not-found")


async def test_posting_another_clients_external_ref_does_not_touch_their_case(client, tenant, other_tenant):
    ref = new_ref()
    theirs = await client.post("/v1/cases", json=case_body(ref), headers=other_tenant.headers)
    body = case_body(ref)
    body["debts"][0]["principal"] = "9999.00"
    mine = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert (theirs.status_code, mine.status_code) == (201, 201)
    unchanged = await client.get(f"/v1/cases/{theirs.json()['id']}", headers=other_tenant.headers)
    assert unchanged.json() == theirs.json()
