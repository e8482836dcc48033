"""The REST API on a real server: routes, the controller seam, the token, origins, malformed bodies."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from nfd.outputs.web import (
    Controller,
    ControlRefused,
    LiveState,
    TokenFileError,
    UnknownTarget,
    WebConfigError,
    WebServer,
    openapi_document,
    read_token_file,
)
from tests.helpers.records import synthetic_run

TOKEN = "s3cr3t-Token_for.nfd~tests+0123456789"


class RecordingController:
    """An in-process Controller double: records calls, refuses as a daemon would."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.running = False
        self.sources = {"eeg", "button.box"}

    async def start_run(self) -> dict[str, Any]:
        if self.running:
            raise ControlRefused("a run is already running (run-1)")
        self.running = True
        self.calls.append(("start_run",))
        return {"run_id": "run-1"}

    async def stop_run(self) -> None:
        if not self.running:
            raise ControlRefused("no run is running")
        self.running = False
        self.calls.append(("stop_run",))

    def mark_event(self, name: str, t: float) -> None:  # a plain function works too
        self.calls.append(("mark_event", name, t))

    async def push_value(self, source: str, value: float, t: float) -> dict[str, Any]:
        if source not in self.sources:
            raise UnknownTarget(f"no feedback source {source!r} is configured")
        if source == "button.box":
            raise RuntimeError("the daemon tripped")
        self.calls.append(("push_value", source, value, t))
        return {"used_at_volume": 12}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
async def api() -> AsyncIterator[tuple[LiveState, RecordingController, str, aiohttp.ClientSession]]:
    state, controller = LiveState(), RecordingController()
    async with WebServer(state, controller, "127.0.0.1", 0) as server, aiohttp.ClientSession() as session:
        yield state, controller, server.url + "api/v1/", session


async def _json(response: aiohttp.ClientResponse) -> Any:
    assert response.content_type == "application/json"
    return await response.json()


# -- GET routes ------------------------------------------------------------------------------
async def test_read_routes_follow_the_run(
    api: tuple[LiveState, RecordingController, str, aiohttp.ClientSession],
) -> None:
    state, _, base, http = api
    for route in ("runs/current", "runs/current/volumes", "feedback/latest"):
        async with http.get(base + route) as r:
            assert r.status == 404, route
            assert "reason" in await _json(r)
    info, records = synthetic_run(n_volumes=60)
    state.run_started(info)
    for record in records[:40]:
        state.volume(record)
    async with http.get(base + "status") as r:
        status = await _json(r)
    assert r.status == 200
    assert status["run_state"] == "running" and status["volumes_processed"] == 40 and status["last_index"] == 39
    assert status["last_latency_ms"] == 20.0 and status["eeg"]["state"] == "disabled"
    assert status["version"] and status["uptime_s"] >= 0
    async with http.get(base + "runs/current") as r:
        current = await _json(r)
    assert current["run"]["n_volumes"] == 60 and current["state"] == "running" and current["last_index"] == 39
    async with http.get(base + "runs/current/volumes", params={"since": "29", "limit": "4"}) as r:
        page = await _json(r)
    assert [v["index"] for v in page["volumes"]] == [30, 31, 32, 33]
    assert page["last_index"] == 33 and page["more"] is True and page["count"] == 4
    assert page["volumes"][0] == records[30]  # the full record, as in volumes.jsonl
    async with http.get(base + "runs/current/volumes", params={"since": "33"}) as r:
        rest = await _json(r)
    assert [v["index"] for v in rest["volumes"]] == list(range(34, 40)) and rest["more"] is False
    async with http.get(base + "runs/current/volumes", params={"since": "39"}) as r:
        none = await _json(r)
    assert none["volumes"] == [] and none["last_index"] == 39
    async with http.get(base + "feedback/latest") as r:
        latest = await _json(r)
    assert latest["index"] == 39 and latest["feedback"] == records[39]["feedback"] and latest["condition"] == "UP"


@pytest.mark.parametrize("query", ["since=abc", "since=-2", "limit=0", "limit=100000", "since=1.5"])
async def test_malformed_queries_are_400(
    api: tuple[LiveState, RecordingController, str, aiohttp.ClientSession], query: str
) -> None:
    state, _, base, http = api
    state.run_started(synthetic_run(10)[0])
    async with http.get(f"{base}runs/current/volumes?{query}") as r:
        body = await _json(r)
    assert r.status == 400
    assert body["error"] == "bad_request" and query.split("=")[0] in body["reason"]


