"""nfd.evaluate._stats: known answers for the coefficients, the permutation tests and the tables."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nfd.evaluate._stats import (
    AXES,
    comparison_table,
    correlation_table,
    independent_permutation_test,
    paired_permutation_test,
    partial_correlation,
    pearson,
    performance_table,
)

# -- pearson -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pearson_equals_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=25)
    y = 0.5 * x + rng.normal(size=25)
    r, n = pearson(x, y)
    assert n == 25
    assert r == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)


def test_pearson_drops_non_finite_pairs() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=12), rng.normal(size=12)
    x[[1, 5]] = np.nan
    y[[5, 8]] = np.inf
    keep = np.ones(12, dtype=bool)
    keep[[1, 5, 8]] = False
    r, n = pearson(x, y)
    assert n == 9
    assert r == pytest.approx(stats.pearsonr(x[keep], y[keep]).statistic, abs=1e-12)


def test_pearson_nan_below_three_pairs_or_zero_variance() -> None:
    r, n = pearson([1.0, 2.0, np.nan], [3.0, 1.0, 2.0])
    assert math.isnan(r) and n == 2
    r, n = pearson([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    assert math.isnan(r) and n == 4
    r, n = pearson([], [])
    assert math.isnan(r) and n == 0
    with pytest.raises(ValueError, match="same length"):
        pearson([1, 2, 3], [1, 2])


# -- paired and independent permutation tests -------------------------------------------------------------------------


def _brute_force_paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p over all 2**n swaps of the labels within pairs: the share of |mean difference| >= the observed."""
    d = a - b
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=len(d))))
    null = signs @ d / len(d)
    observed = d.mean()
    return float(np.mean(np.abs(null) >= abs(observed) - 1e-12))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_paired_p_equals_full_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.3, 0.1, size=8)
    b = a + rng.normal(-0.05, 0.1, size=8)
    result = paired_permutation_test(a, b)
    assert result.p == pytest.approx(_brute_force_paired_p(a, b), abs=1e-12)
    assert result.n == 8
    assert result.mean_a == pytest.approx(a.mean())
    assert result.mean_b == pytest.approx(b.mean())
    assert result.mean_difference == pytest.approx(a.mean() - b.mean())
    assert result.n_a_better == int(np.sum(a > b))
    assert 0.0 < result.p <= 1.0


def test_paired_identical_inputs_p_is_one() -> None:
    a = np.random.default_rng(4).normal(size=12)
    result = paired_permutation_test(a, a.copy())
    assert result.p == 1.0
    assert result.mean_difference == 0.0
    assert result.n_a_better == 0


def test_paired_large_consistent_difference_is_significant_and_reproducible() -> None:
    rng = np.random.default_rng(5)
    b = rng.normal(0.3, 0.1, size=30)
    a = b + 0.2 + rng.normal(0, 0.02, size=30)
    result = paired_permutation_test(a, b, seed=7)
    assert result.p < 1e-3
    assert result.n_a_better == 30
    assert paired_permutation_test(a, b, seed=7) == result


def test_paired_reproducible_with_the_seed_on_a_random_null() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=30), rng.normal(size=30)
    p = {seed: paired_permutation_test(a, b, n_resamples=500, seed=seed).p for seed in (0, 0, 1, 2, 3)}
    assert paired_permutation_test(a, b, n_resamples=500, seed=0).p == p[0]
    assert len(set(p.values())) > 1  # the seed does drive the resampling


def test_paired_drops_pairs_with_a_nan() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=10), rng.normal(size=10)
    a[2], b[7] = np.nan, np.nan
    keep = np.isfinite(a) & np.isfinite(b)
    assert paired_permutation_test(a, b) == paired_permutation_test(a[keep], b[keep])
    assert paired_permutation_test(a, b).n == 8
    empty = paired_permutation_test([np.nan], [1.0])
    assert empty.n == 0 and math.isnan(empty.p)


