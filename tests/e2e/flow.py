"""Steps of the borrower's path shared by the browser tests (Playwright's async API)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import httpx
from playwright.async_api import Locator, Page, expect

from payments.api.borrower.i18n import STRINGS
from payments.domain.money import format_yuan
from tests.api.conftest import ID_NUMBER, MASKED_NAME, NAME
from tests.e2e.conftest import CREDITOR, FEES_FEN, INTEREST_FEN, PRINCIPAL_FEN, TOTAL_FEN, PayLink, Shot

ZH = STRINGS["zh"]
EN = STRINGS["en"]
RIGHT = ID_NUMBER[-4:]
WRONG = "0000" if RIGHT != "0000" else "1111"
BEIJING = timezone(timedelta(hours=8))
# The notification comes from the sandbox over loopback HTTP; the page polls every 2 s (or refreshes
# every 5 s without JavaScript).
RECEIPT_TIMEOUT_MS = 20_000


async def definitions(dl: Locator) -> dict[str, str]:
    """The <dt> -> <dd> pairs of a definition list, as shown."""
    terms = [t.strip() for t in await dl.locator("dt").all_inner_texts()]
    values = [v.strip() for v in await dl.locator("dd").all_inner_texts()]
    assert len(terms) == len(values), (terms, values)
    return dict(zip(terms, values, strict=True))


async def submit(page: Page) -> None:
    await page.locator("form button[type=submit]").first.click()


async def answer_identity(page: Page, last4: str) -> None:
    await page.locator("#last4").fill(last4)
    await submit(page)


async def open_link(page: Page, link: PayLink, t: dict[str, str] = ZH) -> None:
    await page.goto(link.url)
    await expect(page.locator("h2")).to_have_text(t["verify_title"])


async def pass_identity_after_one_miss(page: Page, link: PayLink, shot: Shot, t: dict[str, str] = ZH) -> None:
    """Open the link, give a wrong answer (error with tries left), then the right one."""
    await open_link(page, link, t)
    # Nothing about the debt or the debtor before the check.
    body = await page.locator("body").inner_text()
    assert CREDITOR not in body and MASKED_NAME not in body and NAME not in body
    await shot(page, "01-verify")
    await answer_identity(page, WRONG)
    await expect(page.locator(".error")).to_have_text(t["wrong"].format(left=4))
    await shot(page, "02-wrong-answer")
    await answer_identity(page, RIGHT)
    await expect(page.locator("h2").first).to_have_text(t["due"])


async def check_due(page: Page, shot: Shot, t: dict[str, str] = ZH) -> None:
    """Creditor, masked name and the amounts by component; the full name is never shown."""
    shown = await definitions(page.locator("dl").first)
    assert shown == {
        t["creditor"]: CREDITOR,
        t["borrower"]: MASKED_NAME,
        t["fees"]: format_yuan(FEES_FEN),
        t["interest"]: format_yuan(INTEREST_FEN),
        t["principal"]: format_yuan(PRINCIPAL_FEN),
        t["total"]: format_yuan(TOTAL_FEN),
        t["due_date"]: "2024-03-31",
    }
    assert NAME not in await page.locator("body").inner_text()
    await shot(page, "03-due")


async def choose(page: Page, shot: Shot, amount: str, channel: str) -> None:
    await page.locator("#amount").fill(amount)
    await shot(page, "04-amount")
    await page.locator(f"button[name=channel][value={channel}]").click()


async def expect_receipt(
    page: Page, channel: str, amount_fen: int, remaining_fen: int, t: dict[str, str] = ZH
) -> dict[str, str]:
    receipt = page.locator("#receipt")
    await expect(receipt).to_be_visible(timeout=RECEIPT_TIMEOUT_MS)
    await expect(receipt.locator("h2")).to_have_text(t["paid_title"])
    shown = await definitions(receipt.locator("dl"))
    assert shown[t["creditor"]] == CREDITOR
    assert shown[t["paid_amount"]] == format_yuan(amount_fen)
    assert shown[t["channel"]] == t[channel]
    assert shown[t["remaining"]] == format_yuan(remaining_fen)
    assert re.fullmatch(r"[0-9A-Za-z_-]{6,64}", shown[t["reference"]]), shown
    paid_at = datetime.strptime(shown[t["paid_time"]], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    assert abs(datetime.now(BEIJING) - paid_at) < timedelta(minutes=5), shown
    return shown


async def check_printable(page: Page, shot: Shot, step: str) -> None:
    """A print button (pay.js shows it); in print media the receipt stays, buttons, language link and
    footer go."""
    await expect(page.locator("[data-print]")).to_be_visible()
    await page.emulate_media(media="print")
    try:
        await expect(page.locator("#receipt")).to_be_visible()
        for hidden in ("[data-print]", "header a", "footer"):
            await expect(page.locator(hidden)).to_be_hidden()
        await shot(page, step)
    finally:
        await page.emulate_media(media="screen")


async def paid_through_link(api: httpx.AsyncClient, link: PayLink) -> int:
    resp = await api.get(f"/v1/links/{link.id}")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["paid_fen"])


def path_of(url: str) -> str:
    return httpx.URL(url).path
