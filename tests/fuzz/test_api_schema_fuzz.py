"""Schemathesis over every /v1 operation of the OpenAPI document the app serves.

Properties: no answer is a 5xx; every 4xx is an RFC 9457 problem (application/problem+json with a
`title` and the response's `status`, payments/api/problems.py); without a valid API key nothing but the
public event catalogue answers 2xx.

How it runs: the app is the in-process one of the fixtures (httpx over ASGI on the tests' own event
loop, so the same database pool serves SQLite and PostgreSQL runs). Schemathesis' own ASGI transport
would run the app on a second event loop in a thread, which an asyncpg pool does not allow; so
Hypothesis generates and shrinks in a worker thread and hands each request to the tests' loop
(`asyncio.run_coroutine_threadsafe`). Requests are serialized exactly as schemathesis serializes them
(`case.as_transport_kwargs`, prepared by requests).

Nothing under /v1 is excluded. Webhook URLs are checked by resolving their host: the test resolver
answers a public documentation address, so no fuzzed host name reaches real DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import requests
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from payments.app import create_app
from payments.settings import DatabaseSettings, ServerSettings, Settings
from tests.api.conftest import ID_NUMBER, NAME, PHONE
from tests.conftest import Tenant
from tests.fuzz.conftest import bounded

SCHEMA_PATH = "/schema/openapi.json"  # payments/app.py: OpenAPIConfig(path="/schema")
BASE_URL = "http://testserver.local"
PUBLIC = {("GET", "/v1/webhook-events"), ("GET", "/v1/webhook-events/schema")}  # no API key needed
PUBLIC_TEST_ADDRESS = "93.184.216.34"

EXAMPLES_PER_STRATEGY = 12  # per operation and kind of generation: 24-48 examples for an operation with ids
EXAMPLES_HOSTILE = 12  # per operation
EXAMPLES_UNAUTHENTICATED = 8  # per operation
EXAMPLES_CASES = 40
EXAMPLES_URLS = 40


def _served_document() -> dict[str, Any]:
    """The OpenAPI document the app serves, read at collection time from an app built the way the
    fixtures build it (payments.app.create_app), so that a new route is fuzzed without being listed."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=tmp,
            database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp}/unused.db"),  # never connected
            server=ServerSettings(public_base_url=BASE_URL, embedded_worker=False),
        )
        return create_app(settings).openapi_schema.to_schema()


def v1_operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        if path.startswith("/v1/")
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


_SERVED = v1_operations(_served_document())
OPERATIONS = sorted(_SERVED)
IDS = [f"{m} {p}" for m, p in OPERATIONS]
# Those that take text from the caller: a path or query parameter, or a body.
WITH_INPUT = [
    (m, p)
    for (m, p), op in sorted(_SERVED.items())
    if "requestBody" in op or any(prm.get("in") in ("path", "query") for prm in op.get("parameters", []))
]


