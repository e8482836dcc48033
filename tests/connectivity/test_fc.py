"""FC metrics against numpy/scipy/sklearn on the same series; the edge convention; PRE/POST changes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr
from sklearn.covariance import LedoitWolf

from nfd.connectivity import (
    edge_labels,
    fc_matrix,
    fisher_z,
    from_lower_triangle,
    lower_triangle,
    prepost_change,
    segment_bounds,
)


@pytest.fixture(scope="module")
def series() -> np.ndarray:
    rng = np.random.default_rng(7)
    mixing = rng.normal(size=(6, 6))
    x = rng.normal(size=(90, 6)) @ mixing
    x[:, 5] = np.round(x[:, 5])  # ties, for the rank metrics
    return x


def test_pearson_is_corrcoef(series: np.ndarray) -> None:
    np.testing.assert_allclose(fc_matrix(series, "pearson"), np.corrcoef(series.T), atol=1e-12)


def test_spearman_is_scipy(series: np.ndarray) -> None:
    np.testing.assert_allclose(fc_matrix(series, "spearman"), spearmanr(series).statistic, atol=1e-12)


def test_kendall_is_scipy_tau_b(series: np.ndarray) -> None:
    n = series.shape[1]
    expected = np.array([[kendalltau(series[:, i], series[:, j]).statistic for j in range(n)] for i in range(n)])
    np.testing.assert_allclose(fc_matrix(series, "kendall"), expected, atol=1e-12)


def test_covariance_is_np_cov(series: np.ndarray) -> None:
    np.testing.assert_allclose(fc_matrix(series, "covariance"), np.cov(series, rowvar=False), rtol=1e-12)


def test_partial_correlation_is_the_inverse_of_ledoit_wolf_covariance(series: np.ndarray) -> None:
    precision = np.linalg.inv(LedoitWolf().fit(series).covariance_)
    d = np.sqrt(np.diag(precision))
    expected = -precision / np.outer(d, d)
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(fc_matrix(series, "partial"), expected, atol=1e-10)


def test_partial_correlation_finds_a_chain_s_missing_edge() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=5000)
    b = a + rng.normal(size=5000)
    c = b + rng.normal(size=5000)  # a -> b -> c: a and c correlate, but not given b
    m = fc_matrix(np.column_stack([a, b, c]), "partial")
    assert np.corrcoef(a, c)[0, 1] > 0.5
    assert abs(m[2, 0]) < 0.05 and m[1, 0] > 0.5 and m[2, 1] > 0.5


def test_unknown_metric_and_bad_series() -> None:
    with pytest.raises(ValueError, match="metric 'mutual'"):
        fc_matrix(np.zeros((5, 2)), "mutual")
    with pytest.raises(ValueError, match="expected"):
        fc_matrix(np.full((5, 3), np.nan), "pearson")


def test_fisher_z_is_arctanh_clipped() -> None:
    r = np.array([-0.9, 0.0, 0.3, 1.0])
    z = fisher_z(r)
    np.testing.assert_allclose(z[:3], np.arctanh(r[:3]), atol=1e-12)
    assert np.isfinite(z[3]) and z[3] == pytest.approx(np.arctanh(1 - 1e-7))


def test_lower_triangle_order_labels_and_round_trip() -> None:
    names = ["a", "b", "c", "d"]
    m = np.arange(16, dtype=float).reshape(4, 4)
    m = m + m.T
    v = lower_triangle(m)
    i, j = np.tril_indices(4, k=-1)
    assert edge_labels(names) == [f"{names[p]}--{names[q]}" for p, q in zip(i, j, strict=True)]
    assert edge_labels(names)[:3] == ["b--a", "c--a", "c--b"]
    np.testing.assert_array_equal(v, [m[1, 0], m[2, 0], m[2, 1], m[3, 0], m[3, 1], m[3, 2]])
    back = from_lower_triangle(v, 4, diagonal=0.0)
    np.testing.assert_array_equal(back, m - np.diag(np.diag(m)))
    stack = lower_triangle(np.stack([m, 2 * m]))
    assert stack.shape == (2, 6) and np.array_equal(stack[1], 2 * v)
    with pytest.raises(ValueError, match="expected"):
        from_lower_triangle(v, 5)


def test_segments_by_time_and_volume() -> None:
    assert segment_bounds(10, [4.0], t_r=2.0) == [(0, 2), (2, 10)]
    assert segment_bounds(10, [5.0], t_r=2.0) == [(0, 3), (3, 10)]  # volume 3 is acquired at 6 s
    assert segment_bounds(10, [3, 7]) == [(0, 3), (3, 7), (7, 10)]
    with pytest.raises(ValueError, match="increasing"):
        segment_bounds(10, [7, 3])


def test_prepost_change_recovers_a_planted_change() -> None:
    rng = np.random.default_rng(11)
    n = 4000
    pre = rng.normal(size=(n, 2))  # r = 0 before
    shared = rng.normal(size=n)
    post = np.column_stack([shared + 0.5 * rng.normal(size=n), shared + 0.5 * rng.normal(size=n)])  # r = 0.8
    x = np.vstack([pre, rng.normal(size=(200, 2)) * 50, post])  # a stimulus block between them, left out
    z_pre, z_post, change = prepost_change(x, [n * 2.0, (n + 200) * 2.0], t_r=2.0)
    assert z_pre[1, 0] == pytest.approx(0.0, abs=0.05)
    assert z_post[1, 0] == pytest.approx(np.arctanh(0.8), abs=0.05)
    assert change[1, 0] == pytest.approx(z_post[1, 0] - z_pre[1, 0])


def test_prepost_uses_acquisition_times_after_scrubbing() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 3))
    volumes = np.delete(np.arange(44), [3, 4, 30, 31])  # four censored volumes
    _, _, change = prepost_change(x, [20.0], t_r=1.0, volumes=volumes)
    rows_pre = volumes < 20
    expected = fisher_z(np.corrcoef(x[~rows_pre].T)) - fisher_z(np.corrcoef(x[rows_pre].T))
    np.testing.assert_allclose(change, expected, atol=1e-12)