async def test_eeg_prediction_is_404_without_eeg_425_while_filling_then_200(
    api: tuple[LiveState, RecordingController, str, aiohttp.ClientSession],
) -> None:
    state, _, base, http = api
    async with http.get(base + "eeg/prediction") as r:
        assert r.status == 404
    state.eeg_status("filling", stream="BrainAmp")
    async with http.get(base + "eeg/prediction") as r:
        body = await _json(r)
        assert r.status == 425 and r.headers["Retry-After"] == "1"
        assert "filling" in body["reason"]
    state.eeg_prediction({"time": 1763712000.5, "value": 0.42})
    async with http.get(base + "eeg/prediction") as r:
        body = await _json(r)
    assert r.status == 200
    assert body["value"] == 0.42 and body["time"] == 1763712000.5 and body["stream_state"] == "streaming"


# -- POST routes and the controller ------------------------------------------------------------
async def test_post_routes_call_the_controller(
    api: tuple[LiveState, RecordingController, str, aiohttp.ClientSession],
) -> None:
    state, controller, base, http = api
    assert isinstance(controller, Controller)
    async with http.post(base + "runs/start", json={}) as r:
        assert r.status == 202 and await _json(r) == {"accepted": True, "run_id": "run-1"}
    async with http.post(base + "runs/start") as r:  # an empty body is {}
        assert r.status == 409 and (await _json(r))["reason"] == "a run is already running (run-1)"
    async with http.post(base + "events", json={"name": "button_press", "time": 1763712001.25}) as r:
        assert r.status == 201
        event = await _json(r)
    assert event["name"] == "button_press" and event["time"] == 1763712001.25
    async with http.post(base + "feedback/sources/eeg", json={"value": -0.5, "time": 1763712002.0}) as r:
        assert r.status == 202
        assert await _json(r) == {
            "accepted": True, "source": "eeg", "value": -0.5, "time": 1763712002.0, "used_at_volume": 12
        }
    async with http.post(base + "feedback/sources/pulse", json={"value": 1}) as r:
        assert r.status == 404 and "pulse" in (await _json(r))["reason"]
    with structlog.testing.capture_logs() as logs:
        async with http.post(base + "feedback/sources/button.box", json={"value": 1}) as r:
            body = await _json(r)
    assert r.status == 500 and body["error"] == "internal_error" and "RuntimeError" in body["reason"]
    assert [e["event"] for e in logs] == ["web_controller_failed"]
    async with http.post(base + "runs/stop", json={}) as r:
        assert r.status == 202
    async with http.post(base + "runs/stop", json={}) as r:
        assert r.status == 409
    assert controller.calls == [
        ("start_run",), ("mark_event", "button_press", 1763712001.25), ("push_value", "eeg", -0.5, 1763712002.0),
        ("stop_run",),
    ]
    assert state.status()["external_sources"] == {"eeg": {"value": -0.5, "time": 1763712002.0}}


async def test_an_event_without_time_is_stamped_on_arrival(
    api: tuple[LiveState, RecordingController, str, aiohttp.ClientSession],
) -> None:
    state, controller, base, http = api
    state.run_started(synthetic_run(10)[0])
    async with http.post(base + "events", json={"name": "start of task"}) as r:
        event = await _json(r)
    assert r.status == 201 and event["time"] > 1.7e9
    assert controller.calls[0][:2] == ("mark_event", "start of task")
    current = state.current_run()
    assert current is not None and [e["name"] for e in current["events"]] == ["start of task"]


@pytest.mark.parametrize(
    ("route", "body", "status", "fragment"),
    [
        ("events", b"{not json", 400, "not valid JSON"),
        ("events", b"[1, 2]", 400, "JSON object"),
        ("events", b"null", 400, "JSON object"),
        ("events", b"{}", 400, "'name' is required"),
        ("events", b'{"name": ""}', 400, "'name'"),
        ("events", b'{"name": "a\\u0000b"}', 400, "control characters"),
        ("events", b'{"name": 5}', 400, "'name'"),
        ("events", b'{"name": "x", "time": "now"}', 400, "'time'"),
        ("events", b'{"name": "x", "time": -5}', 400, "'time'"),
        ("events", b'{"name": "x", "colour": "red"}', 400, "unknown key(s) 'colour'"),
        ("feedback/sources/eeg", b'{"value": true}', 400, "'value' must be a finite number"),
        ("feedback/sources/eeg", b'{"value": NaN}', 400, "not valid JSON"),
        ("feedback/sources/eeg", b'{"value": 1e999}', 400, "not valid JSON"),
        ("feedback/sources/eeg", b'{"time": 1.0}', 400, "'value' is required"),
        ("feedback/sources/-bad", b'{"value": 1}', 400, "source name"),
        ("runs/start", b'{"now": true}', 400, "unknown key"),
    ],
)
async def test_malformed_bodies_are_400_with_a_reason(
    api: tuple[LiveState, RecordingController, str, aiohttp.ClientSession],
    route: str, body: bytes, status: int, fragment: str,
) -> None:
    _, controller, base, http = api
    async with http.post(base + route, data=body, headers={"Content-Type": "application/json"}) as r:
        answer = await _json(r)
    assert r.status == status
    assert fragment in answer["reason"]
    assert controller.calls == []  # nothing malformed reaches the daemon


