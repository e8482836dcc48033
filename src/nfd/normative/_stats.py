"""Group statistics of deviations: Mann-Whitney U per edge and Crawford-Howell single cases, with FDR.

- :func:`mann_whitney_edges`: two-sided Mann-Whitney U per edge between two groups (``scipy.stats.mannwhitneyu``,
  the test of Boldisor, Udrea & Trascau 2025 per connection), q by Benjamini & Hochberg (1995, JRSS B
  57:289-300) through ``scipy.stats.false_discovery_control``;
- :func:`crawford_howell`: Crawford & Howell (1998, The Clinical Neuropsychologist 12:482-486), a single case
  ``x`` against a control sample of n with mean m and SD s (ddof 1):
  ``t = (x - m) / (s * sqrt((n + 1) / n))`` on n - 1 degrees of freedom, two-sided p, per edge, with FDR.

Both give a table with the columns ``edge, statistic, p, q, significant`` (:data:`TABLE_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nfd.normative._errors import NormativeError

__all__ = ["TABLE_COLUMNS", "crawford_howell", "crawford_howell_edges", "fdr", "mann_whitney_edges"]

#: The columns of the statistics tables.
TABLE_COLUMNS = ("edge", "statistic", "p", "q", "significant")


def fdr(p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Benjamini-Hochberg q values of p values (NaN kept as NaN, left out of the count)."""
    from scipy.stats import false_discovery_control

    values = np.asarray(p, dtype=np.float64)
    q = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    if finite.any():
        q[finite] = false_discovery_control(values[finite], method="bh")
    return q


def _table(edges: Sequence[str], statistic: npt.NDArray[np.float64], p: npt.NDArray[np.float64], alpha: float) -> Any:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    if len(edges) != statistic.size:
        raise NormativeError(f"{len(edges)} edge labels for {statistic.size} edges, expected one each")
    q = fdr(p)
    return pd.DataFrame(
        {"edge": list(edges), "statistic": statistic, "p": p, "q": q, "significant": np.nan_to_num(q, nan=1.0) < alpha}
    )


def mann_whitney_edges(
    group_a: npt.ArrayLike, group_b: npt.ArrayLike, edges: Sequence[str], *, alpha: float = 0.05
) -> Any:
    """Two-sided Mann-Whitney U per edge between two groups, with Benjamini-Hochberg FDR.

    Parameters
    ----------
    group_a, group_b : array_like, (n_a, n_edges), (n_b, n_edges)
        Deviations (any unit; the test uses ranks) of each group, e.g. held-out controls and patients.
    edges : sequence of str
        Edge labels.
    alpha : float
        FDR level: ``significant`` is ``q < alpha``.

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`; ``statistic`` is U of ``group_a``.
    """
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(group_a, dtype=np.float64), np.asarray(group_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(a.shape[0], b.shape[0]) < 2:
        raise NormativeError(f"groups {a.shape} and {b.shape}, expected >= 2 subjects each over the same edges")
    result = mannwhitneyu(a, b, alternative="two-sided", axis=0)
    return _table(
        edges, np.asarray(result.statistic, dtype=np.float64), np.asarray(result.pvalue, dtype=np.float64), alpha
    )


def crawford_howell(
    case: npt.ArrayLike, controls: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]:
    """Crawford & Howell's (1998) modified t of a single case against a small control sample.

    Parameters
    ----------
    case : array_like, (n_edges,) or scalar
        The case's values.
    controls : array_like, (n, n_edges) or (n,)
        The control sample (the same unit), n >= 2.

    Returns
    -------
    t : ndarray
        ``(x - mean) / (sd * sqrt((n + 1) / n))``, sd with ddof 1.
    p : ndarray
        Two-sided p on n - 1 degrees of freedom.
    df : int
        n - 1.
    """
    from scipy.stats import t as student_t

    x = np.asarray(case, dtype=np.float64)
    c = np.asarray(controls, dtype=np.float64)
    n = c.shape[0]
    if n < 2:
        raise NormativeError(f"{n} controls, expected >= 2 for Crawford-Howell")
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (x - c.mean(axis=0)) / (c.std(axis=0, ddof=1) * np.sqrt((n + 1) / n))
    p = 2.0 * student_t.sf(np.abs(t), n - 1)
    return np.asarray(t, dtype=np.float64), np.asarray(p, dtype=np.float64), n - 1


def crawford_howell_edges(
    case: npt.ArrayLike, controls: npt.ArrayLike, edges: Sequence[str], *, alpha: float = 0.05
) -> Any:
    """Crawford-Howell per edge for one case, with Benjamini-Hochberg FDR over the edges.

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`; ``statistic`` is t (n - 1 df).
    """
    t, p, _ = crawford_howell(case, controls)
    return _table(edges, np.atleast_1d(t), np.atleast_1d(p), alpha)
