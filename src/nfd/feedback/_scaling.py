"""From a signal measure to the number shown to the participant."""

from __future__ import annotations

import math

from nfd.feedback._errors import FeedbackError

__all__ = ["scale_feedback"]


def _finite(name: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FeedbackError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise FeedbackError(f"{name} must be a finite number, got {value!r}")
    return number


def scale_feedback(psc_value: float, gain: float = 1.0, lo: float = -100.0, hi: float = 100.0) -> float:
    """Scale a feedback measure and clip it to the display range.

    ``clip(gain * psc_value, lo, hi)``, OpenNFT's scaling of PSC feedback
    (``MaxFeedbackVal``/``MinFeedbackVal``, Koush et al., 2017, NeuroImage
    156:489). A NaN measure gives 0.0 (clipped into ``[lo, hi]`` when that
    range excludes 0).

    Parameters
    ----------
    psc_value : float
        The measure, e.g. percent signal change (%).
    gain : float
        Multiplier (feedback units per measure unit).
    lo, hi : float
        Display range, feedback units; ``lo <= hi``.

    Returns
    -------
    float

    Raises
    ------
    FeedbackError
        If `gain`, `lo` or `hi` is not finite, or ``lo > hi``.

    Examples
    --------
    >>> from nfd.feedback import scale_feedback
    >>> scale_feedback(1.5, gain=20.0), scale_feedback(8.0, gain=20.0), scale_feedback(float("nan"))
    (30.0, 100.0, 0.0)
    """
    g = _finite("gain", gain)
    low = _finite("lo", lo)
    high = _finite("hi", hi)
    if low > high:
        raise FeedbackError(f"lo={low} must not exceed hi={high}")
    try:
        value = float(psc_value)
    except (TypeError, ValueError):
        raise FeedbackError(f"psc_value must be a number, got {psc_value!r}") from None
    scaled = 0.0 if math.isnan(value) else g * value
    if math.isnan(scaled):  # 0 * inf
        scaled = 0.0
    return min(max(scaled, low), high)
