"""Closing a business day for a rail: once its statement is checked, each client with activity that day
gets the day's figures kept in `recon_days` and one `reconciliation.day_closed` event. Running the
check again updates the kept figures (the queue moves on) but sends no second event."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from payments.persistence.db import utcnow
from payments.persistence.tables_recon import ReconDay
from payments.services.container import Services
from payments.services.inserts import insert_ignoring_duplicates
from payments.services.outbox import emit
from payments.services.reports import daily_report


async def close_day(services: Services, provider: str, day: date) -> int:
    """The number of clients whose day was closed now (not before)."""
    closed = 0
    async with services.db.transaction() as session:
        for row in await daily_report(session, client_ids=None, start=day, end=day, provider=provider):
            figures = row.to_json()
            inserted = await insert_ignoring_duplicates(
                session,
                ReconDay,
                dict(
                    client_id=row.client_id,
                    provider=provider,
                    day=day,
                    report=figures,
                    runs=1,
                    closed_at=utcnow(),
                ),
            )
            if not inserted:
                kept = await session.scalar(
                    select(ReconDay)
                    .where(
                        ReconDay.client_id == row.client_id,
                        ReconDay.provider == provider,
                        ReconDay.day == day,
                    )
                    .with_for_update()
                )
                if kept is not None:
                    kept.report = figures
                    kept.runs += 1
                continue
            closed += 1
            emit(
                session,
                row.client_id,
                "reconciliation.day_closed",
                case_id=None,
                payload={
                    "business_date": day.isoformat(),
                    "provider": provider,
                    "payments_count": row.payments_count,
                    "payments_fen": row.payments_fen,
                    "matched_count": row.matched_count,
                    "unmatched_count": row.review_count,
                    "exceptions_count": row.exceptions_count,
                },
            )
    return closed