def test_independent_p_equals_full_enumeration() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.normal(0.4, 0.1, size=4), rng.normal(0.3, 0.1, size=5)
    pooled = np.concatenate([a, b])
    observed = a.mean() - b.mean()
    null = []
    for chosen in itertools.combinations(range(9), 4):
        mask = np.zeros(9, dtype=bool)
        mask[list(chosen)] = True
        null.append(pooled[mask].mean() - pooled[~mask].mean())
    null_arr = np.array(null)
    less, greater = np.mean(null_arr <= observed + 1e-12), np.mean(null_arr >= observed - 1e-12)
    expected = min(1.0, 2 * min(less, greater))
    result = independent_permutation_test(np.append(a, np.nan), b)
    assert result.p == pytest.approx(expected, abs=1e-12)
    assert (result.n, result.n_a_better) == (9, -1)
    assert result.mean_difference == pytest.approx(observed)


# -- partial correlation ----------------------------------------------------------------------------------------------


def _residual(v: np.ndarray, design: np.ndarray) -> np.ndarray:
    return v - design @ np.linalg.lstsq(design, v, rcond=None)[0]


@pytest.mark.parametrize("k", [1, 2])
def test_partial_correlation_is_the_r_of_residuals_and_the_regression_t_test(k: int) -> None:
    rng = np.random.default_rng(10 + k)
    n = 40
    z = rng.normal(size=(n, k))
    x = z.sum(axis=1) + rng.normal(size=n)
    y = 0.4 * x - z[:, 0] + rng.normal(size=n)
    r, p = partial_correlation(x, y, z[:, 0] if k == 1 else z)
    design = np.column_stack([np.ones(n), z])
    assert r == pytest.approx(np.corrcoef(_residual(x, design), _residual(y, design))[0, 1], abs=1e-12)
    # By hand, independently of the r -> t formula: the t test of y's coefficient in the regression x ~ 1 + z + y
    # (df = n - 2 - k) has the same p.
    full = np.column_stack([design, y])
    beta = np.linalg.lstsq(full, x, rcond=None)[0]
    df = n - full.shape[1]
    sigma2 = np.sum((x - full @ beta) ** 2) / df
    se = math.sqrt(sigma2 * np.linalg.inv(full.T @ full)[-1, -1])
    expected_p = 2 * stats.t.sf(abs(beta[-1] / se), df)
    assert p == pytest.approx(expected_p, rel=1e-9)
    if k == 1:  # the textbook first-order formula
        rxy, rxz, ryz = (np.corrcoef(u, v)[0, 1] for u, v in ((x, y), (x, z[:, 0]), (y, z[:, 0])))
        assert r == pytest.approx((rxy - rxz * ryz) / math.sqrt((1 - rxz**2) * (1 - ryz**2)), abs=1e-12)


def test_partial_correlation_removes_a_common_cause() -> None:
    rng = np.random.default_rng(12)
    z = rng.normal(size=500)
    x, y = z + 0.3 * rng.normal(size=500), z + 0.3 * rng.normal(size=500)
    raw, _ = pearson(x, y)
    r, p = partial_correlation(x, y, z)
    assert raw > 0.85
    assert abs(r) < 0.15
    assert p > 1e-3


def test_partial_correlation_drops_rows_and_needs_a_degree_of_freedom() -> None:
    rng = np.random.default_rng(13)
    x, y, z = rng.normal(size=(3, 20))
    x2, z2 = np.append(x, np.nan), np.append(z, 1.0)
    assert partial_correlation(x2, np.append(y, 0.0), z2) == pytest.approx(partial_correlation(x, y, z))
    assert all(math.isnan(v) for v in partial_correlation(x[:3], y[:3], z[:3]))  # df = 0


# -- performance table ------------------------------------------------------------------------------------------------

_AXIS_VALUES = {
    "kind": "proxy",
    "points": 2,
    "window": np.nan,
    "n_targets": 2,
    "min_agree": 2,
    "min_change_sd": 0.0,
    "radius_mm": 4.0,
    "echo": "optcom",
    "level": "minimal",
    "delay": None,
    "reference": None,
    "signal": None,
}


