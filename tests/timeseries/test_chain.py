"""SignalChain: every step against independent batch computations at every time point."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd.design import Design
from nfd.timeseries import (
    CHAIN_COLUMNS,
    ChainOptions,
    KalmanSettings,
    ScalingSettings,
    SignalChain,
    TimeseriesError,
)
from tests.helpers.opennft_reference import matlab_limits, opennft_chain
from tests.helpers.spm_reference import spm_dctmtx

TR = 2.0


def make_run(seed: int = 0, n: int = 90, skip: int = 3) -> tuple[Design, np.ndarray, np.ndarray]:
    """A block design, and a raw ROI signal with drift, motion leakage, task response and noise."""
    design = Design.from_blocks(n, [("UP", 15, 26), ("UP", 39, 50), ("UP", 63, 74)], skip_volumes=skip)
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    motion = np.cumsum(rng.normal(0, 0.02, (n, 6)), axis=0)
    task = design.task_regressors(TR)[:, 0]
    raw = 800.0 + 0.05 * t + 3.0 * np.sin(2 * np.pi * t / 70) + 10.0 * motion[:, 0] + 8.0 * task + rng.normal(0, 1.0, n)
    return design, raw, motion


def batch_glm(raw: np.ndarray, motion: np.ndarray, task: np.ndarray, n: int, step: int, cutoff: float) -> float:
    """The cumulative GLM's value at the n-th point, from scratch with numpy's lstsq."""
    y = raw[:n]
    t = np.arange(n, dtype=float)
    cols = [np.ones(n)]
    if n >= step:
        cols.append(t)
    if n >= 2 * step:
        m = motion[:n]
        sd = m.std(axis=0, ddof=1)
        cols.extend(((m - m.mean(axis=0)) / sd).T)
    n_nuisance = len(cols)
    if n >= 3 * step:
        k = int(2 * n * TR / cutoff + 1)
        drift = spm_dctmtx(n, k)[:, 1:]
        cols.extend(drift.T)
        n_nuisance = len(cols)
        cols.append(task[:n])
    x = np.column_stack(cols)
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    return float(y[-1] - x[-1, :n_nuisance] @ beta[:n_nuisance])


def test_every_step_matches_batch_computations_at_every_time_point() -> None:
    design, raw, motion = make_run()
    skip = design.skip_volumes
    chain = SignalChain(design, TR, ChainOptions(ar1=0.2))
    assert chain.stage_volumes == 9  # one task regressor + 8, as OpenNFT
    steps = [chain.update(i, raw[i], motion[i]) for i in range(skip, design.n_volumes)]
    task = design.task_regressors(TR)[skip:, 0]
    r, m = raw[skip:], motion[skip:]
    glm = np.array([batch_glm(r, m, task, n, 9, 128.0) for n in range(1, r.size + 1)])
    np.testing.assert_allclose([s.glm for s in steps], glm, rtol=0, atol=1e-7)
    ar1 = [(1 - 0.2) * glm[0]]
    for value in glm[1:]:
        ar1.append(value - 0.2 * ar1[-1])
    np.testing.assert_allclose([s.ar1 for s in steps], ar1, atol=1e-7)
    kalman, spikes = opennft_chain(np.array([s.ar1 for s in steps]), zero_sd="pass")  # nfd's default
    np.testing.assert_allclose([s.kalman for s in steps], kalman, atol=1e-7)
    assert [s.spike for s in steps] == spikes.tolist()
    for n, s in enumerate(steps, start=1):
        lo, hi = matlab_limits(kalman[:n], 0.005 * r[:n].mean())
        assert (s.scale_lo, s.scale_hi) == (pytest.approx(lo, abs=1e-7), pytest.approx(hi, abs=1e-7))
        assert s.scaled == pytest.approx((kalman[n - 1] - lo) / (hi - lo), abs=1e-7)
    assert [s.stage for s in steps[:30]] == [1] * 8 + [2] * 9 + [3] * 9 + [4] * 4


def test_the_cleaned_signal_follows_the_task_not_the_drift() -> None:
    design, raw, motion = make_run(seed=4, n=150)
    chain = SignalChain(design, TR)
    for i in range(design.skip_volumes, design.n_volumes):
        chain.update(i, raw[i], motion[i])
    table = chain.table()
    task = design.task_regressors(TR)[table["index"], 0]
    late = table["stage"] == 4
    assert np.corrcoef(table["kalman"][late], task[late])[0, 1] > 0.8
    assert np.corrcoef(raw[table["index"]][late], task[late])[0, 1] < 0.6  # drift and motion hide it in the raw
    regulation = task > 0.5
    assert table["scaled"][late & regulation].mean() > table["scaled"][late & ~regulation].mean() + 0.3


def test_table_holds_every_series_in_order() -> None:
    design, raw, motion = make_run()
    chain = SignalChain(design, TR)
    steps = [chain.update(i, raw[i], motion[i]) for i in range(3, 40)]
    table = chain.table()
    assert tuple(table) == CHAIN_COLUMNS
    assert table["index"].tolist() == list(range(3, 40))
    assert table["index"].dtype == np.int64 and table["raw"].dtype == np.float64
    np.testing.assert_array_equal(table["kalman"], [s.kalman for s in steps])
    np.testing.assert_array_equal(chain.series("glm"), [s.glm for s in steps])
    assert chain.last == steps[-1]
    assert steps[-1].as_record()["index"] == 39
    assert chain.n_updates == 37
    with pytest.raises(TimeseriesError, match="unknown chain series"):
        chain.series("psc")


def test_gaps_use_true_positions_for_the_trend() -> None:
    design = Design.from_blocks(60, [], skip_volumes=0)
    chain = SignalChain(design, TR, ChainOptions(stage_volumes=5, motion_regressors=False, high_pass_s=None, ar1=0.0))
    indices = [i for i in range(60) if i % 7 != 3]
    steps = [chain.update(i, 100.0 + 0.5 * i, None) for i in indices]
    # a pure linear trend of the true index is removed exactly once the trend has entered
    assert all(abs(s.glm) < 1e-8 for s in steps if s.stage >= 2)


def test_non_finite_raw_is_not_recorded() -> None:
    design, raw, motion = make_run()
    chain = SignalChain(design, TR)
    chain.update(3, raw[3], motion[3])
    step = chain.update(4, math.nan, motion[4])
    assert step.index == 4 and math.isnan(step.glm) and step.spike == 0
    assert chain.n_updates == 1
    chain.update(5, raw[5], None)  # missing motion: the previous volume's
    assert chain.n_updates == 2


def test_order_and_range_are_checked() -> None:
    design, _, _ = make_run()
    chain = SignalChain(design, TR)
    with pytest.raises(TimeseriesError, match=r"outside the processed volumes 3\.\.89"):
        chain.update(2, 1.0)
    with pytest.raises(TimeseriesError, match="outside"):
        chain.update(90, 1.0)
    chain.update(10, 1.0)
    with pytest.raises(TimeseriesError, match="not after the previous one"):
        chain.update(10, 1.0)
    with pytest.raises(TimeseriesError, match="motion_params must be 6 numbers"):
        chain.update(11, 1.0, [0.0, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"high_pass_s": 0.0}, "high_pass_s"),
        ({"stage_volumes": 0}, "stage_volumes"),
        ({"ar1": 1.5}, "AR"),
        ({"kalman": KalmanSettings(threshold=-1.0)}, "Kalman"),
        ({"scaling": ScalingSettings(warmup=0)}, "warmup"),
        ({"motion_regressors": "yes"}, "motion_regressors"),
    ],
)
def test_options_are_checked(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(TimeseriesError, match=match):
        ChainOptions(**kwargs)  # type: ignore[arg-type]


def test_bad_tr_is_refused() -> None:
    design, _, _ = make_run()
    with pytest.raises(TimeseriesError, match=r"tr \(seconds\) must be a number > 0, got 0.0"):
        SignalChain(design, 0.0)


def test_options_from_a_flat_table() -> None:
    options = ChainOptions.from_table(
        {"high_pass_s": 100.0, "stage_volumes": 0, "ar1": 0.3, "kalman_q": 0.5, "scaling_window": 40,
         "scaling_warmup": 10, "motion_regressors": False}
    )
    assert options.high_pass_s == 100.0 and options.stage_volumes is None and options.ar1 == 0.3
    assert options.kalman == KalmanSettings(q=0.5) and options.scaling == ScalingSettings(warmup=10, window=40)
    assert options.motion_regressors is False
    assert ChainOptions.from_table({}) == ChainOptions()
    assert ChainOptions.from_table({"high_pass_s": False}).high_pass_s is None
    with pytest.raises(TimeseriesError, match=r"unknown signal option\(s\) \['kalman'\]"):
        ChainOptions.from_table({"kalman": 1})
    with pytest.raises(TimeseriesError, match="AR"):
        ChainOptions.from_table({"ar1": 2.0})
