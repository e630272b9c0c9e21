"""The finance review console in headless Chromium against the real server: log in, accept a
suggestion after its preview, split a payment, a four-eyes approval by a second person, the CSV export
and a webhook replay. Staff users are made with `payrecon staff add`; payments waiting for review are
written straight into the server's database, the way the matching job leaves them.

Screenshots: artifacts/screenshots/console-<path>-<step>.png.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

pytest.importorskip("playwright.async_api", reason="browser tests need the playwright package")

from playwright.async_api import Dialog, Page, expect
from sqlalchemy import select

from payments.api.console.i18n import STRINGS
from payments.persistence.db import Database, utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Client, WebhookMessage
from payments.security.pii import PiiCipher, load_keyring
from tests.api.conftest import case_body, debt
from tests.console.conftest import candidate, review_item
from tests.e2e.conftest import ARTIFACTS, DESKTOP_UA, DESKTOP_VIEWPORT, REPO, NewContext, Server

pytestmark = pytest.mark.browser

ZH = STRINGS["zh"]
EN = STRINGS["en"]
PASSWORD = "e2e console password 1"
CLIENT = "E2E Lender"  # the client the server fixture's API key belongs to


@dataclass(frozen=True)
class Staff:
    clerk: str
    approver: str
    second_approver: str


@dataclass
class Backdoor:
    """The server's database and keys, for setting up what the matching job would have written."""

    services: Any
    client_id: str


