"""The queue pages through every open item, oldest first, 200 at a time."""

from __future__ import annotations

import re

from payments.services.console_views import QUEUE_LIMIT
from payments.services.container import Services
from tests.console.conftest import NewBrowser, add_staff, logged_in, review_item


async def test_the_queue_pages_through_every_item_oldest_first(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    items = [
        await review_item(services, tenant.client_id, 10_000 + i, age_days=(QUEUE_LIMIT + 5 - i) / 100)
        for i in range(QUEUE_LIMIT + 5)
    ]
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))

    first = await browser.get("/console/queue")
    link = re.search(r'href="(/console/queue\?[^"]*after=[^"]+)"', first.text)
    assert link is not None, "no next-page link"
    second = await browser.get(link.group(1).replace("&amp;", "&"))

    shown = re.findall(r'href="/console/queue/(rvw_[0-9a-z]+)"', first.text + second.text)
    assert shown == [item.id for item in items]
    assert 'class="pager"' not in second.text  # the last page has no next link
