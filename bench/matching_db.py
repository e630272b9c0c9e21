"""The matching job end to end on PostgreSQL: N bank transfers without our reference against N open
cases of one client, each transfer naming its case number in the memo, beside a bare SQL join of the
same pairs.

    .venv/bin/python bench/matching_db.py [--cases 20000] [--url postgresql+asyncpg://postgres@127.0.0.1:5432/payrecon_bench_matching]

Rows are written with bulk inserts (debtor names encrypted as the service does), then the clock runs
over `match_unreferenced` (read and decrypt facts, index, decide, apply each payment in its own
transaction with allocations, statuses and outbox events). The baseline is one SELECT joining the
payments to their cases by the reference kept in clear beside them, which is the least any matcher
must read. Prints both times, the ratio, the peak RSS, and how many were applied.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

from scratch_db import reset_database
from sqlalchemy import text

from payments.persistence import migrate
from payments.persistence.ids import new_id
from payments.persistence.tables import Case, Client, Debt, Debtor, Order, Payment
from payments.persistence.tables_recon import BankAccount, BankLine
from payments.services.container import build_services
from payments.settings import load_settings
from reconciliation.matching import match_unreferenced

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def id_number(i: int) -> str:
    from payments.domain.identity import id_check_digit

    first = f"110105{19500101 + i % 9000:08d}{i % 1000:03d}"[:17]
    return first + id_check_digit(first)


async def load(services, n: int, referenced: bool = False) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    pii = services.pii
    client_id = new_id("cl")
    account_id = new_id("bac")
    async with services.db.transaction() as session:
        session.add(Client(id=client_id, name="Bench Lender", created_at=now))
        await session.flush()
        session.add(
            BankAccount(
                id=account_id,
                client_id=client_id,
                code="BENCH",
                name="",
                account_tail="",
                currency="CNY",
                created_at=now,
            )
        )
    batch = 2000
    for start in range(0, n, batch):
        debtors, cases, debts, lines, payments, refs, orders = [], [], [], [], [], [], []
        for i in range(start, min(n, start + batch)):
            name = SURNAMES[i % 20] + GIVEN[(i // 20) % 20] + GIVEN[(i // 400) % 20]
            number = id_number(i)
            did, cid, lid, pid = new_id("dr"), new_id("case"), new_id("bln"), new_id("pay")
            ref = f"HT{i:09d}"
            principal = 10_000 + (i * 7919) % 990_000
            debtors.append(
                dict(
                    id=did,
                    client_id=client_id,
                    created_at=now,
                    updated_at=now,
                    key_id=pii.keyring.active,
                    name_enc=pii.encrypt(name, column="debtors.name", row_id=did),
                    id_number_enc=pii.encrypt(number, column="debtors.id_number", row_id=did),
                    phone_enc=pii.encrypt("13800138000", column="debtors.phone", row_id=did),
                    id_number_bidx=pii.blind_index(number, kind="id_number"),
                    phone_bidx=pii.blind_index("13800138000", kind="phone"),
                )
            )
            cases.append(
                dict(
                    id=cid,
                    client_id=client_id,
                    external_ref=ref,
                    debtor_id=did,
                    status="open",
                    currency="CNY",
                    contract_no=None,
                    creditor_name="Bench Lender",
                    credit_fen=0,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
            debts.append(
                dict(
                    id=new_id("debt"),
                    case_id=cid,
                    debt_ref="D1",
                    due_date=date(2025, 1, 31),
                    original_principal_fen=principal,
                    original_interest_fen=0,
                    original_fees_fen=0,
                    principal_fen=principal,
                    interest_fen=0,
                    fees_fen=0,
                )
            )
            booked = now - timedelta(hours=1)
            lines.append(
                dict(
                    id=lid,
                    account_id=account_id,
                    client_id=client_id,
                    bank_ref=f"SN{i:09d}",
                    booked_on=booked.date(),
                    booked_at=booked,
                    amount_fen=principal,
                    currency="CNY",
                    key_id=pii.keyring.active,
                    memo_enc=pii.encrypt(f"还款 {ref}", column="bank_lines.memo", row_id=lid),
                    payer_name_enc=pii.encrypt(name, column="bank_lines.payer_name", row_id=lid),
                    payer_account_enc=pii.encrypt("", column="bank_lines.payer_account", row_id=lid),
                    payer_account_bidx=None,
                    source_format="csv",
                    payment_id=pid,
                    created_at=now,
                )
            )
            if referenced:
                # Paid through a link: an order of ours for the case, the payment carrying it.
                oid = new_id("ord")
                orders.append(
                    dict(
                        id=oid, client_id=client_id, case_id=cid, link_id=None, provider="wechatpay",
                        out_trade_no=f"BN{i:020d}", amount_fen=principal, currency="CNY", status="paid",
                        provider_txn_id=f"42{i:026d}", qr_payload=None, provider_ref="", created_at=now,
                        expires_at=now + timedelta(hours=2), paid_at=booked,
                    )
                )  # fmt: skip
            payments.append(
                dict(
                    id=pid,
                    client_id=client_id,
                    provider="wechatpay" if referenced else "bank_transfer",
                    provider_txn_id=f"42{i:026d}" if referenced else lid,
                    out_trade_no=None,
                    amount_fen=principal,
                    currency="CNY",
                    source="bank_import",
                    status="unmatched",
                    order_id=oid if referenced else None,
                    case_id=None,
                    unapplied_fen=principal,
                    received_at=booked,
                    created_at=now,
                )
            )
            refs.append({"payment_id": pid, "ref": ref})
        async with services.db.transaction() as session:
            for model, rows in (
                (Debtor, debtors),
                (Case, cases),
                (Debt, debts),
                (Order, orders),
                (BankLine, [] if referenced else lines),
                (Payment, payments),
            ):
                if rows:
                    await session.execute(model.__table__.insert(), rows)
            await session.execute(
                text("INSERT INTO bench_refs (payment_id, ref) VALUES (:payment_id, :ref)"), refs
            )


async def run(url: str, n: int, referenced: bool) -> None:
    await reset_database(url)
    await asyncio.to_thread(migrate.upgrade, url)
    settings = load_settings(
        {
            "PAYRECON_DATABASE__URL": url,
            "PAYRECON_DATA_DIR": tempfile.mkdtemp(prefix="payrecon-bench-matching-"),
        }
    )
    services = build_services(settings)
    try:
        async with services.db.transaction() as session:
            await session.execute(
                text("CREATE TABLE bench_refs (payment_id varchar(32) primary key, ref varchar(64))")
            )
        t0 = time.perf_counter()
        await load(services, n, referenced)
        async with services.db.transaction() as session:
            await session.execute(text("ANALYZE"))
        print(
            f"loaded {n} cases and {n} transfers in {time.perf_counter() - t0:.1f} s; peak RSS {peak_mb():.0f} MiB"
        )

        t0 = time.perf_counter()
        async with services.db.sessions() as session:
            pairs = (
                await session.execute(
                    text(
                        "SELECT p.id, c.id, p.amount_fen, d.principal_fen FROM payments p "
                        "JOIN orders o ON o.id = p.order_id JOIN cases c ON c.id = o.case_id "
                        "JOIN debts d ON d.case_id = c.id WHERE p.status = 'unmatched'"
                    )
                    if referenced
                    else text(
                        "SELECT p.id, c.id, p.amount_fen, d.principal_fen FROM payments p "
                        "JOIN bench_refs r ON r.payment_id = p.id JOIN cases c ON c.external_ref = r.ref "
                        "JOIN debts d ON d.case_id = c.id WHERE p.status = 'unmatched'"
                    )
                )
            ).all()
        bare = time.perf_counter() - t0
        print(f"bare join: {len(pairs)} pairs in {bare:.2f} s")

        t0 = time.perf_counter()
        if referenced:
            applied = await services.applier.sweep()
            took = time.perf_counter() - t0
            print(
                f"applier (referenced payments): {applied} applied in {took:.1f} s ({applied / took:.0f}/s)"
            )
        else:
            report = await match_unreferenced(services)
            took = time.perf_counter() - t0
            print(
                f"matching job: {report.payments} payments in {took:.1f} s ({report.payments / took:.0f}/s); "
                f"applied {report.applied}, review {report.review}, skipped {report.skipped}"
            )
        print(f"ratio job / bare join: {took / bare:.1f}x; peak RSS {peak_mb():.0f} MiB")
    finally:
        await services.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument(
        "--referenced", action="store_true", help="payments through our orders, applied by the applier"
    )
    parser.add_argument(
        "--url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/payrecon_bench_matching"
    )
    args = parser.parse_args()
    asyncio.run(run(args.url, args.cases, args.referenced))


if __name__ == "__main__":
    main()
