"""The daily reconciliation report: per client, Beijing day and provider, what came in and what became
of it (matched automatically or by a person, waiting in review, exceptions by kind), with the
provider's fees and the net settled from the statement lines.

Figures are read from the tables as they stand, so a report for a day changes while its payments are
worked; `recon_days` keeps the figures as they were when the day was closed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.persistence.tables import Payment, PaymentException, StatementLineRow
from payments.persistence.tables_recon import ReviewItem

BEIJING = timezone(timedelta(hours=8))


@dataclass(frozen=True, slots=True)
class DayReport:
    day: date
    client_id: str
    provider: str
    payments_count: int = 0
    payments_fen: int = 0
    matched_count: int = 0  # applied to cases, by the engine or by a person
    matched_fen: int = 0
    auto_applied_count: int = 0  # applied with no person involved
    review_count: int = 0  # still waiting for a person
    review_fen: int = 0
    refunded_count: int = 0
    exceptions: dict[str, int] = field(default_factory=dict)
    statement_lines: int = 0
    fees_fen: int = 0
    net_fen: int = 0  # statement amounts (refunds negative) less fees: what the provider settles

    @property
    def exceptions_count(self) -> int:
        return sum(self.exceptions.values())

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["day"] = self.day.isoformat()
        out["exceptions_count"] = self.exceptions_count
        return out


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in Beijing time, as aware datetimes."""
    return datetime.combine(start, time(0), BEIJING), datetime.combine(
        end + timedelta(days=1), time(0), BEIJING
    )


