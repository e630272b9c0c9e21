"""Re-encryption of personal data under the keyring's active key, in restartable batches."""

from __future__ import annotations

from sqlalchemy import func, select

from payments.persistence.db import Database
from payments.persistence.tables import Debtor
from payments.security.pii import PiiCipher

COLUMNS = (
    ("name_enc", "debtors.name"),
    ("id_number_enc", "debtors.id_number"),
    ("phone_enc", "debtors.phone"),
)


async def count_stale_rows(db: Database, pii: PiiCipher) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).where(Debtor.key_id != pii.keyring.active)) or 0)


async def reencrypt_batch(db: Database, pii: PiiCipher, batch_size: int) -> int:
    """Re-encrypt up to `batch_size` debtors still under an old key; returns how many (0 when done).

    Each batch commits on its own, so a crash loses at most one batch of work and nothing else.
    """
    active = pii.keyring.active
    async with db.transaction() as session:
        query = select(Debtor).where(Debtor.key_id != active).order_by(Debtor.id).limit(batch_size)
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        rows = list((await session.execute(query)).scalars())
        for row in rows:
            for attr, column in COLUMNS:
                plain = pii.decrypt(getattr(row, attr), column=column, row_id=row.id)
                setattr(row, attr, pii.encrypt(plain, column=column, row_id=row.id))
            row.key_id = active
    return len(rows)
