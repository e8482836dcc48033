"""The cumulative GLM pieces: SPM's DCT basis, stages, nuisance regressors, the clean fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from nfd.timeseries import (
    GLM_STAGES,
    TimeseriesError,
    dct_highpass,
    glm_clean,
    glm_stage,
    nuisance_regressors,
)
from tests.helpers.spm_reference import spm_dctmtx


@pytest.mark.parametrize(("n", "tr", "cutoff"), [(155, 1.97, 128.0), (125, 2.4, 128.0), (300, 1.0, 100.0), (10, 2.0, 128.0)])
def test_dct_matches_spm_filter_basis(n: int, tr: float, cutoff: float) -> None:
    # spm_filter: K = fix(2 * (N * RT) / HParam + 1) columns of spm_dctmtx, the first (constant) dropped
    k = int(2 * (n * tr) / cutoff + 1)
    expected = spm_dctmtx(n, k)[:, 1:]
    got = dct_highpass(np.arange(n), n, tr, cutoff)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_dct_columns_are_orthonormal_and_orthogonal_to_the_constant() -> None:
    basis = dct_highpass(np.arange(200), 200, 2.0, 128.0)
    np.testing.assert_allclose(basis.T @ basis, np.eye(basis.shape[1]), atol=1e-10)
    np.testing.assert_allclose(basis.sum(axis=0), 0.0, atol=1e-10)


def test_dct_at_positions_with_gaps_is_the_rows_of_the_full_basis() -> None:
    full = dct_highpass(np.arange(80), 80, 2.0, 64.0)
    picked = dct_highpass([0, 3, 4, 79], 80, 2.0, 64.0)
    np.testing.assert_array_equal(picked, full[[0, 3, 4, 79]])


@pytest.mark.parametrize("bad", [{"span": 0}, {"tr": 0.0}, {"cutoff_s": -1.0}, {"tr": math.nan}])
def test_dct_rejects_bad_arguments(bad: dict[str, float]) -> None:
    args = {"positions": range(4), "span": 4, "tr": 2.0, "cutoff_s": 128.0} | bad
    with pytest.raises(TimeseriesError, match="dct_highpass"):
        dct_highpass(**args)  # type: ignore[arg-type]


def test_stages_follow_opennft_regression_steps() -> None:
    # OpenNFT: n < step -> constant; < 2 step -> + trend; < 3 step -> + motion; else everything
    step = 9
    expected = [1] * 8 + [2] * 9 + [3] * 9 + [4] * 20
    assert [glm_stage(n, step) for n in range(1, 47)] == expected
    assert GLM_STAGES[glm_stage(1, step) - 1] == "constant"
    with pytest.raises(TimeseriesError):
        glm_stage(0, 9)


def test_nuisance_regressors_by_stage() -> None:
    rng = np.random.default_rng(3)
    motion = rng.normal(size=(40, 6))
    positions = np.arange(40)
    x1 = nuisance_regressors(positions, 1, tr=2.0, motion=motion)
    x2 = nuisance_regressors(positions, 2, tr=2.0, motion=motion)
    x3 = nuisance_regressors(positions, 3, tr=2.0, motion=motion)
    x4 = nuisance_regressors(positions, 4, tr=2.0, motion=motion, high_pass_s=40.0)
    assert [x.shape[1] for x in (x1, x2, x3, x4)] == [1, 2, 8, 8 + 4]
    np.testing.assert_array_equal(x1[:, 0], 1.0)
    np.testing.assert_allclose(x2[:, 1], positions / 100.0)
    np.testing.assert_allclose(x3[:, 2:], stats.zscore(motion, ddof=1))  # MATLAB's zscore
    np.testing.assert_allclose(x4[:, 8:], dct_highpass(positions, 40, 2.0, 40.0))
    assert nuisance_regressors(positions, 4, tr=2.0, motion=None, high_pass_s=None).shape == (40, 2)


def test_motion_columns_constant_so_far_are_left_out() -> None:
    motion = np.zeros((20, 6))
    motion[:, 0] = np.linspace(0, 1, 20)  # only x moves
    x = nuisance_regressors(np.arange(20), 3, tr=2.0, motion=motion)
    assert x.shape == (20, 3)
    with pytest.raises(TimeseriesError, match="motion must have shape"):
        nuisance_regressors(np.arange(20), 3, tr=2.0, motion=np.zeros((19, 6)))
    with pytest.raises(TimeseriesError, match="stage"):
        nuisance_regressors(np.arange(20), 5, tr=2.0)


def test_glm_clean_removes_nuisance_and_keeps_task() -> None:
    rng = np.random.default_rng(0)
    n = 120
    t = np.arange(n, dtype=float)
    task = (np.arange(n) // 10 % 2).astype(float)
    drift = 5.0 + 0.03 * t
    y = drift + 2.0 * task + rng.normal(0, 0.1, n)
    nuisance = np.column_stack([np.ones(n), t])
    cleaned, beta = glm_clean(y, nuisance, task[:, None])
    expected_beta = np.linalg.lstsq(np.column_stack([nuisance, task]), y, rcond=None)[0]
    np.testing.assert_allclose(beta, expected_beta, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(cleaned, y - nuisance @ expected_beta[:2], atol=1e-9)
    assert beta[2] == pytest.approx(2.0, abs=0.05)
    assert np.corrcoef(cleaned, task)[0, 1] > 0.99


def test_glm_clean_with_collinear_columns_gives_the_minimum_norm_fit() -> None:
    n = 30
    y = np.arange(n, dtype=float) ** 0.5
    nuisance = np.column_stack([np.ones(n), np.ones(n), np.arange(n)])  # a duplicated constant
    cleaned, beta = glm_clean(y, nuisance)
    expected = np.linalg.pinv(nuisance) @ y
    np.testing.assert_allclose(beta, expected, atol=1e-9)
    np.testing.assert_allclose(cleaned, y - nuisance @ expected, atol=1e-9)


def test_glm_clean_checks_shapes() -> None:
    with pytest.raises(TimeseriesError, match="nuisance must have shape"):
        glm_clean(np.zeros(5), np.ones((4, 1)))
    with pytest.raises(TimeseriesError, match="task must have shape"):
        glm_clean(np.zeros(5), np.ones((5, 1)), np.ones((4, 1)))
