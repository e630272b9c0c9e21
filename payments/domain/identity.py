"""Debtor identity: validation of Chinese resident ID numbers and mobile numbers, and masking.

Masking is the only form in which personal data may appear on pages, in logs, errors or webhooks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from payments.domain.errors import FieldError

# GB 11643-1999 check digit: weights 2^(17-i) mod 11, remainder mapped to this table.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID = re.compile(r"[1-9][0-9]{16}[0-9X]")
# Mainland mobile numbers: 11 digits starting 13-19 (numbering plan of MIIT), optional +86 / 86 prefix.
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9][0-9]{9})")


def id_check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def normalise_id_number(raw: object, field: str = "debtor.id_number") -> str:
    """Upper-case the trailing x, then check format, birth date and the GB 11643 check digit."""
    if not isinstance(raw, str):
        raise FieldError(field, "must be a string")
    value = raw.upper()
    if not _ID.fullmatch(value):
        raise FieldError(field, "must be an 18-character resident ID number")
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise FieldError(field, "contains an impossible date of birth") from None
    if id_check_digit(value[:17]) != value[17]:
        raise FieldError(field, "check digit does not match (GB 11643)")
    return value


def normalise_mobile(raw: object, field: str = "debtor.phone") -> str:
    if not isinstance(raw, str):
        raise FieldError(field, "must be a string")
    m = _MOBILE.fullmatch(raw.replace(" ", "").replace("-", ""))
    if not m:
        raise FieldError(field, "must be a mainland China mobile number (11 digits starting 13-19)")
    return m.group(1)


def normalise_name(raw: object, field: str = "debtor.name") -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise FieldError(field, "must be a non-empty string")
    value = raw.strip()
    if len(value) > 64:
        raise FieldError(field, "must be at most 64 characters")
    if any(ord(c) < 32 for c in value):
        raise FieldError(field, "must not contain control characters")
    return value


def mask_name(name: str) -> str:
    """张三 -> 张*, 张小三 -> 张*三, 欧阳小明 -> 欧**明; Latin names keep the first letter of each part."""
    if not name:
        return ""
    if name.isascii():
        return " ".join(p[0] + "*" * (len(p) - 1) for p in name.split())
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(value: str) -> str:
    """1101**********1234: the region prefix and the last four, nothing that gives the birth date."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    """138****5678."""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


@dataclass(frozen=True, slots=True)
class Debtor:
    name: str
    id_number: str
    phone: str

    @property
    def masked(self) -> dict[str, str]:
        return {
            "name": mask_name(self.name),
            "id_number": mask_id_number(self.id_number),
            "phone": mask_phone(self.phone),
        }

    def __repr__(self) -> str:  # keeps plain values out of tracebacks and logs
        m = self.masked
        return f"Debtor(name={m['name']!r}, id_number={m['id_number']!r}, phone={m['phone']!r})"
