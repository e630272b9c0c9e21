"""PII key rotation: rows move to the new key in restartable batches and stay readable throughout.

Rotation touches every debtor in a database, so these tests get a database of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import select

from payments.outbox.endpoints import EndpointIn
from payments.persistence.migrate import upgrade
from payments.persistence.tables import Debtor, Link, WebhookEndpoint
from payments.security.pii import Keyring, KeyringError, PiiCipher, save_keyring
from payments.services.access import Principal, Role, create_api_key, create_client
from payments.services.case_input import CaseIn, to_command
from payments.services.container import Services, build_services
from payments.services.keys import count_stale_rows, reencrypt_batch
from payments.services.links import LinkIn
from payments.settings import DatabaseSettings, Settings
from tests.api.conftest import case_body


@pytest.fixture
async def own(tmp_path: Path) -> AsyncIterator[Services]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rotation.db'}"
    await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
    services = build_services(Settings(data_dir=str(tmp_path), database=DatabaseSettings(url=url)))
    yield services
    await services.aclose()


async def _debtors(services: Services, n: int) -> list[str]:
    client_id = await create_client(services.db, "rotation")
    key_id, _ = await create_api_key(services.db, client_id, Role.CASE_SYSTEM)
    principal = Principal(client_id, key_id, Role.CASE_SYSTEM)
    for _ in range(n):
        await services.cases.upsert_case(principal, to_command(msgspec.convert(case_body(), CaseIn)))
    async with services.db.sessions() as session:
        return list((await session.execute(select(Debtor.id).order_by(Debtor.id))).scalars())


async def _names(services: Services, cipher: PiiCipher) -> list[str]:
    async with services.db.sessions() as session:
        rows = (await session.execute(select(Debtor).order_by(Debtor.id))).scalars()
        return [cipher.decrypt(r.name_enc, column="debtors.name", row_id=r.id) for r in rows]


async def test_rotation_moves_every_row_to_the_new_key(own: Services):
    await _debtors(own, 3)
    rotated = PiiCipher(own.pii.keyring.with_new_active_key())
    while await reencrypt_batch(own.db, rotated, 2):
        pass
    async with own.db.sessions() as session:
        assert set((await session.execute(select(Debtor.key_id))).scalars()) == {rotated.keyring.active}


async def test_rows_decrypt_to_the_same_values_after_rotation(own: Services):
    await _debtors(own, 2)
    before = await _names(own, own.pii)
    rotated = PiiCipher(own.pii.keyring.with_new_active_key())
    while await reencrypt_batch(own.db, rotated, 50):
        pass
    assert await _names(own, rotated) == before


async def test_an_interrupted_rotation_resumes_where_it_stopped(own: Services):
    await _debtors(own, 3)
    rotated = PiiCipher(own.pii.keyring.with_new_active_key())
    assert await reencrypt_batch(own.db, rotated, 1) == 1  # then the process dies
    assert await count_stale_rows(own.db, rotated) == 2
    while await reencrypt_batch(own.db, rotated, 1):
        pass
    assert await count_stale_rows(own.db, rotated) == 0


async def test_rows_not_yet_rotated_stay_readable_under_the_new_keyring(own: Services):
    await _debtors(own, 2)
    rotated = PiiCipher(own.pii.keyring.with_new_active_key())
    await reencrypt_batch(own.db, rotated, 1)
    assert len(await _names(own, rotated)) == 2


# -- rotation while instances keep running ---------------------------------------------------------


async def _link_and_endpoint(services: Services) -> tuple[str, str, str]:
    """A live link (its URL is shown again by decrypting its token) and a webhook endpoint (its secret
    signs every delivery); returns the link id, its URL and the endpoint's secret."""
    client_id = await create_client(services.db, "rotation-live")
    key_id, _ = await create_api_key(services.db, client_id, Role.CASE_SYSTEM)
    principal = Principal(client_id, key_id, Role.CASE_SYSTEM)
    case = await services.cases.upsert_case(principal, to_command(msgspec.convert(case_body(), CaseIn)))
    link = await services.links.issue_link(principal, case.view.id, msgspec.convert({}, LinkIn))
    endpoint = await services.webhooks.create(
        principal, msgspec.convert({"url": "http://127.0.0.1:9/hooks"}, EndpointIn)
    )
    return link.id, link.url, endpoint.secret


async def test_rotation_moves_link_tokens_and_webhook_secrets_to_the_new_key(own: Services):
    await _link_and_endpoint(own)
    rotated = PiiCipher(own.pii.keyring.with_new_active_key())

    while await reencrypt_batch(own.db, rotated, 10):
        pass

    assert await count_stale_rows(own.db, rotated) == 0


async def test_a_running_instance_reads_rows_rotated_by_another_process(own: Services, tmp_path: Path):
    """`payrecon keys rotate` saves the new keyring and re-encrypts; an instance started before it
    (old keyring in memory) still shows the live link and signs with the same webhook secret."""
    link_id, url, secret = await _link_and_endpoint(own)
    path = own.settings.pii_keyring_path
    rotated = PiiCipher(own.pii.keyring.with_new_active_key())
    save_keyring(path, rotated.keyring)
    while await reencrypt_batch(own.db, rotated, 10):
        pass

    async with own.db.sessions() as session:
        link = await session.get_one(Link, link_id)
        endpoint = (await session.execute(select(WebhookEndpoint))).scalars().one()
    # `own.pii` is the running instance's cipher, built before the rotation and never rebuilt.
    token = own.pii.decrypt(link.token_enc, column="links.token", row_id=link.id)
    assert url.endswith(token)
    assert (
        own.pii.decrypt(endpoint.secret_enc, column="webhook_endpoints.secret", row_id=endpoint.id) == secret
    )
    assert own.pii.keyring.active == rotated.keyring.active  # and it now seals new rows under the new key


async def test_a_keyring_file_with_another_blind_index_key_is_refused_on_reload(own: Services):
    await _debtors(own, 1)
    other = Keyring.generate().with_new_active_key()
    save_keyring(own.settings.pii_keyring_path, other)
    stranger = PiiCipher(other)
    async with own.db.sessions() as session:
        row = (await session.execute(select(Debtor))).scalars().one()
    sealed = stranger.encrypt("x", column="debtors.name", row_id=row.id)

    with pytest.raises(KeyringError):
        own.pii.decrypt(sealed, column="debtors.name", row_id=row.id)
