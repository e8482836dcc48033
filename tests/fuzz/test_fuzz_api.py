"""Fuzzing the REST API: random bodies and headers to each POST route give a 4xx JSON error or success.

A real :class:`nfd.outputs.web.WebServer` on 127.0.0.1 (port 0, with and
without a token) serves an in-process controller that records what it is
asked. The POST routes and their body keys are read from the served OpenAPI
document (``/api/v1/openapi.json``), so a new route is fuzzed without
editing this file. Each example sends one request: a body built from the
route's own keys with random JSON values, any JSON document, raw bytes, or
numbers JSON has no float for; random ``Content-Type``, ``Authorization``,
``Origin`` and other headers; a random path parameter. The property: the
server answers (never drops the connection) with 2xx, or with 4xx and a JSON
``{"error", "reason"}`` document whose reason is one line; never a 5xx.

Hypothesis with aiohttp rather than schemathesis: schemathesis's calls are
synchronous (``requests``), so the server under test would have to run in
another thread with its own event loop, and its pytest plugin would load into
every pytest run of the shared environment; the openapi-driven strategies
below keep the spirit (the served document defines what is fuzzed).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nfd.outputs.web import LiveState, WebServer

FUZZ = settings.get_profile("nfd-fuzz")
TOKEN = "fuzz-Token_0123456789abcdef.~+"


class Recorder:
    """A Controller double: records the calls, refuses as a daemon would (409, 404)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def start_run(self) -> dict[str, Any]:
        self.calls.append(("start_run",))
        return {"run_id": "run-1"}

    async def stop_run(self) -> None:
        self.calls.append(("stop_run",))

    def mark_event(self, name: str, t: float) -> None:
        self.calls.append(("mark_event", name, t))

    async def push_value(self, source: str, value: float, t: float) -> dict[str, Any]:
        self.calls.append(("push_value", source, value, t))
        return {"used_at_volume": 3}


@pytest.fixture(params=[False, True], ids=["open", "token"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, list[tuple[str, list[str]]]]]:
    """(base URL, POST routes of its OpenAPI document) of a real server."""
    token_file = None
    if request.param:
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        token_file.chmod(0o600)
    async with WebServer(LiveState(), Recorder(), "127.0.0.1", 0, token_file, max_body=4096) as web:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as http, http.get(web.url + "api/v1/openapi.json", headers=auth) as r:
            assert r.status == 200
            document = await r.json()
        yield web.url.rstrip("/"), post_routes(document)


