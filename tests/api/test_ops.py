"""Operator endpoints: /health, /ready, /metrics, /schema; and problem+json for unknown routes."""

from __future__ import annotations

import re

from tests.api.conftest import assert_problem, case_body

_SAMPLE = re.compile(r"^payrecon_requests_total\{(?P<labels>.*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _requests_total(text: str) -> list[dict[str, str]]:
    samples = []
    for line in text.splitlines():
        if m := _SAMPLE.match(line):
            samples.append({**dict(_LABEL.findall(m["labels"])), "value": m["value"]})
    return samples


async def test_health_is_200(client):
    resp = await client.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


async def test_ready_is_200_with_migrations_current(client):
    resp = await client.get("/ready")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "ok", "database": "ok", "migrations": "current"}


async def test_metrics_count_requests_by_grouped_path(client, tenant):
    created = await client.post("/v1/cases", json=case_body(), headers=tenant.headers)
    case_id = created.json()["id"]
    assert (await client.get(f"/v1/cases/{case_id}", headers=tenant.headers)).status_code == 200
    resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert "# TYPE payrecon_requests_total counter" in resp.text
    samples = _requests_total(resp.text)
    posts = [
        s for s in samples if s["path"] == "/v1/cases" and s["method"] == "POST" and s["status_code"] == "201"
    ]
    assert posts and float(posts[0]["value"]) >= 1
    reads = [s for s in samples if s["path"] == "/v1/cases/{case_id}" and s["method"] == "GET"]
    assert reads and all(s["app_name"] == "payrecon" for s in reads)


async def test_metrics_labels_carry_no_ids(client, tenant):
    created = await client.post("/v1/cases", json=case_body(), headers=tenant.headers)
    case_id = created.json()["id"]
    await client.get(f"/v1/cases/{case_id}", headers=tenant.headers)
    await client.get("/v1/cases/case_doesnotexist", headers=tenant.headers)
    text = (await client.get("/metrics")).text
    assert case_id not in text
    assert "case_doesnotexist" not in text
    assert tenant.client_id not in text
    paths = {s["path"] for s in _requests_total(text)}
    assert "/v1/cases/{case_id}" in paths
    assert not [p for p in paths if re.search(r"case_[0-9a-z]{26}|doesnotexist", p)]


async def test_openapi_schema_documents_post_cases(client):
    resp = await client.get("/schema/openapi.json")
    assert resp.status_code == 200
    paths = resp.json()["paths"]
    post = paths["/v1/cases"]["post"]
    assert "cases" in post["tags"]
    assert "Idempotency-Key" in [p["name"] for p in post.get("parameters", [])]
    assert "get" in paths["/v1/cases"]
    assert "get" in paths["/v1/cases/{case_id}"]
    assert "/metrics" not in paths


async def test_an_unknown_route_is_a_404_problem(client):
    assert_problem(await client.get("/v1/nothing-here"), 404, "not-found")


async def test_an_unsupported_method_is_a_405_problem(client, tenant):
    resp = await client.delete("/v1/cases", headers=tenant.headers)
    assert_problem(resp, 405, "method-not-allowed")