def beijing_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The Beijing calendar day of a UTC timestamp column, computed by the database."""
    if dialect == "postgresql":
        return cast(func.timezone("Asia/Shanghai", column), Date)
    # SQLite keeps UTC timestamps as ISO text; date() with a modifier shifts it to +08:00.
    return func.date(column, literal_column("'+8 hours'"))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def daily_report(
    session: AsyncSession,
    *,
    client_ids: Sequence[str] | None,
    start: date,
    end: date,
    provider: str | None = None,
) -> list[DayReport]:
    """One row per (day, client, provider) with any activity, ordered by day, client, provider.
    `client_ids=None` means every client (staff with all-clients scope)."""
    if end < start:
        raise ValueError("end must not be before start")
    dialect = session.get_bind().dialect.name
    lo, hi = day_bounds(start, end)
    rows: dict[tuple[date, str, str], dict[str, Any]] = {}

    def slot(day: Any, client: str, prov: str) -> dict[str, Any]:
        return rows.setdefault((_as_date(day), client, prov), {"exceptions": {}})

    pay_day = beijing_day(Payment.received_at, dialect).label("day")
    in_review = ReviewItem.status == "open"
    q = (
        select(
            pay_day,
            Payment.client_id,
            Payment.provider,
            func.count(),
            func.sum(Payment.amount_fen),
            func.sum(case((Payment.status == "matched", 1), else_=0)),
            func.sum(case((Payment.status == "matched", Payment.amount_fen), else_=0)),
            func.sum(case((and_(Payment.status == "matched", ReviewItem.id.is_(None)), 1), else_=0)),
            func.sum(case((in_review, 1), else_=0)),
            func.sum(case((in_review, Payment.amount_fen), else_=0)),
            func.sum(case((Payment.status == "refunded", 1), else_=0)),
        )
        .outerjoin(ReviewItem, ReviewItem.payment_id == Payment.id)
        .where(Payment.received_at >= lo, Payment.received_at < hi)
        .group_by(pay_day, Payment.client_id, Payment.provider)
    )
    q = _scoped(q, Payment.client_id, Payment.provider, client_ids, provider)
    for day, client, prov, n, fen, m, mfen, auto, r, rfen, refunded in await session.execute(q):
        s = slot(day, client, prov)
        s.update(
            payments_count=n,
            payments_fen=int(fen or 0),
            matched_count=int(m or 0),
            matched_fen=int(mfen or 0),
            auto_applied_count=int(auto or 0),
            review_count=int(r or 0),
            review_fen=int(rfen or 0),
            refunded_count=int(refunded or 0),
        )

    exc_day = beijing_day(PaymentException.created_at, dialect).label("day")
    q = (
        select(
            exc_day,
            PaymentException.client_id,
            PaymentException.provider,
            PaymentException.kind,
            func.count(),
        )
        .where(PaymentException.created_at >= lo, PaymentException.created_at < hi)
        .group_by(exc_day, PaymentException.client_id, PaymentException.provider, PaymentException.kind)
    )
    q = _scoped(q, PaymentException.client_id, PaymentException.provider, client_ids, provider)
    for day, client, prov, kind, n in await session.execute(q):
        slot(day, client, prov)["exceptions"][kind] = n

    # Statement lines carry the statement's own day; lines we could not tie to a client are left out.
    q = (
        select(
            StatementLineRow.day,
            StatementLineRow.client_id,
            StatementLineRow.provider,
            func.count(),
            func.sum(StatementLineRow.fee_fen),
            func.sum(StatementLineRow.amount_fen),
        )
        .where(
            StatementLineRow.day >= start,
            StatementLineRow.day <= end,
            StatementLineRow.client_id.is_not(None),
        )
        .group_by(StatementLineRow.day, StatementLineRow.client_id, StatementLineRow.provider)
    )
    q = _scoped(q, StatementLineRow.client_id, StatementLineRow.provider, client_ids, provider)
    for day, client, prov, n, fees, gross in await session.execute(q):
        s = slot(day, client, prov)
        s.update(statement_lines=n, fees_fen=int(fees or 0), net_fen=int(gross or 0) - int(fees or 0))

    return [DayReport(day=k[0], client_id=k[1], provider=k[2], **v) for k, v in sorted(rows.items())]


def _scoped(
    q: Any, client_col: Any, provider_col: Any, client_ids: Sequence[str] | None, provider: str | None
) -> Any:
    if client_ids is not None:
        q = q.where(client_col.in_(list(client_ids)))
    if provider is not None:
        q = q.where(provider_col == provider)
    return q


CSV_COLUMNS = (
    ("day", "日期 Day"),
    ("client_id", "客户 Client"),
    ("provider", "渠道 Provider"),
    ("payments_count", "笔数 Payments"),
    ("payments_yuan", "金额 Amount (CNY)"),
    ("matched_count", "已匹配笔数 Matched"),
    ("matched_yuan", "已匹配金额 Matched (CNY)"),
    ("auto_applied_count", "自动入账 Auto-applied"),
    ("review_count", "待复核笔数 In review"),
    ("review_yuan", "待复核金额 In review (CNY)"),
    ("refunded_count", "已退款 Refunded"),
    ("exceptions_count", "异常 Exceptions"),
    ("exceptions", "异常类型 Exception kinds"),
    ("fees_yuan", "手续费 Fees (CNY)"),
    ("net_yuan", "净结算 Net settled (CNY)"),
)


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def report_csv(rows: Iterable[DayReport]) -> bytes:
    """UTF-8 with a BOM, CRLF line ends: Excel on a Chinese Windows opens it as UTF-8, not GBK.
    Amounts are yuan with two decimals, written as text Excel reads as numbers without rounding."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([title for _, title in CSV_COLUMNS])
    for r in rows:
        values = {
            **r.to_json(),
            "payments_yuan": _yuan(r.payments_fen),
            "matched_yuan": _yuan(r.matched_fen),
            "review_yuan": _yuan(r.review_fen),
            "fees_yuan": _yuan(r.fees_fen),
            "net_yuan": _yuan(r.net_fen),
            "exceptions": "; ".join(f"{k}={v}" for k, v in sorted(r.exceptions.items())),
        }
        writer.writerow([_csv_safe(values[key]) for key, _ in CSV_COLUMNS])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def _csv_safe(value: Any) -> str:
    """A cell Excel would run as a formula (=, +, -, @ first) gets a leading quote; amounts are exempt."""
    text = str(value)
    if text[:1] in ("=", "+", "@", "\t", "\r") or (text[:1] == "-" and not _is_amount(text)):
        return "'" + text
    return text


def _is_amount(text: str) -> bool:
    head, _, tail = text.lstrip("-").partition(".")
    return head.isdigit() and (tail == "" or tail.isdigit())
