"""The acknowledgement bytes (providers.md 2.4), and that the sandbox reads them as WeChat would."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.unit.providers.test_wechatpay_rig import open_rig


async def test_ack_success_is_204_with_no_body(tmp_path: Path) -> None:
    async with open_rig(tmp_path) as rig:
        ack = rig.provider.ack_success()
    assert (ack.status_code, ack.body) == (204, b"")


async def test_ack_failure_is_500_with_a_fail_json_body(tmp_path: Path) -> None:
    async with open_rig(tmp_path) as rig:
        ack = rig.provider.ack_failure("数据库暂不可用")
    assert ack.status_code == 500
    assert ack.content_type.startswith("application/json")
    assert json.loads(ack.body) == {"code": "FAIL", "message": "数据库暂不可用"}


async def test_our_success_ack_stops_the_sandbox_retrying(tmp_path: Path) -> None:
    async with open_rig(tmp_path) as rig:
        ack = rig.provider.ack_success()
        rig.answer = lambda request: httpx.Response(ack.status_code, content=ack.body)
        await rig.paid()
    assert len(rig.notifications) == 1


async def test_our_failure_ack_makes_the_sandbox_retry(tmp_path: Path) -> None:
    async with open_rig(tmp_path) as rig:
        answers = iter([rig.provider.ack_failure("busy"), rig.provider.ack_success()])

        def answer(request: httpx.Request) -> httpx.Response:
            ack = next(answers)
            return httpx.Response(ack.status_code, content=ack.body)

        rig.answer = answer
        await rig.paid()
    assert len(rig.notifications) == 2
