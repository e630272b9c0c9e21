"""One neutral page for every token that cannot be paid: unknown, tampered, expired, revoked, unapproved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.links.conftest import new_link, path_of, set_link, token_of

NEUTRAL_ZH = "链接不可用"


def _tampered(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


async def _revoked(client, tenant):
    link = await new_link(client, tenant)
    resp = await client.post(f"/v1/links/{link['id']}/revoke", headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    return link


async def _expired(client, tenant, services):
    link = await new_link(client, tenant)
    await set_link(services, link["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
    return link


async def test_unknown_token_gets_the_neutral_page(browser):
    resp = await browser.get("/pay/AAAAAAAAAAAAAAAAAAAAAA")
    assert resp.status_code == 404
    assert NEUTRAL_ZH in resp.text


async def test_tampered_token_gets_the_neutral_page(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(f"/pay/{_tampered(token_of(link))}")
    assert resp.status_code == 404
    assert NEUTRAL_ZH in resp.text


async def test_truncated_token_gets_the_neutral_page(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["url"])[:-1])
    assert resp.status_code == 404
    assert NEUTRAL_ZH in resp.text


async def test_token_with_characters_outside_base64url_gets_the_neutral_page(browser):
    resp = await browser.get("/pay/AAAAAAAAAAAAAAAAAAAA%27%22")
    assert resp.status_code == 404
    assert NEUTRAL_ZH in resp.text


async def test_revoked_link_gets_the_neutral_page(client, tenant, browser):
    link = await _revoked(client, tenant)
    resp = await browser.get(path_of(link["url"]))
    assert resp.status_code == 404
    assert NEUTRAL_ZH in resp.text


async def test_link_past_its_expiry_gets_the_neutral_page(client, tenant, services, browser):
    link = await _expired(client, tenant, services)
    resp = await browser.get(path_of(link["url"]))
    assert resp.status_code == 404
    assert NEUTRAL_ZH in resp.text


async def test_link_marked_expired_by_the_job_gets_the_neutral_page(client, tenant, services, browser):
    link = await _expired(client, tenant, services)
    assert await services.links.expire_links(datetime.now(UTC)) >= 1
    assert (await client.get(f"/v1/links/{link['id']}", headers=tenant.headers)).json()["status"] == "expired"
    resp = await browser.get(path_of(link["url"]))
    assert resp.status_code == 404
    assert NEUTRAL_ZH in resp.text


async def test_settlement_offer_waiting_for_approval_gets_the_neutral_page(client, tenant, browser):
    settle_by = (datetime.now(UTC).date() + timedelta(days=5)).isoformat()
    link = await new_link(
        client, tenant, amount_policy={"kind": "settlement", "amount": "500.00", "settle_by": settle_by}
    )
    resp = await browser.get(path_of(link["url"]))
    assert resp.status_code == 404
    assert NEUTRAL_ZH in resp.text


async def test_approved_settlement_offer_shows_the_identity_check(client, tenant, browser):
    settle_by = (datetime.now(UTC).date() + timedelta(days=5)).isoformat()
    link = await new_link(
        client, tenant, amount_policy={"kind": "settlement", "amount": "500.00", "settle_by": settle_by}
    )
    approved = await client.post(f"/v1/links/{link['id']}/approve", headers=tenant.finance_headers)
    assert approved.status_code == 200, approved.text
    resp = await browser.get(path_of(link["url"]))
    assert resp.status_code == 200
    assert 'name="last4"' in resp.text


async def test_neutral_page_is_byte_identical_for_every_kind_of_bad_token(client, tenant, services, browser):
    fresh = await new_link(client, tenant)
    revoked = await _revoked(client, tenant)
    expired = await _expired(client, tenant, services)
    paths = {
        "unknown": "/pay/AAAAAAAAAAAAAAAAAAAAAA",
        "tampered": f"/pay/{_tampered(token_of(fresh))}",
        "expired": path_of(expired["url"]),
        "revoked": path_of(revoked["url"]),
    }
    answers = {}
    for kind, path in paths.items():
        resp = await browser.get(path)
        answers[kind] = (resp.status_code, resp.headers["content-type"], resp.content)
    assert len(set(answers.values())) == 1, answers
    assert answers["unknown"][0] == 404


async def test_neutral_page_names_no_token(client, tenant, browser):
    link = await _revoked(client, tenant)
    resp = await browser.get(path_of(link["url"]))
    assert token_of(link) not in resp.text


async def test_neutral_answer_to_identity_post_is_the_same_for_revoked_and_unknown(client, tenant, browser):
    link = await new_link(client, tenant)
    page = await browser.get(path_of(link["url"]))
    csrf = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    await client.post(f"/v1/links/{link['id']}/revoke", headers=tenant.headers)
    revoked = await browser.post(
        f"{path_of(link['url'])}/verify", data={"last4": "0000", "_csrf_token": csrf}
    )
    unknown = await browser.post(
        "/pay/AAAAAAAAAAAAAAAAAAAAAA/verify", data={"last4": "0000", "_csrf_token": csrf}
    )
    assert (revoked.status_code, revoked.content) == (unknown.status_code, unknown.content)
    assert revoked.status_code == 404


async def test_qr_of_a_bad_token_is_an_empty_404(client, tenant, browser):
    link = await _revoked(client, tenant)
    for path in (f"{path_of(link['url'])}/qr.png", "/pay/AAAAAAAAAAAAAAAAAAAAAA/qr.svg"):
        resp = await browser.get(path)
        assert (resp.status_code, resp.content) == (404, b"")
