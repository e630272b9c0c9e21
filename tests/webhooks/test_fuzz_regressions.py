"""Regressions for what the schema fuzzer (tests/fuzz) found in the webhook endpoints API.

A URL that urllib's urlsplit refuses ("https://[", an unclosed IPv6 bracket) was a 500: check_url in
payments/outbox/targets.py splits the URL outside its error handling. The API now answers 422 on `url`.
"""

from __future__ import annotations

import pytest

from payments.domain.errors import FieldError
from payments.outbox.dispatcher import Claimed
from payments.outbox.targets import TargetPolicy, check_url
from tests.api.conftest import assert_problem

UNSPLITTABLE = ["https://[", "https://[::1", "https://a]b/", " https://[abc/hooks "]


@pytest.mark.parametrize("url", UNSPLITTABLE)
async def test_registering_an_unsplittable_url_is_a_422_on_url_not_a_500(client, tenant, url):
    resp = await client.post("/v1/webhook-endpoints", json={"url": url}, headers=tenant.headers)
    assert_problem(resp, 422, "validation-error", "url")


@pytest.mark.parametrize("url", UNSPLITTABLE)
async def test_changing_to_an_unsplittable_url_is_a_422_on_url_not_a_500(client, tenant, url):
    created = await client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hooks/regress"}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    resp = await client.patch(
        f"/v1/webhook-endpoints/{created.json()['id']}", json={"url": url}, headers=tenant.headers
    )
    assert_problem(resp, 422, "validation-error", "url")


async def test_check_url_itself_refuses_an_unsplittable_url_as_a_field_error():
    with pytest.raises(FieldError):
        await check_url("https://[", TargetPolicy(live=True))


async def test_a_secret_that_cannot_sign_fails_its_attempt_not_the_dispatcher(dispatcher, receiver):
    claimed = Claimed(
        seq=1, id="msg_x", endpoint_id="whe_x", client_id="cl_x", attempt=1, tries=0,
        url="https://case-system.example.com/hooks", secrets=("whsec_x",), body=b"{}",
    )  # fmt: skip

    sent = await dispatcher.send(claimed)

    assert (sent.status_code, sent.error) == (None, "cannot sign: the endpoint's secret is malformed")
    assert receiver.hooks == {} and receiver.refused == []  # nothing went out