@pytest.fixture(scope="module")
async def raw_schema(client: httpx.AsyncClient) -> dict[str, Any]:
    resp = await client.get(SCHEMA_PATH)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def schema(raw_schema: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(raw_schema)


@pytest.fixture
def no_real_dns(services, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    async def resolve(_host: str, _port: int) -> list[str]:
        return [PUBLIC_TEST_ADDRESS]

    monkeypatch.setattr(services.webhooks, "resolve", resolve)


@dataclass
class Known:
    """Ids that exist for the tenant, so that fuzzed requests also get past the 404 into the handlers."""

    case_id: str
    link_id: str
    settlement_link_id: str  # waiting for approval
    endpoint_id: str

    def for_path(self, path: str) -> dict[str, str]:
        ids = {"case_id": self.case_id, "endpoint_id": self.endpoint_id}
        ids["link_id"] = self.settlement_link_id if path.endswith("/approve") else self.link_id
        return {k: v for k, v in ids.items() if "{" + k + "}" in path}


def valid_case(external_ref: str, *debts: dict[str, Any]) -> dict[str, Any]:
    return {
        "external_ref": external_ref,
        "debtor": {"name": NAME, "id_number": ID_NUMBER, "phone": PHONE},
        "debts": list(debts) or [{"debt_id": "D1", "due_date": "2024-01-31", "principal": "1000.00"}],
    }


async def _seed(client: httpx.AsyncClient, tenant: Tenant) -> Known:
    resp = await client.post("/v1/cases", json=valid_case("fuzz-seed"), headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    case_id = resp.json()["id"]
    resp = await client.post(f"/v1/cases/{case_id}/links", json={}, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    link_id = resp.json()["id"]
    settle_by = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    settlement = {"kind": "settlement", "amount": "100.00", "settle_by": settle_by}
    resp = await client.post(
        f"/v1/cases/{case_id}/links", json={"amount_policy": settlement}, headers=tenant.headers
    )
    assert resp.status_code == 201, resp.text
    settlement_link_id = resp.json()["id"]
    resp = await client.post(
        "/v1/webhook-endpoints", json={"url": "https://hooks.example.com/fuzz"}, headers=tenant.headers
    )
    assert resp.status_code == 201, resp.text
    return Known(case_id, link_id, settlement_link_id, resp.json()["id"])


def _prepare(case: Any, headers: dict[str, str]) -> requests.PreparedRequest:
    """The request exactly as schemathesis' requests transport would send it."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    allowed = ("method", "url", "headers", "params", "data", "json", "files", "cookies")
    return requests.Request(**{k: v for k, v in kwargs.items() if k in allowed}).prepare()


def _describe(prepared: requests.PreparedRequest) -> str:
    body = prepared.body if isinstance(prepared.body, bytes | str | None) else "<stream>"
    return f"{prepared.method} {prepared.url} {body!r}"[:800]


def assert_never_5xx_and_4xx_is_a_problem(resp: httpx.Response, what: str) -> None:
    assert resp.status_code < 500, f"{what} -> {resp.status_code}: {resp.text[:500]}"
    if 400 <= resp.status_code < 500:
        content_type = resp.headers.get("content-type", "")
        assert content_type.startswith("application/problem+json"), f"{what} -> {content_type}"
        body = json.loads(resp.content)
        assert isinstance(body, dict), f"{what} -> {resp.text[:500]}"
        assert isinstance(body.get("title"), str) and body["title"], f"{what} -> {body}"
        assert body.get("status") == resp.status_code, f"{what} -> {body}"


Send = Callable[[requests.PreparedRequest], httpx.Response]


async def run_in_thread(client: httpx.AsyncClient, make_test: Callable[[Send], Callable[[], None]]) -> None:
    """Run a Hypothesis test in a worker thread; its `send` hands each request to the tests' event loop."""
    loop = asyncio.get_running_loop()

    def send(prepared: requests.PreparedRequest) -> httpx.Response:
        assert threading.current_thread() is not threading.main_thread()
        request = client.request(
            prepared.method or "GET",
            prepared.url or "",
            headers=dict(prepared.headers),
            content=prepared.body,
        )
        return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)

    await asyncio.to_thread(make_test(send))


def test_the_fuzzed_operations_are_those_the_running_app_serves(raw_schema):  # type: ignore[no-untyped-def]
    assert set(v1_operations(raw_schema)) == set(OPERATIONS)
    assert ("POST", "/v1/cases") in OPERATIONS


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
async def test_an_authenticated_fuzzed_request_is_never_a_5xx_and_every_4xx_is_a_problem(
    client, schema, tenant, no_real_dns, method, path
):  # type: ignore[no-untyped-def]
    known = await _seed(client, tenant)
    operation = schema[path][method]
    keys = {"case_system": tenant.headers, "finance": tenant.finance_headers, "admin": tenant.admin_headers}
    fixed = known.for_path(path)
    strategies = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE)]
    if fixed:
        strategies.append(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=fixed)
        )
    if operation.query or operation.headers or operation.path_parameters or operation.body:
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        if fixed and (operation.query or operation.body):
            strategies.append(
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, path_parameters=fixed)
            )

    def make_test(send: Send) -> Callable[[], None]:
        @bounded(EXAMPLES_PER_STRATEGY * len(strategies))
        @given(case=st.one_of(strategies), role=st.sampled_from(sorted(keys)))
        def fuzz(case: Any, role: str) -> None:
            prepared = _prepare(case, keys[role])
            assert_never_5xx_and_4xx_is_a_problem(send(prepared), f"{role}: {_describe(prepared)}")

        return fuzz

    await run_in_thread(client, make_test)


# Text that has broken services before: NUL (PostgreSQL text cannot hold it; also hidden in a cursor),
# control and bidi characters, a BOM, astral characters, SQL and path syntax, URLs urlsplit refuses,
# a very long string.
HOSTILE = [
    "\x00",
    "case_\x00",
    "Y2FzZV8A",  # a cursor: base64 of "case_\x00"
    "a\x00b",
    "\r\n",
    "\u202e\u2066",
    "\ufeff",
    "\U00020000",
    "'; DROP TABLE cases; --",
    "../../etc/passwd",
    "%00",
    "https://[",
    "https://[::1",
    "https://user:pw@example.com/",
    "https://example.com:99999/",
    "http://localhost/",
    " ",
    "",
    "x" * 5000,
]


