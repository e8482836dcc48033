"""Connectivity feedback: Pearson correlation between ROI signals, sliding window or per block."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nfd.design import Design
from nfd.feedback._blocks import BlockEnds, BlockValues
from nfd.feedback._combine import combine as combine_values
from nfd.feedback._computer import FeedbackComputer, check_count, check_signal
from nfd.feedback._errors import FeedbackError
from nfd.timeseries import ChainStep

__all__ = ["IntermittentCorrelation", "SlidingCorrelation", "pearson"]


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson's correlation coefficient of two series.

    ``sum(dx dy) / sqrt(sum(dx**2) sum(dy**2))`` with ``d`` the deviations
    from the means.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Two series of equal length.

    Returns
    -------
    float
        In ``[-1, 1]``; NaN with fewer than 2 points or a constant series.

    Raises
    ------
    FeedbackError
        If the lengths differ.

    Examples
    --------
    >>> from nfd.feedback import pearson
    >>> pearson([1, 2, 3], [2, 4, 7]) > 0.99, pearson([1, 2, 3], [3, 2, 1])
    (True, -1.0)
    """
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.size != b.size:
        raise FeedbackError(f"pearson: the series have lengths {a.size} and {b.size}; expected equal lengths")
    if a.size < 2:
        return math.nan
    da = a - a.mean()
    db = b - b.mean()
    denominator = math.sqrt(float(da @ da) * float(db @ db))
    if denominator == 0.0:
        return math.nan
    return max(-1.0, min(1.0, float(da @ db) / denominator))


def _pairs(rois: Sequence[str], pairs: Sequence[Sequence[str]] | None) -> tuple[tuple[str, str], ...]:
    if pairs is None:
        return tuple(itertools.combinations(rois, 2))
    out: list[tuple[str, str]] = []
    for pair in pairs:
        if isinstance(pair, str) or len(pair) != 2:
            raise FeedbackError(f"pairs must be pairs of ROI names, got {pair!r}")
        a, b = pair
        for name in (a, b):
            if name not in rois:
                raise FeedbackError(f"pair {list(pair)} names ROI {name!r}; the ROIs are {list(rois)}")
        if a == b:
            raise FeedbackError(f"pair {list(pair)} pairs an ROI with itself")
        out.append((a, b))
    if not out:
        raise FeedbackError("pairs must hold at least one pair of ROI names")
    return tuple(out)


def _combined_correlation(
    rows: np.ndarray, names: Sequence[str], pairs: Sequence[tuple[str, str]], operation: str
) -> tuple[float, dict[str, float]]:
    per_pair = {f"{a}~{b}": pearson(rows[:, names.index(a)], rows[:, names.index(b)]) for a, b in pairs}
    values = [v for v in per_pair.values() if not math.isnan(v)]
    return (combine_values(values, operation) if values else math.nan), per_pair


class SlidingCorrelation(FeedbackComputer):
    """Connectivity feedback: Pearson correlation over a sliding window, every volume.

    At each volume, the correlation of the chosen signal of each ROI pair
    over the last `window` volumes received (the current one included;
    e.g. Zilverstand et al., 2014, PLoS ONE 9:e85929; Koush et al., 2013,
    NeuroImage 81:422), the pairs' values combined by `combine`. None
    until `window` volumes have been received. Unitless, in [-1, 1].

    Parameters
    ----------
    design : Design
        The run's design.
    rois : sequence of str
        ROI names (at least 2).
    signal : {"raw", "glm", "ar1", "kalman", "scaled"}
        The chain series correlated ("kalman" by default: drifts, motion
        and spikes removed).
    window : int
        Window length, volumes (>= 3).
    pairs : sequence of (str, str), optional
        The ROI pairs; all pairs by default.
    combine : {"mean", "median", "max", "min"}
        How the pairs' correlations are combined.

    Examples
    --------
    >>> from nfd.design import Design
    >>> from nfd.feedback import SlidingCorrelation
    >>> from nfd.timeseries import ChainStep
    >>> fb = SlidingCorrelation(Design.from_blocks(10, [("UP", 5, 9)]), ["a", "b"], window=3)
    >>> def steps(i, a, b):
    ...     return {n: ChainStep(i, 0, 0, 0, v, 0, 0, 0, 0, 1) for n, v in (("a", a), ("b", b))}
    >>> values = [fb.update(i, steps(i, a, b)) for i, (a, b) in enumerate([(1, 2), (2, 4), (3, 5), (4, 3)])]
    >>> [None if v is None else round(v, 4) for v in values]
    [None, None, 0.982, -0.5]
    """

    kind = "correlation"
    min_rois = 2

    def __init__(
        self,
        design: Design,
        rois: Sequence[str],
        *,
        signal: str = "kalman",
        window: int = 20,
        pairs: Sequence[Sequence[str]] | None = None,
        combine: str = "mean",
    ) -> None:
        super().__init__(design, rois)
        self._signal = check_signal(signal)
        self._window = check_count("window", window, 3)
        self._pairs = _pairs(self._rois, pairs)
        combine_values([0.0], combine)
        self._combine = combine
        self._rows = np.full((self._window, len(self._rois)), math.nan)
        self._filled = 0
        self._values: list[float] = []
        self._regulation: list[bool] = []

    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        values = self._signal_values(steps, self._signal)
        row = [values[n] for n in self._rois]
        if index < self._design.skip_volumes or any(math.isnan(v) for v in row):
            return None
        self._rows = np.roll(self._rows, -1, axis=0)
        self._rows[-1] = row
        self._filled = min(self._window, self._filled + 1)
        if self._filled < self._window:
            return None
        value, per_pair = _combined_correlation(self._rows, list(self._rois), self._pairs, self._combine)
        self._detail = {"pairs": per_pair}
        if math.isnan(value):
            return None
        self._values.append(value)
        self._regulation.append(not self._design.is_baseline(index))
        return value

    def summary(self) -> dict[str, Any]:
        """Adds the mean correlation over regulation and over baseline volumes."""
        out = super().summary()
        values = np.asarray(self._values)
        regulation = np.asarray(self._regulation, dtype=bool)
        out.update(
            signal=self._signal,
            window=self._window,
            mean_regulation=float(values[regulation].mean()) if regulation.any() else None,
            mean_baseline=float(values[~regulation].mean()) if (~regulation).any() else None,
        )
        return out


