"""OpenNFT's recursive AR(1) filter of an ROI signal."""

from __future__ import annotations

import numpy as np
import scipy.signal
from numpy.typing import ArrayLike

from nfd._checks import ensure_float
from nfd.timeseries._errors import TimeseriesError

__all__ = ["ar1_filter", "ar1_filter_columns", "ar1_step", "check_ar1_coefficient"]


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


def ar1_filter_columns(columns: ArrayLike, a: float = 0.2) -> np.ndarray:
    """The recursive AR(1) filter down every column of a matrix (e.g. regressors).

    OpenNFT's ``opennft/matlab/utils/arRegr.m``, the filter
    :func:`ar1_filter` applies to a series, applied to each column:
    ``x'_1 = (1 - a) x_1``, ``x'_t = x_t - a x'_{t-1}``. One pass of
    ``scipy.signal.lfilter``: O(n p) for an n x p matrix.

    Parameters
    ----------
    columns : array_like, shape (n, p)
        The columns to filter (any unit); n may be 0.
    a : float
        The coefficient, in ``[0, 1)``.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n, p)``.

    Raises
    ------
    TimeseriesError
        If `a` is not in ``[0, 1)`` or `columns` is not 2-D.

    Examples
    --------
    >>> from nfd.timeseries import ar1_filter_columns
    >>> ar1_filter_columns([[10.0, 1.0], [10.0, 0.0], [10.0, 0.0]], 0.5).tolist()
    [[5.0, 0.5], [7.5, -0.25], [6.25, 0.125]]
    """
    coefficient = check_ar1_coefficient(a)
    x = np.asarray(columns, dtype=np.float64)
    if x.ndim != 2:
        raise TimeseriesError(f"ar1_filter_columns: columns must be 2-D (n, p), got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0 or coefficient == 0.0:
        return x.copy()
    # y_t = x_t - a y_{t-1}; the initial state -a x_1 makes y_1 = (1 - a) x_1
    initial = -coefficient * x[:1]
    out, _ = scipy.signal.lfilter([1.0], [1.0, coefficient], x, axis=0, zi=initial)
    return np.asarray(out, dtype=np.float64)