def _cells() -> pd.DataFrame:
    rows = []
    data = {  # (variant points, target set): output, gold, standard over 4 runs (+ a failed run)
        (3, "t1+t3"): ([5, 5, 5, 5], [1, 2, 3, 4], [1, 2, 3, 4]),  # output constant: NaN
        (3, "t1+t2"): ([1, 2, 3, 4], [1, 3, 2, 4], [1, 1, 1, 1]),  # r = 0.8, standard: zero variance
        (2, "t1+t3"): ([1, 2, 3, 4], [4, 3, 2, 1], [4, 3, 2, 1]),  # r = -1, standard r = 1
        (2, "t1+t2"): ([1, 2, 3, 4], [2, 4, 6, 8], [1, 3, 2, 4]),  # r = 1, standard r = 0.8
    }
    for (points, target_set), (output, gold, standard) in data.items():
        axes = {**_AXIS_VALUES, "points": points, "variant": f"proxy points={points}"}
        for i, (o, g, s) in enumerate(zip(output, gold, standard, strict=True)):
            rows.append(
                {
                    **axes,
                    "target_set": target_set,
                    "subject": f"0{i // 2 + 1}",
                    "run": str(i % 2 + 1),
                    "output": o,
                    "gold": g,
                    "r_targets": 0.1 * (i + 1),
                    "tsnr": 50.0 + i,
                    "standard": s,
                }
            )
        rows.append(
            {
                **axes,
                "target_set": target_set,
                "subject": "03",
                "run": "1",
                "output": np.nan,
                "gold": 9.0,
                "r_targets": 100.0,
                "tsnr": 1000.0,
                "standard": 9.0,
            }
        )
    return pd.DataFrame(rows)


