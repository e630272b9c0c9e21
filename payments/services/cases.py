"""Use cases for cases: create or amend from a case system, read, list. Each call is one transaction."""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain.cases import CLOSED, CaseEvent, CaseStatus, Component, status_for_balance, transition
from payments.domain.errors import FieldError, NotFound
from payments.domain.identity import Debtor as DebtorValue
from payments.domain.identity import mask_id_number, mask_name, mask_phone
from payments.persistence.db import Database, utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Adjustment, AllocationRow, Case, Debt, Debtor
from payments.security.pii import PiiCipher
from payments.services import audit
from payments.services.access import Principal
from payments.services.case_input import CaseCommand
from payments.services.views import Amounts, CasePage, CaseView, DebtView, MaskedDebtor

_CURSOR_ID = re.compile(r"case_[0-9a-z]{1,27}")
BeforeCommit = Callable[[AsyncSession, "UpsertResult"], None]
COMPONENTS = (Component.PRINCIPAL, Component.INTEREST, Component.FEES)


@dataclass(frozen=True)
class UpsertResult:
    view: CaseView
    created: bool
    changed: bool


class CaseService:
    def __init__(self, db: Database, pii: PiiCipher) -> None:
        self.db = db
        self.pii = pii

    async def upsert_case(
        self, principal: Principal, cmd: CaseCommand, before_commit: BeforeCommit | None = None
    ) -> UpsertResult:
        """`before_commit` runs inside the transaction once the result is known (the idempotency record)."""
        try:
            return await self._upsert_once(principal, cmd, before_commit)
        except IntegrityError:
            # Another request created the same (client, external_ref) between our read and insert;
            # running again finds it and amends it instead.
            return await self._upsert_once(principal, cmd, before_commit)

    async def _upsert_once(
        self, principal: Principal, cmd: CaseCommand, before_commit: BeforeCommit | None
    ) -> UpsertResult:
        async with self.db.transaction() as session:
            case = (
                await session.execute(
                    select(Case)
                    .where(Case.client_id == principal.client_id, Case.external_ref == cmd.external_ref)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if case is None:
                case = await self._create(session, principal, cmd)
                created, changed = True, True
            else:
                created, changed = False, await self._amend(session, principal, case, cmd)
            await session.flush()
            result = UpsertResult(await self._view(session, case), created, changed)
            if before_commit is not None:
                before_commit(session, result)
        return result

    async def _create(self, session: AsyncSession, principal: Principal, cmd: CaseCommand) -> Case:
        now = utcnow()
        debtor = Debtor(id=new_id("dr"), client_id=principal.client_id, created_at=now, updated_at=now)
        self._write_debtor(debtor, cmd.debtor)
        case = Case(
            id=new_id("case"),
            client_id=principal.client_id,
            external_ref=cmd.external_ref,
            debtor_id=debtor.id,
            status=CaseStatus.OPEN.value,
            currency=cmd.currency,
            contract_no=cmd.contract_no,
            creditor_name=cmd.creditor_name or "",
            credit_fen=0,
            version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(debtor)
        await session.flush()  # the debtor row must exist before the case refers to it
        session.add(case)
        await session.flush()
        for d in cmd.debts:
            session.add(_new_debt(case.id, d.debt_ref, d.due_date, d.principal, d.interest, d.fees))
        audit.record(
            session,
            actor=principal.actor,
            action="case.created",
            entity_type="case",
            entity_id=case.id,
            client_id=principal.client_id,
            after={"external_ref": cmd.external_ref, "debts": [_debt_summary(d) for d in cmd.debts]},
        )
        return case

    async def _amend(self, session: AsyncSession, principal: Principal, case: Case, cmd: CaseCommand) -> bool:
        changed = False
        debtor = await session.get_one(Debtor, case.debtor_id)
        if self._read_debtor(debtor) != cmd.debtor:
            self._write_debtor(debtor, cmd.debtor)
            debtor.updated_at = utcnow()
            audit.record(
                session,
                actor=principal.actor,
                action="debtor.updated",
                entity_type="debtor",
                entity_id=debtor.id,
                client_id=principal.client_id,
                after=msgspec.to_builtins(_masked(cmd.debtor)),
            )
            changed = True
        for attr in ("currency", "contract_no"):
            if getattr(case, attr) != getattr(cmd, attr):
                raise FieldError(attr, "cannot change on an existing case")
        if cmd.creditor_name is not None and cmd.creditor_name != case.creditor_name:
            case.creditor_name = cmd.creditor_name
            changed = True

        debts = {d.debt_ref: d for d in await _debts(session, case.id)}
        owed = await _owed(session, list(debts.values()))
        before = {ref: _balance(d) for ref, d in debts.items()}
        for i, want in enumerate(cmd.debts):
            have = debts.get(want.debt_ref)
            if have is None:
                session.add(
                    _new_debt(case.id, want.debt_ref, want.due_date, want.principal, want.interest, want.fees)
                )
                changed = True
                continue
            if have.due_date != want.due_date:
                raise FieldError(f"debts[{i}].due_date", "cannot change on an existing debt")
            for comp in COMPONENTS:
                delta = want.outstanding(comp) - owed[(have.id, comp)]
                if delta == 0:
                    continue
                balance = getattr(have, f"{comp.value}_fen") + delta
                if balance < 0:
                    raise FieldError(
                        f"debts[{i}].{comp.value}", "cannot be less than what has already been paid"
                    )
                setattr(have, f"{comp.value}_fen", balance)
                session.add(
                    Adjustment(
                        id=new_id("adj"),
                        debt_id=have.id,
                        component=comp.value,
                        amount_fen=delta,
                        reason="amended_by_case_system",
                        created_at=utcnow(),
                    )
                )
                changed = True
        if not changed:
            return False
        await session.flush()
        outstanding = sum(_total(d) for d in await _debts(session, case.id))
        paid = await _allocated(session, case.id)
        status = CaseStatus(case.status)
        if status in CLOSED or status is CaseStatus.ON_HOLD:
            target = status if status is CaseStatus.ON_HOLD else status_for_balance(outstanding, paid)
        else:
            target = status_for_balance(outstanding, paid)
        if target != status:
            case.status = transition(status, CaseEvent.AMEND, target).value
        case.version += 1
        case.updated_at = utcnow()
        audit.record(
            session,
            actor=principal.actor,
            action="case.amended",
            entity_type="case",
            entity_id=case.id,
            client_id=principal.client_id,
            before={"status": status.value, "debts": before},
            after={"status": case.status, "debts": [_debt_summary(d) for d in cmd.debts]},
        )
        return True

    async def get_case(self, principal: Principal, case_id: str) -> CaseView:
        async with self.db.sessions() as session:
            case = await session.get(Case, case_id)
            if case is None or case.client_id != principal.client_id:
                raise NotFound("no such case")
            return await self._view(session, case)

    async def list_cases(
        self,
        principal: Principal,
        *,
        external_ref: str | None,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> CasePage:
        query = select(Case).where(Case.client_id == principal.client_id).order_by(Case.id).limit(limit + 1)
        if external_ref is not None:
            query = query.where(Case.external_ref == external_ref)
        if status is not None:
            query = query.where(Case.status == status)
        if cursor is not None:
            query = query.where(Case.id > decode_cursor(cursor))
        async with self.db.sessions() as session:
            rows = list((await session.execute(query)).scalars())
            items = [await self._view(session, c) for c in rows[:limit]]
        next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        return CasePage(items=items, next_cursor=next_cursor)

    async def _view(self, session: AsyncSession, case: Case) -> CaseView:
        debtor = self._read_debtor(await session.get_one(Debtor, case.debtor_id))
        debts = await _debts(session, case.id)
        owed = await _owed(session, debts)
        debt_views = [
            DebtView(
                debt_id=d.debt_ref,
                due_date=d.due_date,
                original=Amounts.of(d.original_principal_fen, d.original_interest_fen, d.original_fees_fen),
                owed=Amounts.of(*(owed[(d.id, c)] for c in COMPONENTS)),
                balance=Amounts.of(d.principal_fen, d.interest_fen, d.fees_fen),
            )
            for d in debts
        ]
        return CaseView(
            id=case.id,
            external_ref=case.external_ref,
            status=case.status,
            currency=case.currency,
            contract_no=case.contract_no,
            creditor_name=case.creditor_name,
            debtor=_masked(debtor),
            debts=debt_views,
            balance=Amounts.of(
                sum(d.principal_fen for d in debts),
                sum(d.interest_fen for d in debts),
                sum(d.fees_fen for d in debts),
            ),
            credit=Amounts.of(case.credit_fen, 0, 0).principal,
            credit_fen=case.credit_fen,
            version=case.version,
            created_at=case.created_at,
            updated_at=case.updated_at,
        )

    def _write_debtor(self, row: Debtor, value: DebtorValue) -> None:
        enc = self.pii.encrypt
        row.name_enc = enc(value.name, column="debtors.name", row_id=row.id)
        row.id_number_enc = enc(value.id_number, column="debtors.id_number", row_id=row.id)
        row.phone_enc = enc(value.phone, column="debtors.phone", row_id=row.id)
        row.key_id = self.pii.keyring.active
        row.id_number_bidx = self.pii.blind_index(value.id_number, kind="id_number")
        row.phone_bidx = self.pii.blind_index(value.phone, kind="phone")

    def _read_debtor(self, row: Debtor) -> DebtorValue:
        dec = self.pii.decrypt
        return DebtorValue(
            dec(row.name_enc, column="debtors.name", row_id=row.id),
            dec(row.id_number_enc, column="debtors.id_number", row_id=row.id),
            dec(row.phone_enc, column="debtors.phone", row_id=row.id),
        )


def _masked(d: DebtorValue) -> MaskedDebtor:
    return MaskedDebtor(
        name=mask_name(d.name), id_number=mask_id_number(d.id_number), phone=mask_phone(d.phone)
    )


def _new_debt(case_id: str, ref: str, due, principal: int, interest: int, fees: int) -> Debt:  # type: ignore[no-untyped-def]
    return Debt(
        id=new_id("debt"),
        case_id=case_id,
        debt_ref=ref,
        due_date=due,
        original_principal_fen=principal,
        original_interest_fen=interest,
        original_fees_fen=fees,
        principal_fen=principal,
        interest_fen=interest,
        fees_fen=fees,
    )


def _debt_summary(d) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {
        "debt_id": d.debt_ref,
        "due_date": d.due_date.isoformat(),
        "principal_fen": d.principal,
        "interest_fen": d.interest,
        "fees_fen": d.fees,
    }


def _balance(d: Debt) -> dict[str, int]:
    return {"principal_fen": d.principal_fen, "interest_fen": d.interest_fen, "fees_fen": d.fees_fen}


def _total(d: Debt) -> int:
    return d.principal_fen + d.interest_fen + d.fees_fen


async def _debts(session: AsyncSession, case_id: str) -> list[Debt]:
    query = select(Debt).where(Debt.case_id == case_id).order_by(Debt.due_date, Debt.debt_ref)
    return list((await session.execute(query)).scalars())


async def _owed(session: AsyncSession, debts: list[Debt]) -> dict[tuple[str, Component], int]:
    """Original amount plus amendments, per (debt, component)."""
    owed: dict[tuple[str, Component], int] = defaultdict(int)
    for d in debts:
        for c in COMPONENTS:
            owed[(d.id, c)] = getattr(d, f"original_{c.value}_fen")
    if not debts:
        return owed
    rows = await session.execute(
        select(Adjustment.debt_id, Adjustment.component, func.sum(Adjustment.amount_fen))
        .where(Adjustment.debt_id.in_([d.id for d in debts]))
        .group_by(Adjustment.debt_id, Adjustment.component)
    )
    for debt_id, comp, total in rows.all():
        owed[(debt_id, Component(comp))] += int(total)
    return owed


async def _allocated(session: AsyncSession, case_id: str) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(AllocationRow.amount_fen), 0)).where(AllocationRow.case_id == case_id)
    )
    return int(total or 0)


def encode_cursor(case_id: str) -> str:
    return base64.urlsafe_b64encode(case_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise FieldError("cursor", "is not a cursor this API returned") from None
    # Only a case id's own characters: anything else (NUL above all, which PostgreSQL cannot compare)
    # would reach the query.
    if not _CURSOR_ID.fullmatch(value):
        raise FieldError("cursor", "is not a cursor this API returned")
    return value