async def test_bodies_are_size_limited_and_must_be_json(
    api: tuple[LiveState, RecordingController, str, aiohttp.ClientSession],
) -> None:
    _, controller, base, http = api
    big = b'{"name": "' + b"x" * 20_000 + b'"}'
    async with http.post(base + "events", data=big, headers={"Content-Type": "application/json"}) as r:
        assert r.status == 413 and "16384" in (await _json(r))["reason"]

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(40):
            yield b" " * 1000

    async with http.post(base + "events", data=chunked(), headers={"Content-Type": "application/json"}) as r:
        assert r.status == 413
    async with http.post(base + "events", data=b'{"name": "x"}', headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 415 and "application/json" in (await _json(r))["reason"]
    async with http.post(base + "events", data={"name": "x"}) as r:  # an HTML form's encoding
        assert r.status == 415
    assert controller.calls == []


# -- the OpenAPI document ------------------------------------------------------------------------
async def test_openapi_describes_exactly_the_routes_served(
    api: tuple[LiveState, RecordingController, str, aiohttp.ClientSession],
) -> None:
    _, _, base, http = api
    async with http.get(base + "openapi.json") as r:
        doc = await _json(r)
    assert doc == openapi_document()
    assert doc["openapi"] == "3.1.0"
    server = WebServer(LiveState(), RecordingController())
    app = server.build_app(None)
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/") and route.method != "HEAD"
    }
    described = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert served == described
    events = doc["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert events["required"] == ["name"] and set(events["properties"]) == {"name", "time"}
    assert events["additionalProperties"] is False


# -- the token -------------------------------------------------------------------------------------
async def test_a_non_loopback_address_needs_a_token_file() -> None:
    with pytest.raises(WebConfigError, match="token"):
        WebServer(LiveState(), RecordingController(), "0.0.0.0", 0)
    with pytest.raises(WebConfigError, match="token"):
        WebServer(LiveState(), RecordingController(), "192.168.1.20", 0, token_file="")


async def test_without_the_token_every_api_and_ws_request_is_401(token_file: Path) -> None:
    state = LiveState()
    with structlog.testing.capture_logs() as logs:
        async with WebServer(state, RecordingController(), "0.0.0.0", 0, token_file=token_file) as server:
            base = f"http://127.0.0.1:{server.port}/"
            async with aiohttp.ClientSession() as http:
                for method, path in [("GET", "api/v1/status"), ("GET", "api/v1/openapi.json"),
                                     ("POST", "api/v1/runs/stop"), ("GET", "api/v1/nowhere"), ("GET", "ws")]:
                    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"},
                                    {"Authorization": "Basic " + TOKEN}):
                        async with http.request(method, base + path, headers=headers) as r:
                            assert r.status == 401, (method, path, headers)
                            assert r.headers["WWW-Authenticate"].startswith("Bearer")
                            assert TOKEN not in await r.text()
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(base + "ws", protocols=("nfd.v1", "bearer.wrong-token-0123456789"))
                assert refused.value.status == 401
                auth = {"Authorization": f"Bearer {TOKEN}"}
                async with http.get(base + "api/v1/status", headers=auth) as r:
                    assert r.status == 200
                async with http.post(base + "api/v1/events", json={"name": "x"}, headers=auth) as r:
                    assert r.status == 201
                async with http.ws_connect(base + "ws", headers=auth) as ws:
                    assert (await ws.receive_json(timeout=10))["type"] == "hello"
                # a browser cannot set headers on a WebSocket: the token rides as a subprotocol
                async with http.ws_connect(base + "ws", protocols=("nfd.v1", f"bearer.{TOKEN}")) as ws:
                    assert ws.protocol == "nfd.v1"  # the token is never echoed back
                    assert (await ws.receive_json(timeout=10))["type"] == "hello"
                async with http.get(base) as r:  # the page itself holds no data
                    assert r.status == 200 and "canvas" in await r.text()
    assert all(TOKEN not in repr(entry) for entry in logs)
    started = next(e for e in logs if e["event"] == "web_started")
    assert started["token_required"] is True and started["host"] == "0.0.0.0"


