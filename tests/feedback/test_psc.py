"""Percent signal change: the pure formula and continuous PSC on known signals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nfd.design import Design, DesignError, VolumeIndexError, load_protocol
from nfd.feedback import ContinuousPSC, percent_signal_change


def test_percent_signal_change_formula() -> None:
    assert percent_signal_change(102.0, [100.0, 100.0]) == pytest.approx(2.0)
    assert percent_signal_change(99.0, np.array([100.0, 98.0, 102.0])) == pytest.approx(-1.0)
    assert percent_signal_change(50.0, [-100.0]) == pytest.approx(-150.0)


@pytest.mark.parametrize("baseline", [[], [0.0, 0.0], [1.0, -1.0], [math.nan, 1.0], [math.inf]])
def test_percent_signal_change_of_degenerate_baselines_is_zero(baseline: list[float]) -> None:
    assert percent_signal_change(5.0, baseline) == 0.0


def test_baseline_of_100_and_regulation_of_102_gives_2() -> None:
    design = Design.from_blocks(20, [("UP", 10, 19)])
    psc = ContinuousPSC(design, delay=2)
    for index in range(10):
        psc.update(index, 100.0)
    assert psc.update(10, 102.0) == pytest.approx(2.0)
    assert psc.update(11, 97.0) == pytest.approx(-3.0)


def test_delay_drops_the_first_volumes_of_each_baseline_block() -> None:
    design = Design.from_blocks(40, [("UP", 10, 19), ("UP", 30, 39)])
    psc = ContinuousPSC(design, delay=2)
    signal = np.full(40, 100.0)
    signal[0:2] = 1000.0  # first two volumes of baseline block 1: dropped
    signal[10:20] = 103.0
    signal[20:22] = 500.0  # first two of baseline block 2 (haemodynamic tail): dropped
    signal[22:30] = 200.0
    signal[30:40] = 210.0
    out = [psc.update(i, v) for i, v in enumerate(signal)]
    assert out[0] == 0.0 and out[1] == 0.0  # no baseline value yet
    assert out[2] == pytest.approx(0.0)  # the block so far is [100]
    assert out[10] == pytest.approx(3.0)  # against mean(2..9) = 100, volumes 0, 1 dropped
    # baseline block 2 within its delay: its own values are not yet usable,
    # the previous baseline block (mean 100) serves
    assert out[20] == pytest.approx(400.0)
    assert out[22] == pytest.approx(0.0)  # the block so far: [200]
    assert out[30] == pytest.approx(5.0)  # against mean(22..29) = 200, not the whole run
    assert psc.reference(39) == pytest.approx(200.0)


def test_delay_zero_uses_the_whole_block_so_far() -> None:
    design = Design.from_blocks(6, [("UP", 3, 5)])
    psc = ContinuousPSC(design, delay=0)
    assert psc.update(0, 100.0) == pytest.approx(0.0)
    assert psc.update(1, 300.0) == pytest.approx(50.0)  # mean(100, 300) = 200
    psc.update(2, 200.0)
    assert psc.update(3, 220.0) == pytest.approx(10.0)


def test_missing_volumes_use_the_ones_seen() -> None:
    design = Design.from_blocks(20, [("UP", 10, 19)])
    psc = ContinuousPSC(design, delay=2)
    for index, value in [(2, 90.0), (5, 110.0), (9, 100.0)]:  # 3, 4, 6, 7, 8 never arrive
        psc.update(index, value)
    assert psc.reference(12) == pytest.approx(100.0)
    assert psc.update(12, 105.0) == pytest.approx(5.0)


def test_a_baseline_block_with_no_value_falls_back_to_an_earlier_one() -> None:
    design = Design.from_blocks(30, [("UP", 5, 9), ("UP", 15, 19)])
    psc = ContinuousPSC(design, delay=1)
    for index in range(1, 5):
        psc.update(index, 50.0)
    # baseline block 10..14 is lost entirely
    assert psc.update(15, 55.0) == pytest.approx(10.0)


def test_no_baseline_seen_gives_zero() -> None:
    design = Design.from_blocks(10, [("UP", 0, 4)])
    psc = ContinuousPSC(design, delay=2)
    assert [psc.update(i, 100.0 + i) for i in range(5)] == [0.0] * 5
    assert math.isnan(psc.reference(3))


def test_skipped_volumes_never_enter_the_baseline() -> None:
    design = Design.from_blocks(16, [("UP", 10, 15)], skip_volumes=3)
    psc = ContinuousPSC(design, delay=2)
    values = [5000.0, 4000.0, 3000.0, 999.0, 999.0, 100.0, 100.0, 100.0, 100.0, 100.0]
    out = [psc.update(i, v) for i, v in enumerate(values)]
    assert out[:3] == [0.0, 0.0, 0.0]  # skipped volumes: no feedback
    assert psc.update(1, math.nan) == 0.0
    # the delay counts from the first volume after the skipped ones: 3 and 4 are dropped
    assert psc.reference(10) == pytest.approx(100.0)
    assert psc.update(10, 101.0) == pytest.approx(1.0)


def test_non_finite_values_are_not_recorded() -> None:
    design = Design.from_blocks(8, [("UP", 4, 7)])
    psc = ContinuousPSC(design, delay=0)
    psc.update(0, 100.0)
    assert math.isnan(psc.update(1, math.nan))
    assert psc.update(2, 100.0) == pytest.approx(0.0)
    assert psc.update(4, 110.0) == pytest.approx(10.0)
    assert np.isnan(psc.values[1])


def test_passing_an_index_again_replaces_its_value() -> None:
    design = Design.from_blocks(8, [("UP", 4, 7)])
    psc = ContinuousPSC(design, delay=0)
    for index in range(4):
        psc.update(index, 100.0)
    psc.update(3, 300.0)  # mean(100, 100, 100, 300) = 150
    assert psc.update(4, 165.0) == pytest.approx(10.0)


def test_regulation_volumes_never_enter_the_baseline() -> None:
    design = Design.from_blocks(12, [("UP", 4, 7)])
    psc = ContinuousPSC(design, delay=0)
    for index in range(4):
        psc.update(index, 100.0)
    for index in range(4, 8):
        psc.update(index, 1000.0)
    # baseline block 8..11 so far holds only volume 8
    assert psc.update(8, 100.0) == pytest.approx(0.0)


def _reference_by_hand(labels: list[str], seen: dict[int, float], index: int, delay: int) -> float:
    """The rule written out directly: runs of labels, delay, fallback to earlier blocks."""
    runs = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            runs.append((labels[start], start, i - 1))
            start = i
    current = next(n for n, (_c, a, b) in enumerate(runs) if a <= index <= b)
    candidates = [n for n in range(current, -1, -1) if runs[n][0] == "BAS"]
    for n in candidates:
        _c, a, b = runs[n]
        last = min(b, index) if n == current else b
        values = [seen[i] for i in range(a + delay, last + 1) if i in seen]
        if values:
            return sum(values) / len(values)
    return math.nan


def test_matches_the_rule_written_out_on_random_runs() -> None:
    rng = np.random.default_rng(7)
    for trial in range(20):
        n = int(rng.integers(20, 60))
        blocks = []
        position = int(rng.integers(0, 6))
        while position < n:
            length = int(rng.integers(1, 8))
            blocks.append(("UP", position, min(n - 1, position + length - 1)))
            position += length + int(rng.integers(1, 8))
        design = Design.from_blocks(n, blocks)
        delay = int(rng.integers(0, 4))
        psc = ContinuousPSC(design, delay=delay)
        seen: dict[int, float] = {}
        for index in range(n):
            if rng.random() < 0.2:
                continue  # a missing volume
            value = float(rng.normal(1000.0, 20.0))
            seen[index] = value
            got = psc.update(index, value)
            mean = _reference_by_hand(design.labels.tolist(), seen, index, delay)
            expected = 0.0 if math.isnan(mean) else 100.0 * (value - mean) / mean
            assert got == pytest.approx(expected, abs=1e-9), (trial, index)


def test_bad_arguments_are_refused() -> None:
    design = Design.from_blocks(8, [("UP", 4, 7)])
    with pytest.raises(DesignError, match="delay must be a number of volumes >= 0"):
        ContinuousPSC(design, delay=-1)
    with pytest.raises(DesignError, match=r"design must be an nfd\.design\.Design"):
        ContinuousPSC("design", delay=2)  # type: ignore[arg-type]
    psc = ContinuousPSC(design)
    with pytest.raises(VolumeIndexError, match="volume index 8 is outside"):
        psc.update(8, 100.0)


@pytest.mark.shared
def test_real_protocol_reference_skips_the_skipped_and_delayed_volumes(shared_data: Path) -> None:
    design = load_protocol(shared_data / "opennft_psc_run" / "protocol.json", n_volumes=155, skip_volumes=5, tr=1.97)
    psc = ContinuousPSC(design, delay=2)
    for index in range(15):
        psc.update(index, float(index))
    # first NFBREG volume (index 15) against the first baseline block, volumes 7..14:
    # 0..4 are skipped, 5 and 6 are the delay
    assert psc.reference(15) == pytest.approx(np.mean(np.arange(7, 15)))
    for index in range(15, 35):
        psc.update(index, float(index))
    # second NFBREG block (35..44) against the baseline block 25..34 from its third volume
    assert psc.reference(35) == pytest.approx(np.mean(np.arange(27, 35)))
