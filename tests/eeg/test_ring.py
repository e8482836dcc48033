"""The ring buffer: preallocated, wraps, windows up to a time, consistent under a concurrent writer."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from nfd.eeg import EegConfigError, RingBuffer


def test_wraps_and_keeps_the_newest() -> None:
    ring = RingBuffer(10, ["a", "b", "c"], fs=100.0)
    data_id = id(ring._data)
    for start in range(0, 37, 5):
        n = min(5, 37 - start)
        block = np.arange(start, start + n, dtype=float)[:, None] * [1, 10, 100]
        ring.write(block, np.arange(start, start + n) / 100.0)
    assert ring.total == 37 and id(ring._data) == data_id
    w = ring.window(10)
    np.testing.assert_array_equal(w.data[0], np.arange(27, 37))
    np.testing.assert_array_equal(w.data[2], np.arange(27, 37) * 100)
    assert w.end_index == 36 and w.t_end == pytest.approx(0.36)
    assert ring.window(11) is None


def test_window_up_to_a_time_and_channel_subset() -> None:
    ring = RingBuffer(8, ["a", "b", "c"], fs=10.0)
    ring.write(np.arange(30.0).reshape(10, 3), np.arange(10) / 10.0)  # samples 2..9 kept
    w = ring.window(3, t_end=0.65, channels=[2, 0])
    np.testing.assert_array_equal(w.times, [0.4, 0.5, 0.6])
    np.testing.assert_array_equal(w.data, [[14, 17, 20], [12, 15, 18]])
    assert w.end_index == 6
    assert ring.window(3, t_end=0.35) is None  # only 0.2 and 0.3 are stored at or before it
    assert ring.window(1, t_end=10.0).end_index == 9


def test_a_chunk_larger_than_the_ring() -> None:
    ring = RingBuffer(4, ["x"], fs=1.0)
    ring.write(np.arange(10.0)[:, None], np.arange(10.0))
    assert ring.total == 10
    np.testing.assert_array_equal(ring.window(4).data[0], [6, 7, 8, 9])
    ring.write(np.array([[10.0]]), np.array([10.0]))
    np.testing.assert_array_equal(ring.window(4).data[0], [7, 8, 9, 10])


def test_windows_are_consistent_while_a_thread_writes() -> None:
    ring = RingBuffer(1000, ["x", "y"], fs=1000.0)
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            block = np.arange(i, i + 17, dtype=float)
            ring.write(np.stack([block, -block], axis=1), block / 1000.0)
            i += 17

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        checked = 0
        while checked < 300:
            w = ring.window(500)
            if w is None:
                continue
            first = w.end_index - 499
            np.testing.assert_array_equal(w.data[0], np.arange(first, w.end_index + 1))
            np.testing.assert_array_equal(w.data[1], -w.data[0])
            np.testing.assert_array_equal(w.times, w.data[0] / 1000.0)
            checked += 1
    finally:
        stop.set()
        thread.join()


def test_view_is_read_only_access() -> None:
    ring = RingBuffer(4, ["x"], fs=2.0)
    view = ring.view()
    assert view.last_time is None
    ring.write(np.ones((2, 1)), np.array([1.0, 1.5]))
    assert view.total == 2 and view.fs == 2.0 and view.channel_names == ("x",) and view.last_time == 1.5
    assert not hasattr(view, "write")


def test_bad_arguments() -> None:
    with pytest.raises(EegConfigError, match="capacity"):
        RingBuffer(0, ["x"], fs=1.0)
    with pytest.raises(EegConfigError, match="channel"):
        RingBuffer(4, [], fs=1.0)
    ring = RingBuffer(4, ["x"], fs=1.0)
    with pytest.raises(EegConfigError, match=r"data \(n, 1\)"):
        ring.write(np.ones((2, 2)), np.ones(2))
