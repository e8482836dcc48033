"""Real-time quality figures on known motion, volumes and signals; thresholds and crossings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd.design import Design
from nfd.timeseries import (
    ChainStep,
    QualityMonitor,
    QualityThresholds,
    TimeseriesError,
    dvars,
    intensity_mask,
)


def step(index: int, raw: float, glm: float = 0.0, ar1: float = 0.0, kalman: float = 0.0, spike: int = 0) -> ChainStep:
    return ChainStep(index, raw, glm, ar1, kalman, 0.5, spike, -1.0, 1.0, 1)


def test_fd_and_md_on_known_motion() -> None:
    design = Design.from_blocks(4, [])
    qm = QualityMonitor(design, [], thresholds=QualityThresholds(fd_mm=0.5, md_mm=0.2))
    motion = [
        [0, 0, 0, 0, 0, 0],
        [0.1, 0, 0, 0, 0, 0.002],  # FD 0.1 + 50 * 0.002 = 0.2; MD 0.1
        [0.1, 0.6, 0, 0, 0, 0.002],  # FD 0.6; MD |0.6083 - 0.1|
        [0.1, 0.6, 0, 0.02, 0, 0.002],  # FD 1.0 (rotation only); MD 0
    ]
    figures = [qm.update(i, m) for i, m in enumerate(motion)]
    assert [f["fd"] for f in figures] == pytest.approx([0.0, 0.2, 0.6, 1.0])
    assert [f["md"] for f in figures] == pytest.approx([0.0, 0.1, math.sqrt(0.37) - 0.1, 0.0])
    assert [f["crossings"] for f in figures] == [[], [], ["fd", "md"], ["fd"]]
    summary = qm.summary()
    assert summary["crossings"] == {"fd": 2, "md": 1}
    assert summary["fd_max_mm"] == pytest.approx(1.0)
    assert summary["fd_mean_mm"] == pytest.approx(0.45)
    assert figures[0]["dvars"] is None  # no volume given


def test_dvars_on_known_volumes() -> None:
    shape = (6, 5, 4)
    base = np.full(shape, 100.0)
    base[0] = 1.0  # dark voxels, outside the intensity mask
    mask = intensity_mask(base)
    assert mask.sum() == 5 * 5 * 4
    second = base.copy()
    second[1:] += np.where(np.indices(shape)[1][1:] % 2 == 0, 2.0, -2.0)  # +-2 in every bright voxel
    third = second.copy()
    third[0] = 50.0  # changes outside the mask do not count
    assert dvars(base, second, mask) == pytest.approx(2.0)
    qm = QualityMonitor(Design.from_blocks(3, []), [], thresholds=QualityThresholds(dvars_percent=1.5))
    figures = [qm.update(i, np.zeros(6), v) for i, v in enumerate((base, second, third))]
    assert [f["dvars"] for f in figures] == pytest.approx([0.0, 2.0, 0.0])
    assert [f["dvars_percent"] for f in figures] == pytest.approx([0.0, 2.0, 0.0])  # of a mean of 100
    assert [f["crossings"] for f in figures] == [[], ["dvars"], []]
    np.testing.assert_array_equal(qm.mask, mask)
    with pytest.raises(TimeseriesError, match="shape"):
        qm.update(3, np.zeros(6), np.zeros((2, 2, 2)))
    with pytest.raises(TimeseriesError, match="shapes"):
        dvars(np.zeros(3), np.zeros(4))


def test_roi_tsnr_cnr_mse_and_spikes_against_numpy() -> None:
    design = Design.from_blocks(40, [("UP", 10, 19), ("UP", 30, 39)], skip_volumes=2)
    rng = np.random.default_rng(5)
    raw = 500 + rng.normal(0, 4, 40)
    glm = design.boxcar() * 3 + rng.normal(0, 1, 40)
    ar1 = rng.normal(0, 1, 40)
    kalman = ar1 + rng.normal(0, 0.3, 40)
    spikes = np.zeros(40, dtype=int)
    spikes[[12, 25, 26]] = [1, -1, 1]
    qm = QualityMonitor(design, ["v1"])
    for i in range(2, 40):
        figures = qm.update(i, np.zeros(6), None, {"v1": step(i, raw[i], glm[i], ar1[i], kalman[i], int(spikes[i]))})
    seen = slice(2, 40)
    assert figures["tsnr"]["v1"] == pytest.approx(raw[seen].mean() / raw[seen].std(ddof=1))
    task = design.boxcar()[seen] > 0
    g = glm[seen]
    expected_cnr = (g[task].mean() - g[~task].mean()) / math.sqrt(g[task].var(ddof=1) + g[~task].var(ddof=1))
    assert figures["cnr"]["v1"] == pytest.approx(expected_cnr)
    assert figures["mse"]["v1"] == pytest.approx(np.mean((kalman[seen] - ar1[seen]) ** 2))
    summary = qm.summary()
    assert summary["spikes"] == {"v1": {"positive": 2, "negative": 1}}
    assert summary["crossings"] == {"spike:v1": 3}
    assert summary["cnr"]["v1"] == pytest.approx(expected_cnr)


def test_tsnr_threshold_is_reported_once_per_fall() -> None:
    design = Design.from_blocks(30, [])
    qm = QualityMonitor(design, ["v1"], thresholds=QualityThresholds(tsnr_min=50.0), tsnr_warmup=5)
    values = [100.0, 101.0] * 5 + [100.0, 140.0, 60.0, 100.0] + [100.0] * 16
    crossings = []
    for i, v in enumerate(values):
        crossings.append(qm.update(i, np.zeros(6), None, {"v1": step(i, v)})["crossings"])
    flat = [(i, c) for i, cs in enumerate(crossings) for c in cs]
    assert flat == [(11, "tsnr:v1")]  # falls below 50 when the 140 arrives, stays below: one crossing


def test_voxelwise_tsnr_map_matches_numpy() -> None:
    rng = np.random.default_rng(2)
    volumes = 200 + rng.normal(0, 5, (12, 4, 4, 3))
    volumes[:, 0, 0, 0] = 0.0  # outside the mask
    qm = QualityMonitor(Design.from_blocks(12, []), [])
    assert qm.tsnr_map() is None
    for i, v in enumerate(volumes):
        qm.update(i, np.zeros(6), v)
    inside = volumes[:, 1:]
    expected = inside.mean(axis=0) / inside.std(axis=0, ddof=1)
    got = qm.tsnr_map()
    assert got is not None and math.isnan(got[0, 0, 0])
    np.testing.assert_allclose(got[1:], expected, rtol=1e-10)
    mean = qm.mean_map()
    assert mean is not None
    np.testing.assert_allclose(mean[1:], volumes.mean(axis=0)[1:], rtol=1e-12)


def test_arguments_are_checked() -> None:
    design = Design.from_blocks(5, [])
    with pytest.raises(TimeseriesError, match="quality threshold fd_mm"):
        QualityThresholds(fd_mm=-1.0)
    with pytest.raises(TimeseriesError, match="roi_names"):
        QualityMonitor(design, ["a", "a"])
    qm = QualityMonitor(design, ["a"])
    with pytest.raises(TimeseriesError, match="unknown ROI 'b'"):
        qm.update(0, np.zeros(6), None, {"b": step(0, 1.0)})
    with pytest.raises(TimeseriesError, match="6 numbers"):
        qm.update(0, np.zeros(5))
