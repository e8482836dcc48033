"""OpenNFT's recursive AR(1) filter of an ROI signal."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from nfd._checks import ensure_float
from nfd.timeseries._errors import TimeseriesError

__all__ = ["ar1_filter", "ar1_step", "check_ar1_coefficient"]


def check_ar1_coefficient(a: float) -> float:
    """`a` as a float in ``[0, 1)``, else :class:`TimeseriesError`."""
    return ensure_float(a, "AR(1) coefficient a", minimum=0.0, below=1.0, error=TimeseriesError)


def ar1_step(value: float, previous: float | None, a: float) -> float:
    """One step of the recursive AR(1) filter.

    ``y'_1 = (1 - a) y_1`` for the first point (`previous` None), then
    ``y'_t = y_t - a y'_{t-1}`` (OpenNFT's ``preprSig.m``, ``P.aAR1``).

    Parameters
    ----------
    value : float
        ``y_t`` (signal units).
    previous : float or None
        ``y'_{t-1}``, or None at the first point.
    a : float
        The coefficient, in ``[0, 1)``.

    Returns
    -------
    float
        ``y'_t`` (signal units).

    Examples
    --------
    >>> from nfd.timeseries import ar1_step
    >>> ar1_step(10.0, None, 0.2), ar1_step(10.0, 8.0, 0.2)
    (8.0, 8.4)
    """
    if previous is None:
        return (1.0 - a) * value
    return value - a * previous


def ar1_filter(series: ArrayLike, a: float = 0.2) -> np.ndarray:
    """The recursive AR(1) filter over a whole series.

    Parameters
    ----------
    series : array_like, shape (n,)
        The signal, signal units.
    a : float
        The coefficient, in ``[0, 1)`` (OpenNFT's default 0.2).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n,)``: ``y'_1 = (1 - a) y_1``,
        ``y'_t = y_t - a y'_{t-1}``.

    Raises
    ------
    TimeseriesError
        If `a` is not in ``[0, 1)`` or `series` is not 1-D.

    Examples
    --------
    >>> from nfd.timeseries import ar1_filter
    >>> ar1_filter([10.0, 10.0, 10.0], 0.5).tolist()
    [5.0, 7.5, 6.25]
    """
    coefficient = check_ar1_coefficient(a)
    y = np.asarray(series, dtype=np.float64)
    if y.ndim != 1:
        raise TimeseriesError(f"ar1_filter: series must be 1-D, got shape {y.shape}")
    out = np.empty_like(y)
    previous: float | None = None
    for t, value in enumerate(y):
        previous = ar1_step(float(value), previous, coefficient)
        out[t] = previous
    return out
