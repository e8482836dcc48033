"""The incremental whole-brain GLM against a batch least-squares fit on the same data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd.design import Design
from nfd.timeseries import IncrementalGLM, TimeseriesError, WholeBrainDesign, dct_highpass


def batch_t(x: np.ndarray, y: np.ndarray, c: np.ndarray) -> np.ndarray:
    """OLS t of contrast c at every column of y, the textbook way."""
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    residuals = y - x @ beta
    df = x.shape[0] - x.shape[1]
    sigma2 = (residuals**2).sum(axis=0) / df
    return (c @ beta) / np.sqrt(sigma2 * (c @ np.linalg.inv(x.T @ x) @ c))


@pytest.fixture
def data() -> tuple[WholeBrainDesign, np.ndarray, np.ndarray, np.ndarray]:
    n, skip = 80, 2
    design = Design.from_blocks(n, [("A", 10, 19), ("B", 25, 34), ("A", 45, 54), ("B", 60, 69)], skip_volumes=skip)
    task = design.task_regressors(2.0)
    wb = WholeBrainDesign(task, tr=2.0, skip_volumes=skip, high_pass_s=100.0)
    rng = np.random.default_rng(7)
    motion = np.cumsum(rng.normal(0, 0.05, (n, 6)), axis=0)
    v = 300
    effect_a = rng.normal(0, 3, v)
    effect_a[:50] = 6.0  # a block of active voxels
    y = 500 + rng.normal(0, 2, (n, v)) + np.outer(task[:, 0], effect_a) + np.outer(np.arange(n), rng.normal(0, 0.05, v))
    return wb, y, motion, effect_a


def test_t_matches_batch_at_every_time_point(data: tuple[WholeBrainDesign, np.ndarray, np.ndarray, np.ndarray]) -> None:
    wb, y, motion, _ = data
    c = wb.contrast([1.0, -1.0])
    glm = IncrementalGLM(y.shape[1], c)
    rows = []
    compared = 0
    for i in range(2, y.shape[0]):
        row = wb.row(i, motion[i])
        rows.append(row)
        glm.update(y[i].astype(np.float32), row)
        x = np.array(rows)
        if glm.n > wb.n_regressors and np.linalg.cond(x) < 1e6:
            expected = batch_t(x, y[2 : i + 1].astype(np.float32).astype(np.float64), c)
            np.testing.assert_allclose(glm.t_map(), expected, rtol=1e-6, atol=1e-6)
            compared += 1
        elif np.linalg.matrix_rank(x) < x.shape[1]:  # condition B not seen yet, or too few volumes
            assert np.isnan(glm.t_map()).all()
    assert compared > 40
    np.testing.assert_allclose(
        glm.beta(), np.linalg.lstsq(np.array(rows), y[2:].astype(np.float32).astype(np.float64), rcond=None)[0],
        rtol=1e-6, atol=1e-6,
    )


def test_active_voxels_stand_out(data: tuple[WholeBrainDesign, np.ndarray, np.ndarray, np.ndarray]) -> None:
    wb, y, motion, _ = data
    glm = IncrementalGLM(y.shape[1], wb.contrast([1.0, 0.0]))
    for i in range(2, y.shape[0]):
        glm.update(y[i], wb.row(i, motion[i]))
    t = glm.t_map()
    assert t[:50].min() > 4
    assert np.median(np.abs(t[50:])) < np.median(t[:50]) / 2
    assert glm.df == y.shape[0] - 2 - wb.n_regressors


def test_maps_are_nan_until_estimable_and_zero_without_variance() -> None:
    glm = IncrementalGLM(3, [1.0, 0.0])
    assert np.isnan(glm.t_map()).all() and np.isnan(glm.beta()).all()
    for k in range(6):
        glm.update([0.0, 5.0 + k % 2, float(k)], [float(k % 2), 1.0])
    t = glm.t_map()
    assert t[0] == 0.0  # an all-zero voxel (outside the brain)
    assert t[1] == 0.0  # exactly explained by the model: no residual variance
    assert math.isfinite(t[2])
    collinear = IncrementalGLM(2, [1.0, 0.0])
    for _ in range(5):
        collinear.update([1.0, 2.0], [1.0, 1.0])
    assert np.isnan(collinear.t_map()).all()


def test_non_finite_voxels_count_as_zero() -> None:
    a = IncrementalGLM(2, [1.0, 0.0])
    b = IncrementalGLM(2, [1.0, 0.0])
    rng = np.random.default_rng(0)
    for k in range(10):
        value = rng.normal()
        a.update([math.nan, value], [float(k % 2), 1.0])
        b.update([0.0, value], [float(k % 2), 1.0])
    np.testing.assert_array_equal(a.t_map(), b.t_map())


def test_whole_brain_design_columns() -> None:
    task = np.arange(40.0).reshape(20, 2)
    wb = WholeBrainDesign(task, tr=2.0, skip_volumes=4, high_pass_s=16.0)
    span = 16
    assert wb.columns[:4] == ("task_0", "task_1", "constant", "trend")
    assert wb.columns[-6:] == ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
    row = wb.row(7, [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(row[:2], task[7])
    assert row[2] == 1.0 and row[3] == pytest.approx(3 / (span - 1))
    np.testing.assert_allclose(row[4:-6], dct_highpass([3], span, 2.0, 16.0)[0])
    np.testing.assert_array_equal(row[-6:], [1, 2, 3, 4, 5, 6])
    assert wb.n_regressors == row.size
    without = WholeBrainDesign(task, tr=2.0, skip_volumes=4, high_pass_s=None, motion=False)
    assert without.n_regressors == 4 and without.row(5).size == 4


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: WholeBrainDesign(np.zeros((5, 1)), tr=2.0).row(2), "motion parameters"),
        (lambda: WholeBrainDesign(np.zeros((5, 1)), tr=2.0, skip_volumes=2).row(1, np.zeros(6)), "outside"),
        (lambda: WholeBrainDesign(np.zeros((5, 1)), tr=2.0).contrast([1.0, 2.0]), "task_contrast"),
        (lambda: WholeBrainDesign(np.zeros((5, 1)), tr=2.0, skip_volumes=5), "skip_volumes"),
        (lambda: IncrementalGLM(0, [1.0]), "n_voxels"),
        (lambda: IncrementalGLM(3, [0.0, 0.0]), "contrast"),
        (lambda: IncrementalGLM(3, [1.0]).update(np.zeros(4), [1.0]), "3 voxels"),
        (lambda: IncrementalGLM(3, [1.0]).update(np.zeros(3), [math.nan]), "regressors"),
    ],
)
def test_bad_arguments(call: object, match: str) -> None:
    with pytest.raises(TimeseriesError, match=match):
        call()  # type: ignore[operator]
