"""The haemodynamic responses of :func:`nfd.simulate.make_bold`: double gammas per parcel, or a file's.

Written for the generator alone (it imports nothing from :mod:`nfd.design` or :mod:`nfd.hrf`, which it checks).
A double gamma is ``h(t) = g(t; k1, theta1) - g(t; k2, theta2) / ratio`` with ``g`` the gamma density of shape
``k`` and scale ``theta`` (s), whose mode is ``(k - 1) theta`` (Friston et al. 1998, Magn Reson Med 39:41;
SPM's ``spm_hrf``: ``k1 = 6``, ``k2 = 16``, ``theta = 1 s``, ``ratio = 6``). Every HRF is truncated at the HRF
duration and peak-normalised (its largest value is 1) on the fine grid of :data:`FINE_DT_S`.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from scipy import optimize, special

from nfd.simulate._errors import SimulationError

__all__ = ["FINE_DT_S", "TRUTH_DT_S", "HrfModel", "canonical_hrfs", "file_hrfs", "gamma_hrfs"]

#: The fine grid (s) of the HRFs, stimuli and convolutions.
FINE_DT_S = 0.01
#: The grid (s) of the HRFs written to ``truth/hrf.tsv``.
TRUTH_DT_S = 0.1
#: Shapes of SPM's canonical double gamma (peak, undershoot), its scale (s) and its ratio.
SPM_PEAK_SHAPE, SPM_UNDERSHOOT_SHAPE, SPM_SCALE_S, SPM_RATIO = 6.0, 16.0, 1.0, 6.0
#: The range of the parcels' times to peak (s) and undershoot ratios of the "gamma" kind.
GAMMA_TTP_RANGE_S = (4.0, 7.0)
GAMMA_RATIO_RANGE = (6.0, 3.0)
#: The undershoot's mode (s) after the peak, in the "gamma" kind.
UNDERSHOOT_DELAY_S = 8.0


@dataclass(frozen=True, eq=False)
class HrfModel:
    """One parcel's HRF and its summaries.

    Attributes
    ----------
    values : numpy.ndarray
        float64 ``(n,)``: the HRF on the fine grid ``t = k * FINE_DT_S``, ``0 <= t <= duration``, peak 1.
    time_to_peak_s : float
        The time (s) of the largest value on the fine grid.
    fwhm_s : float
        Full width at half maximum (s) of the positive lobe around the peak (linear interpolation).
    undershoot_ratio : float
        The double gamma's ``ratio`` (``nan`` for an HRF from a file).
    params : tuple of float
        ``(k1, theta1_s, k2, theta2_s, ratio)`` of a double gamma, empty for a file's HRF.
    """

    values: np.ndarray
    time_to_peak_s: float
    fwhm_s: float
    undershoot_ratio: float
    params: tuple[float, ...]


def fine_times(duration_s: float) -> np.ndarray:
    """The fine grid ``0, FINE_DT_S, ...`` up to `duration_s` (s), inclusive."""
    return np.arange(round(duration_s / FINE_DT_S) + 1) * FINE_DT_S


def gamma_density(t: np.ndarray, shape: float, scale: float) -> np.ndarray:
    """The gamma density of `shape` and `scale` (s) at times `t` (s), 0 for ``t <= 0`` (1/s)."""
    t = np.asarray(t, dtype=np.float64)
    positive = np.maximum(t, 1e-300)
    log = (shape - 1) * np.log(positive) - positive / scale - special.gammaln(shape) - shape * np.log(scale)
    return np.where(t > 0, np.exp(log), 0.0)


def double_gamma(t: np.ndarray, k1: float, theta1: float, k2: float, theta2: float, ratio: float) -> np.ndarray:
    """``g(t; k1, theta1) - g(t; k2, theta2) / ratio`` at times `t` (s), not normalised."""
    return gamma_density(t, k1, theta1) - gamma_density(t, k2, theta2) / ratio


def _summaries(values: np.ndarray) -> tuple[float, float]:
    """Time to peak and FWHM (s) of a peak-normalised HRF on the fine grid."""
    peak = int(np.argmax(values))
    half = 0.5 * values[peak]
    left = peak
    while left > 0 and values[left - 1] >= half:
        left -= 1
    right = peak
    while right < values.size - 1 and values[right + 1] >= half:
        right += 1

    def crossing(inside: int, outside: int) -> float:
        if outside < 0 or outside >= values.size:
            return float(inside)
        a, b = values[inside], values[outside]
        return inside + (outside - inside) * (a - half) / (a - b)

    return peak * FINE_DT_S, (crossing(right, right + 1) - crossing(left, left - 1)) * FINE_DT_S


def _model(values: np.ndarray, ratio: float, params: tuple[float, ...]) -> HrfModel:
    peak = float(np.max(values))
    if not peak > 0:
        raise SimulationError("an HRF must have a positive peak, expected a response that rises above 0")
    normalised = values / peak
    normalised.setflags(write=False)
    ttp, fwhm = _summaries(normalised)
    return HrfModel(normalised, ttp, fwhm, ratio, params)


def _checked_duration(duration_s: float, latest_peak_s: float) -> None:
    if duration_s < latest_peak_s + 5.0:
        raise SimulationError(f"hrf_duration {duration_s:g} s is too short, expected at least {latest_peak_s + 5:g} s")


def canonical_hrfs(n_parcels: int, duration_s: float) -> list[HrfModel]:
    """SPM's canonical HRF (``spm_hrf`` at its defaults, see the module docstring) for every parcel."""
    _checked_duration(duration_s, 5.0)
    params = (SPM_PEAK_SHAPE, SPM_SCALE_S, SPM_UNDERSHOOT_SHAPE, SPM_SCALE_S, SPM_RATIO)
    model = _model(double_gamma(fine_times(duration_s), *params), SPM_RATIO, params)
    return [model] * n_parcels


