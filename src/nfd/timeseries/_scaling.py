"""Dynamic scaling of a filtered ROI signal to [0, 1] (OpenNFT's ``scaleTimeSeries``)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from nfd._checks import ensure_float, ensure_int
from nfd.timeseries._errors import TimeseriesError

__all__ = ["ScalingSettings", "scale_value", "scaling_limits"]


class ScalingSettings(NamedTuple):
    """How the scaling limits follow the signal.

    Attributes
    ----------
    warmup : int
        For the first `warmup` volumes the limits are the signal's minimum
        and maximum so far (OpenNFT: ``indVol < 21``, i.e. 20 volumes).
    fraction : float
        Afterwards, the limits are the medians of the lowest and highest
        ``round(fraction * n) + 1`` values so far (robust to outliers),
        ``0 < fraction < 0.5``.
    floor : float
        The limits are at least ``+-floor * mean(raw signal so far)``
        (OpenNFT's ``initLim = 0.005 * mean(raw)``), so that a flat signal
        is not blown up to the full range.
    window : int or None
        OpenNFT's sliding window (``basBlockLength * nrBlocksInSlidingWindow``
        volumes); None, OpenNFT's default (its window is longer than any
        run), disables it.
    """

    warmup: int = 20
    fraction: float = 0.05
    floor: float = 0.005
    window: int | None = None

    def checked(self) -> ScalingSettings:
        """The settings, validated; :class:`TimeseriesError` for an invalid one."""
        warmup, fraction, floor, window = self
        e = TimeseriesError
        return ScalingSettings(
            ensure_int(warmup, "scaling warmup (volumes)", minimum=1, error=e),
            ensure_float(fraction, "scaling fraction", positive=True, below=0.5, error=e),
            ensure_float(floor, "scaling floor (fraction of the mean)", minimum=0.0, error=e),
            None if window is None else ensure_int(window, "scaling window (volumes)", minimum=2, error=e),
        )


#: The default settings (OpenNFT's), shared: a NamedTuple is immutable.
_DEFAULT_SETTINGS = ScalingSettings()


def _round_half_away(value: float) -> int:
    """MATLAB's ``round`` (half away from zero), not Python's banker's rounding."""
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


def _sorted_median(ordered: np.ndarray) -> float:
    """Median of an already sorted, non-empty array."""
    k = ordered.size
    return 0.5 * (float(ordered[(k - 1) // 2]) + float(ordered[k // 2]))


def scaling_limits(
    history: ArrayLike,
    *,
    floor_value: float,
    settings: ScalingSettings = _DEFAULT_SETTINGS,
    previous: tuple[float, float] | None = None,
    condition_changed: bool = False,
) -> tuple[float, float]:
    """Lower and upper scaling limits after the latest value of `history`.

    As OpenNFT's ``scaleTimeSeries.m`` (Koush et al., 2012, NeuroImage
    59:478; Scharnowski et al., 2012, J Neurosci 32:17830), with ``n``
    values so far:

    - ``n <= warmup``: ``min`` and ``max`` of the values;
    - later: the medians of the ``m + 1`` lowest and of the ``m + 1``
      highest values, ``m = round(fraction * n)``. The top slice is the
      ``m + 1`` largest values including the maximum, as MATLAB's
      ``s(end-m:end)``; pyOpenNFT's port takes ``s[-m-2:-1]``, which
      drops the maximum (an off-by-one), fixed here;
    - without a sliding window (or while ``n < window``) the limits are
      widened to at least ``[-floor_value, floor_value]``;
    - with a sliding window, at a change of condition the limits are
      narrowed to the window's extremes (the current value included; the
      port's window also dropped it), and between changes they only widen
      to include the current value: the lower limit moves down when the
      value is *below* it. pyOpenNFT's port compares ``>`` there (a
      reversed comparison that drags the lower limit up to every value
      above it); fixed here.

    Parameters
    ----------
    history : array_like, shape (n,)
        The signal so far (e.g. the Kalman output), n >= 1, the current value last.
    floor_value : float
        Half-width of the smallest range (signal units, e.g. 0.5 % of the
        mean raw signal), >= 0.
    settings : ScalingSettings
        See :class:`ScalingSettings`.
    previous : (float, float), optional
        The limits after the previous value; needed with a sliding window.
    condition_changed : bool
        Whether the current volume starts a new condition block (sliding
        window only).

    Returns
    -------
    (float, float)
        ``(lower, upper)``, signal units.

    Raises
    ------
    TimeseriesError
        If `history` is empty or not 1-D.

    Examples
    --------
    >>> from nfd.timeseries import scaling_limits
    >>> scaling_limits([0.0, 2.0, -1.0], floor_value=0.5)
    (-1.0, 2.0)
    >>> scaling_limits([0.0, 0.1, -0.1], floor_value=0.5)
    (-0.5, 0.5)
    """
    y = np.asarray(history, dtype=np.float64)
    if y.ndim != 1 or y.size == 0:
        raise TimeseriesError(f"scaling_limits: history must be a non-empty 1-D series, got shape {y.shape}")
    n = y.size
    if n <= settings.warmup:
        lo, hi = float(y.min()), float(y.max())
    else:
        ordered = np.sort(y)
        m = _round_half_away(settings.fraction * n)
        lo = _sorted_median(ordered[: m + 1])
        # the m + 1 largest, the maximum included (MATLAB's s(end-m:end)); pyOpenNFT's port
        # slices s[-m-2:-1], which drops the maximum: that off-by-one is fixed here
        hi = _sorted_median(ordered[n - m - 1 :])
    if settings.window is None or n < settings.window or previous is None:
        return min(lo, -floor_value), max(hi, floor_value)
    current = float(y[-1])
    if condition_changed:
        recent = y[n - settings.window :]  # the current value included (the port's window left it out)
        return max(lo, float(recent.min())), min(hi, float(recent.max()))
    prev_lo, prev_hi = previous
    # the lower limit follows a value *below* it; pyOpenNFT's port tests `value > lower`
    # (a reversed comparison) and so drags the lower limit up to the value: fixed here
    return min(prev_lo, current), max(prev_hi, current)


def scale_value(value: float, lower: float, upper: float) -> float:
    """``(value - lower) / (upper - lower)``; 0 when the range is empty or not finite.

    Values beyond the limits (the limits are robust medians, not the
    extremes) fall outside ``[0, 1]``, as in OpenNFT.

    Examples
    --------
    >>> from nfd.timeseries import scale_value
    >>> scale_value(1.0, -1.0, 3.0), scale_value(5.0, 2.0, 2.0)
    (0.5, 0.0)
    """
    width = upper - lower
    if not (math.isfinite(width) and width > 0):
        return 0.0
    return (float(value) - lower) / width