def test_performance_table_exact_values() -> None:
    table = performance_table(_cells())
    assert list(table.columns) == [
        *AXES,
        "variant",
        "target_set",
        "performance",
        "n",
        "standard_performance",
        "r_targets",
        "tsnr",
    ]
    assert list(zip(table["variant"], table["target_set"], strict=True)) == [
        ("proxy points=3", "t1+t3"),
        ("proxy points=3", "t1+t2"),
        ("proxy points=2", "t1+t3"),
        ("proxy points=2", "t1+t2"),
    ]
    np.testing.assert_allclose(table["performance"], [np.nan, 0.8, -1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(table["standard_performance"], [1.0, np.nan, 1.0, 0.8], atol=1e-12)
    assert table["n"].tolist() == [4, 4, 4, 4]  # the failed run is not used
    np.testing.assert_allclose(table["r_targets"], 0.25)  # means over the rows used: (0.1 + 0.2 + 0.3 + 0.4) / 4
    np.testing.assert_allclose(table["tsnr"], 51.5)
    assert table["points"].tolist() == [3, 3, 2, 2]


def test_performance_table_keeps_groups_with_a_not_applicable_axis() -> None:
    cells = _cells()
    cells.loc[cells["points"] == 3, "points"] = np.nan  # e.g. another kind without the n-point rule
    table = performance_table(cells)
    assert len(table) == 4
    assert table["performance"].iloc[1] == pytest.approx(0.8)
    assert table["points"].isna().tolist() == [True, True, False, False]


# -- comparison table -------------------------------------------------------------------------------------------------


def _performance(
    points: tuple[int, ...],
    n_targets: tuple[int, ...],
    n_sets: int = 20,
    seed: int = 0,
    min_agree: dict[int, tuple[int, ...]] | None = None,
) -> pd.DataFrame:
    """Synthetic performance: points=2 higher than points=3 by 0.1 + noise; set names differ between set sizes."""
    rng = np.random.default_rng(seed)
    rows = []
    for size in n_targets:
        base = rng.uniform(0.1, 0.5, size=n_sets)
        for agree in (min_agree or {}).get(size, (size,)):
            for p in points:
                variant = f"proxy points={p} targets={size} agree={agree}"
                shift = 0.1 if p == 2 else 0.0
                for s in range(n_sets):
                    rows.append(
                        {
                            **_AXIS_VALUES,
                            "points": p,
                            "n_targets": size,
                            "min_agree": agree,
                            "variant": variant,
                            "target_set": f"set{size}-{s:02d}",
                            "performance": base[s] + shift + rng.normal(0, 0.03),
                            "n": 10,
                            "standard_performance": 0.2,
                            "r_targets": 0.3,
                            "tsnr": 60.0,
                        }
                    )
    return pd.DataFrame(rows)


def test_comparison_table_paired_points_contrast() -> None:
    table = comparison_table(_performance((2, 3), (2,)))
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["axis"], row["a"], row["b"]) == ("points", "2", "3")
    assert bool(row["paired"]) is True
    assert row["n_sets"] == 20
    assert row["n_a_better"] >= 18
    assert row["mean_difference"] == pytest.approx(0.1, abs=0.03)
    assert row["mean_difference"] == pytest.approx(row["mean_a"] - row["mean_b"])
    assert row["p"] < 1e-3
    assert row["p_fdr"] == pytest.approx(row["p"])  # one test: BH leaves it
    assert pd.isna(row["points"]) and row["n_targets"] == 2 and row["radius_mm"] == 4.0
    assert (row["variant_a"], row["variant_b"]) == (
        "proxy points=2 targets=2 agree=2",
        "proxy points=3 targets=2 agree=2",
    )
    assert list(table.columns) == [
        "axis",
        "a",
        "b",
        *AXES,
        "variant_a",
        "variant_b",
        "paired",
        "n_sets",
        "mean_a",
        "mean_b",
        "mean_difference",
        "n_a_better",
        "p",
        "p_fdr",
    ]


def test_comparison_table_n_targets_rows_are_unpaired_and_fdr_over_the_table() -> None:
    table = comparison_table(_performance((2, 3), (2, 3)), n_resamples=2000)
    assert table["axis"].tolist() == ["points", "points", "n_targets", "n_targets"]
    points, targets = table[table["axis"] == "points"], table[table["axis"] == "n_targets"]
    assert points["paired"].all() and (points["p"] < 1e-3).all()
    assert not targets["paired"].any()
    assert targets["n_a_better"].tolist() == [-1, -1]
    assert targets["n_sets"].tolist() == [40, 40]
    assert (targets["a"].tolist(), targets["b"].tolist()) == (["2", "2"], ["3", "3"])
    assert targets["points"].tolist() == [2, 3]
    assert targets["min_agree"].isna().all()  # all of 2 vs all of 3
    np.testing.assert_allclose(table["p_fdr"], stats.false_discovery_control(table["p"].to_numpy(), method="bh"))
    assert (table["p_fdr"] >= table["p"] - 1e-15).all()


def test_comparison_table_min_agree_three_of_four_vs_four_of_four_is_paired() -> None:
    table = comparison_table(_performance((2,), (4,), min_agree={4: (3, 4)}), n_resamples=2000)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["axis"], row["a"], row["b"], bool(row["paired"]), row["n_targets"]) == ("min_agree", "3", "4", True, 4)


def test_comparison_table_is_reproducible_and_seeded() -> None:
    performance = _performance((2, 3), (2, 3), n_sets=12, seed=1)
    performance["performance"] = np.random.default_rng(2).normal(size=len(performance))  # a null: p is random
    first = comparison_table(performance, n_resamples=300, seed=3)
    pd.testing.assert_frame_equal(first, comparison_table(performance, n_resamples=300, seed=3))
    assert not np.array_equal(first["p"], comparison_table(performance, n_resamples=300, seed=4)["p"])
    by_variant = performance.set_index(["variant", "target_set"])["performance"]
    for i, row in enumerate(first.itertuples()):  # row i is seeded with seed + i
        a, b = by_variant[row.variant_a], by_variant[row.variant_b]
        test = paired_permutation_test if row.paired else independent_permutation_test
        assert row.p == test(a.loc[b.index] if row.paired else a, b, n_resamples=300, seed=3 + i).p


def test_comparison_table_needs_three_sets() -> None:
    performance = _performance((2, 3), (2,), n_sets=2)
    table = comparison_table(performance)
    assert table.empty
    assert "p_fdr" in table.columns
    performance = _performance((2, 3), (2,), n_sets=5)
    performance.loc[performance["target_set"].isin(["set2-00", "set2-01", "set2-02"]), "performance"] = np.nan
    assert comparison_table(performance).empty  # 2 finite common sets