def _peak_scale(ttp: float, theta2: float, ratio: float) -> float:
    """The peak gamma's scale (s) that puts the double gamma's maximum at `ttp` (s): ``h'(ttp) = 0``.

    With ``g'(t) = g(t) ((k - 1) / t - 1 / theta)``, ``h'(ttp) = 0`` is one equation in ``theta1``; its root lies
    where the peak gamma still rises (its mode ``(k1 - 1) theta1`` after `ttp`) while the undershoot's does too.
    """
    k1, k2 = SPM_PEAK_SHAPE, SPM_UNDERSHOOT_SHAPE

    def slope(theta1: float) -> float:
        g1 = gamma_density(np.array([ttp]), k1, theta1)[0] * ((k1 - 1) / ttp - 1 / theta1)
        g2 = gamma_density(np.array([ttp]), k2, theta2)[0] * ((k2 - 1) / ttp - 1 / theta2)
        return float(g1 - g2 / ratio)

    low = ttp / (k1 - 1)
    return float(optimize.brentq(slope, low, 2.0 * low, xtol=1e-12))


def gamma_hrfs(n_parcels: int, duration_s: float) -> list[HrfModel]:
    """Parcel-specific double gammas: times to peak evenly over 4-7 s, undershoot ratios over 6-3.

    Parcel ``p`` (0-based) of ``N`` peaks at ``T_p = 4 + 3 p / (N - 1)`` s (5.5 s when ``N = 1``) and has
    ``ratio_p = 6 - 3 p / (N - 1)`` (4.5); its undershoot gamma (shape 16) has its mode
    :data:`UNDERSHOOT_DELAY_S` (8 s) after the peak, ``theta2 = (T_p + 8) / 15`` (modes 12-15 s, SPM's at 15 s;
    at 25 s the HRFs are within 0.03 of 0), and the peak gamma (shape 6) the scale that puts the double gamma's
    maximum exactly at ``T_p`` (:func:`_peak_scale`; its own mode
    ``5 theta1`` is a little later, the undershoot pulling the sum's peak earlier).
    """
    fractions = np.linspace(0.0, 1.0, n_parcels) if n_parcels > 1 else np.array([0.5])
    ttps = GAMMA_TTP_RANGE_S[0] + fractions * (GAMMA_TTP_RANGE_S[1] - GAMMA_TTP_RANGE_S[0])
    ratios = GAMMA_RATIO_RANGE[0] + fractions * (GAMMA_RATIO_RANGE[1] - GAMMA_RATIO_RANGE[0])
    _checked_duration(duration_s, float(ttps.max()))
    t = fine_times(duration_s)
    models = []
    for ttp, ratio in zip(ttps, ratios, strict=True):
        theta2 = float((ttp + UNDERSHOOT_DELAY_S) / (SPM_UNDERSHOOT_SHAPE - 1))
        params = (SPM_PEAK_SHAPE, _peak_scale(float(ttp), theta2, float(ratio)), SPM_UNDERSHOOT_SHAPE, theta2,
                  float(ratio))  # fmt: skip
        models.append(_model(double_gamma(t, *params), float(ratio), params))
    return models


def _read_table(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        lines = [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise SimulationError(f"{path}: cannot read the HRF file ({exc.__class__.__name__}), expected a TSV") from exc
    header = lines[0].split("\t") if lines else []
    if len(header) < 2 or header[0].strip() != "time_s":
        raise SimulationError(f"{path}: header {header!r}, expected time_s then one column per parcel (tabs)")
    try:
        table = np.array([[float(v) for v in line.split("\t")] for line in lines[1:]], dtype=np.float64)
    except ValueError as exc:
        raise SimulationError(f"{path}: a non-numeric cell ({exc}), expected numbers below the header") from exc
    if table.ndim != 2 or table.shape[0] < 3 or table.shape[1] != len(header) or not np.isfinite(table).all():
        raise SimulationError(f"{path}: {len(lines) - 1} rows, expected at least 3 rows of {len(header)} numbers")
    return header[1:], table


def file_hrfs(path: str | PathLike[str], n_parcels: int, duration_s: float) -> list[HrfModel]:
    """HRFs from a TSV (``time_s`` then one column per parcel, in parcel order), interpolated linearly to the
    fine grid, 0 after the file's last time and truncated at `duration_s` (s), each peak-normalised.

    Raises
    ------
    SimulationError
        If the file is unreadable, its times do not start at 0 and increase, it has not `n_parcels` columns or a
        column has no positive peak.
    """
    file = Path(path)
    names, table = _read_table(file)
    times = table[:, 0]
    if times[0] != 0.0 or not np.all(np.diff(times) > 0):
        raise SimulationError(f"{file}: time_s must start at 0 and increase, expected times in s from 0")
    if len(names) != n_parcels:
        raise SimulationError(f"{file}: {len(names)} HRF columns, expected one per parcel ({n_parcels})")
    t = fine_times(duration_s)
    return [_model(np.interp(t, times, table[:, c + 1], right=0.0), float("nan"), ()) for c in range(n_parcels)]
