"""LiveState, RunInfo, the WebSocket messages and the broadcaster, without a server."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any

import orjson
import pytest
import structlog

from nfd.outputs.web import LiveState, LiveStateError, RunInfo, volume_message
from nfd.outputs.web._hub import Broadcaster
from nfd.outputs.web._messages import dumps, eeg_message
from tests.helpers.records import synthetic_run


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _info(**kw: Any) -> RunInfo:
    args: dict[str, Any] = {
        "run_id": "run-1", "n_volumes": 20, "tr": 2.0,
        "blocks": [("BAS", 0, 9), ("UP", 10, 19)], "rois": ["v1"], "started": 500.0,
    }
    return RunInfo(**{**args, **kw})


# -- messages ----------------------------------------------------------------------------
def test_volume_message_carries_every_field_and_nulls_what_is_not_finite() -> None:
    record = {
        "index": 12, "file": "001_000007_000013.dcm", "condition": "NFBREG", "t_complete": 100.0, "t_sent": 100.05,
        "latency_ms": 50.0, "motion": [0.1, -0.2, 0.3, 0.001, -0.002, float("nan")], "fd": 0.12,
        "roi": {"left": 812.5, "right": float("inf")}, "psc": {"left": 1.5, "right": None}, "feedback": 1.5,
        "converged": True, "quality": {"dvars": 14.5},
    }
    msg = volume_message(record, baseline="BAS")
    assert msg == {
        "type": "volume", "index": 12, "condition": "NFBREG", "baseline": False, "feedback": 1.5,
        "roi": {"left": 812.5, "right": None}, "psc": {"left": 1.5, "right": None},
        "motion": [0.1, -0.2, 0.3, 0.001, -0.002, None], "fd": 0.12, "dvars": 14.5, "latency_ms": 50.0,
        "t_sent": 100.05, "converged": True,
    }
    # A top-level dvars wins over quality.dvars; a missing field is null; baseline unknown without a name.
    assert volume_message({"index": 0, "dvars": 3.0, "quality": {"dvars": 9.0}})["dvars"] == 3.0
    bare = volume_message({"index": 0, "condition": "BAS"})
    assert bare["feedback"] is None and bare["motion"] is None and bare["baseline"] is None


@pytest.mark.parametrize("record", [{"condition": "BAS"}, {"index": -1}, {"index": 1.0}, {"index": True}, [1, 2]])
def test_volume_message_refuses_a_record_without_an_index(record: Any) -> None:
    with pytest.raises(LiveStateError, match=r"index|mapping"):
        volume_message(record)


def test_dumps_writes_nan_as_null_and_numpy_as_numbers() -> None:
    import numpy as np

    text = dumps({"a": float("nan"), "b": np.float32(1.5), "c": np.arange(3), "d": np.int64(4)})
    assert orjson.loads(text) == {"a": None, "b": 1.5, "c": [0, 1, 2], "d": 4}


def test_eeg_message_takes_a_dataclass_and_refuses_one_without_time() -> None:
    @dataclasses.dataclass
    class Prediction:
        time: float
        value: float
        window_s: float

    msg = eeg_message(Prediction(time=10.0, value=0.25, window_s=12.0), at_volume=3.5)
    assert msg == {"time": 10.0, "value": 0.25, "window_s": 12.0, "type": "eeg", "at_volume": 3.5}
    with pytest.raises(LiveStateError, match="time"):
        eeg_message({"value": 1.0}, None)
    with pytest.raises(LiveStateError, match="value"):
        eeg_message({"time": 1.0}, None)


# -- RunInfo -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"run_id": ""}, "run_id"),
        ({"n_volumes": 0}, "n_volumes"),
        ({"tr": 0.0}, "tr"),
        ({"tr": float("nan")}, "tr"),
        ({"blocks": [("BAS", 0, 20)]}, "n_volumes"),
        ({"blocks": [("BAS", 5, 4)]}, "first <= last"),
        ({"blocks": [("BAS", 0)]}, "expected"),
        ({"rois": "v1"}, "rois"),
        ({"feedback_range": (1.0, -1.0)}, "feedback_range"),
        ({"fd_threshold": "0.5"}, "fd_threshold"),
    ],
)
def test_run_info_refuses_bad_fields(kw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(LiveStateError, match=fragment):
        _info(**kw)


def test_run_info_takes_a_designs_blocks() -> None:
    from nfd.design import Design

    design = Design.from_blocks(12, [("UP", 4, 7)], skip_volumes=2)
    info = RunInfo("r", n_volumes=12, tr=1.5, blocks=design.blocks, baseline=design.baseline)
    assert [(b["condition"], b["first"], b["last"], b["baseline"]) for b in info.to_json()["blocks"]] == [
        ("BAS", 0, 3, True), ("UP", 4, 7, False), ("BAS", 8, 11, True),
    ]


# -- LiveState -----------------------------------------------------------------------------
def test_state_follows_a_run() -> None:
    clock = Clock(1000.0)
    state = LiveState(clock=clock)
    assert state.run_state == "idle" and state.current_run() is None and state.latest_feedback() is None
    state.run_started(_info())
    for i in range(10, 15):
        state.volume({
            "index": i, "condition": "UP", "feedback": i / 10, "latency_ms": 30.0 + i,
            "t_complete": 600.0 + 2 * (i - 10),
        })
    clock.t = 1012.5
    status = state.status()
    assert status["run_state"] == "running" and status["run_id"] == "run-1"
    assert status["volumes_processed"] == 5 and status["last_index"] == 14 and status["last_latency_ms"] == 44.0
    assert status["uptime_s"] == 12.5
    assert state.latest_feedback() == {
        "run_id": "run-1", "index": 14, "condition": "UP", "baseline": False, "feedback": 1.4, "t_sent": None,
        "latency_ms": 44.0,
    }
    current = state.current_run()
    assert current is not None and (current["first_index"], current["last_index"]) == (10, 14)
    state.run_ended({"volumes_processed": 5, "latency_ms_median": float("nan")})
    assert state.run_state == "ended"
    assert state.current_run()["summary"] == {"volumes_processed": 5, "latency_ms_median": None}  # type: ignore[index]


def test_volumes_since_is_exclusive_and_limited() -> None:
    state = LiveState()
    state.run_started(_info())
    for i in (3, 4, 6, 9):  # gaps: missing volumes
        state.volume({"index": i})
    idx = lambda recs: [r["index"] for r in recs]  # noqa: E731
    assert idx(state.volumes_since()) == [3, 4, 6, 9]
    assert idx(state.volumes_since(4)) == [6, 9]
    assert idx(state.volumes_since(5)) == [6, 9]
    assert idx(state.volumes_since(9)) == []
    assert idx(state.volumes_since(-1, limit=2)) == [3, 4]


def test_volumes_must_come_in_increasing_order() -> None:
    state = LiveState()
    state.run_started(_info())
    state.volume({"index": 5})
    with pytest.raises(LiveStateError, match="does not follow"):
        state.volume({"index": 5})
    state.run_started(_info(run_id="run-2"))  # a new run starts afresh
    state.volume({"index": 0})
    assert state.status()["volumes_processed"] == 1 and state.status()["volumes_processed_total"] == 2


def test_eeg_predictions_fall_on_the_volume_axis() -> None:
    state = LiveState()
    assert state.eeg_state == "disabled"
    state.eeg_status("filling", stream="BrainAmp")
    state.run_started(_info(tr=2.0))
    state.eeg_prediction({"time": 590.0, "value": 0.1})  # before the first volume: not on the axis
    state.volume({"index": 10, "t_complete": 600.0})
    state.eeg_prediction({"time": 605.0, "value": 0.3, "window_s": 12.0})
    latest = state.latest_prediction()
    assert latest == {"time": 605.0, "value": 0.3, "window_s": 12.0, "at_volume": 12.5}
    assert state.at_volume(600.0) == 10.0
    assert state.eeg_state == "streaming"
    status = state.status()["eeg"]
    assert status["state"] == "streaming" and status["predictions"] == 2 and status["stream"] == "BrainAmp"
    with pytest.raises(LiveStateError, match="unknown"):
        state.eeg_status("broken")  # type: ignore[arg-type]


async def test_a_prediction_after_a_lost_stream_announces_it_is_back() -> None:
    state = LiveState()
    sub = state.hub.subscribe("test")
    state.eeg_status("lost", stream="BrainAmp")
    state.eeg_prediction({"time": 1.0, "value": 0.5})
    state.eeg_prediction({"time": 2.0, "value": 0.6})
    kinds = [orjson.loads(sub.queue.get_nowait()) for _ in range(sub.queue.qsize())]
    assert [(m["type"], m.get("state")) for m in kinds] == [
        ("eeg_state", "lost"), ("eeg_state", "streaming"), ("eeg", None), ("eeg", None),
    ]
    assert state.eeg_state == "streaming"


async def test_every_update_is_published_in_order() -> None:
    state = LiveState(clock=Clock(700.0))
    sub = state.hub.subscribe("test", state.hello_text())
    info, records = synthetic_run(n_volumes=30)
    state.run_started(info)
    for r in records:
        state.volume(r)
    state.eeg_status("streaming")
    state.eeg_prediction({"time": records[5]["t_complete"], "value": 1.0})
    state.warning("volume_missing", "volume 7 never arrived", index=7)
    state.event_marked("button", records[3]["t_complete"] + 0.5)
    state.run_ended({"volumes_processed": 30})
    messages = []
    while not sub.queue.empty():
        messages.append(orjson.loads(sub.queue.get_nowait()))
    types = [m["type"] for m in messages]
    assert types == ["hello", "run_start"] + ["volume"] * 30 + ["eeg_state", "eeg", "warning", "event", "run_end"]
    assert [m["index"] for m in messages if m["type"] == "volume"] == list(range(30))
    assert messages[-4]["at_volume"] == 5.0
    assert messages[-3] == {"type": "warning", "event": "volume_missing", "time": 700.0, "index": 7,
                            "message": "volume 7 never arrived"}
    assert messages[-2]["at_volume"] == 3.5


def test_hello_holds_the_run_so_far() -> None:
    state = LiveState()
    info, records = synthetic_run(n_volumes=40)
    state.run_started(info)
    for r in records[:25]:
        state.volume(r)
    state.eeg_prediction({"time": info.started - 100.0, "value": 9.0})  # before the run: left out
    state.eeg_prediction({"time": records[10]["t_complete"], "value": 1.0})
    hello = orjson.loads(state.hello_text())
    assert hello["run"]["run_id"] == "run-synthetic" and hello["run_state"] == "running"
    assert [v["index"] for v in hello["volumes"]] == list(range(25))
    assert [e["value"] for e in hello["eeg"]] == [1.0]


def test_state_logs_nothing_and_needs_no_loop_without_clients() -> None:
    state = LiveState()
    with structlog.testing.capture_logs() as logs:
        state.run_started(_info())
        state.volume({"index": 1})
    assert logs == []
    assert state.hub.published == 0  # nothing encoded for nobody


# -- Broadcaster -------------------------------------------------------------------------------
async def test_a_full_queue_drops_that_client_only() -> None:
    hub = Broadcaster(queue_size=3)
    fast, slow = hub.subscribe("fast"), hub.subscribe("slow", first="hello")
    with structlog.testing.capture_logs() as logs:
        for i in range(10):
            hub.publish(str(i))
            assert fast.queue.get_nowait() == str(i)
    # slow held "hello", 0, 1; publishing 2 found it full.
    assert slow.dropped.is_set() and not fast.dropped.is_set()
    assert hub.clients == 1 and hub.dropped == 1
    assert [slow.queue.get_nowait() for _ in range(3)] == ["hello", "0", "1"]
    assert [(e["event"], e["peer"], e["queue_size"]) for e in logs] == [("ws_client_dropped", "slow", 3)]
    hub.unsubscribe(slow)  # idempotent for a dropped client
    assert hub.clients == 1


def test_queue_size_must_be_positive() -> None:
    from nfd.outputs.web import WebConfigError

    with pytest.raises(WebConfigError, match="queue size"):
        Broadcaster(queue_size=0)
    assert math.isfinite(LiveState().uptime_s)


async def test_publishing_never_awaits() -> None:
    """The pipeline's calls are plain functions: nothing in them can wait for a client."""
    import inspect

    for name in ("run_started", "volume", "eeg_prediction", "eeg_status", "warning", "event_marked", "run_ended"):
        assert not inspect.iscoroutinefunction(getattr(LiveState, name)), name
    assert not inspect.iscoroutinefunction(Broadcaster.publish)
    await asyncio.sleep(0)
