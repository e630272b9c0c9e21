"""Re-encryption of everything sealed with the PII keyring under its active key, in restartable batches.

What is sealed: debtors' personal data, imported bank lines (payer name, account, memo), link tokens
(kept to show a link again), webhook signing secrets and staff TOTP secrets. Rows with a `key_id` column are picked by it;
the others by the key id every ciphertext starts with. Old keys stay in the keyring until nothing uses
them, so every row stays readable during a rotation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select

from payments.persistence.db import Database
from payments.persistence.tables import Debtor, Link, WebhookEndpoint
from payments.persistence.tables_recon import BankLine
from payments.security.pii import PiiCipher


@dataclass(frozen=True, slots=True)
class Sealed:
    model: Any
    columns: tuple[tuple[str, str], ...]  # (attribute, column name bound into the ciphertext)
    has_key_id: bool  # a key_id column says which key sealed the row

    def stale(self, active: str) -> Any:
        if self.has_key_id:
            return self.model.key_id != active
        prefix = f"{active}."
        return or_(
            *(
                and_(getattr(self.model, attr).is_not(None), ~getattr(self.model, attr).startswith(prefix))
                for attr, _ in self.columns
            )
        )


SEALED: tuple[Sealed, ...] = (
    Sealed(
        Debtor,
        (
            ("name_enc", "debtors.name"),
            ("id_number_enc", "debtors.id_number"),
            ("phone_enc", "debtors.phone"),
        ),
        True,
    ),
    Sealed(
        BankLine,
        (
            ("memo_enc", "bank_lines.memo"),
            ("payer_name_enc", "bank_lines.payer_name"),
            ("payer_account_enc", "bank_lines.payer_account"),
        ),
        True,
    ),
    Sealed(Link, (("token_enc", "links.token"),), False),
    Sealed(
        WebhookEndpoint,
        (
            ("secret_enc", "webhook_endpoints.secret"),
            ("previous_secret_enc", "webhook_endpoints.previous_secret"),
        ),
        False,
    ),
)

# Kept for callers that knew only debtors.
COLUMNS = SEALED[0].columns


async def count_stale_rows(db: Database, pii: PiiCipher) -> int:
    active = pii.keyring.active
    total = 0
    async with db.sessions() as session:
        for target in SEALED:
            total += int(
                await session.scalar(
                    select(func.count()).select_from(target.model).where(target.stale(active))
                )
                or 0
            )
    return total


async def reencrypt_batch(db: Database, pii: PiiCipher, batch_size: int) -> int:
    """Re-encrypt up to `batch_size` rows still under an old key; returns how many (0 when done).

    Each batch commits on its own, so a crash loses at most one batch of work and nothing else; on
    PostgreSQL two rotations at once take different rows (SKIP LOCKED).
    """
    active = pii.keyring.active
    for target in SEALED:
        async with db.transaction() as session:
            query = (
                select(target.model).where(target.stale(active)).order_by(target.model.id).limit(batch_size)
            )
            if not db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.execute(query)).scalars())
            for row in rows:
                for attr, column in target.columns:
                    sealed = getattr(row, attr)
                    if sealed is None:
                        continue
                    plain = pii.decrypt(sealed, column=column, row_id=row.id)
                    setattr(row, attr, pii.encrypt(plain, column=column, row_id=row.id))
                if target.has_key_id:
                    row.key_id = active
        if rows:
            return len(rows)
    return 0
