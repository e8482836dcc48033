"""``GET /api/v1/eeg/prediction`` answers honestly (issue 18): the prediction's age, the stream's state, 503 once
the stream has been lost for longer than the model's window.

On a real server (aiohttp, real sockets) over a :class:`LiveState` whose clock the test passes in (known answers),
then with a real LSL outlet that stops and comes back, relayed by the daemon's own loop (``_relay_eeg``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
import pytest
from sklearn.linear_model import Ridge

from nfd.daemon.app import _relay_eeg
from nfd.eeg import EegModel, EegPlayer, EegSession, FeatureSpec, PreprocessSpec, load_model
from nfd.outputs.web import LiveState, WebServer, openapi_document
from tests.helpers.eeg_synthetic import synthetic_session


class NoControl:
    """A controller that refuses nothing and does nothing (these tests only GET)."""

    async def start_run(self) -> dict[str, Any]:
        return {}

    async def stop_run(self) -> None:
        return None

    def mark_event(self, name: str, t: float) -> None:
        return None

    async def push_value(self, source: str, value: float, t: float) -> None:
        return None


class Clock:
    """The state's clock, set by the test (s since the epoch)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def served(state: LiveState) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    async with WebServer(state, NoControl(), "127.0.0.1", 0) as server, aiohttp.ClientSession() as http:
        yield server.url + "api/v1/eeg/prediction", http


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any], str | None]:
    async with http.get(url) as r:
        return r.status, orjson.loads(await r.read()), r.headers.get("Retry-After")


async def test_age_and_stream_state_on_the_state_clock() -> None:
    clock = Clock(1_763_712_000.0)
    state = LiveState(clock=clock)
    async with served(state) as (url, http):
        assert (await get(http, url))[0] == 404
        state.eeg_status("filling", window_s=2.0)
        status, body, retry = await get(http, url)
        assert (status, body["error"], body["stream_state"], retry) == (425, "too_early", "filling", "1")
        state.eeg_prediction({"time": clock.now, "value": 0.5, "t_window_end": clock.now - 0.25})
        state.eeg_status("streaming", window_s=2.0)
        clock.now += 0.5
        status, body, _ = await get(http, url)
        assert status == 200 and body["value"] == 0.5 and body["stream_state"] == "streaming"
        assert body["age_s"] == pytest.approx(0.75, abs=1e-9)
        lost_since = clock.now - 0.1  # the newest sample before the loss
        state.eeg_status("lost", reason="reconnecting", lost_since=lost_since, window_s=2.0, connected=False)
        clock.now = lost_since + 1.5  # lost for less than a window: the last value, marked lost
        status, body, _ = await get(http, url)
        assert status == 200 and body["stream_state"] == "lost" and body["lost_reason"] == "reconnecting"
        assert body["lost_s"] == pytest.approx(1.5) and body["age_s"] == pytest.approx(2.15)
        clock.now = lost_since + 2.5  # beyond the window: no window holds EEG
        status, body, retry = await get(http, url)
        assert (status, body["error"], body["stream_state"], body["lost_reason"], retry) == (
            503, "service_unavailable", "lost", "reconnecting", "1")
        assert body["lost_s"] == pytest.approx(2.5) and body["age_s"] == pytest.approx(3.15)
        assert body["window_s"] == 2.0 and body["last_prediction"]["value"] == 0.5
        assert "lost for 2.5 s (reconnecting)" in body["reason"] and "the last prediction is 3." in body["reason"]
        state.eeg_status("lost", reason="refilling", lost_since=lost_since, window_s=2.0, connected=True)
        assert (await get(http, url))[0] == 503  # back, but the window still spans the missing EEG
        state.eeg_prediction({"time": clock.now, "value": 0.7, "t_window_end": clock.now - 0.05})
        state.eeg_status("streaming", window_s=2.0, connected=True)
        status, body, _ = await get(http, url)
        assert status == 200 and body["value"] == 0.7 and body["age_s"] == pytest.approx(0.05)


