"""Helpers for the case-system API tests: request bodies, a valid resident ID number, problem checks."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
from httpx import Response
from sqlalchemy import func, select

from payments.domain.identity import id_check_digit
from payments.persistence.tables import Case
from payments.services.container import Services

PROBLEM = "urn:payrecon:problem:"


NAME = "张小三"
MASKED_NAME = "张*三"
PHONE = "13812345678"
MASKED_PHONE = "138****5678"


def id_number_ending(last4: str = "1234", region: str = "110105") -> str:
    """A resident ID number that passes GB 11643, whose last four characters are `last4`."""
    for year in range(1960, 2000):
        for month in range(1, 13):
            first17 = f"{region}{year}{month:02d}15{last4[:3]}"
            if id_check_digit(first17) == last4[3]:
                return first17 + last4[3]
    raise AssertionError(f"no ID number ends in {last4}")


ID_NUMBER = id_number_ending("1234")
MASKED_ID = "1101**********1234"


def new_ref(prefix: str = "ext") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def debt(debt_id: str = "D1", due_date: str = "2024-01-31", **amounts: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"debt_id": debt_id, "due_date": due_date}
    body.update(amounts or {"principal": "1000.00"})
    return body


def case_body(external_ref: str | None = None, *debts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": new_ref() if external_ref is None else external_ref,
        "debtor": {"name": NAME, "id_number": ID_NUMBER, "phone": PHONE},
        "debts": list(debts) or [debt()],
    }
    body.update(extra)
    return copy.deepcopy(body)


def assert_problem(resp: Response, status: int, slug: str, *fields: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and type, naming exactly these fields."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    body = resp.json()
    assert body["type"] == PROBLEM + slug, body
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body.get("detail"), str)
    if fields:
        named = [e["field"] for e in body.get("errors", [])]
        for field in fields:
            assert field in named, body
    return body


def assert_no_plain_pii(text: str) -> None:
    for plain in (NAME, ID_NUMBER, ID_NUMBER[6:14], PHONE):
        assert plain not in text, f"{plain!r} leaked"


async def cases_with_ref(client: httpx.AsyncClient, headers: dict[str, str], external_ref: str) -> list[Any]:
    resp = await client.get("/v1/cases", params={"external_ref": external_ref}, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def count_cases(services: Services, client_id: str) -> int:
    async with services.db.sessions() as session:
        return int(await session.scalar(select(func.count()).where(Case.client_id == client_id)) or 0)


@pytest.fixture
def body() -> dict[str, Any]:
    return case_body()
