"""tools/nfd_receiver.py (stand-alone, imported by path) decodes what UdpSink sends, in every format."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import math
import queue
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from nfd.outputs import FeedbackMessage, UdpSink

TOOL = Path(__file__).resolve().parents[2] / "tools" / "nfd_receiver.py"
T0 = 1763712000.0


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nfd_receiver", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _messages() -> list[FeedbackMessage]:
    return [
        FeedbackMessage(index=5, condition="REST", feedback=0.0, time=T0, latency_ms=310.0, is_baseline=True),
        FeedbackMessage(index=6, condition="NFBREG", feedback=1.73, time=T0 + 2.0, latency_ms=305.5),
        FeedbackMessage(index=7, condition="NFBREG", feedback=-42.25, time=T0 + 4.0, latency_ms=298.0),
    ]


def _collect(rx: Any, n: int) -> list[Any]:
    """Poll until ``n`` feedback values arrived (bounded: gives up after ~5 s)."""
    items: list[Any] = []
    for _ in range(500):
        items += rx.receive()
        if len(items) >= n:
            break
        time.sleep(0.01)
    return items


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    made: list[Any] = []

    def make(fmt: str) -> Any:
        rx = tool.FeedbackReceiver("127.0.0.1", 0, fmt)
        made.append(rx)
        return rx

    yield make
    for rx in made:
        rx.close()


def test_tool_uses_only_the_standard_library() -> None:
    tree = ast.parse(TOOL.read_text())
    nodes = list(ast.walk(tree))
    modules = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in nodes if isinstance(node, ast.ImportFrom) and node.module}
    assert modules and modules <= set(sys.stdlib_module_names) | {"__future__"}


async def test_json_decoded(receiver_factory: Any) -> None:
    rx = receiver_factory("json")
    async with UdpSink("127.0.0.1", rx.port, fmt="json") as sink:
        for m in _messages():
            sink.send(m)
    items = _collect(rx, 3)
    assert [(i.index, i.condition, i.feedback, i.time, i.latency_ms) for i in items] == [
        (m.index, m.condition, m.feedback, m.time, m.latency_ms) for m in _messages()
    ]
    assert rx.latest == items[-1] and rx.condition == "NFBREG"


async def test_float32_decoded(receiver_factory: Any) -> None:
    rx = receiver_factory("float32")
    async with UdpSink("127.0.0.1", rx.port, fmt="float32") as sink:
        for m in _messages():
            sink.send(m)
    items = _collect(rx, 3)
    assert [i.feedback for i in items] == [float(np.float32(m.feedback)) for m in _messages()]
    assert all(i.index is None and i.condition is None for i in items)


@pytest.mark.parametrize("send_condition", [True, False])
async def test_opennft_decoded(receiver_factory: Any, send_condition: bool) -> None:
    rx = receiver_factory("opennft")
    sink = UdpSink("127.0.0.1", rx.port, fmt="opennft", send_condition=send_condition)
    await sink.open()
    for m in _messages():
        sink.send(m)
    items = _collect(rx, 3)
    assert rx.sender_open and rx.control_count == 1
    await sink.close()
    _collect(rx, 0)
    assert not rx.sender_open and rx.control_count == 2
    assert [i.feedback for i in items] == [float(np.float32(m.feedback)) for m in _messages()]
    assert [i.time for i in items] == [float(np.float32(m.time)) for m in _messages()]
    if send_condition:
        assert [i.condition for i in items] == ["BAS", "NFBREG", "NFBREG"]
    else:
        assert all(i.condition is None for i in items)


def test_poll_returns_latest_then_none(receiver_factory: Any) -> None:
    rx = receiver_factory("float32")
    returned: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for v in (1.0, 2.0, 3.0):
            tx.sendto(struct.pack(">f", v), ("127.0.0.1", rx.port))
        for _ in range(500):  # bounded wait for the last value
            value = rx.poll()
            if value is not None:
                returned.append(value)
            if value == 3.0:
                break
            time.sleep(0.01)
    # each poll returns only the newest of what arrived since the previous one
    assert returned[-1] == 3.0 and returned == sorted(set(returned))
    assert rx.poll() is None
    assert rx.latest.feedback == 3.0


def test_opennft_resynchronises_when_started_mid_stream(receiver_factory: Any) -> None:
    rx = receiver_factory("opennft")
    stamp = struct.pack("<f", T0)
    stream = [
        struct.pack("<f", 0.5),  # the value of a volume whose timestamp was missed
        stamp, struct.pack("<f", 1.5),
        stamp, b"NFBREG", stamp, struct.pack("<f", 2.5),
        b"#",
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for d in stream:
            tx.sendto(d, ("127.0.0.1", rx.port))
        items = _collect(rx, 3)
        assert [(i.feedback, i.time, i.condition) for i in items] == [
            (0.5, None, None), (1.5, float(np.float32(T0)), None), (2.5, float(np.float32(T0)), "NFBREG"),
        ]
        _collect(rx, 0)
        assert rx.control_count == 1


def test_undecodable_datagrams_are_counted_and_skipped(receiver_factory: Any) -> None:
    rx = receiver_factory("json")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for d in (b"not json", b'{"index": 1}', b'{"index": 2, "feedback": null}'):
            tx.sendto(d, ("127.0.0.1", rx.port))
        items = _collect(rx, 1)
    assert len(items) == 1 and math.isnan(items[0].feedback) and items[0].index == 2
    assert rx.bad_datagrams == 2


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="'csv'"):
        tool.FeedbackReceiver("127.0.0.1", 0, "csv")


@pytest.mark.parametrize("fmt", ["json", "float32", "opennft"])
def test_main_prints_what_arrives(fmt: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(TOOL), "--port", "0", "--format", fmt, "--interval", "0.005"],
        stdout=subprocess.PIPE, text=True,
    )
    lines_out: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines_out.put(line.rstrip("\n")) for line in proc.stdout], daemon=True)
    reader.start()
    try:
        header = lines_out.get(timeout=10.0)  # timeouts: safeguards against hanging, not timing assertions
        assert header.startswith("listening on 127.0.0.1:")
        port = int(header.split(":")[1].split()[0])

        async def send() -> None:
            async with UdpSink("127.0.0.1", port, fmt=fmt) as sink:  # type: ignore[arg-type]
                for m in _messages():
                    sink.send(m)

        asyncio.run(send())
        lines = [lines_out.get(timeout=10.0) for _ in range(4 if fmt == "opennft" else 3)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        reader.join(timeout=10)
    feedback_lines = [line for line in lines if line.startswith("feedback=")]
    assert [line.split()[0] for line in feedback_lines] == ["feedback=0", "feedback=1.73", "feedback=-42.25"]
    if fmt == "json":
        assert "index=6" in feedback_lines[1] and "condition=NFBREG" in feedback_lines[1]
    if fmt == "opennft":
        assert any(line.startswith("control '#'") for line in lines)
        assert "condition=BAS" in feedback_lines[0]
