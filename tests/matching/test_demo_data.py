"""The quickstart's demo data: cases with pay links, and a bank statement whose transfers show both
an automatic match and the review queue."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from payments.demo import load_demo
from payments.persistence.migrate import upgrade
from payments.persistence.tables_recon import ReviewItem
from payments.services.container import build_services
from payments.settings import DatabaseSettings, Settings


async def test_demo_data_has_pay_links_an_applied_transfer_and_two_in_review(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = Settings(data_dir=str(tmp_path), database=DatabaseSettings(url=url))

    info = await load_demo(settings)

    assert len(info.case_ids) == 3
    assert sum("Pay link" in line for line in info.more_urls) == 3
    assert "1 applied automatically, 2 waiting in the review queue" in info.more_urls[-1]
    services = build_services(settings)
    try:
        async with services.db.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(ReviewItem)) == 2
    finally:
        await services.aclose()


async def test_loading_the_demo_twice_adds_no_second_statement(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = Settings(data_dir=str(tmp_path), database=DatabaseSettings(url=url))
    await load_demo(settings)

    again = await load_demo(settings)

    assert "0 new transfers" in again.more_urls[-1]
