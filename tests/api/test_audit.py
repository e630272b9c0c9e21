"""The audit trail: rows for creating and amending a case, no plain personal data, append-only."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from payments.persistence.tables import AuditEvent
from tests.api.conftest import NAME, assert_no_plain_pii, case_body, debt, new_ref


async def _events(services, client_id: str) -> list[AuditEvent]:
    async with services.db.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.client_id == client_id).order_by(AuditEvent.id)
        return list((await session.execute(query)).scalars())


def _as_text(event: AuditEvent) -> str:
    return json.dumps(
        [
            event.actor,
            event.action,
            event.entity_type,
            event.entity_id,
            event.before,
            event.after,
            event.reason,
        ],
        ensure_ascii=False,
    )


async def test_creating_a_case_writes_an_audit_row(client, tenant, services):
    ref = new_ref()
    created = await client.post("/v1/cases", json=case_body(ref), headers=tenant.headers)
    assert created.status_code == 201
    rows = [e for e in await _events(services, tenant.client_id) if e.entity_id == created.json()["id"]]
    assert [e.action for e in rows] == ["case.created"]
    assert rows[0].entity_type == "case"
    assert rows[0].actor.startswith("api_key:key_")
    assert rows[0].after["external_ref"] == ref
    assert rows[0].after["debts"][0]["principal_fen"] == 100000


async def test_amending_a_case_writes_an_audit_row_with_before_and_after(client, tenant, services):
    ref = new_ref()
    created = await client.post(
        "/v1/cases", json=case_body(ref, debt(principal="1000.00")), headers=tenant.headers
    )
    amended = await client.post(
        "/v1/cases", json=case_body(ref, debt(principal="1100.00")), headers=tenant.headers
    )
    assert (created.status_code, amended.status_code) == (201, 200)
    rows = [e for e in await _events(services, tenant.client_id) if e.entity_id == created.json()["id"]]
    assert [e.action for e in rows] == ["case.created", "case.amended"]
    assert rows[1].before["debts"]["D1"]["principal_fen"] == 100000
    assert rows[1].after["debts"][0]["principal_fen"] == 110000


async def test_an_unchanged_post_writes_no_audit_row(client, tenant, services):
    body = case_body()
    await client.post("/v1/cases", json=body, headers=tenant.headers)
    before = len(await _events(services, tenant.client_id))
    again = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert again.status_code == 200
    assert len(await _events(services, tenant.client_id)) == before


async def test_a_refused_post_writes_no_audit_row(client, tenant, services):
    before = len(await _events(services, tenant.client_id))
    resp = await client.post("/v1/cases", json=case_body(None, debt(principal="0")), headers=tenant.headers)
    assert resp.status_code == 422
    assert len(await _events(services, tenant.client_id)) == before


async def test_audit_rows_hold_no_plain_personal_data(client, tenant, services):
    ref = new_ref()
    await client.post("/v1/cases", json=case_body(ref), headers=tenant.headers)
    changed = case_body(ref, debt(principal="2000.00"))
    changed["debtor"]["name"] = "李四光"
    changed["debtor"]["phone"] = "13987654321"
    assert (await client.post("/v1/cases", json=changed, headers=tenant.headers)).status_code == 200
    rows = await _events(services, tenant.client_id)
    assert {"case.created", "case.amended", "debtor.updated"} <= {e.action for e in rows}
    for event in rows:
        text = _as_text(event)
        assert_no_plain_pii(text)
        assert "李四光" not in text and "13987654321" not in text and NAME not in text
    debtor_row = next(e for e in rows if e.action == "debtor.updated")
    assert debtor_row.after == {"name": "李*光", "id_number": "1101**********1234", "phone": "139****4321"}


@pytest.mark.parametrize("verb", ["update", "delete"])
async def test_audit_rows_cannot_be_updated_or_deleted(client, tenant, services, verb):
    await client.post("/v1/cases", json=case_body(), headers=tenant.headers)
    target = (await _events(services, tenant.client_id))[-1]
    where = AuditEvent.id == target.id
    statement = (
        update(AuditEvent).where(where).values(reason="tampered")
        if verb == "update"
        else delete(AuditEvent).where(where)
    )
    with pytest.raises(DBAPIError, match="append-only"):
        async with services.db.transaction() as session:
            await session.execute(statement)
    after = [e for e in await _events(services, tenant.client_id) if e.id == target.id]
    assert len(after) == 1 and after[0].reason == target.reason
