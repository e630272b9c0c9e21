"""The webhook endpoints API: register, read, change, disable, delete, rotate; the event catalogue."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from payments.persistence.db import utcnow
from payments.persistence.tables import AuditEvent, WebhookEndpoint
from tests.api.conftest import assert_problem
from tests.webhooks.conftest import RECEIVER

URL = RECEIVER + "/hooks/api"
PUBLIC = "https://93.184.216.34/hooks"


async def _create(client, tenant, **body):  # type: ignore[no-untyped-def]
    resp = await client.post("/v1/webhook-endpoints", json={"url": URL, **body}, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_registering_returns_the_endpoint_and_a_whsec_secret(client, tenant):
    created = await _create(client, tenant, event_types=["payment.received"], description="core system")
    assert created["secret"].startswith("whsec_")
    assert (created["url"], created["event_types"], created["status"]) == (
        URL,
        ["payment.received"],
        "enabled",
    )


async def test_the_secret_is_never_shown_again(client, tenant):
    created = await _create(client, tenant)
    read = await client.get(f"/v1/webhook-endpoints/{created['id']}", headers=tenant.headers)
    listed = await client.get("/v1/webhook-endpoints", headers=tenant.headers)
    assert "secret" not in read.json()
    assert created["secret"] not in read.text + listed.text


async def test_the_secret_is_stored_only_encrypted(client, services, tenant):
    created = await _create(client, tenant)
    async with services.db.sessions() as session:
        row = await session.get_one(WebhookEndpoint, created["id"])
        audit = (await session.scalars(select(AuditEvent).where(AuditEvent.entity_id == created["id"]))).all()
    key = created["secret"].removeprefix("whsec_")
    assert key not in row.secret_enc
    assert all(key not in str((a.before, a.after)) for a in audit)


async def test_omitted_event_types_means_every_type(client, tenant):
    assert (await _create(client, tenant))["event_types"] is None


async def test_an_unknown_event_type_is_a_422_naming_it(client, tenant):
    resp = await client.post(
        "/v1/webhook-endpoints",
        json={"url": URL, "event_types": ["case.updated", "case.exploded"]},
        headers=tenant.headers,
    )
    assert_problem(resp, 422, "validation-error", "event_types[1]")


async def test_an_empty_event_type_list_is_a_422(client, tenant):
    resp = await client.post(
        "/v1/webhook-endpoints", json={"url": URL, "event_types": []}, headers=tenant.headers
    )
    assert_problem(resp, 422, "validation-error", "event_types")


async def test_a_private_address_is_a_422_on_url(client, tenant):
    resp = await client.post(
        "/v1/webhook-endpoints", json={"url": "https://10.0.0.5/hooks"}, headers=tenant.headers
    )
    assert_problem(resp, 422, "validation-error", "url")


async def test_a_public_https_address_is_accepted(client, tenant):
    resp = await client.post("/v1/webhook-endpoints", json={"url": PUBLIC}, headers=tenant.headers)
    assert resp.status_code == 201, resp.text


async def test_listing_shows_only_the_clients_own_endpoints(client, tenant, other_tenant):
    mine = await _create(client, tenant)
    await _create(client, other_tenant)
    listed = (await client.get("/v1/webhook-endpoints", headers=tenant.headers)).json()["items"]
    assert [e["id"] for e in listed] == [mine["id"]]


async def test_another_clients_endpoint_is_a_404(client, tenant, other_tenant):
    theirs = await _create(client, other_tenant)
    resp = await client.get(f"/v1/webhook-endpoints/{theirs['id']}", headers=tenant.headers)
    assert_problem(resp, 404, "not-found")


async def test_finance_may_read_endpoints(client, tenant):
    await _create(client, tenant)
    assert (await client.get("/v1/webhook-endpoints", headers=tenant.finance_headers)).status_code == 200


async def test_finance_may_not_register_an_endpoint(client, tenant):
    resp = await client.post("/v1/webhook-endpoints", json={"url": URL}, headers=tenant.finance_headers)
    assert_problem(resp, 403, "forbidden")


async def test_an_update_changes_only_what_it_names(client, tenant):
    created = await _create(client, tenant, description="before")
    resp = await client.patch(
        f"/v1/webhook-endpoints/{created['id']}",
        json={"event_types": ["case.closed"]},
        headers=tenant.headers,
    )
    assert resp.status_code == 200, resp.text
    assert (resp.json()["event_types"], resp.json()["description"]) == (["case.closed"], "before")


async def test_an_update_checks_the_new_url(client, tenant):
    created = await _create(client, tenant)
    resp = await client.patch(
        f"/v1/webhook-endpoints/{created['id']}", json={"url": "https://192.168.0.1/"}, headers=tenant.headers
    )
    assert_problem(resp, 422, "validation-error", "url")


async def test_disabling_marks_the_endpoint_disabled_by_the_client(client, tenant):
    created = await _create(client, tenant)
    resp = await client.post(f"/v1/webhook-endpoints/{created['id']}/disable", headers=tenant.headers)
    assert (resp.json()["status"], resp.json()["disabled_reason"]) == ("disabled", "by_client")


async def test_enabling_clears_the_disabled_reason_and_the_failure_flag(client, services, tenant):
    created = await _create(client, tenant)
    async with services.db.transaction() as session:
        row = await session.get_one(WebhookEndpoint, created["id"])
        row.status, row.disabled_reason, row.failing_since = "disabled", "failing", utcnow()
    resp = await client.post(f"/v1/webhook-endpoints/{created['id']}/enable", headers=tenant.headers)
    body = resp.json()
    assert (body["status"], body["disabled_reason"], body["failing_since"]) == ("enabled", None, None)


async def test_a_deleted_endpoint_is_gone_from_the_api(client, tenant):
    created = await _create(client, tenant)
    assert (
        await client.delete(f"/v1/webhook-endpoints/{created['id']}", headers=tenant.headers)
    ).status_code == 204
    assert (
        await client.get(f"/v1/webhook-endpoints/{created['id']}", headers=tenant.headers)
    ).status_code == 404


async def test_rotation_returns_a_new_secret_and_keeps_the_old_one_for_24_hours(client, tenant):
    created = await _create(client, tenant)
    resp = await client.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret", headers=tenant.headers)
    rotated = resp.json()
    overlap = datetime.fromisoformat(rotated["previous_secret_expires_at"]) - utcnow()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert timedelta(hours=23, minutes=59) < overlap <= timedelta(hours=24)


async def test_an_unknown_field_is_a_422(client, tenant):
    resp = await client.post(
        "/v1/webhook-endpoints", json={"url": URL, "secret": "mine"}, headers=tenant.headers
    )
    assert_problem(resp, 422, "validation-error", "secret")


async def test_the_event_catalogue_lists_every_type_with_an_example(client):
    resp = await client.get("/v1/webhook-events")
    docs = {d["type"]: d for d in resp.json()}
    assert len(docs) == 10
    assert all(d["example"]["type"] == t and d["summary"] for t, d in docs.items())


async def test_the_event_schema_is_served(client):
    schema = (await client.get("/v1/webhook-events/schema")).json()
    assert schema["discriminator"]["propertyName"] == "type"


async def test_the_openapi_describes_signing_retries_and_every_event_type(client):
    spec = (await client.get("/schema/openapi.json")).json()
    description = spec["paths"]["/v1/webhook-endpoints"]["post"]["description"]
    assert "webhook-signature" in description and "410" in description
    assert all(f"`{t}`" in description for t in ("payment.unmatched", "reconciliation.day_closed"))