# -- correlation table ------------------------------------------------------------------------------------------------


def test_correlation_table_performance_follows_r_targets() -> None:
    rng = np.random.default_rng(14)
    n_sets = 30
    r_targets = rng.uniform(0.1, 0.7, size=n_sets)
    tsnr = rng.uniform(40, 80, size=n_sets)
    performance = r_targets + rng.normal(0, 0.03, size=n_sets)
    standard = rng.normal(size=n_sets)
    frame = pd.DataFrame(
        {
            **_AXIS_VALUES,
            "variant": "v",
            "target_set": [f"s{i}" for i in range(n_sets)],
            "performance": performance,
            "n": 10,
            "standard_performance": standard,
            "r_targets": r_targets,
            "tsnr": tsnr,
        }
    )
    table = correlation_table(frame)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["n_sets"] == n_sets
    assert row["r_r_targets"] > 0.9 and row["p_r_targets"] < 1e-6
    assert row["r_r_targets"] == pytest.approx(stats.pearsonr(performance, r_targets).statistic)
    assert row["p_tsnr"] == pytest.approx(stats.pearsonr(performance, tsnr).pvalue)
    assert row["r_standard"] == pytest.approx(stats.pearsonr(performance, standard).statistic)
    assert row["partial_r_targets"] == pytest.approx(row["r_r_targets"], abs=0.05)
    assert row["p_partial"] < 1e-6
    assert list(table.columns) == [
        *AXES,
        "variant",
        "n_sets",
        "r_r_targets",
        "p_r_targets",
        "r_tsnr",
        "p_tsnr",
        "partial_r_targets",
        "p_partial",
        "r_standard",
        "p_standard",
    ]


def test_correlation_table_nan_below_four_sets() -> None:
    frame = pd.DataFrame(
        {
            **_AXIS_VALUES,
            "variant": "v",
            "target_set": ["a", "b", "c", "d"],
            "performance": [0.1, 0.2, np.nan, 0.4],
            "n": 10,
            "standard_performance": [0.1, 0.3, 0.2, 0.5],
            "r_targets": [0.2, 0.3, 0.4, 0.5],
            "tsnr": [50.0, 60.0, 55.0, 52.0],
        }
    )
    row = correlation_table(frame).iloc[0]
    assert row["n_sets"] == 3
    values = row[
        ["r_r_targets", "p_r_targets", "r_tsnr", "p_tsnr", "partial_r_targets", "p_partial", "r_standard", "p_standard"]
    ]
    assert values.isna().all()


def test_comparison_table_radius_values_in_order_of_first_appearance() -> None:
    frames = []
    for radius in (6.0, 4.0):
        frame = _performance((2,), (2,), seed=int(radius))
        frame["radius_mm"] = radius
        frame["variant"] = f"radius={radius:g}"
        frames.append(frame)
    table = comparison_table(pd.concat(frames, ignore_index=True), n_resamples=500)
    assert table[["axis", "a", "b", "variant_a", "variant_b"]].values.tolist() == [
        ["radius_mm", "6", "4", "radius=6", "radius=4"]
    ]


def test_correlation_table_one_row_per_variant_in_order_of_first_appearance() -> None:
    rng = np.random.default_rng(15)
    frames = [
        pd.DataFrame(
            {
                **_AXIS_VALUES,
                "points": points,
                "variant": name,
                "target_set": [f"s{i}" for i in range(6)],
                "performance": rng.normal(size=6),
                "n": 10,
                "standard_performance": rng.normal(size=6),
                "r_targets": rng.normal(size=6),
                "tsnr": rng.normal(size=6),
            }
        )
        for points, name in ((3, "z"), (2, "a"))
    ]
    table = correlation_table(pd.concat(frames, ignore_index=True))
    assert table["variant"].tolist() == ["z", "a"] and table["points"].tolist() == [3, 2]
    assert table["n_sets"].tolist() == [6, 6]
    expected = stats.pearsonr(frames[1]["performance"], frames[1]["tsnr"]).statistic
    assert table["r_tsnr"].iloc[1] == pytest.approx(expected)
