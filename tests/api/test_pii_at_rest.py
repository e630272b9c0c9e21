"""Debtor data at rest: ciphertext bound to its row and column, and blind indexes for look-ups."""

from __future__ import annotations

import base64

from sqlalchemy import select, text

from payments.persistence.tables import Case, Debtor
from tests.api.conftest import ID_NUMBER, NAME, PHONE, case_body


async def _debtor_of(services, case_id: str) -> Debtor:
    async with services.db.sessions() as session:
        case = await session.get_one(Case, case_id)
        return await session.get_one(Debtor, case.debtor_id)


async def _create(client, tenant, body=None) -> str:
    resp = await client.post("/v1/cases", json=body or case_body(), headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


async def test_debtor_row_holds_ciphertext_only(client, tenant, services):
    debtor = await _debtor_of(services, await _create(client, tenant))
    async with services.db.sessions() as session:
        row = (await session.execute(text("SELECT * FROM debtors WHERE id = :id"), {"id": debtor.id})).one()
    stored = " ".join(str(v) for v in row)
    # the whole values, the birth date inside the ID number, and the phone without its prefix
    for plain in (NAME, ID_NUMBER, ID_NUMBER[6:14], PHONE, PHONE[3:]):
        assert plain not in stored, f"{plain!r} stored in clear"
        for encoded in (plain.encode().hex(), base64.b64encode(plain.encode()).decode()):
            assert encoded not in stored, f"{plain!r} stored merely encoded"


async def test_debtor_ciphertext_is_versioned_and_decrypts_to_the_debtor(client, tenant, services):
    debtor = await _debtor_of(services, await _create(client, tenant))
    active = services.pii.keyring.active
    assert debtor.key_id == active
    for column, value, plain in (
        ("debtors.name", debtor.name_enc, NAME),
        ("debtors.id_number", debtor.id_number_enc, ID_NUMBER),
        ("debtors.phone", debtor.phone_enc, PHONE),
    ):
        assert value.startswith(f"{active}.")
        assert services.pii.decrypt(value, column=column, row_id=debtor.id) == plain


async def test_id_number_blind_index_matches_the_service_blind_index(client, tenant, services):
    debtor = await _debtor_of(services, await _create(client, tenant))
    assert debtor.id_number_bidx == services.pii.blind_index(ID_NUMBER, kind="id_number")
    assert debtor.phone_bidx == services.pii.blind_index(PHONE, kind="phone")
    assert debtor.id_number_bidx != services.pii.blind_index(ID_NUMBER, kind="phone")


async def test_id_number_blind_index_finds_the_debtor(client, tenant, services):
    case_id = await _create(client, tenant)
    wanted = services.pii.blind_index(ID_NUMBER, kind="id_number")
    async with services.db.sessions() as session:
        found = (
            (
                await session.execute(
                    select(Debtor.id).where(
                        Debtor.client_id == tenant.client_id, Debtor.id_number_bidx == wanted
                    )
                )
            )
            .scalars()
            .all()
        )
    assert found == [(await _debtor_of(services, case_id)).id]


async def test_the_same_person_twice_gives_different_ciphertexts(client, tenant, services):
    first = await _debtor_of(services, await _create(client, tenant))
    second = await _debtor_of(services, await _create(client, tenant))
    assert first.id != second.id
    assert first.id_number_enc != second.id_number_enc
    assert first.name_enc != second.name_enc
    assert first.id_number_bidx == second.id_number_bidx


async def test_ciphertext_is_bound_to_its_row(client, tenant, services):
    first = await _debtor_of(services, await _create(client, tenant))
    second = await _debtor_of(services, await _create(client, tenant))
    try:
        services.pii.decrypt(first.phone_enc, column="debtors.phone", row_id=second.id)
    except Exception as exc:  # cryptography's InvalidTag
        assert type(exc).__name__ == "InvalidTag"
    else:
        raise AssertionError("a ciphertext decrypted under another row's id")