def post_routes(document: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(path, body keys) of every POST route in the OpenAPI document."""
    routes = []
    for path, operations in sorted(document["paths"].items()):
        if "post" in operations:
            body = operations["post"].get("requestBody", {}).get("content", {}).get("application/json", {})
            routes.append((path, sorted(body.get("schema", {}).get("properties", {}))))
    return routes


def test_the_document_has_the_post_routes() -> None:
    from nfd.outputs.web import openapi_document

    routes = dict(post_routes(openapi_document()))
    assert routes["/api/v1/events"] == ["name", "time"]
    assert routes["/api/v1/feedback/sources/{source}"] == ["time", "value"]
    assert "/api/v1/runs/start" in routes and "/api/v1/runs/stop" in routes


# ---------------------------------------------------------------- requests

_JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e308, -1e308, 5e-324, 2**64, 1.7e9, "", "x" * 129, "a\nb", "\u0000", "\ud7ff", "button"]),
    st.text(max_size=12),
)
_JSON = st.recursive(
    _JSON_LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
#: Bodies JSON cannot write with json.dumps: NaN, huge exponents, deep nesting, bad UTF-8, duplicate keys.
_RAW_BODIES = st.sampled_from(
    [b'{"value": NaN}', b'{"value": 1e400}', b'{"value": -1e400, "time": 1e400}', b'{"name": "a", "name": 1}',
     b"[" * 2000 + b"]" * 2000, b'{"a":' * 600 + b"1" + b"}" * 600, b"\xff\xfe", b'{"name": "\xff"}', b"\x00",
     b'{"value": 1}garbage', b'{"time": 0, "value": 1}', b"   ", b"null", b'"string"', b"x" * 5000,
     b'{"name": "\\ud800"}', b'{"value": 123456789012345678901234567890}', b'{"value": true}']
)
_CONTENT_TYPES = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "", "application/JSON",
                     "application/json; charset=latin-1", "multipart/form-data; boundary=x",
                     "application/x-www-form-urlencoded", "*/*", "application/json;;;", "\u00e9"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
)
_HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
_SOURCES = st.one_of(
    st.sampled_from(["eeg", "button.box", "a" * 64, "a" * 65, "-x", ".", "..", "%00", "a b", "\u00e9", "x/y"]),
    st.text(max_size=10),
)


@st.composite
def requests(draw: st.DrawFn, keys: list[str]) -> tuple[bytes | None, dict[str, str], str]:
    """(body, headers, path parameter) for a route with body ``keys``."""
    kind = draw(st.sampled_from(["keys", "json", "raw", "bytes", "none"]))
    body: bytes | None
    if kind == "keys":
        chosen = draw(st.lists(st.sampled_from([*keys, "extra"]) if keys else st.just("extra"), max_size=3))
        body = json.dumps({k: draw(_JSON) for k in chosen}).encode()
    elif kind == "json":
        body = json.dumps(draw(_JSON)).encode()
    elif kind == "raw":
        body = draw(_RAW_BODIES)
    elif kind == "bytes":
        body = draw(st.binary(max_size=64))
    else:
        body = None
    headers = {"Content-Type": draw(_CONTENT_TYPES)} if draw(st.booleans()) else {}
    auth = draw(st.sampled_from(["none", "good", "other"]))
    if auth == "good":
        headers["Authorization"] = f"Bearer {TOKEN}"
    elif auth == "other":
        headers["Authorization"] = draw(st.sampled_from(["Bearer ", "Basic x", "bearer " + TOKEN, "Bearer " + TOKEN[:-1]])
                                        | _HEADER_TEXT)
    if draw(st.booleans()):
        headers[draw(st.sampled_from(["Origin", "Host", "X-Forwarded-For", "Accept", "Expect", "Cookie"]))] = draw(
            st.sampled_from(["null", "http://evil.example", "http://127.0.0.1", "", "*"]) | _HEADER_TEXT
        )
    return body, headers, draw(_SOURCES)


async def check_request(base: str, path: str, body: bytes | None, headers: dict[str, str], source: str) -> None:
    """One POST: an answer (never a dropped connection), 2xx or a 4xx JSON error; never 5xx."""
    url = base + path.replace("{source}", quote(source, safe=""))
    async with aiohttp.ClientSession() as http:
        try:
            async with http.post(url, data=body, headers=headers, allow_redirects=False) as response:
                status, content_type, raw = response.status, response.content_type, await response.read()
        except aiohttp.ClientConnectionError as err:  # a dropped connection is a failure
            raise AssertionError(f"the server dropped the connection: {err!r}") from err
    assert status < 500, f"{status} for {path} {body!r} {headers}: {raw[:300]!r}"
    if status == 417 and not source and "{source}" in path:
        # Left alone: on a path no route takes, aiohttp answers an unknown Expect itself (plain text),
        # before any middleware; the routed paths answer it in JSON (expect_handler).
        return
    if status >= 400 or content_type == "application/json":
        assert content_type == "application/json", f"{status} answered as {content_type}: {raw[:200]!r}"
        document = json.loads(raw)
        if status >= 400:
            assert isinstance(document, dict) and isinstance(document.get("error"), str), document
            reason = document.get("reason")
            assert isinstance(reason, str) and reason and "\n" not in reason, document


@settings(FUZZ)
@given(data=st.data())
@example(data=None)  # the fixed regressions below
async def test_post_routes(server: tuple[str, list[tuple[str, list[str]]]], data: st.DataObject | None) -> None:
    base, routes = server
    if data is None:
        for path, _keys in routes:
            for body in (b'{"value": NaN}', b"[" * 2000 + b"]" * 2000, b"\xff", b'{"name": "a\\nb"}'):
                await check_request(base, path, body, {"Content-Type": "application/json"}, "eeg")
            # Found by the fuzzing: a Host or Origin with an unclosed IPv6 bracket was a 500 (ValueError in
            # urlsplit); an unknown Expect a plain-text 417.
            for headers in ({"Host": "["}, {"Origin": "http://["}, {"Host": "[::1"}, {"Expect": "null"}):
                await check_request(base, path, None, headers, "eeg")
        return
    path, keys = data.draw(st.sampled_from(routes))
    body, headers, source = data.draw(requests(keys))
    await check_request(base, path, body, headers, source)


# ---------------------------------------------------------------- regressions (what the fuzzing found)


async def test_unknown_api_paths_and_methods_are_json_errors(server: tuple[str, list[tuple[str, list[str]]]]) -> None:
    """A POST to ``feedback/sources/`` (an empty source) or any other path under the API was aiohttp's
    plain-text 404; a wrong method its plain-text 405. Both are now the API's JSON errors."""
    base, _ = server
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        for path in ("/api/v1/feedback/sources/", "/api/v1/nope", "/api/v1/feedback/sources/a/b"):
            async with http.post(base + path, json={"value": 1}) as r:
                assert r.status == 404 and r.content_type == "application/json", path
                assert (await r.json())["error"] == "not_found"
        async with http.get(base + "/api/v1/runs/start") as r:
            assert r.status == 405 and r.headers["Allow"] == "POST"
            assert (await r.json())["error"] == "method_not_allowed"
        async with http.delete(base + "/api/v1/feedback/sources/eeg") as r:
            assert r.status == 405 and r.headers["Allow"] == "POST"
        async with http.get(base + "/api/v1/status") as r:  # the real routes still answer
            assert r.status == 200


async def test_an_unknown_expectation_is_a_json_417(server: tuple[str, list[tuple[str, list[str]]]]) -> None:
    """``Expect: null`` was aiohttp's plain-text 417 ("Unknown Expect: null")."""
    base, _ = server
    async with aiohttp.ClientSession() as http:
        async with http.post(base + "/api/v1/runs/start", json={}, headers={"Expect": "null"}) as r:
            assert r.status == 417 and r.content_type == "application/json"
            assert "only 100-continue" in (await r.json())["reason"]
        headers = {"Expect": "100-continue", "Authorization": f"Bearer {TOKEN}"}
        async with http.post(base + "/api/v1/events", json={"name": "go"}, headers=headers, expect100=True) as r:
            assert r.status == 201


async def test_a_malformed_host_or_origin_is_refused_not_a_500(server: tuple[str, list[tuple[str, list[str]]]]) -> None:
    """``Host: [`` (or ``Origin: http://[``) made urlsplit raise ValueError in the guard: a 500."""
    base, _ = server
    async with aiohttp.ClientSession() as http:
        for headers in ({"Host": "["}, {"Origin": "http://["}, {"Host": "[::1"}):
            async with http.post(base + "/api/v1/runs/stop", json={}, headers=headers) as r:
                assert r.status == 403 and r.content_type == "application/json", headers
                assert (await r.json())["error"] == "forbidden"
