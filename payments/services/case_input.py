"""The case a case system sends, as it arrives (msgspec structs) and once validated (CaseCommand).

Shapes are checked by msgspec while decoding; meaning (amounts, ID check digits, duplicates) is checked
by `to_command`, which reports every bad field at once with its JSON path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import msgspec

from payments.domain.cases import DebtBalance
from payments.domain.errors import Collector, DomainError, FieldError
from payments.domain.identity import Debtor, normalise_id_number, normalise_mobile, normalise_name
from payments.domain.money import check_currency, check_fen, parse_yuan


class DebtorIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    id_number: str
    phone: str


class DebtIn(msgspec.Struct, forbid_unknown_fields=True):
    debt_id: str
    due_date: date
    # Each component as a yuan string ("1234.50") or as integer fen; give one form, not both.
    principal: str | None = None
    principal_fen: int | None = None
    interest: str | None = None
    interest_fen: int | None = None
    fees: str | None = None
    fees_fen: int | None = None


class CaseIn(msgspec.Struct, forbid_unknown_fields=True):
    external_ref: str
    debtor: DebtorIn
    debts: list[DebtIn]
    currency: str = "CNY"
    contract_no: str | None = None
    creditor_name: str | None = None


@dataclass(frozen=True)
class CaseCommand:
    external_ref: str
    debtor: Debtor
    debts: tuple[DebtBalance, ...]
    currency: str
    contract_no: str | None
    creditor_name: str | None


_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")


def _ref(value: str, field: str) -> str:
    if not _REF.fullmatch(value):
        raise FieldError(field, "must be 1-64 letters, digits or . _ : / - starting with a letter or digit")
    return value


def _component(debt: DebtIn, name: str, path: str, *, required: bool) -> int:
    text: str | None = getattr(debt, name)
    fen: int | None = getattr(debt, f"{name}_fen")
    if text is not None and fen is not None:
        raise FieldError(f"{path}.{name}", f"give {name} or {name}_fen, not both")
    if text is not None:
        return parse_yuan(text, f"{path}.{name}", allow_zero=not required)
    if fen is not None:
        return check_fen(fen, f"{path}.{name}_fen", allow_zero=not required)
    if required:
        raise FieldError(f"{path}.{name}", "is required")
    return 0


def to_command(data: CaseIn) -> CaseCommand:
    errors = Collector()

    def check(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            errors.add(exc)
            return None

    external_ref = check(_ref, data.external_ref, "external_ref")
    currency = check(check_currency, data.currency, "currency")
    name = check(normalise_name, data.debtor.name, "debtor.name")
    id_number = check(normalise_id_number, data.debtor.id_number, "debtor.id_number")
    phone = check(normalise_mobile, data.debtor.phone, "debtor.phone")
    if data.contract_no is not None:
        check(_ref, data.contract_no, "contract_no")
    if data.creditor_name is not None and not (0 < len(data.creditor_name.strip()) <= 200):
        errors.add(FieldError("creditor_name", "must be 1-200 characters"))
    if not data.debts:
        errors.add(FieldError("debts", "must list at least one debt"))
    if len(data.debts) > 500:
        errors.add(FieldError("debts", "must list at most 500 debts"))
    seen: set[str] = set()
    balances: list[DebtBalance] = []
    for i, debt in enumerate(data.debts):
        path = f"debts[{i}]"
        ref = check(_ref, debt.debt_id, f"{path}.debt_id")
        if ref is not None and ref in seen:
            errors.add(FieldError(f"{path}.debt_id", f"duplicate debt_id {ref!r} in this request"))
        seen.add(debt.debt_id)
        principal = check(_component, debt, "principal", path, required=True)
        interest = check(_component, debt, "interest", path, required=False)
        fees = check(_component, debt, "fees", path, required=False)
        if None not in (ref, principal, interest, fees):
            balances.append(DebtBalance(debt.debt_id, debt.due_date, fees, interest, principal))
    errors.raise_if_any()
    return CaseCommand(
        external_ref=external_ref,
        debtor=Debtor(name, id_number, phone),
        debts=tuple(balances),
        currency=currency,
        contract_no=data.contract_no,
        creditor_name=data.creditor_name.strip() if data.creditor_name else None,
    )