def _server_env(server: Server, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYRECON_")}
    env.update(PAYRECON_DATA_DIR=str(server.log_path.parent), PAYRECON_DATABASE__URL=database_url)
    return env


def _staff_add(env: dict[str, str], password_file: Path, username: str, role: str, *extra: str) -> None:
    done = subprocess.run(  # noqa: S603  (our own CLI, fixed arguments)
        [
            sys.executable,
            "-m",
            "payments.cli",
            "staff",
            "add",
            username,
            "--role",
            role,
            "--client",
            CLIENT,
            "--password-file",
            str(password_file),
            *extra,
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "staff user stf_" in done.stdout


@pytest.fixture(scope="module")
def staff(server: Server, e2e_database: str, tmp_path_factory: pytest.TempPathFactory) -> Staff:
    password_file = tmp_path_factory.mktemp("staff") / "password"
    password_file.write_text(PASSWORD + "\n")
    env = _server_env(server, e2e_database)
    names = Staff("e2e-clerk", "e2e-approver", "e2e-approver2")
    _staff_add(env, password_file, names.clerk, "clerk")
    _staff_add(env, password_file, names.approver, "approver", "--reveal")
    _staff_add(env, password_file, names.second_approver, "approver")
    return names


@pytest.fixture(scope="module")
async def backdoor(server: Server, e2e_database: str, api: httpx.AsyncClient) -> AsyncIterator[Backdoor]:
    keys = server.log_path.parent / "keys" / "pii-keyring.json"
    db = Database(e2e_database, pool_size=2)
    async with db.sessions() as session:
        client_id = await session.scalar(select(Client.id).where(Client.name == CLIENT))
    assert client_id
    yield Backdoor(SimpleNamespace(db=db, pii=PiiCipher(load_keyring(keys, create=False))), client_id)
    await db.dispose()


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"console-{name}.png"


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=screenshot_path(name), full_page=True)


async def new_case(api: httpx.AsyncClient, *debts: dict[str, Any]) -> dict[str, Any]:
    resp = await api.post("/v1/cases", json=case_body(None, *debts, creditor_name="示例消费金融有限公司"))
    assert resp.status_code == 201, resp.text
    return resp.json()


async def staff_page(new_context: NewContext) -> Page:
    context = await new_context(viewport=DESKTOP_VIEWPORT, user_agent=DESKTOP_UA)
    page = await context.new_page()

    async def accept(dialog: Dialog) -> None:  # the confirm() that guards money actions
        await dialog.accept()

    page.on("dialog", accept)
    return page


async def log_in(page: Page, username: str) -> None:
    await page.goto("/console/login")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("form button[type=submit]").click()
    await expect(page.locator("h1")).to_have_text(ZH["queue_title"])


async def test_console_log_in_and_out(new_context: NewContext, staff: Staff) -> None:
    page = await staff_page(new_context)
    await page.goto("/console/queue")
    await expect(page.locator("h1")).to_have_text(ZH["login_title"])  # sent to log in first
    await shot(page, "login-01-form")
    await page.locator("#username").fill(staff.clerk)
    await page.locator("#password").fill("not the password")
    await page.locator("form button[type=submit]").click()
    await expect(page.locator(".error")).to_have_text(ZH["err_login_failed"])
    await shot(page, "login-02-wrong-password")
    await log_in(page, staff.clerk)
    await expect(page.locator(".who .user")).to_contain_text(staff.clerk)
    await shot(page, "login-03-queue")
    await page.get_by_role("link", name=ZH["lang_switch"]).click()  # "English", and it sticks
    await expect(page.locator("h1")).to_have_text(EN["queue_title"])
    await page.get_by_role("link", name=EN["nav_reports"]).click()
    await expect(page.locator("h1")).to_have_text(EN["report_title"])
    await shot(page, "login-04-english-report")
    await page.get_by_role("link", name=EN["lang_switch"]).click()
    await expect(page.locator("h1")).to_have_text(ZH["report_title"])
    await page.get_by_role("button", name=ZH["logout"]).click()
    await expect(page.locator("h1")).to_have_text(ZH["login_title"])
    await page.goto("/console/queue")
    await expect(page.locator("h1")).to_have_text(ZH["login_title"])


async def test_console_accept_the_top_suggestion_after_its_preview(
    new_context: NewContext, staff: Staff, backdoor: Backdoor, api: httpx.AsyncClient
) -> None:
    case = await new_case(api, debt("D1", "2024-03-31", principal="1000.00", interest="35.50", fees="20.00"))
    other = await new_case(api, debt("D1", "2024-04-30", principal="300.00"))
    item = await review_item(
        backdoor.services,
        backdoor.client_id,
        30_000,
        [
            candidate([case["id"]], 92, "reference_in_memo", "name_pinyin"),
            candidate([other["id"]], 41, "amount_equals_balance"),
        ],
        with_bank_line=True,
    )
    page = await staff_page(new_context)
    await log_in(page, staff.clerk)
    await expect(page.locator(f"a[href='/console/queue/{item.id}']")).to_be_visible()
    await shot(page, "suggestion-01-queue")
    await page.locator(f"a[href='/console/queue/{item.id}']").click()
    top = page.locator(".candidate").first
    await expect(top.locator(".score")).to_have_text("92")
    await expect(top.locator(".chip").first).to_contain_text("附言含案件号")
    await shot(page, "suggestion-02-item")
    await top.get_by_role("link", name=ZH["accept_preview"]).click()
    preview = page.locator("#preview")
    await expect(preview).to_be_visible()
    # Fees, then interest, then principal: 20.00 + 35.50 + 244.50 = 300.00.
    await expect(preview.locator("tbody")).to_contain_text("244.50")
    await shot(page, "suggestion-03-preview")
    await page.locator("#confirm-action").click()
    await expect(page.locator(".notice.ok")).to_have_text(ZH["msg_match"])
    await expect(page.locator("#preview")).to_have_count(0)
    await shot(page, "suggestion-04-matched")
    await page.goto(f"/console/cases/{case['id']}")
    await expect(page.locator(".timeline")).to_contain_text(ZH["audit_payment_applied"])
    await shot(page, "suggestion-05-case")


async def test_console_split_a_payment_across_two_cases(
    new_context: NewContext, staff: Staff, backdoor: Backdoor, api: httpx.AsyncClient
) -> None:
    first = await new_case(api, debt("D1", "2024-01-31", principal="400.00"))
    second = await new_case(api, debt("D1", "2024-02-29", principal="900.00"))
    item = await review_item(backdoor.services, backdoor.client_id, 100_000, [])
    page = await staff_page(new_context)
    await log_in(page, staff.clerk)
    await page.goto(f"/console/queue/{item.id}")
    await page.get_by_text(ZH["action_split"], exact=True).click()
    form = page.locator("form[data-split]")
    rows = form.locator("tbody tr")
    await rows.nth(0).locator("input[name=case]").fill(first["external_ref"])
    await rows.nth(0).locator("input[name=amount]").fill("400.00")
    await rows.nth(1).locator("input[name=case]").fill(second["external_ref"])
    await rows.nth(1).locator("input[name=amount]").fill("500")
    await expect(form.locator("[data-split-status]")).to_contain_text("还剩 100.00 元")
    await shot(page, "split-01-short")
    await rows.nth(1).locator("input[name=amount]").fill("600.00")
    await expect(form.locator("[data-split-status]")).to_contain_text("已全部分配")
    await shot(page, "split-02-form")
    await form.get_by_role("button", name=ZH["preview"]).click()
    await expect(page.locator("#preview .preview-case")).to_have_count(2)
    await shot(page, "split-03-preview")
    await page.locator("#confirm-action").click()
    await expect(page.locator(".notice.ok")).to_have_text(ZH["msg_split"])
    await shot(page, "split-04-done")
    for case, owed in ((first, "0.00"), (second, "300.00")):
        await page.goto(f"/console/cases/{case['id']}")
        await expect(page.locator("dd.total")).to_have_text(owed)


async def test_console_four_eyes_approval_by_a_second_person(
    new_context: NewContext, staff: Staff, backdoor: Backdoor, api: httpx.AsyncClient
) -> None:
    case = await new_case(api, debt("D1", "2024-01-31", principal="9000.00"))
    item = await review_item(backdoor.services, backdoor.client_id, 800_000, [candidate([case["id"]], 88)])
    clerk = await staff_page(new_context)
    await log_in(clerk, staff.clerk)
    await clerk.goto(f"/console/queue/{item.id}")
    await clerk.locator(".candidate").first.get_by_role("link", name=ZH["accept_preview"]).click()
    await expect(clerk.locator("#preview .notice")).to_have_text(ZH["needs_approval"])
    await expect(clerk.locator("#confirm-action")).to_have_text(ZH["request_approval"])
    await clerk.locator("#confirm-action").click()
    await expect(clerk.locator(".notice.ok")).to_have_text(ZH["msg_approval_requested"])
    await expect(clerk.locator(".card.attention h2")).to_have_text(ZH["awaiting_approval"])
    await shot(clerk, "four-eyes-01-requested")
    # The clerk sees the request but no approve button.
    await clerk.goto("/console/approvals")
    await expect(clerk.get_by_role("button", name=ZH["approve"])).to_have_count(0)

    approver = await staff_page(new_context)
    await log_in(approver, staff.approver)
    await approver.goto("/console/approvals")
    card = approver.locator("section.approval", has=approver.locator(f"a[href='/console/queue/{item.id}']"))
    await expect(card).to_contain_text(staff.clerk)
    await shot(approver, "four-eyes-02-approvals")
    await card.locator("input[name=note]").fill("核对无误")
    await card.get_by_role("button", name=ZH["approve"]).click()
    await expect(approver.locator(".notice.ok")).to_have_text(ZH["msg_approved"])
    await approver.goto(f"/console/queue/{item.id}")
    await expect(approver.locator(".badge.ok")).to_have_text(ZH["item_matched"])
    await expect(approver.locator("main")).to_contain_text(staff.approver)
    await shot(approver, "four-eyes-03-done")


async def test_console_export_the_daily_report_as_csv(
    new_context: NewContext, staff: Staff, backdoor: Backdoor
) -> None:
    await review_item(backdoor.services, backdoor.client_id, 45_600, [], age_days=4)
    page = await staff_page(new_context)
    await log_in(page, staff.approver)
    await page.get_by_role("link", name=ZH["nav_reports"]).click()
    await expect(page.locator("h1")).to_have_text(ZH["report_title"])
    await expect(page.locator("svg.chart")).to_have_count(3)
    await shot(page, "report-01-charts")
    async with page.expect_download() as downloading:
        await page.locator("#csv-export").click()
    download = await downloading.value
    assert download.suggested_filename.endswith(".csv")
    body = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("日期 Day,客户 Client,渠道 Provider")
    assert backdoor.client_id in text


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[str] = []
    arrived = threading.Event()

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        _Receiver.received.append(self.headers.get("webhook-id", ""))
        _Receiver.arrived.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    """A case system on loopback that accepts every webhook."""
    _Receiver.received.clear()
    _Receiver.arrived.clear()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hooks"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_console_replay_a_failed_webhook(
    new_context: NewContext, staff: Staff, backdoor: Backdoor, api: httpx.AsyncClient, receiver: str
) -> None:
    resp = await api.post("/v1/webhook-endpoints", json={"url": receiver, "event_types": ["case.closed"]})
    assert resp.status_code == 201, resp.text
    endpoint_id = resp.json()["id"]
    message_id, now = new_id("msg"), utcnow()
    async with backdoor.services.db.transaction() as session:
        session.add(
            WebhookMessage(
                id=message_id,
                client_id=backdoor.client_id,
                endpoint_id=endpoint_id,
                event_id=new_id("evt"),
                event_type="case.closed",
                case_id=None,
                body=b'{"type":"case.closed"}',
                status="failed",
                attempts=5,
                tries=5,
                next_attempt_at=None,
                last_attempt_at=now,
                last_status_code=500,
                created_at=now,
            )
        )
    page = await staff_page(new_context)
    await log_in(page, staff.clerk)
    await page.get_by_role("link", name=ZH["nav_webhooks"]).click()
    row = page.locator("tr", has=page.locator(f"a[href='/console/webhooks/{message_id}']"))
    await expect(row).to_contain_text(ZH["msg_status_failed"])
    await shot(page, "webhooks-01-list")
    await row.get_by_role("link", name=ZH["open"]).click()
    await shot(page, "webhooks-02-failed")
    await page.locator("#replay").click()
    await expect(page.locator(".notice.ok")).to_have_text(ZH["msg_replayed"])
    # The server's dispatcher sends it again with the same webhook-id.
    assert await asyncio.to_thread(_Receiver.arrived.wait, 20)
    assert message_id in _Receiver.received
    await page.reload()
    await expect(page.locator("h1 .badge")).to_have_text(ZH["msg_status_delivered"], timeout=15_000)
    await shot(page, "webhooks-03-delivered")
