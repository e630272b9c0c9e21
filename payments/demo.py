"""Demo data for the quickstart: one client, a case-system key, and a few realistic cases.

Each capability adds what it needs to show here: links to pay, bank transfers to match and review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select

from payments.domain.identity import id_check_digit
from payments.domain.links import PolicyKind
from payments.persistence.tables_recon import BankAccount
from payments.services.access import Principal, Role, create_api_key, ensure_client
from payments.services.case_input import CaseIn, DebtIn, DebtorIn, to_command
from payments.services.container import Services, build_services
from payments.services.links import AmountPolicyIn, LinkIn
from payments.settings import Settings
from reconciliation.bank_import import add_account, store_lines
from reconciliation.bankfiles.model import BankStatementLine
from reconciliation.matching import match_unreferenced

BEIJING = timezone(timedelta(hours=8))
DEMO_CLIENT = "Demo Lender 示例小贷"


@dataclass
class DemoInfo:
    client_name: str
    api_key: str
    case_ids: list[str]
    more_urls: list[str] = field(default_factory=list)


def _demo_id(body17: str) -> str:
    return body17 + id_check_digit(body17)


# Clearly fictitious people: names from a textbook example, ID numbers with valid check digits only.
DEMO_DEBTORS = [
    ("张小三", _demo_id("11010519900307001"), "13800000001"),
    ("李四", _demo_id("31010419851111002"), "13900000002"),
    ("王五", _demo_id("44030519920101003"), "15000000003"),
]


async def load_demo(settings: Settings) -> DemoInfo:
    services = build_services(settings)
    try:
        client_id = await ensure_client(services.db, DEMO_CLIENT, actor="demo")
        key_id, token = await create_api_key(services.db, client_id, Role.CASE_SYSTEM, "demo", actor="demo")
        principal = Principal(client_id=client_id, key_id=key_id, role=Role.CASE_SYSTEM)
        today = datetime.now(BEIJING).date()
        case_ids = []
        for i, (name, id_number, phone) in enumerate(DEMO_DEBTORS, start=1):
            data = CaseIn(
                external_ref=f"DEMO-{i:04d}",
                contract_no=f"HT-2026-{i:05d}",
                creditor_name=DEMO_CLIENT,
                debtor=DebtorIn(name=name, id_number=id_number, phone=phone),
                debts=[
                    DebtIn(
                        debt_id="loan-1",
                        due_date=today - timedelta(days=90 * i),
                        principal="3000.00",
                        interest="182.50",
                        fees="50.00",
                    ),
                    DebtIn(
                        debt_id="loan-2",
                        due_date=today - timedelta(days=30 * i),
                        principal_fen=120000,
                        interest_fen=3650,
                    ),
                ],
            )
            result = await services.cases.upsert_case(principal, to_command(data))
            case_ids.append(result.view.id)
        links = []
        policies = [
            AmountPolicyIn(kind=PolicyKind.RANGE, min_amount="100.00"),
            AmountPolicyIn(kind=PolicyKind.FULL_BALANCE),
            AmountPolicyIn(kind=PolicyKind.FIXED, amount="500.00"),
        ]
        for case_id, policy, (_, id_number, _) in zip(case_ids, policies, DEMO_DEBTORS, strict=True):
            view = await services.links.issue_link(principal, case_id, LinkIn(amount_policy=policy))
            links.append(
                f"Pay link ({policy.kind}): {view.url}   identity check: last 4 of ID = {id_number[-4:]}"
            )
        links.extend(await _bank_transfers(services, client_id, today))
        return DemoInfo(DEMO_CLIENT, token, case_ids, links)
    finally:
        await services.aclose()


DEMO_ACCOUNT = "DEMO-CNY"


async def _bank_transfers(services: Services, client_id: str, today: date) -> list[str]:
    """A collection-account statement with three transfers, matched by the rules engine: one applied
    automatically (case number and name), two left for finance in the review queue."""
    async with services.db.sessions() as session:
        known = await session.scalar(select(BankAccount).where(BankAccount.code == DEMO_ACCOUNT))
    if known is None:
        await add_account(
            services, client_id=client_id, code=DEMO_ACCOUNT, name="示例银行 催收专户", actor="demo"
        )
        async with services.db.sessions() as session:
            known = await session.scalar(select(BankAccount).where(BankAccount.code == DEMO_ACCOUNT))
    assert known is not None
    day = today - timedelta(days=1)
    at = datetime.combine(day, time(10, 30), BEIJING)
    transfers = [
        ("DEMO-TX-1", 50_000, "还款 DEMO-0003", "王五", "6222000000000000003"),
        ("DEMO-TX-2", 88_800, "还款", "李四", "6222000000000000002"),
        ("DEMO-TX-3", 12_345, "货款", "某某贸易有限公司", "6222000000000000999"),
    ]
    lines = [
        BankStatementLine(i, ref, day, at + timedelta(minutes=7 * i), fen, "CNY", memo, payer, account)
        for i, (ref, fen, memo, payer, account) in enumerate(transfers, start=1)
    ]
    imported = await store_lines(services, known, lines, "csv", actor="demo")
    matched = await match_unreferenced(services, client_id=client_id)
    return [
        f"Bank statement {DEMO_ACCOUNT}: {imported.new_lines} new transfers; "
        f"{matched.applied} applied automatically, {matched.review} waiting in the review queue"
    ]