async def test_a_token_file_on_loopback_is_enforced_too(token_file: Path) -> None:
    async with (
        WebServer(LiveState(), RecordingController(), "127.0.0.1", 0, token_file=token_file) as server,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(server.url + "api/v1/status") as r:
            assert r.status == 401
        async with http.get(server.url + "api/v1/status", headers={"Authorization": f"bearer  {TOKEN} "}) as r:
            assert r.status == 200


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "cannot be read"), ("short", "usable token"), ("has spaces in the middle of it", "usable token"),
     ("tok/with/slashes-0123456789", "usable token"), ("x" * 5000, "4 KiB")],
)
def test_unusable_token_files_are_refused_without_showing_them(
    tmp_path: Path, content: str | None, fragment: str
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
        path.chmod(0o600)
    with pytest.raises(TokenFileError, match=re.escape(fragment)) as info:
        read_token_file(path)
    assert str(path) in str(info.value)
    if content:
        assert content not in str(info.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601, 0o610, 0o444])
def test_a_token_file_others_may_touch_is_refused(token_file: Path, mode: int) -> None:
    token_file.chmod(mode)
    with structlog.testing.capture_logs() as logs, pytest.raises(TokenFileError) as info:
        read_token_file(token_file)
    message = str(info.value)
    assert message == (
        f"web token file {token_file} has mode {mode:04o}: expected 0600 or 0400 "
        f"(group and others may not read a secret; chmod 600 {token_file})"
    )
    assert TOKEN not in message and logs == []
    assert stat.S_IMODE(os.stat(token_file).st_mode) == mode  # never changed behind the operator's back


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_token_file_only_its_owner_reads_is_taken(token_file: Path, mode: int) -> None:
    token_file.chmod(mode)
    assert read_token_file(token_file) == TOKEN


async def test_an_unusable_token_file_stops_the_server_from_starting(tmp_path: Path) -> None:
    server = WebServer(LiveState(), RecordingController(), "0.0.0.0", 0, token_file=tmp_path / "absent")
    with pytest.raises(TokenFileError, match="absent"):
        await server.start()


# -- origins and hosts -----------------------------------------------------------------------------
async def test_cross_origin_requests_are_403(
    api: tuple[LiveState, RecordingController, str, aiohttp.ClientSession],
) -> None:
    _, controller, base, http = api
    own = base.split("/api/")[0]
    async with http.post(base + "runs/start", json={}, headers={"Origin": "http://evil.example"}) as r:
        assert r.status == 403 and "cross-origin" in (await _json(r))["reason"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(own + "/ws", headers={"Origin": "http://127.0.0.1:1"})
    assert refused.value.status == 403
    async with http.post(base + "runs/start", json={}, headers={"Origin": own}) as r:
        assert r.status == 202
    assert controller.calls == [("start_run",)]


async def test_a_foreign_host_name_is_403_on_loopback(
    api: tuple[LiveState, RecordingController, str, aiohttp.ClientSession],
) -> None:
    _, _, base, http = api
    port = base.split(":")[2].split("/")[0]
    async with http.get(base + "status", headers={"Host": f"rebound.example:{port}"}) as r:
        assert r.status == 403
    async with http.get(base + "status", headers={"Host": f"localhost:{port}"}) as r:
        assert r.status == 200


# -- configuration -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [{"port": 70000}, {"port": -1}, {"host": ""}, {"max_body": 10}, {"heartbeat": 0}, {"send_buffer": 1}],
)
def test_bad_server_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(WebConfigError):
        WebServer(LiveState(), RecordingController(), **kwargs)


def test_a_controller_missing_a_method_is_refused() -> None:
    class Partial:
        async def start_run(self) -> None: ...

    with pytest.raises(WebConfigError, match="stop_run, mark_event, push_value"):
        WebServer(LiveState(), Partial())  # type: ignore[arg-type]


async def test_a_port_in_use_is_a_config_error() -> None:
    async with WebServer(LiveState(), RecordingController(), "127.0.0.1", 0) as first:
        with pytest.raises(WebConfigError, match=str(first.port)):
            await WebServer(LiveState(), RecordingController(), "127.0.0.1", first.port).start()


async def test_the_page_and_its_files_are_served_with_a_strict_policy(
    api: tuple[LiveState, RecordingController, str, aiohttp.ClientSession],
) -> None:
    _, _, base, http = api
    root = base.split("/api/")[0]
    async with http.get(root + "/") as r:
        page = await r.text()
        assert r.status == 200 and r.content_type == "text/html"
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert "http://" not in page and "https://" not in page  # nothing from elsewhere
    for name, kind in (("live.js", "text/javascript"), ("live.css", "text/css")):
        async with http.get(f"{root}/static/{name}") as r:
            text = await r.text()
            assert r.status == 200 and r.content_type == kind
            assert "https://" not in text and "http://" not in text
    for missing in ("/static/index.html", "/static/nope.js", "/static/..%2Fserver.py"):
        async with http.get(root + missing) as r:
            assert r.status == 404

