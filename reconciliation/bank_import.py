"""Importing a collection account's bank statement: each credit becomes a payment without our
reference, for the rules engine to match (`reconciliation.matching`).

A line is stored once per (account, bank reference): importing the same file twice, or two files
that overlap, adds nothing the second time. The payer's name and account and the memo are encrypted
before they are stored; nothing personal is logged. Lines are written in batches, each its own
transaction, so a crash mid-file leaves whole batches and a re-run completes the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from payments.domain.errors import FieldError, NotFound
from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Payment, PaymentException
from payments.persistence.tables_recon import BankAccount, BankLine
from payments.services import audit
from payments.services.container import Services
from payments.services.inserts import insert_ignoring_duplicates
from payments.services.outbox import emit
from reconciliation.bankfiles import CsvMapping, parse_bank_file
from reconciliation.bankfiles.model import BankFileError, BankStatementLine

log = logging.getLogger("payrecon.bank_import")

PROVIDER = "bank_transfer"
SOURCE = "bank_import"
BATCH = 500


@dataclass
class ImportReport:
    account: str
    format: str = ""
    lines: int = 0
    new_lines: int = 0
    already_imported: int = 0
    credits: int = 0  # new payments
    credits_fen: int = 0
    debits: int = 0
    debits_fen: int = 0
    foreign_currency: int = 0  # held as exceptions: the collection account is in CNY

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


async def add_account(
    services: Services,
    *,
    client_id: str,
    code: str,
    name: str = "",
    account_tail: str = "",
    actor: str = "cli",
) -> str:
    code = code.strip()
    if not code or len(code) > 40:
        raise FieldError("code", "1 to 40 characters")
    tail = "".join(ch for ch in account_tail if ch.isalnum())[-4:]
    async with services.db.transaction() as session:
        if await session.scalar(select(BankAccount.id).where(BankAccount.code == code)):
            raise FieldError("code", "an account with this code exists")
        account_id = new_id("bac")
        session.add(
            BankAccount(
                id=account_id,
                client_id=client_id,
                code=code,
                name=name[:200],
                account_tail=tail,
                currency="CNY",
                created_at=utcnow(),
            )
        )
        audit.record(
            session,
            actor=actor,
            action="bank_account.created",
            entity_type="bank_account",
            entity_id=account_id,
            client_id=client_id,
            after={"code": code, "account_tail": tail},
        )
    return account_id


async def import_file(
    services: Services,
    data: bytes,
    *,
    account_code: str,
    fmt: str | None = None,
    mapping: CsvMapping | None = None,
    actor: str = "cli",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Parse and store a statement file of the account `account_code`. Raises BankFileError for a file
    that cannot be read (nothing is stored), NotFound for an unknown account, FieldError when the
    file states another account than this one."""
    async with services.db.sessions() as session:
        account = await session.scalar(select(BankAccount).where(BankAccount.code == account_code))
    if account is None:
        raise NotFound(f"no bank account with code {account_code!r}")
    statement = parse_bank_file(data, fmt, mapping)
    stated = "".join(ch for ch in statement.account if ch.isalnum())
    if stated and account.account_tail and not stated.endswith(account.account_tail):
        raise FieldError("account", "the file is the statement of another account")
    return await store_lines(
        services, account, statement.lines, statement.format, actor=actor, progress=progress
    )


async def store_lines(
    services: Services,
    account: BankAccount,
    lines: Sequence[BankStatementLine],
    fmt: str,
    *,
    actor: str = "cli",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Store parsed lines of `account`'s statement: new lines only; each new credit becomes a payment."""
    report = ImportReport(account=account.code, format=fmt, lines=len(lines))
    for start in range(0, len(lines), BATCH):
        batch = lines[start : start + BATCH]
        async with services.db.transaction() as session:
            for line in batch:
                await _store(services, session, account, line, fmt, report)
            audit.record(
                session,
                actor=actor,
                action="bank_statement.imported",
                entity_type="bank_account",
                entity_id=account.id,
                client_id=account.client_id,
                after={"format": fmt, "lines": len(batch), "first_line": batch[0].line_no},
            )
        if progress is not None:
            progress(len(batch))
    log.info(
        "bank statement for %s: %d lines, %d new, %d credits",
        account.code,
        report.lines,
        report.new_lines,
        report.credits,
    )
    return report


async def _store(
    services: Services, session, account: BankAccount, line: BankStatementLine, fmt: str, report: ImportReport
) -> None:  # type: ignore[no-untyped-def]
    enc = services.pii.encrypt
    line_id = new_id("bln")
    # Chosen before the insert so the line points at its payment from the start; the payment itself is
    # only written when the line is new.
    payment_id = new_id("pay") if line.amount_fen > 0 else None
    now = utcnow()
    payer_account = line.payer_account.strip()
    inserted = await insert_ignoring_duplicates(
        session,
        BankLine,
        dict(
            id=line_id,
            account_id=account.id,
            client_id=account.client_id,
            bank_ref=line.bank_ref[:80],
            booked_on=line.booked_on,
            booked_at=line.booked_at,
            amount_fen=line.amount_fen,
            currency=line.currency,
            memo_enc=enc(line.memo, column="bank_lines.memo", row_id=line_id),
            payer_name_enc=enc(line.payer_name, column="bank_lines.payer_name", row_id=line_id),
            payer_account_enc=enc(payer_account, column="bank_lines.payer_account", row_id=line_id),
            payer_account_bidx=services.pii.blind_index(payer_account, kind="bank_account")
            if payer_account
            else None,
            key_id=services.pii.keyring.active,
            source_format=fmt,
            payment_id=payment_id,
            created_at=now,
        ),
    )
    if not inserted:
        report.already_imported += 1
        return
    report.new_lines += 1
    if payment_id is None:
        report.debits += 1
        report.debits_fen += -line.amount_fen
        return
    foreign = line.currency != account.currency
    status = "exception" if foreign else "unmatched"
    session.add(
        Payment(
            id=payment_id,
            client_id=account.client_id,
            provider=PROVIDER,
            provider_txn_id=line_id,
            out_trade_no=None,
            order_id=None,
            case_id=None,
            amount_fen=line.amount_fen,
            currency=line.currency,
            source=SOURCE,
            status=status,
            unapplied_fen=line.amount_fen,
            received_at=line.booked_at,
            created_at=now,
        )
    )
    if foreign:
        report.foreign_currency += 1
        session.add(
            PaymentException(
                id=new_id("exc"),
                client_id=account.client_id,
                kind="currency_mismatch",
                provider=PROVIDER,
                out_trade_no=None,
                payment_id=payment_id,
                details={"account_currency": account.currency, "received_currency": line.currency},
                created_at=now,
                resolved_at=None,
            )
        )
    report.credits += 1
    report.credits_fen += line.amount_fen
    emit(
        session,
        account.client_id,
        "payment.received",
        case_id=None,
        payload={
            "payment_id": payment_id,
            "order_id": None,
            "case_id": None,
            "provider": PROVIDER,
            "amount_fen": line.amount_fen,
            "currency": line.currency,
            "source": SOURCE,
            "status": status,
            "received_at": line.booked_at.isoformat(),
        },
    )


__all__ = ["BankFileError", "ImportReport", "add_account", "import_file"]
