"""The validation maths of nfd eeg fit: trend and scale, the penalty path, SSIM, r's null and interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Ridge

from nfd.eeg._fit_cv import (
    Scaler,
    cv_groups,
    effective_n,
    fisher_interval,
    phase_randomised_p,
    regression_metrics,
    ridge_path_errors,
    ssim,
    ssim_per_row,
)


def test_the_trend_is_fitted_on_the_training_part_and_carried_to_the_rest() -> None:
    t = np.arange(100.0)
    rng = np.random.default_rng(0)
    wiggle = rng.standard_normal((100, 2))
    values = np.column_stack([3.0 + 0.5 * t, -2.0 * t]) + wiggle
    s = Scaler.fit(t[:80], values[:80], 1)
    # planted: the trend of the first 80 points extrapolated is the planted line within the noise's fit error
    np.testing.assert_allclose(s.trend(t[80:]), np.column_stack([3.0 + 0.5 * t[80:], -2.0 * t[80:]]), atol=0.5)
    z = s.transform(t[80:], values[80:])
    np.testing.assert_allclose(z * s.scale, values[80:] - s.trend(t[80:]), rtol=1e-12)
    # the reference: numpy's polyfit on the same part
    for j in range(2):
        line = np.polyval(np.polyfit(t[:80], values[:80, j], 1), t[80:])
        np.testing.assert_allclose(s.trend(t[80:])[:, j], line, rtol=1e-9)
    flat = Scaler.fit(t[:80], values[:80], 0)
    np.testing.assert_allclose(flat.mean, values[:80].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(flat.scale, values[:80].std(axis=0), rtol=1e-12)


def test_the_penalty_path_equals_scikit_learn_ridge_fold_by_fold() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 8)) * rng.uniform(0.5, 3, 8) + 5
    Y = X[:, :2] @ np.array([[1.0, -0.5], [0.3, 2.0]]) + rng.standard_normal((60, 2))
    t = np.arange(60.0)
    groups = cv_groups(np.zeros(60, dtype=int), 3)
    assert groups.tolist() == [0] * 20 + [1] * 20 + [2] * 20
    alphas = (0.1, 10.0, 1000.0)
    got = ridge_path_errors(X, Y, t, groups, alphas, 0)
    for a, alpha in enumerate(alphas):
        total = 0.0
        for g in range(3):
            tr, te = groups != g, groups == g
            mx, sx, my, sy = X[tr].mean(0), X[tr].std(0), Y[tr].mean(0), Y[tr].std(0)
            model = Ridge(alpha=alpha).fit((X[tr] - mx) / sx, (Y[tr] - my) / sy)
            total += float(np.sum((model.predict((X[te] - mx) / sx) - (Y[te] - my) / sy) ** 2))
        assert got[a] == pytest.approx(total / Y.size, rel=1e-9)
    assert cv_groups(np.array([0, 0, 1, 1, 2]), 5).tolist() == [0, 0, 1, 1, 2]  # runs are the folds


def test_ssim_against_a_hand_computation() -> None:
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 5.0])
    # by hand: means 2.5 and 2.75; sample variances 5/3 and 35/12; covariance 5.5/3; L = 4
    c1, c2 = (0.01 * 4) ** 2, (0.03 * 4) ** 2
    expected = (2 * 2.5 * 2.75 + c1) * (2 * 5.5 / 3 + c2) / ((2.5**2 + 2.75**2 + c1) * (5 / 3 + 35 / 12 + c2))
    assert ssim(x, y, 4.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.797004, abs=1e-6)
    assert ssim(x, x, 4.0) == pytest.approx(1.0)
    assert ssim(x, 5.0 - x, 4.0) < 0  # same mean, reversed structure
    rows = ssim_per_row(np.vstack([x, y]), np.vstack([y, y]))
    assert rows[1] == pytest.approx(1.0) and rows[0] == pytest.approx(ssim(x, y, 4.0))  # L = range of both rows


def test_metrics_known_answers() -> None:
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0]))
    assert m["mse"] == 1.0 and m["rmse"] == 1.0 and m["mae"] == 0.5
    assert m["r2"] == pytest.approx(1 - 4 / 5)
    assert m["r"] == pytest.approx(stats.pearsonr([1, 2, 3, 4], [1, 2, 3, 6])[0])


def test_fisher_interval_equals_scipy() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal(50)
    y = 0.5 * x + rng.standard_normal(50)
    res = stats.pearsonr(x, y)
    ci = res.confidence_interval(0.95)
    lo, hi = fisher_interval(float(res.statistic), 50)
    assert lo == pytest.approx(ci.low, rel=1e-9) and hi == pytest.approx(ci.high, rel=1e-9)
    assert all(math.isnan(v) for v in fisher_interval(0.5, 3))


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    e = rng.standard_normal(n + 100)
    out = np.zeros_like(e)
    for k in range(1, e.size):
        out[k] = phi * out[k - 1] + e[k]
    return out[100:]


def test_effective_n_of_autocorrelated_series() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    white = effective_n(rng.standard_normal(n), rng.standard_normal(n))
    assert white > 0.8 * n
    phi = 0.9
    got = effective_n(_ar1(rng, n, phi), _ar1(rng, n, phi))
    assert got == pytest.approx(n * (1 - phi**2) / (1 + phi**2), rel=0.35)  # Bartlett's large-n value, 0.105 n


def test_the_phase_randomised_null_is_calibrated_where_the_t_test_is_not() -> None:
    rng = np.random.default_rng(4)
    n, trials, groups = 128, 150, np.repeat([0, 1], 64)
    p_phase, p_t = [], []
    for k in range(trials):
        y, p = _ar1(rng, n, 0.9), _ar1(rng, n, 0.9)
        p_phase.append(phase_randomised_p(y, p, groups, 199, seed=k)[0])
        r = np.corrcoef(y, p)[0, 1]
        p_t.append(float(stats.t.sf(r * math.sqrt((n - 2) / (1 - r**2)), n - 2)))  # one-sided, as the null's
    rate, naive = np.mean(np.array(p_phase) <= 0.05), np.mean(np.array(p_t) <= 0.05)
    assert rate <= 0.12, rate
    assert naive >= 0.15, naive  # independent autocorrelated series: the t-test rejects far more often
    y = _ar1(rng, n, 0.5)
    assert phase_randomised_p(y, y + 0.5 * rng.standard_normal(n), groups, 199)[0] <= 0.01
