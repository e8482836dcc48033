"""From a signal measure to the number shown to the participant."""

from __future__ import annotations

import math

from nfd.feedback._errors import FeedbackError
from nfd.feedback._opennft import matlab_round

__all__ = ["scale_feedback"]


def _finite(name: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FeedbackError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise FeedbackError(f"{name} must be a finite number, got {value!r}")
    return number


def scale_feedback(
    psc_value: float,
    gain: float = 1.0,
    lo: float | None = -100.0,
    hi: float | None = 100.0,
    *,
    decimals: int | None = None,
    baseline_value: float | None = None,
) -> float:
    """Scale a feedback measure, round it and clip it to the display range.

    ``clip(gain * psc_value, lo, hi)``, OpenNFT's scaling of PSC feedback
    (``MaxFeedbackVal``/``MinFeedbackVal``, Koush et al., 2017, NeuroImage
    156:489). A NaN measure gives 0.0 (clipped into ``[lo, hi]`` when that
    range excludes 0), and so does an infinite one with no bound on its side.

    With `decimals`, ``gain * psc_value`` is first rounded as MATLAB's
    ``round(x, decimals)`` does (halves away from zero,
    :func:`nfd.feedback.matlab_round`), then clipped: OpenNFT's display
    value (``opennft/matlab/nfbCalc.m``):

    - current OpenNFT: ``gain = MaxFeedbackVal``, ``decimals =
      FeedbackValDec``, ``hi = MaxFeedbackVal``, ``lo = 0`` (or
      ``MinFeedbackVal`` when ``NegFeedback``); SVM feedback: ``lo = hi =
      None`` (not clipped);
    - OpenNFT 1.0: continuous PSC ``gain = 100, decimals = 2, lo = 1, hi =
      100`` and ``baseline_value = 0.0`` at baseline volumes (shown as 0,
      outside that range); intermittent PSC ``gain = 10, decimals = 1, lo =
      1, hi = 10``; SVM ``gain = 1, decimals = 4``, not clipped.

    (1.0 writes ``round(10000 x) / 100``; ``round(100 x, 2)`` equals it
    but for a tie that one rounding of the product moves across.)

    Parameters
    ----------
    psc_value : float
        The measure, e.g. percent signal change (%).
    gain : float
        Multiplier (feedback units per measure unit).
    lo, hi : float or None
        Display range, feedback units; ``lo <= hi``; None for no bound.
    decimals : int, optional
        Digits kept after the point (0 to 15), MATLAB rounding; None (the
        default) for no rounding.
    baseline_value : float, optional
        When given, the value returned as is instead (neither scaled,
        rounded nor clipped): pass it for the volumes where the display
        shows a fixed value, e.g. 0.0 at OpenNFT 1.0's baseline volumes.

    Returns
    -------
    float

    Raises
    ------
    FeedbackError
        If `gain`, `lo`, `hi` or `baseline_value` is not finite, ``lo >
        hi``, or `decimals` is not an integer from 0 to 15.

    Examples
    --------
    >>> from nfd.feedback import scale_feedback
    >>> scale_feedback(1.5, gain=20.0), scale_feedback(8.0, gain=20.0), scale_feedback(float("nan"))
    (30.0, 100.0, 0.0)
    >>> scale_feedback(0.00125, gain=100.0, lo=0.0, decimals=2), scale_feedback(-0.005, gain=100.0, lo=0.0, decimals=0)
    (0.13, 0.0)
    >>> scale_feedback(0.3, gain=100.0, lo=1.0, decimals=2, baseline_value=0.0)
    0.0
    """
    g = _finite("gain", gain)
    low = -math.inf if lo is None else _finite("lo", lo)
    high = math.inf if hi is None else _finite("hi", hi)
    if low > high:
        raise FeedbackError(f"lo={low} must not exceed hi={high}")
    if decimals is not None:
        matlab_round(0.0, decimals)  # validates decimals
    if baseline_value is not None:
        return _finite("baseline_value", baseline_value)
    try:
        value = float(psc_value)
    except (TypeError, ValueError):
        raise FeedbackError(f"psc_value must be a number, got {psc_value!r}") from None
    scaled = 0.0 if math.isnan(value) else g * value
    if math.isnan(scaled):  # 0 * inf
        scaled = 0.0
    if decimals is not None:
        scaled = matlab_round(scaled, decimals)
    shown = min(max(scaled, low), high)
    return shown if math.isfinite(shown) else 0.0  # an infinite measure with no bound on its side
