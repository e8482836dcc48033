"""An HRF's shape in numbers: time to peak, full width at half maximum, undershoot."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.interpolate import CubicSpline

__all__ = ["HrfShape", "hrf_shape"]

#: Resolution of the interpolated HRF the shape is read from, seconds.
FINE_S = 0.01


class HrfShape(NamedTuple):
    """Shape figures of an HRF (seconds, and its undershoot relative to its peak).

    Attributes
    ----------
    time_to_peak_s : float
        Time of the maximum, seconds after the event.
    fwhm_s : float
        Width of the peak at half its height, seconds (NaN if it does not fall below half on both sides).
    undershoot : float
        The minimum after the peak divided by the peak (negative for an undershoot; 0 if none).
    undershoot_time_s : float
        Time of that minimum, seconds (NaN if none).
    """

    time_to_peak_s: float
    fwhm_s: float
    undershoot: float
    undershoot_time_s: float


def _crossing(t: np.ndarray, f: np.ndarray, level: float) -> float:
    """First time where `f` (starting above `level`) falls to `level`, linearly interpolated; NaN if never."""
    below = np.nonzero(f <= level)[0]
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(t[0])
    return float(t[i - 1] + (f[i - 1] - level) / (f[i - 1] - f[i]) * (t[i] - t[i - 1]))


def hrf_shape(times_s: np.ndarray, values: np.ndarray) -> HrfShape:
    """Time to peak, FWHM and undershoot of an HRF sampled at `times_s`, read from its cubic spline.

    The knots are interpolated by a cubic spline (``scipy.interpolate.CubicSpline``, not-a-knot) on a
    0.01 s grid, so the time to peak is not limited to the knots' spacing.

    Examples
    --------
    >>> t = np.arange(0.0, 25.0, 0.5)
    >>> shape = hrf_shape(t, np.exp(-0.5 * ((t - 5.2) / 1.5) ** 2))
    >>> round(shape.time_to_peak_s, 2), round(shape.fwhm_s, 2)
    (5.2, 3.53)
    """
    spline = CubicSpline(times_s, values)
    t = np.arange(float(times_s[0]), float(times_s[-1]) + FINE_S / 2, FINE_S)
    f = spline(t)
    k = int(np.argmax(f))
    peak = float(f[k])
    if peak <= 0:
        return HrfShape(float(t[k]), float("nan"), 0.0, float("nan"))
    half = peak / 2
    right = _crossing(t[k:], f[k:], half)
    left = _crossing(t[k::-1], f[k::-1], half)
    after = f[k:]
    m = int(np.argmin(after))
    undershoot = min(float(after[m]) / peak, 0.0)
    return HrfShape(float(t[k]), right - left, undershoot, float(t[k + m]) if undershoot < 0 else float("nan"))