class IntermittentCorrelation(FeedbackComputer):
    """Connectivity feedback at the end of each regulation block: correlation change.

    At the end of a regulation block (its last volume, or the first
    received after it), for each ROI pair: the correlation of the chosen
    signal over the block minus that over the preceding baseline block,
    both counted from the block's `delay`-th volume; the pairs' values
    combined by `combine`. None at other volumes. Unitless, in [-2, 2].

    Parameters
    ----------
    design : Design
        The run's design.
    rois : sequence of str
        ROI names (at least 2).
    signal : {"raw", "glm", "ar1", "kalman", "scaled"}
        The chain series correlated.
    delay : int
        Volumes dropped at the start of every block.
    pairs : sequence of (str, str), optional
        The ROI pairs; all pairs by default.
    combine : {"mean", "median", "max", "min"}
        How the pairs' values are combined.
    """

    kind = "correlation_intermittent"
    min_rois = 2

    def __init__(
        self,
        design: Design,
        rois: Sequence[str],
        *,
        signal: str = "kalman",
        delay: int = 2,
        pairs: Sequence[Sequence[str]] | None = None,
        combine: str = "mean",
    ) -> None:
        super().__init__(design, rois)
        self._signal = check_signal(signal)
        self._delay = check_count("delay", delay, 0)
        self._pairs = _pairs(self._rois, pairs)
        combine_values([0.0], combine)
        self._combine = combine
        self._store = BlockValues(design, self._rois, self._delay)
        self._ends = BlockEnds(design)
        self._blocks: list[dict[str, Any]] = []

    def _update(
        self, index: int, steps: Mapping[str, ChainStep], voxels: Mapping[str, np.ndarray] | None
    ) -> float | None:
        values = self._signal_values(steps, self._signal)
        if index >= self._design.skip_volumes:
            self._store.record(index, [values[n] for n in self._rois])
        block = self._ends.ended(index)
        if block is None:
            return None
        names = list(self._rois)
        condition, first, last = self._design.blocks[block]
        record: dict[str, Any] = {"block": block, "condition": condition, "first": first, "last": last}
        reference = self._store.previous_baseline(block)
        r_reg, reg_pairs = _combined_correlation(self._store.window(block), names, self._pairs, self._combine)
        if reference < 0:
            r_bas, bas_pairs = math.nan, dict[str, float]()
        else:
            r_bas, bas_pairs = _combined_correlation(self._store.window(reference), names, self._pairs, self._combine)
        value = r_reg - r_bas
        record.update(regulation=reg_pairs, baseline=bas_pairs, value=None if math.isnan(value) else value)
        self._blocks.append(record)
        self._detail = record
        return None if math.isnan(value) else value

    def summary(self) -> dict[str, Any]:
        """Adds ``blocks``: each block's correlations and value."""
        out = super().summary()
        out["signal"] = self._signal
        out["blocks"] = [dict(b) for b in self._blocks]
        return out
