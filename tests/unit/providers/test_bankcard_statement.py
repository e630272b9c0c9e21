"""The reconciliation file: a hand-built fixture following providers.md 3.5, the sandbox's file, and
the errors (StatementError only)."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.domain.money import Money
from providers.bankcard.statement import ZM_RECORD_LENGTH, parse_statement_zip
from providers.bankcard.transform import nearest_datetime
from providers.base import BEIJING, StatementError
from tests.unit.providers.test_bankcard_support import (  # noqa: F401 - fixtures are found by name
    Env,
    bankcard_data_dir_fixture,
    env_fixture,
    open_order,
)

MER_ID = "777000000000001"
# Copied from providers.md 3.5, independently of the module under test.
SPEC_WIDTHS = "3,11,11,6,10,19,12,4,2,21,2,32,2,6,10,13,13,4,15,2,2,6,2,4,32,1,21,15,1,15,32,13,13,8,32,13,13,12,2,1,32,98"
WIDTHS = [int(width) for width in SPEC_WIDTHS.split(",")]


def record(**by_position: str) -> bytes:
    """One ZM record: field n (1-based) from `p<n>=`, GBK, padded to its width, single spaces."""
    cells = []
    for position, width in enumerate(WIDTHS, start=1):
        raw = by_position.get(f"p{position}", "").encode("gbk")
        assert len(raw) <= width
        cells.append(raw + b" " * (width - len(raw)))
    return b" ".join(cells)


def consume(order_id: str, fen: int, mmddhhmmss: str, query_id: str, **extra: str) -> bytes:
    fields = {"p1": "S22", "p5": mmddhhmmss, "p6": "621661******0018", "p7": f"{fen:012d}",
              "p10": query_id, "p12": order_id, "p20": "01", "p28": MER_ID}  # fmt: skip
    return record(**{**fields, **extra})


def refund(refund_no: str, fen: int, mmddhhmmss: str, query_id: str, orig_order: str, orig_qry: str) -> bytes:
    return record(p1="S30", p5=mmddhhmmss, p7=f"{fen:012d}", p10=query_id, p12=refund_no, p20="04",
                  p27=orig_qry, p28=MER_ID, p41=orig_order)  # fmt: skip


def archive(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buffer.getvalue()


def zm(*records: bytes, settle: str = "250101", newline: bytes = b"\r\n") -> bytes:
    body = b"".join(r + newline for r in records)
    return archive(
        (f"INN{settle}88ZM_{MER_ID}", body), (f"INN{settle}88ZME_{MER_ID}", b"junk that is ignored")
    )


def test_record_length_is_the_sum_of_widths_plus_separators() -> None:
    assert ZM_RECORD_LENGTH == sum(WIDTHS) + 41 == len(record())


def test_hand_built_file_parses_payments_and_refunds() -> None:
    data = zm(
        consume("ORDER20250001", 1234, "0101103000", "202501011030000000001", p31="测试二级商户"),
        refund("REFUND20250001", 234, "0101113000", "202501011130000000002", "ORDER20250001",
               "202501011030000000001"),
    )  # fmt: skip
    payment, back = parse_statement_zip(data, MER_ID)
    assert (payment.kind, payment.out_trade_no, payment.provider_txn_id) == (
        "payment", "ORDER20250001", "202501011030000000001",
    )  # fmt: skip
    assert (payment.amount, payment.fee, payment.line_no) == (Money(1234), Money(0), 1)
    assert payment.occurred_at == datetime(2025, 1, 1, 10, 30, tzinfo=BEIJING)
    assert (back.kind, back.refund_no, back.out_trade_no, back.amount) == (
        "refund", "REFUND20250001", "ORDER20250001", Money(-234),
    )  # fmt: skip
    assert back.line_no == 2 and back.provider == "bankcard"


def test_a_late_december_transaction_settled_on_new_years_day_keeps_its_year() -> None:
    (line,) = parse_statement_zip(zm(consume("ORDER20250001", 1, "1231235959", "1"), settle="250101"), MER_ID)
    assert line.occurred_at == datetime(2024, 12, 31, 23, 59, 59, tzinfo=BEIJING)


def test_txn_time_year_is_the_one_nearest_the_settle_day() -> None:
    assert nearest_datetime("0101000001", date(2024, 12, 31)).year == 2025
    assert nearest_datetime("0615120000", date(2025, 6, 16)).year == 2025
    assert nearest_datetime("0229120000", date(2024, 3, 1)) == datetime(2024, 2, 29, 12, tzinfo=BEIJING)


def test_lf_line_ends_and_trimmed_trailing_blanks_are_accepted() -> None:
    data = zm(consume("ORDER20250001", 5, "0101103000", "1").rstrip(b" "), newline=b"\n")
    (line,) = parse_statement_zip(data, MER_ID)
    assert line.amount == Money(5)


def test_an_empty_zm_file_is_an_empty_statement() -> None:
    assert parse_statement_zip(zm(), MER_ID) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a zip", "not a zip"),
        (archive(("readme.txt", b"x")), "no INN"),
        (zm(consume("ORDER20250001", 1, "0101103000", "1", p20="31")), "txnType"),
        (zm(consume("ORDER20250001", 1, "0101103000", "1", p28="777000000000999")), "merId"),
        (zm(consume("ORDER20250001", 1, "0101103000", "1", p7="12.34")), "amount"),
        (zm(consume("ORDER20250001", 1, "1301103000", "1")), "txnTime"),
        (zm(consume("ORDER20250001", 1, "0101103000", "")), "queryId"),
        (zm(consume("ORDER20250001", 1, "0101103000", "1") + b"x"), "longer"),
        (zm(b"S22" + b"X" * 200), "separator"),
        (zm(consume("ORDER20250001", 1, "0101103000", "1").replace(b"ORDER2025", b"ORDER\xff\xff25")), "GBK"),
        (archive((f"INN25139988ZM_{MER_ID}", b"")), "settle date"),
    ],
    ids=["not-zip", "no-zm", "txn-type", "mer-id", "amount", "date", "query-id", "long", "separator", "gbk",
         "name-date"],
)  # fmt: skip
def test_bad_files_raise_statement_error(data: bytes, message: str) -> None:
    with pytest.raises(StatementError, match=message):
        parse_statement_zip(data, MER_ID)


def test_errors_name_the_line_but_never_the_card_number() -> None:
    data = zm(
        consume("ORDER20250001", 1, "0101103000", "1"),
        consume("ORDER20250002", 1, "0101103000", "2", p20="99"),
    )
    with pytest.raises(StatementError) as caught:
        parse_statement_zip(data, MER_ID)
    assert caught.value.line == 2 and "621661" not in str(caught.value)


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_ever_raise_statement_error(data: bytes) -> None:
    try:
        parse_statement_zip(data, MER_ID)
    except StatementError:
        pass


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.data())
def test_a_corrupted_archive_only_ever_raises_statement_error(data: st.DataObject) -> None:
    good = bytearray(zm(consume("ORDER20250001", 1234, "0101103000", "1")))
    index = data.draw(st.integers(0, len(good) - 1))
    good[index] ^= data.draw(st.integers(1, 255))
    try:
        parse_statement_zip(bytes(good), MER_ID)
    except StatementError:
        pass


async def test_sandbox_file_lists_every_payment_notified_or_not_and_refunds(env: Env) -> None:
    from providers.base import RefundRequest

    for order_id, outcome in [("ORDER20250001", "pay"), ("ORDER20250002", "silent"), ("ORDER20250003", "twice"),
                              ("ORDER20250004", "fail")]:  # fmt: skip
        await open_order(env, order_id, 100)
        await env.sandbox.pay(order_id, outcome=outcome)  # type: ignore[arg-type]
    await env.provider.refund(RefundRequest("ORDER20250001", "REFUND20250001", Money(40), Money(100)))
    lines = env.provider.parse_statement(env.sandbox.statement_zip(datetime.now(BEIJING).date()))
    summary = sorted((line.kind, line.out_trade_no, line.amount.fen) for line in lines)
    assert summary == [
        ("payment", "ORDER20250001", 100),
        ("payment", "ORDER20250002", 100),
        ("payment", "ORDER20250003", 100),
        ("payment", "ORDER20250003", 100),
        ("refund", "ORDER20250001", -40),
    ]
    assert len({line.provider_txn_id for line in lines}) == 5
