"""The statistics of ``nfd evaluate``: performance per target set, contrasts between variants, correlations.

Ramot & Gonzalez-Castillo (2019, NeuroImage 188:322-334) score a real-time
algorithm's variant on a target set by the Pearson r, across subjects and
runs, between the algorithm's output and the gold standard; they compare
variants with paired permutation tests across target sets (10,000
iterations, the two variants' labels swapped within each set before
averaging), and relate performance across target sets to the target-target
correlation and to tSNR, with the partial correlation controlling tSNR.
This module owns those computations on the tidy tables of the evaluation
(``cells`` -> ``performance`` -> ``comparisons`` and ``correlations``; the
columns are the shared contract of ``_grid``, ``_stats`` and ``_report``):

- :func:`pearson`, :func:`partial_correlation`: the coefficients;
- :func:`paired_permutation_test`, :func:`independent_permutation_test` ->
  :class:`PermutationResult`: scipy's permutation test of a mean difference;
- :func:`performance_table`, :func:`comparison_table`,
  :func:`correlation_table`: the tables.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from nfd.evaluate._axes import AXES

__all__ = [
    "PermutationResult",
    "pearson",
    "partial_correlation",
    "paired_permutation_test",
    "independent_permutation_test",
    "performance_table",
    "comparison_table",
    "correlation_table",
]

#: The axis columns of ``cells`` and ``performance``, in the contract's order (the same tuple as ``_grid.AXES``,
#: Fewest finite pairs for a Pearson r (``performance``), fewest sets for a contrast and for a correlation.
_MIN_PAIRS = 3
_MIN_SETS = 3
_MIN_SETS_CORRELATION = 4

_PERFORMANCE_COLUMNS = ["performance", "n", "standard_performance", "r_targets", "tsnr"]
_COMPARISON_RESULTS = [
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
_CORRELATION_COLUMNS = [
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


@dataclasses.dataclass(frozen=True)
class PermutationResult:
    """A permutation test of the mean difference of two variants' performances.

    Attributes
    ----------
    n : int
        Paired: the pairs used (target sets both have, finite in both);
        independent: the values used, both samples together.
    mean_a, mean_b : float
        Mean performance (Pearson r) of each variant over the values used.
    mean_difference : float
        ``mean_a - mean_b`` (paired: also the mean of the differences).
    n_a_better : int
        Paired: the sets where a's performance is higher than b's;
        independent: -1.
    p : float
        Two-sided permutation p (NaN with no value).
    """

    n: int
    mean_a: float
    mean_b: float
    mean_difference: float
    n_a_better: int
    p: float


def pearson(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, int]:
    """Pearson r over the pairs where both values are finite.

    Parameters
    ----------
    x, y : array_like, (n,)
        Paired values (any unit; NaN and inf mark missing values).

    Returns
    -------
    r : float
        Pearson r, NaN with fewer than 3 finite pairs or a zero variance.
    n : int
        The finite pairs.

    Examples
    --------
    >>> pearson([1, 2, 3, float("nan")], [2, 4, 7, 1])
    (0.9933992677987828, 3)
    """
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got {a.shape} and {b.shape}")
    finite = np.isfinite(a) & np.isfinite(b)
    n = int(finite.sum())
    if n < _MIN_PAIRS:
        return math.nan, n
    da, db = a[finite] - a[finite].mean(), b[finite] - b[finite].mean()
    sa, sb = float(np.sqrt(da @ da)), float(np.sqrt(db @ db))
    if sa == 0.0 or sb == 0.0:
        return math.nan, n
    return float(np.clip((da / sa) @ (db / sb), -1.0, 1.0)), n


def partial_correlation(x: npt.ArrayLike, y: npt.ArrayLike, covariates: npt.ArrayLike) -> tuple[float, float]:
    """Partial correlation of x and y controlling covariates, with its two-sided p.

    x and y are each regressed on ``[1, covariates]`` by least squares; r is
    the Pearson r of the residuals, and p is Student's t test of r with
    ``df = n - 2 - k`` (k covariates), ``t = r sqrt(df / (1 - r²))``: Fisher
    (1924, Metron 3:329-332), as pingouin's ``partial_corr`` computes it.

    Parameters
    ----------
    x, y : array_like, (n,)
        The two variables.
    covariates : array_like, (n,) or (n, k)
        The variables controlled for. Rows with a non-finite value anywhere
        are dropped.

    Returns
    -------
    r, p : float
        NaN when ``df < 1`` or a residual has zero variance.
    """
    from scipy import stats

    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    z = np.asarray(covariates, dtype=np.float64)
    z = z.reshape(len(z), -1) if z.ndim <= 1 else z
    if a.ndim != 1 or a.shape != b.shape or z.ndim != 2 or len(z) != len(a):
        raise ValueError(f"x, y must be (n,) and covariates (n,) or (n, k), got {a.shape}, {b.shape}, {z.shape}")
    finite = np.isfinite(a) & np.isfinite(b) & np.isfinite(z).all(axis=1)
    n, k = int(finite.sum()), z.shape[1]
    df = n - 2 - k
    if df < 1:
        return math.nan, math.nan
    design = np.column_stack([np.ones(n), z[finite]])
    residuals = [v[finite] - design @ np.linalg.lstsq(design, v[finite], rcond=None)[0] for v in (a, b)]
    r, _ = pearson(residuals[0], residuals[1])
    if math.isnan(r):
        return math.nan, math.nan
    if abs(r) == 1.0:
        return r, 0.0
    t = r * math.sqrt(df / (1.0 - r * r))
    return r, float(2.0 * stats.t.sf(abs(t), df))


def _mean_difference_paired(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], axis: int) -> Any:
    return np.mean(x - y, axis=axis)


def _mean_difference(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], axis: int) -> Any:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _permutation_p(
    data: tuple[npt.NDArray[np.float64], ...], statistic: Callable[..., Any], kind: str, n_resamples: int, seed: int
) -> float:
    from scipy import stats

    result = stats.permutation_test(
        data,
        statistic,
        permutation_type=kind,
        vectorized=True,
        alternative="two-sided",
        n_resamples=n_resamples,
        random_state=np.random.default_rng(seed),
    )
    return float(result.pvalue)


def paired_permutation_test(
    a: npt.ArrayLike, b: npt.ArrayLike, *, n_resamples: int = 10000, seed: int = 0
) -> PermutationResult:
    """Paired permutation test of the mean difference, the labels a and b swapped within each pair.

    The paper's test between two variants across target sets: scipy's
    :func:`scipy.stats.permutation_test` with ``permutation_type="samples"``
    (exact, all ``2**n`` swaps, when ``2**n <= n_resamples``).

    Parameters
    ----------
    a, b : array_like, (n,)
        The two variants' performances (Pearson r), paired by target set;
        pairs with a NaN are dropped.
    n_resamples : int
        Random swaps (the paper's 10,000).
    seed : int
        Seed of the random generator (:func:`numpy.random.default_rng`).

    Returns
    -------
    PermutationResult
        p NaN with no pair.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a and b must be 1-D of the same length, got {x.shape} and {y.shape}")
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if not len(x):
        return PermutationResult(0, math.nan, math.nan, math.nan, 0, math.nan)
    p = _permutation_p((x, y), _mean_difference_paired, "samples", n_resamples, seed)
    mean_a, mean_b = float(x.mean()), float(y.mean())
    return PermutationResult(len(x), mean_a, mean_b, float(np.mean(x - y)), int(np.sum(x > y)), p)


def independent_permutation_test(
    a: npt.ArrayLike, b: npt.ArrayLike, *, n_resamples: int = 10000, seed: int = 0
) -> PermutationResult:
    """Two-sample permutation test of the difference of the means (unpaired variants).

    For variants without common target sets (e.g. 2 vs 3 targets):
    :func:`scipy.stats.permutation_test` with
    ``permutation_type="independent"``, the values reassigned to the two
    samples at random (exact when the number of partitions is at most
    ``n_resamples``).

    Parameters
    ----------
    a, b : array_like
        Each variant's performances (Pearson r); NaN values are dropped.
    n_resamples : int
        Random partitions.
    seed : int
        Seed of the random generator.

    Returns
    -------
    PermutationResult
        ``n = len(a) + len(b)`` (finite values), ``n_a_better = -1``; p NaN
        when a sample is empty.
    """
    x, y = (np.asarray(v, dtype=np.float64).ravel() for v in (a, b))
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if not len(x) or not len(y):
        return PermutationResult(len(x) + len(y), math.nan, math.nan, math.nan, -1, math.nan)
    p = _permutation_p((x, y), _mean_difference, "independent", n_resamples, seed)
    mean_a, mean_b = float(x.mean()), float(y.mean())
    return PermutationResult(len(x) + len(y), mean_a, mean_b, mean_a - mean_b, -1, p)


def performance_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The ``performance`` table: each variant's Pearson r with the gold standard, per target set.

    Parameters
    ----------
    cells : pandas.DataFrame
        The ``cells`` table (one row per variant, target set, subject and
        run).

    Returns
    -------
    pandas.DataFrame
        One row per (variant, target set), in the order of first appearance:
        the axis columns, ``variant``, ``target_set``, ``performance`` (r of
        output with gold over the rows where both are finite), ``n`` (those
        rows), ``standard_performance`` (r of standard with gold over the
        same rows), and the means of ``r_targets`` and ``tsnr`` over the same
        rows (NaN skipped).
    """
    keys = [*AXES, "variant", "target_set"]
    rows = []
    for key, group in cells.groupby(keys, sort=False, dropna=False):
        output, gold = group["output"].to_numpy(np.float64), group["gold"].to_numpy(np.float64)
        used = np.isfinite(output) & np.isfinite(gold)
        performance, n = pearson(output[used], gold[used])
        standard, _ = pearson(group["standard"].to_numpy(np.float64)[used], gold[used])
        means = [_nanmean(group[column].to_numpy(np.float64)[used]) for column in ("r_targets", "tsnr")]
        rows.append([*key, performance, n, standard, *means])
    return pd.DataFrame(rows, columns=[*keys, *_PERFORMANCE_COLUMNS])


def _nanmean(values: npt.NDArray[np.float64]) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan


def _label(value: Any) -> str:
    """An axis value as a string: ``4.0`` -> ``"4"``, ``2`` -> ``"2"``, ``"optcom"`` unchanged."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _key(value: Any) -> Hashable:
    """An axis value made comparable: NaN (not applicable) equals NaN, 4 equals 4.0."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _matching_key(variant: pd.Series, axis: str) -> tuple[Hashable, ...]:
    """The other axes' values of a variant; comparing n_targets, min_agree == n_targets reads "all agree"."""
    key = []
    for other in AXES:
        if other == axis:
            continue
        value = _key(variant[other])
        if axis == "n_targets" and other == "min_agree" and value is not None and value == _key(variant[axis]):
            value = "all"
        key.append(value)
    return tuple(key)


def _contrasts(variants: pd.DataFrame) -> list[tuple[str, Any, Any, pd.Series, pd.Series]]:
    """The (axis, value a, value b, variant a, variant b) pairs differing in one axis only, in table order."""
    contrasts = []
    for axis in AXES[1:]:
        values = [value for value in pd.unique(variants[axis]) if _key(value) is not None]
        for value_a, value_b in itertools.combinations(values, 2):
            rows_a = variants[variants[axis] == value_a]
            by_key = {_matching_key(row, axis): row for _, row in variants[variants[axis] == value_b].iterrows()}
            for _, row_a in rows_a.iterrows():
                row_b = by_key.get(_matching_key(row_a, axis))
                if row_b is not None:
                    contrasts.append((axis, value_a, value_b, row_a, row_b))
    return contrasts


def _compare(a: pd.Series, b: pd.Series, n_resamples: int, seed: int) -> tuple[bool, PermutationResult] | None:
    """Paired over the common target sets (>= 3), else independent (>= 3 each), else None."""
    common = a.index.intersection(b.index, sort=False)
    if len(common) >= _MIN_SETS:
        return True, paired_permutation_test(a.loc[common], b.loc[common], n_resamples=n_resamples, seed=seed)
    if min(len(a), len(b)) >= _MIN_SETS:
        return False, independent_permutation_test(a, b, n_resamples=n_resamples, seed=seed)
    return None


def _comparison_row(
    axis: str, value_a: Any, value_b: Any, row_a: pd.Series, row_b: pd.Series, paired: bool, result: PermutationResult
) -> list[Any]:
    """A ``comparisons`` row: the contrast, the axes fixed (the contrasted one NaN), the variants and the test."""
    fixed = [None if name == axis else row_a[name] for name in AXES]
    if axis == "n_targets" and row_a["min_agree"] != row_b["min_agree"]:
        fixed[AXES.index("min_agree")] = None
    head = [axis, _label(value_a), _label(value_b), *fixed, row_a["variant"], row_b["variant"], paired]
    return [*head, *dataclasses.astuple(result)]


def comparison_table(performance: pd.DataFrame, *, n_resamples: int = 10000, seed: int = 0) -> pd.DataFrame:
    """The ``comparisons`` table: permutation tests between variants that differ in one axis.

    For each axis but ``kind`` with at least two values, each pair of its
    values (in order of first appearance) and each combination of the other
    axes' values that occurs with both, the two variants are compared:
    paired (:func:`paired_permutation_test`) over the target sets both have
    when they share at least 3, else independent
    (:func:`independent_permutation_test`) when each has at least 3 sets,
    else not at all. Comparing ``n_targets``, "all targets agree"
    (``min_agree == n_targets``) counts as one rule, so 2 of 2 is compared
    with 3 of 3 (``min_agree`` is then NaN in the row).

    Parameters
    ----------
    performance : pandas.DataFrame
        The ``performance`` table.
    n_resamples : int
        Permutations per test (the paper's 10,000).
    seed : int
        Row i's test is seeded with ``seed + i``: the table is reproducible.

    Returns
    -------
    pandas.DataFrame
        ``axis``, ``a``, ``b`` (the values as strings), the axis columns
        (the contrasted axis NaN), ``variant_a``, ``variant_b``, ``paired``,
        ``n_sets``, ``mean_a``, ``mean_b``, ``mean_difference`` (a - b),
        ``n_a_better`` (-1 unpaired), ``p`` and ``p_fdr`` (Benjamini-Hochberg
        over the table's finite p).
    """
    from scipy import stats

    sets = {  # each variant's finite performances by target set
        variant: group.dropna(subset=["performance"])
        .drop_duplicates("target_set")
        .set_index("target_set")["performance"]
        for variant, group in performance.groupby("variant", sort=False)
    }
    rows: list[list[Any]] = []
    for axis, value_a, value_b, row_a, row_b in _contrasts(performance.drop_duplicates("variant")):
        compared = _compare(sets[row_a["variant"]], sets[row_b["variant"]], n_resamples, seed + len(rows))
        if compared is not None:
            rows.append(_comparison_row(axis, value_a, value_b, row_a, row_b, *compared))
    table = pd.DataFrame(rows, columns=["axis", "a", "b", *AXES, *_COMPARISON_RESULTS[:-1]])
    p = table["p"].to_numpy(np.float64)
    p_fdr = np.full(len(p), math.nan)
    if np.isfinite(p).any():
        p_fdr[np.isfinite(p)] = stats.false_discovery_control(p[np.isfinite(p)], method="bh")
    table["p_fdr"] = p_fdr
    return table


def _pearson_p(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> tuple[float, float]:
    """scipy's Pearson r and p over the finite pairs, NaN with fewer than 4 or a constant input."""
    from scipy import stats

    finite = np.isfinite(x) & np.isfinite(y)
    if finite.sum() < _MIN_SETS_CORRELATION or np.ptp(x[finite]) == 0 or np.ptp(y[finite]) == 0:
        return math.nan, math.nan
    result = stats.pearsonr(x[finite], y[finite])
    return float(result.statistic), float(result.pvalue)


def correlation_table(performance: pd.DataFrame) -> pd.DataFrame:
    """The ``correlations`` table: each variant's performance across its target sets against their properties.

    Parameters
    ----------
    performance : pandas.DataFrame
        The ``performance`` table.

    Returns
    -------
    pandas.DataFrame
        One row per variant: the axis columns, ``variant``, ``n_sets`` (sets
        with a finite performance), Pearson r and p (:func:`scipy.stats.pearsonr`)
        of performance with ``r_targets`` (``r_r_targets``, ``p_r_targets``),
        with ``tsnr`` (``r_tsnr``, ``p_tsnr``) and with
        ``standard_performance`` (``r_standard``, ``p_standard``), and the
        partial correlation with ``r_targets`` controlling ``tsnr``
        (``partial_r_targets``, ``p_partial``, :func:`partial_correlation`);
        NaN where fewer than 4 sets have the values.
    """
    keys = [*AXES, "variant"]
    rows = []
    for key, group in performance.groupby(keys, sort=False, dropna=False):
        values = {
            c: group[c].to_numpy(np.float64) for c in ("performance", "r_targets", "tsnr", "standard_performance")
        }
        y = values["performance"]
        partial = (math.nan, math.nan)
        finite = np.isfinite(y) & np.isfinite(values["r_targets"]) & np.isfinite(values["tsnr"])
        if finite.sum() >= _MIN_SETS_CORRELATION:
            partial = partial_correlation(y, values["r_targets"], values["tsnr"])
        rows.append(
            [
                *key,
                int(np.isfinite(y).sum()),
                *_pearson_p(y, values["r_targets"]),
                *_pearson_p(y, values["tsnr"]),
                *partial,
                *_pearson_p(y, values["standard_performance"]),
            ]
        )
    return pd.DataFrame(rows, columns=[*keys, *_CORRELATION_COLUMNS])