def _string_leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _string_leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _string_leaves(v, (*path, i))]
    return []


def _replace(value: Any, path: tuple[Any, ...], new: str) -> Any:
    if not path:
        return new
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replace(value[head], tuple(rest), new)
    return copy


@st.composite
def _with_hostile_text(draw: st.DrawFn, cases: st.SearchStrategy[Any]) -> Any:
    """A schemathesis case with one path parameter, query parameter or body string made hostile."""
    case = draw(cases)
    slots: list[tuple[str, tuple[Any, ...]]] = [("path", (name,)) for name in case.path_parameters or {}]
    slots += [("query", (name,)) for name in case.query or {}]
    if isinstance(case.body, dict | list):
        slots += [("body", p) for p in _string_leaves(case.body)]
    if not slots:
        return case
    where, key = draw(st.sampled_from(slots))
    text = draw(st.sampled_from(HOSTILE))
    if where == "path":
        # An empty path segment is another route; the rest of the list is what matters there.
        case.path_parameters = {**case.path_parameters, key[0]: text or "\x00"}
    elif where == "query":
        case.query = {**case.query, key[0]: text}
    else:
        case.body = _replace(case.body, key, text)
    return case


@pytest.mark.parametrize(("method", "path"), WITH_INPUT, ids=[f"{m} {p}" for m, p in WITH_INPUT])
async def test_hostile_text_in_a_parameter_or_body_field_is_never_a_5xx(
    client, schema, tenant, no_real_dns, method, path
):  # type: ignore[no-untyped-def]
    operation = schema[path][method]
    known = await _seed(client, tenant)
    fixed = known.for_path(path)
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=fixed or None),
    )

    def make_test(send: Send) -> Callable[[], None]:
        @bounded(EXAMPLES_HOSTILE)
        @given(case=_with_hostile_text(cases))
        def fuzz(case: Any) -> None:
            prepared = _prepare(case, tenant.admin_headers)
            assert_never_5xx_and_4xx_is_a_problem(send(prepared), _describe(prepared))

        return fuzz

    await run_in_thread(client, make_test)


BAD_KEYS = st.one_of(
    st.just({}),
    st.just({"Authorization": "Bearer "}),
    st.just({"Authorization": "Basic dXNlcjpwYXNz"}),
    st.builds(
        lambda token: {"Authorization": f"Bearer {token}"},
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80),
    ),
)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
async def test_without_a_valid_key_a_fuzzed_request_is_refused_as_a_problem(
    client, schema, tenant, no_real_dns, method, path
):  # type: ignore[no-untyped-def]
    known = await _seed(client, tenant)  # real ids: a missing key must not reach them either
    operation = schema[path][method]
    fixed = known.for_path(path)
    cases = operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=fixed or None)

    def make_test(send: Send) -> Callable[[], None]:
        @bounded(EXAMPLES_UNAUTHENTICATED)
        @given(case=cases, headers=BAD_KEYS)
        def fuzz(case: Any, headers: dict[str, str]) -> None:
            prepared = _prepare(case, headers)
            resp = send(prepared)
            what = f"{headers}: {_describe(prepared)}"
            assert_never_5xx_and_4xx_is_a_problem(resp, what)
            if (method, path) not in PUBLIC:
                # Litestar checks typed query parameters before the handler asks for the key: 400 first.
                assert resp.status_code in (400, 401), f"{what} -> {resp.status_code}"

        return fuzz

    await run_in_thread(client, make_test)


# -- valid case bodies with fuzzed amounts and dates, created and amended -------------------------------

_YUAN = st.one_of(
    st.integers(0, 10**12).map(lambda fen: f"{fen // 100}.{fen % 100:02d}"),
    st.from_regex(r"-?[0-9]{1,16}(\.[0-9]{0,4})?", fullmatch=True),
    st.sampled_from(["0", "0.00", "1e3", "NaN", "Infinity", "-0.01", "1,000.00", "１００", " 1.00 "]),
)
_FEN = st.one_of(st.integers(-(2**63), 2**63), st.sampled_from([0, 1, 10**13, 2**53 + 1]))


