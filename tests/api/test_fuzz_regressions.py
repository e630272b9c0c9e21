"""Regressions for what the schema fuzzer (tests/fuzz) found in the case-system API.

- The OpenAPI document had no request bodies: handlers decode their own body, and `request_body=` on the
  route decorators was silently taken as an `opt` entry, so the schema described every POST as bodiless.
- NUL (U+0000) in a path id, a query parameter, a cursor or a JSON string was a 500 on PostgreSQL, whose
  text type cannot hold or compare it (SQLite answered 404/200). Now a 400 (URL) or 422 (body field) on
  both databases, before the database sees it.
"""

from __future__ import annotations

import base64

import pytest

from tests.api.conftest import assert_problem, case_body

BODIES = {
    ("post", "/v1/cases"): "CaseIn",
    ("post", "/v1/cases/{case_id}/links"): "LinkIn",
    ("post", "/v1/links/{link_id}/revoke"): "RevokeIn",
    ("post", "/v1/webhook-endpoints"): "EndpointIn",
    ("patch", "/v1/webhook-endpoints/{endpoint_id}"): "EndpointPatch",
    ("post", "/v1/webhook-endpoints/{endpoint_id}/replay"): "ReplayIn",
}


async def test_the_openapi_schema_documents_the_json_body_of_every_handler_that_decodes_one(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for (method, path), title in BODIES.items():
        body = paths[path][method]["requestBody"]
        schema = body["content"]["application/json"]["schema"]
        assert schema["title"] == title, (method, path)
        assert "$ref" not in str(schema), "the body schema must be inlined: its $defs are not in the document"
    case = paths["/v1/cases"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(case["required"]) == {"external_ref", "debtor", "debts"}
    assert case["properties"]["debts"]["items"]["properties"]["due_date"]["format"] == "date"
    assert paths["/v1/links/{link_id}/revoke"]["post"]["requestBody"]["required"] is False


@pytest.mark.parametrize(
    "path",
    [
        "/v1/cases/%00",
        "/v1/cases/case_%00",
        "/v1/links/%00",
        "/v1/webhook-endpoints/%00",
        "/v1/webhook-endpoints/%00/messages",
        "/v1/webhook-endpoints/%00/deliveries",
    ],
)
async def test_a_nul_in_a_path_id_is_a_400_problem_not_a_500(client, tenant, path):
    assert_problem(await client.get(path, headers=tenant.headers), 400, "malformed-request")


async def test_a_nul_in_the_id_of_a_post_is_a_400_problem_not_a_500(client, tenant):
    resp = await client.post("/v1/links/%00/revoke", json={}, headers=tenant.headers)
    assert_problem(resp, 400, "malformed-request")
    resp = await client.post("/v1/cases/%00/links", json={}, headers=tenant.headers)
    assert_problem(resp, 400, "malformed-request")


@pytest.mark.parametrize("query", ["external_ref=%00", "cursor=%00", "status=open&x%00=1"])
async def test_a_nul_in_a_query_parameter_is_a_400_problem_not_a_500(client, tenant, query):
    assert_problem(await client.get(f"/v1/cases?{query}", headers=tenant.headers), 400, "malformed-request")


async def test_a_cursor_that_decodes_to_a_nul_is_a_problem_naming_cursor(client, tenant):
    cursor = base64.urlsafe_b64encode(b"case_\x00").decode().rstrip("=")
    resp = await client.get("/v1/cases", params={"cursor": cursor}, headers=tenant.headers)
    assert_problem(resp, 422, "validation-error", "cursor")


async def test_a_nul_in_a_json_string_is_a_422_naming_the_field(client, tenant):
    resp = await client.post("/v1/cases", json=case_body(creditor_name="a\x00b"), headers=tenant.headers)
    assert_problem(resp, 422, "validation-error", "creditor_name")
    resp = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/", "description": "x\x00"},
        headers=tenant.headers,
    )
    assert_problem(resp, 422, "validation-error", "description")


async def test_a_nul_in_a_revoke_reason_is_a_422_naming_reason(client, tenant):
    created = await client.post("/v1/cases", json=case_body(), headers=tenant.headers)
    link = await client.post(f"/v1/cases/{created.json()['id']}/links", json={}, headers=tenant.headers)
    resp = await client.post(
        f"/v1/links/{link.json()['id']}/revoke", json={"reason": "\x00"}, headers=tenant.headers
    )
    assert_problem(resp, 422, "validation-error", "reason")


async def test_an_escaped_backslash_before_u0000_is_plain_text_not_a_nul(client, tenant):
    resp = await client.post(
        "/v1/cases", json=case_body(creditor_name="C:\\u0000 Lender"), headers=tenant.headers
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["creditor_name"] == "C:\\u0000 Lender"


async def test_without_a_key_a_nul_in_the_url_is_still_a_401(client):
    assert_problem(await client.get("/v1/cases/%00"), 401, "unauthenticated")
