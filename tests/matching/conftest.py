"""Matching payments without our reference (bank transfers) to cases, on the real database.

Each test has its own tenant (a new client), so the matching job, run for that client only, sees just
the test's cases and transfers. Debtor names and numbers below are made up.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from payments.domain.identity import id_check_digit
from payments.persistence.tables import AllocationRow, OutboxEvent, Payment
from payments.persistence.tables_recon import BankAccount, ReviewItem
from payments.services.container import Services
from providers.base import BEIJING
from reconciliation.bank_import import ImportReport, add_account, store_lines
from reconciliation.bankfiles.model import BankStatementLine
from tests.api.conftest import debt
from tests.conftest import Tenant

_refs = itertools.count(1)


def id_number(first17: str) -> str:
    """A made-up resident ID number with a valid GB 11643 check digit."""
    return first17 + id_check_digit(first17)


async def make_case(
    client: httpx.AsyncClient,
    tenant: Tenant,
    *,
    name: str,
    ref: str,
    principal: str = "1000.00",
    interest: str = "0.00",
    fees: str = "0.00",
    id_number: str = "11010519491231002X",  # valid check digit, made up
    phone: str = "13800138000",
) -> str:
    body = {
        "external_ref": ref,
        "debtor": {"name": name, "id_number": id_number, "phone": phone},
        "debts": [debt("D1", "2024-01-31", principal=principal, interest=interest, fees=fees)],
    }
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def account_of(services: Services, tenant: Tenant) -> BankAccount:
    code = f"ACC-{tenant.client_id[-12:]}"
    async with services.db.sessions() as session:
        found = await session.scalar(select(BankAccount).where(BankAccount.code == code))
    if found is None:
        await add_account(
            services, client_id=tenant.client_id, code=code, name="催收专户", account_tail="1234"
        )
        async with services.db.sessions() as session:
            found = await session.scalar(select(BankAccount).where(BankAccount.code == code))
    assert found is not None
    return found


def line(
    amount_fen: int,
    *,
    memo: str = "",
    payer_name: str = "",
    payer_account: str = "",
    on: date | None = None,
    bank_ref: str | None = None,
    currency: str = "CNY",
) -> BankStatementLine:
    day = on or datetime.now(BEIJING).date()
    return BankStatementLine(
        line_no=next(_refs),
        bank_ref=bank_ref or f"T{next(_refs):08d}",
        booked_on=day,
        booked_at=datetime.combine(day, datetime.min.time(), BEIJING) + timedelta(hours=10),
        amount_fen=amount_fen,
        currency=currency,
        memo=memo,
        payer_name=payer_name,
        payer_account=payer_account,
    )


async def transfer(services: Services, tenant: Tenant, *lines: BankStatementLine) -> ImportReport:
    account = await account_of(services, tenant)
    return await store_lines(services, account, list(lines), "csv", actor="test")


async def payments_of_client(services: Services, tenant: Tenant) -> list[Payment]:
    async with services.db.sessions() as session:
        rows = await session.scalars(
            select(Payment).where(Payment.client_id == tenant.client_id).order_by(Payment.id)
        )
        return list(rows)


async def allocations_by_case(services: Services, payment_id: str) -> dict[str, int]:
    async with services.db.sessions() as session:
        rows = await session.scalars(select(AllocationRow).where(AllocationRow.payment_id == payment_id))
        out: dict[str, int] = {}
        for row in rows:
            out[row.case_id] = out.get(row.case_id, 0) + row.amount_fen
        return out


async def review_item(services: Services, payment_id: str) -> ReviewItem | None:
    async with services.db.sessions() as session:
        return await session.scalar(select(ReviewItem).where(ReviewItem.payment_id == payment_id))


async def events_of(services: Services, tenant: Tenant, event_type: str) -> list[dict[str, Any]]:
    async with services.db.sessions() as session:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.client_id == tenant.client_id, OutboxEvent.type == event_type)
            .order_by(OutboxEvent.id)
        )
        return [r.payload for r in rows]