@st.composite
def _debt(draw: st.DrawFn, debt_id: str) -> dict[str, Any]:
    debt: dict[str, Any] = {
        "debt_id": debt_id,
        "due_date": draw(st.dates(date(1, 1, 1), date(9999, 12, 31))).isoformat(),
    }
    for component in ("principal", "interest", "fees"):
        form = draw(st.sampled_from(["yuan", "fen", "both", "none"]))
        if form in ("yuan", "both"):
            debt[component] = draw(_YUAN)
        if form in ("fen", "both"):
            debt[f"{component}_fen"] = draw(_FEN)
    return debt


@st.composite
def _case_body(draw: st.DrawFn) -> dict[str, Any]:
    # A few refs only, so that most bodies amend a case an earlier example created.
    ref = draw(st.sampled_from(["fuzz-a", "fuzz-b", "fuzz-c"]))
    ids = draw(st.lists(st.sampled_from(["D1", "D2", "D3"]), min_size=1, max_size=3))
    body = valid_case(ref, *[draw(_debt(debt_id)) for debt_id in ids])
    if draw(st.booleans()):
        body["creditor_name"] = draw(st.sampled_from(["Lender", "", " ", "x" * 201, "a\x00b"]))
    if draw(st.booleans()):
        body["contract_no"] = draw(st.sampled_from(["C-1", "C-2", "", "\x00"]))
    return body


async def test_fuzzed_amounts_and_dates_in_created_and_amended_cases_are_never_a_5xx(client, tenant):  # type: ignore[no-untyped-def]
    def make_test(send: Send) -> Callable[[], None]:
        @bounded(EXAMPLES_CASES)
        @given(body=_case_body(), idempotency=st.booleans())
        def fuzz(body: dict[str, Any], idempotency: bool) -> None:
            headers = dict(tenant.headers)
            if idempotency:
                headers["Idempotency-Key"] = "fuzz-" + body["external_ref"]
            prepared = requests.Request("POST", f"{BASE_URL}/v1/cases", json=body, headers=headers).prepare()
            resp = send(prepared)
            assert_never_5xx_and_4xx_is_a_problem(resp, _describe(prepared))
            assert resp.status_code in (200, 201, 409, 422), _describe(prepared)

        return fuzz

    await run_in_thread(client, make_test)


# -- webhook URLs: registered, or refused as a 422 on `url`; never an address inside the network ------

_HOSTS = st.one_of(
    st.sampled_from(
        [
            "hooks.example.com",
            "127.0.0.1",
            "[::1]",
            "[",
            "[::1",
            "a]b",
            "169.254.169.254",
            "10.0.0.1",
            "[::ffff:10.0.0.1]",
            "[fe80::1%25eth0]",
            "0.0.0.0",  # noqa: S104 - a URL host to refuse, not a bind address
            "224.0.0.1",
            "localhost",
            "例子.测试",
            "",
        ]
    ),
    st.text(max_size=20),
)
_URLS = st.builds(
    lambda scheme, userinfo, host, port, path: f"{scheme}://{userinfo}{host}{port}{path}",
    st.sampled_from(["https", "http", "HTTPS", "ftp", "javascript", "file", ""]),
    st.sampled_from(["", "", "user@", "user:pw@", "@"]),
    _HOSTS,
    st.one_of(st.just(""), st.integers(-1, 70000).map(lambda p: f":{p}"), st.sampled_from([":", ":abc"])),
    st.one_of(st.just("/hooks"), st.text(max_size=30).map(lambda t: "/" + t)),
)


def _inside_the_network(url: str) -> bool:
    try:
        host = urlsplit(url.strip()).hostname or ""
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False  # a name: the test resolver answers a public address for every name
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_loopback and not ip.is_global  # loopback is allowed in sandbox mode


async def test_a_fuzzed_webhook_url_is_registered_or_a_422_and_never_points_inside_the_network(
    client, tenant, no_real_dns
):  # type: ignore[no-untyped-def]
    def make_test(send: Send) -> Callable[[], None]:
        @bounded(EXAMPLES_URLS)
        @given(url=_URLS)
        def fuzz(url: str) -> None:
            prepared = requests.Request(
                "POST", f"{BASE_URL}/v1/webhook-endpoints", json={"url": url}, headers=tenant.headers
            ).prepare()
            resp = send(prepared)
            assert_never_5xx_and_4xx_is_a_problem(resp, _describe(prepared))
            assert resp.status_code in (201, 422), _describe(prepared)
            if resp.status_code == 201:
                assert not _inside_the_network(url), url

        return fuzz

    await run_in_thread(client, make_test)
