"""nfd.testing's in-memory doubles keep the contracts they stand in for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nfd.acquire import Scan, ScanImage, ScanSource, SeriesId
from nfd.outputs import FeedbackMessage, Sink
from nfd.testing import MemoryScanSource, MemorySink


def _message(index: int) -> FeedbackMessage:
    return FeedbackMessage(index=index, condition="UP", feedback=0.1 * index, time=1.0, latency_ms=2.0)


async def test_memory_sink_records_every_message_in_order() -> None:
    sink = MemorySink("probe")
    assert isinstance(sink, Sink) and sink.config_key == "feedback" and sink.name == "probe"
    assert not sink.opened and not sink.closed
    await sink.open()
    for k in range(3):
        sink.send(_message(k))
    await sink.close()
    await sink.close()  # idempotent
    assert [m.index for m in sink.messages] == [0, 1, 2] and sink.opened and sink.closed


async def test_memory_scan_source_yields_the_scans_in_order_and_counts_them() -> None:
    volumes = [np.full((4, 3, 2), k, np.float32) for k in range(3)]
    source: ScanSource = MemoryScanSource.from_volumes(volumes, np.eye(4))
    async with source as entered:
        assert source.new_series is None
        scans = [scan async for scan in entered]
        assert source.stats == {"taken": 3, "rejected": 0}
    assert [s.index for s in scans] == [0, 1, 2]
    assert [float(s.image.data.max()) for s in scans] == [0.0, 1.0, 2.0]
    assert isinstance(source, MemoryScanSource) and source.entered and source.exited


async def test_memory_scan_source_reports_the_new_series_after_its_scans() -> None:
    image = ScanImage(np.zeros((2, 2, 2), np.float32), np.eye(4))
    nxt = SeriesId(name="000008")
    source = MemoryScanSource([Scan(0, image=image, path=Path(__file__), t_complete=0.0)], new_series=nxt)
    async with source:
        assert source.new_series is None
        assert [s.index async for s in source] == [0]
        assert source.new_series == nxt


def test_memory_scan_source_refuses_indices_out_of_order() -> None:
    image = ScanImage(np.zeros((2, 2, 2), np.float32), np.eye(4))
    scans = [Scan(index=k, path=Path(__file__), image=image, t_complete=0.0) for k in (0, 2, 1)]
    with pytest.raises(ValueError, match="strictly increasing"):
        MemoryScanSource(scans)
