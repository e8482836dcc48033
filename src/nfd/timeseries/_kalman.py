"""Modified Kalman filter: low-pass filtering and despiking of an ROI signal (Koush et al., 2012)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from nfd._checks import ensure_float
from nfd.timeseries._errors import TimeseriesError

__all__ = ["ZERO_SD_RULES", "KalmanSettings", "KalmanState", "kalman_despike", "kalman_step"]

#: Values of :attr:`KalmanSettings.zero_sd`: nfd's rule, then OpenNFT's.
ZERO_SD_RULES: tuple[str, ...] = ("pass", "opennft")


class KalmanSettings(NamedTuple):
    """Constants of the modified Kalman filter, as multiples of the signal's SD.

    Koush, Zvyagintsev, Dyck, Mathiak & Mathiak (2012), NeuroImage
    59:478-489, and OpenNFT's ``opennft/matlab/nfbPreprSig/preprSig.m``:
    process noise ``Q = q * sd**2``, measurement noise ``R = r * sd**2``,
    spike threshold ``threshold * sd`` on the innovation step ``K (y - x)``.
    OpenNFT since 2020 uses ``q = 0.25, r = 1`` (the defaults); OpenNFT 1.0
    used ``q = 1, r = 1.95``.

    Attributes
    ----------
    q, r, threshold : float
        Multiples of ``sd**2`` (``q``, ``r``) and of ``sd`` (``threshold``), >= 0.
    zero_sd : str
        What a step with ``sd`` 0 (the first volume, a constant signal) does:
        ``"pass"`` (nfd's rule): a plain update, no spike flagged;
        ``"opennft"`` (``opennft/matlab/nfbPreprSig/modifKalman.m``): the
        same rules as any step, so with a threshold of 0 the step ``d``
        (0 when the gain is 0) is not ``|d| < 0`` and takes the
        negative-spike branch: held back, spike -1, and the negative
        counter set, so that the next negative spike is accepted.
    """

    q: float = 0.25
    r: float = 1.0
    threshold: float = 0.9
    zero_sd: str = "pass"

    def checked(self) -> KalmanSettings:
        """The settings, validated; :class:`TimeseriesError` for a negative or non-finite one."""
        q, r, threshold = (
            ensure_float(value, f"Kalman setting {name}", minimum=0.0, error=TimeseriesError)
            for name, value in zip(self._fields[:3], self[:3], strict=True)
        )
        if self.zero_sd not in ZERO_SD_RULES:
            raise TimeseriesError(
                f"Kalman setting zero_sd must be one of {list(ZERO_SD_RULES)}, got {self.zero_sd!r}"
            )
        return KalmanSettings(q, r, threshold, self.zero_sd)


class KalmanState(NamedTuple):
    """State of the modified Kalman filter between volumes.

    Attributes
    ----------
    x : float
        State estimate (signal units); 0 at the start, as OpenNFT.
    p : float
        Its variance (signal units squared); 0 at the start.
    positive_held, negative_held : int
        1 when the previous step held back a spike of that direction, else 0
        (OpenNFT's ``fPositDerivSpike`` / ``fNegatDerivSpike``).
    """

    x: float = 0.0
    p: float = 0.0
    positive_held: int = 0
    negative_held: int = 0


#: The default settings (OpenNFT's), shared: a NamedTuple is immutable.
_DEFAULT_SETTINGS = KalmanSettings()


def kalman_step(
    state: KalmanState, value: float, sd: float, settings: KalmanSettings = _DEFAULT_SETTINGS
) -> tuple[float, KalmanState, int]:
    """One step of the modified Kalman filter with spike detection (Koush et al., 2012).

    A random-walk Kalman filter (``A = H = 1``): prediction ``x``,
    ``P = P + Q``; gain ``K = P / (P + R)``; innovation step
    ``d = K (value - x)``. When ``|d| < threshold`` the update is taken.
    Otherwise the value is a spike in the direction of ``d``: the first
    spike in a direction is held back (the output and state stay at the
    prediction); a second one in a row in the same direction is accepted
    (a real change of level), as OpenNFT's ``modifKalman.m``. A spike in
    one direction does not reset the other direction's counter; an ordinary
    step resets both.

    With ``sd`` 0 or not finite (fewer than two points, a constant signal)
    the noise terms are 0 and the gain is 0 (or 1 when ``P`` > 0); with
    ``settings.zero_sd == "pass"`` the update is taken and no spike is
    flagged; with ``"opennft"`` the threshold is 0 and the ordinary rules
    apply, so a step of 0 is a held-back negative spike (OpenNFT's
    ``modifKalman.m`` on the first volume: ``|0| < 0`` is false, ``0 > 0``
    is false). Ties (``d == 0`` with ``|d| >= threshold``) go to the
    negative branch and the comparison is strict, as in ``modifKalman.m``.

    Parameters
    ----------
    state : KalmanState
        The state after the previous step (``KalmanState()`` at the start).
    value : float
        The new sample (signal units).
    sd : float
        Standard deviation of the filter's input so far (signal units).
    settings : KalmanSettings
        ``q``, ``r`` and ``threshold`` in units of ``sd``.

    Returns
    -------
    output : float
        The filtered value (signal units).
    state : KalmanState
        The state for the next step.
    spike : int
        +1 or -1 when a spike of that sign was held back, else 0.

    Examples
    --------
    >>> from nfd.timeseries import KalmanState, kalman_step
    >>> out, state, spike = kalman_step(KalmanState(), 10.0, sd=1.0)
    >>> out, spike  # far above the threshold of 0.9: held back
    (0.0, 1)
    >>> out, state, spike = kalman_step(state, 10.0, sd=1.0)
    >>> round(out, 4), spike  # again: accepted as a change of level
    (3.3333, 0)
    """
    s = float(sd) if math.isfinite(sd) and sd > 0 else 0.0
    q = settings.q * s * s
    r = settings.r * s * s
    x_pred = state.x
    p_pred = state.p + q
    denominator = p_pred + r
    gain = p_pred / denominator if denominator > 0 else 0.0  # OpenNFT: P * pinv(P + R)
    step = gain * (float(value) - x_pred)
    x_new = x_pred + step
    p_new = (1.0 - gain) * p_pred
    threshold = settings.threshold * s
    if (s == 0.0 and settings.zero_sd == "pass") or abs(step) < threshold:
        return x_new, KalmanState(x_new, p_new, 0, 0), 0
    if step > 0:
        if state.positive_held < 1:
            return x_pred, KalmanState(x_pred, p_pred, state.positive_held + 1, state.negative_held), 1
        return x_new, KalmanState(x_new, p_new, 0, state.negative_held), 0
    if state.negative_held < 1:
        return x_pred, KalmanState(x_pred, p_pred, state.positive_held, state.negative_held + 1), -1
    return x_new, KalmanState(x_new, p_new, state.positive_held, 0), 0


def kalman_despike(
    series: ArrayLike, settings: KalmanSettings = _DEFAULT_SETTINGS
) -> tuple[np.ndarray, np.ndarray]:
    """The modified Kalman filter over a whole series, causally.

    At point ``t`` the noise terms use the sample standard deviation
    (``n - 1``, as MATLAB's ``std``) of ``series[:t + 1]``, as OpenNFT does
    volume by volume.

    Parameters
    ----------
    series : array_like, shape (n,)
        The filter's input (signal units).
    settings : KalmanSettings
        See :func:`kalman_step`.

    Returns
    -------
    filtered : numpy.ndarray
        float64, shape ``(n,)``.
    spikes : numpy.ndarray
        int8, shape ``(n,)``: +1 / -1 where a spike was held back, else 0.

    Raises
    ------
    TimeseriesError
        If `series` is not 1-D or a setting is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.timeseries import kalman_despike
    >>> y = np.zeros(30); y[20] = 50.0
    >>> filtered, spikes = kalman_despike(y)
    >>> float(filtered[20]), int(spikes[20])
    (0.0, 1)
    """
    checked = settings.checked()
    y = np.asarray(series, dtype=np.float64)
    if y.ndim != 1:
        raise TimeseriesError(f"kalman_despike: series must be 1-D, got shape {y.shape}")
    filtered = np.empty_like(y)
    spikes = np.zeros(y.size, dtype=np.int8)
    state = KalmanState()
    for t in range(y.size):
        sd = float(np.std(y[: t + 1], ddof=1)) if t > 0 else 0.0
        filtered[t], state, spikes[t] = kalman_step(state, float(y[t]), sd, checked)
    return filtered, spikes
