"""Per-volume values of a run kept by block, for measures over regulation and baseline blocks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nfd.design import Design

__all__ = ["BlockEnds", "BlockValues"]


class BlockValues:
    """Values of several series (e.g. ROIs) at every volume, with block windows.

    Missing volumes are NaN. A block's *window* is its volumes from its
    ``delay``-th on (the haemodynamic response to the previous block has
    decayed), skipped volumes excluded; when the delay leaves nothing, the
    whole block.

    Parameters
    ----------
    design : Design
        The run's design.
    names : sequence of str
        The series (columns).
    delay : int
        Volumes left out at the start of every block, >= 0.
    """

    def __init__(self, design: Design, names: Sequence[str], delay: int) -> None:
        self._design = design
        self._names = tuple(names)
        self._delay = int(delay)
        self._values = np.full((design.n_volumes, len(self._names)), math.nan)
        self._blocks = design.blocks
        previous: list[int] = []
        last = -1
        for number, (condition, _first, _last) in enumerate(self._blocks):
            previous.append(last)
            if condition == design.baseline:
                last = number
        #: per block: the nearest baseline block before it, or -1
        self._previous_baseline = previous

    @property
    def names(self) -> tuple[str, ...]:
        """Series names, in column order."""
        return self._names

    def record(self, index: int, values: Sequence[float]) -> None:
        """Store the values of volume `index` (NaN for missing)."""
        self._values[index] = values

    def window(self, block: int, up_to: int | None = None) -> np.ndarray:
        """Values of block `block`'s window (rows: volumes, columns: series), up to index `up_to`."""
        _condition, first, last = self._blocks[block]
        start = max(first, self._design.skip_volumes)
        stop = last + 1 if up_to is None else min(last, up_to) + 1
        if start >= stop:
            return np.empty((0, len(self._names)))
        delayed = min(start + self._delay, stop)
        rows = self._values[delayed:stop] if delayed < stop else self._values[start:stop]
        seen = ~np.isnan(rows).any(axis=1)
        if not seen.any() and delayed > start:  # the delay left no value: the whole block
            rows = self._values[start:stop]
            seen = ~np.isnan(rows).any(axis=1)
        return rows[seen]

    def previous_baseline(self, block: int) -> int:
        """The nearest baseline block before block `block` (-1 if none)."""
        return self._previous_baseline[block]

    def series(self, up_to: int) -> np.ndarray:
        """Rows of every volume received up to index `up_to` (inclusive), missing ones dropped."""
        rows = self._values[: up_to + 1]
        return rows[~np.isnan(rows).any(axis=1)]


class BlockEnds:
    """Which regulation (non-baseline) block, if any, has just ended at a volume.

    A block ends at its last volume; when that volume never comes (dropped),
    at the first volume received after it. Each block ends once.

    Parameters
    ----------
    design : Design
        The run's design.
    """

    def __init__(self, design: Design) -> None:
        self._ends = [
            (number, last)
            for number, (condition, _first, last) in enumerate(design.blocks)
            if condition != design.baseline
        ]
        self._next = 0

    def ended(self, index: int) -> int | None:
        """The latest regulation block ended at or before volume `index` and not reported yet, else None."""
        found = None
        while self._next < len(self._ends) and self._ends[self._next][1] <= index:
            found = self._ends[self._next][0]
            self._next += 1
        return found
