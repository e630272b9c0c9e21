"""Everything the HTTP layer, the jobs and the CLI share, built once from settings."""

from __future__ import annotations

from dataclasses import dataclass

from payments.persistence.db import Database
from payments.security.pii import PiiCipher, load_keyring
from payments.services.cases import CaseService
from payments.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    pii: PiiCipher
    cases: CaseService

    async def aclose(self) -> None:
        await self.db.dispose()


def build_services(settings: Settings) -> Services:
    db = Database(settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo)
    # Sandbox mode makes its own keyring on first start; live mode must be given one.
    pii = PiiCipher(load_keyring(settings.pii_keyring_path, create=settings.mode == "sandbox"))
    return Services(settings=settings, db=db, pii=pii, cases=CaseService(db, pii))
