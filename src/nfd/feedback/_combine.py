"""Combining the feedback measures of several ROIs into one value."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from nfd.feedback._errors import FeedbackError

__all__ = ["COMBINE_OPERATIONS", "combine"]

_OPERATIONS: dict[str, Callable[[np.ndarray], np.floating]] = {
    "mean": np.mean,
    "median": np.median,
    "max": np.max,
    "min": np.min,
}

#: Names accepted by :func:`combine`.
COMBINE_OPERATIONS: tuple[str, ...] = tuple(_OPERATIONS)


def combine(values: ArrayLike, operation: str = "mean") -> float:
    """Combine per-ROI measures into one value (OpenNFT's ``RoiAnatOperation``).

    Parameters
    ----------
    values : array_like
        One measure per ROI (e.g. percent signal change, %), at least one.
    operation : {"mean", "median", "max", "min"}
        How to combine them.

    Returns
    -------
    float
        The combined measure; NaN if any value is NaN.

    Raises
    ------
    FeedbackError
        (a ValueError) if `operation` is unknown or `values` is empty or
        not numeric.

    Examples
    --------
    >>> from nfd.feedback import combine
    >>> combine([1.0, 2.0, 6.0], "mean"), combine([1.0, 2.0, 6.0], "median")
    (3.0, 2.0)
    """
    try:
        reduce = _OPERATIONS[operation]
    except (KeyError, TypeError):
        raise FeedbackError(
            f"unknown combine operation {operation!r}; expected one of {list(COMBINE_OPERATIONS)}"
        ) from None
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise FeedbackError(f"values must be numbers (one per ROI), got {values!r}") from None
    if arr.size == 0:
        raise FeedbackError("combine needs at least one value (one per ROI), got none")
    return float(reduce(arr))