async def test_a_lost_state_without_details_is_judged_by_the_prediction_age() -> None:
    clock = Clock(1000.0)
    state = LiveState(clock=clock)
    async with served(state) as (url, http):
        state.eeg_prediction({"time": 999.0, "value": 1.0, "t_window_end": 999.0})
        state.eeg_status("lost")  # no window known: lost is answered 503 at once
        status, body, _ = await get(http, url)
        assert status == 503 and body["age_s"] == pytest.approx(1.0) and body["window_s"] is None


def test_the_openapi_document_describes_the_503() -> None:
    route = openapi_document()["paths"]["/api/v1/eeg/prediction"]["get"]
    assert {"200", "404", "425", "503"} <= set(route["responses"])
    schema = route["responses"]["503"]["content"]["application/json"]["schema"]
    assert {"stream_state", "age_s"} <= set(schema["required"])
    ok = route["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"age_s", "stream_state"} <= set(ok["required"])


def one_second_model(folder: Path) -> EegModel:
    """A ridge over a 1 s window of E1 and E2 (fitted to random numbers: only the timing matters here)."""
    spec = FeatureSpec(channels=("E1", "E2"), fs=250.0, window=1.0, delays=(0.0,), bands=((4.0, 8.0), (8.0, 13.0)))
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 0.5, (40, spec.n_features))
    model = EegModel.create(Ridge(alpha=1.0).fit(x, rng.standard_normal(40)), spec, PreprocessSpec(fs=250.0),
                            feature_mean=x.mean(axis=0), feature_std=x.std(axis=0),
                            target={"name": "roi_x", "mean": 100.0, "std": 2.0}, source_rate=250.0)
    path = folder / "model.joblib"
    return load_model(path, model.save(path))


async def wait_answer(http: aiohttp.ClientSession, url: str, want: int, timeout: float,
                      seen: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body, _ = await get(http, url)
        seen.append((status, body))
        if status == want:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {want} within {timeout} s; last {seen[-1] if seen else None}")


@pytest.mark.slow
async def test_a_real_stream_that_stops_turns_503_after_one_window_then_200(tmp_path: Path) -> None:
    recording, _, _ = synthetic_session(duration=40.0, n_channels=3, driver=1, seed=5)
    model = one_second_model(tmp_path)
    sid = f"nfd-test-rest-lost-{uuid.uuid4().hex[:12]}"  # LSL streams are visible machine-wide
    session = EegSession(model, source_id=sid, interval=0.1, markers=False, retry_max=0.5, buffer_seconds=10.0,
                         stale_after=0.5)
    state = LiveState()
    state.eeg_status("waiting")
    first = EegPlayer(recording, source_id=sid, markers=False, wait_for_consumer=20.0)
    second = EegPlayer(recording, source_id=sid, markers=False)
    tasks = [asyncio.create_task(session.run()), asyncio.create_task(_relay_eeg(session, state, 0.05))]
    seen: list[tuple[int, dict[str, Any]]] = []
    try:
        async with served(state) as (url, http):
            await asyncio.to_thread(first.start)
            before = await wait_answer(http, url, 200, 20.0, seen)
            assert before["stream_state"] == "streaming"
            await asyncio.to_thread(first.stop)  # the outlet goes away
            seen.clear()
            lost = await wait_answer(http, url, 503, 20.0, seen)
            assert lost["stream_state"] == "lost" and lost["lost_reason"] in ("stale", "reconnecting")
            assert lost["window_s"] == pytest.approx(1.0) and lost["lost_s"] > lost["window_s"]
            assert lost["age_s"] >= lost["lost_s"]  # the last prediction's window ended at or before the loss
            for status, body in seen:  # 200 while lost for less than one window, never 503 before it
                assert status in (200, 503), body
                if status == 200 and body["stream_state"] == "lost":
                    assert body["lost_s"] <= body["window_s"]
            await asyncio.to_thread(second.start)  # same source id, new outlet
            seen.clear()
            back = await wait_answer(http, url, 200, 30.0, seen)
            assert back["stream_state"] == "streaming"
            assert back["t_window_end"] > lost["last_prediction"]["t_window_end"] + lost["lost_s"]
            assert back["age_s"] < lost["age_s"]
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.stop)
    assert session.inlet.stats()["lost"] == 1
