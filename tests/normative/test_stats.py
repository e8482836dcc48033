"""Known answers for the group statistics: scipy's Mann-Whitney U and BH-FDR, Crawford-Howell's closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from nfd.normative import NormativeError, crawford_howell, crawford_howell_edges, fdr, mann_whitney_edges

EDGES = tuple(f"b--a{k}" for k in range(6))


def test_mann_whitney_equals_scipy_per_edge() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(30, 6))
    b = rng.normal(size=(25, 6)) + np.array([0, 0, 1.5, 0, 0.8, 0])
    table = mann_whitney_edges(a, b, EDGES)
    for k in range(6):
        expected = stats.mannwhitneyu(a[:, k], b[:, k], alternative="two-sided")
        assert table["statistic"][k] == pytest.approx(expected.statistic)
        assert table["p"][k] == pytest.approx(expected.pvalue)
    assert list(table.columns) == ["edge", "statistic", "p", "q", "significant"]
    np.testing.assert_allclose(table["q"], stats.false_discovery_control(table["p"]))
    assert table["significant"].tolist() == (table["q"] < 0.05).tolist()
    assert bool(table["significant"][2])


def test_fdr_by_hand() -> None:
    # Benjamini-Hochberg by hand: q_(i) = min_{j >= i} p_(j) * m / j.
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan])
    finite = p[:4]
    order = np.argsort(finite)
    ranked = finite[order] * 4 / np.arange(1, 5)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    expected = np.empty(4)
    expected[order] = q_sorted
    q = fdr(p)
    np.testing.assert_allclose(q[:4], expected)
    assert math.isnan(q[4])


def test_crawford_howell_closed_form_by_hand() -> None:
    controls = np.array([[1.0, 10.0], [2.0, 12.0], [4.0, 11.0], [5.0, 15.0]])
    case = np.array([9.0, 11.0])
    t, p, df = crawford_howell(case, controls)
    n = 4
    for k in range(2):
        column = controls[:, k]
        mean = column.sum() / n
        sd = math.sqrt(((column - mean) ** 2).sum() / (n - 1))
        expected_t = (case[k] - mean) / (sd * math.sqrt((n + 1) / n))
        assert t[k] == pytest.approx(expected_t)
        assert p[k] == pytest.approx(2 * stats.t.sf(abs(expected_t), n - 1))
    assert df == 3


def test_crawford_howell_published_example() -> None:
    # Crawford & Howell (1998, p. 483): a case scoring 33 against 15 controls of mean 50 and SD 10 gives
    # t = -17 / (10 * sqrt(16 / 15)) = -1.646 on 14 df; it equals the pooled two-sample t with a group of one.
    x = 26.457513110645905  # 15 values of mean 50 and SD exactly 10
    controls = np.array([50 - x, *([50.0] * 13), 50 + x])
    assert controls.std(ddof=1) == pytest.approx(10.0)
    t, p, df = crawford_howell(33.0, controls)
    assert float(t) == pytest.approx(-1.646, abs=5e-4)
    assert df == 14
    reference = stats.ttest_ind([33.0], controls)
    assert float(t) == pytest.approx(reference.statistic)
    assert float(p) == pytest.approx(reference.pvalue)
    assert float(p) / 2 == pytest.approx(0.061, abs=1e-3)


def test_crawford_howell_table_with_fdr() -> None:
    rng = np.random.default_rng(3)
    controls = rng.normal(size=(20, 6))
    case = np.array([0.1, 6.0, -0.2, 0.3, -7.0, 0.0])
    table = crawford_howell_edges(case, controls, EDGES)
    assert table["edge"][table["significant"]].tolist() == ["b--a1", "b--a4"]
    np.testing.assert_allclose(table["q"], stats.false_discovery_control(table["p"]))


def test_bad_groups_are_one_line() -> None:
    with pytest.raises(NormativeError, match="expected >= 2 subjects"):
        mann_whitney_edges(np.zeros((1, 6)), np.zeros((5, 6)), EDGES)
    with pytest.raises(NormativeError, match="expected >= 2 for Crawford-Howell"):
        crawford_howell(1.0, np.zeros((1, 3)))
