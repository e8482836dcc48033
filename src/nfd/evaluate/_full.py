"""Fully processed ROI series: the whole run cleaned offline, the level a gold standard is computed on.

Ramot & Gonzalez-Castillo (2019) compare every real-time algorithm with a
gold standard computed on *fully processed* data: the best offline
pipeline, over the full series. nfd's own offline level starts from the
motion-corrected (and, multi-echo, combined) volumes of
:func:`nfd.evaluate.minimal_roi_series` and cleans each ROI's whole series
with nilearn's :func:`nilearn.signal.clean` (nilearn is an offline
dependency: ``pip install "nfd[evaluate]"``), after AFNI's despiking
(:func:`despike`): detrending, regression of the motion confounds (Friston
et al. 1996's 24 parameters by default, as fMRIPrep's ``24P`` strategy) and,
optionally, of CompCor's noise components (Behzadi et al. 2007; computed from
the voxels by :func:`nfd.evaluate.minimal_roi_series`), and a Butterworth
band-pass. These cleaning steps are linear in the voxels' values, so cleaning
a ROI's mean equals the mean of its voxels cleaned one by one; despiking is
not, and is applied to each ROI's mean series (AFNI's 3dDespike works voxel
by voxel, before the mean).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from nfd.connectivity._confounds import Confounds, motion_confounds
from nfd.evaluate._minimal import MinimalSeries

__all__ = ["Confounds", "despike", "full_roi_series", "motion_confounds", "r2star_series"]

def despike(
    values: npt.ArrayLike, *, c1: float = 2.5, c2: float = 4.0, order: int | None = None, iterations: int = 50
) -> npt.NDArray[np.float64]:
    """Squash each series' spikes towards a smooth robust fit, by AFNI's 3dDespike rule.

    AFNI's ``3dDespike`` (Cox 1996, Comput Biomed Res 29:162-173; the rule
    as its help states it) fits each series with the curve ``a + b t + c t²
    + Σ_k (d_k sin(2πkt/T) + e_k cos(2πkt/T))``, ``k = 1..L`` with ``L =
    T // 30``, estimates the residuals' σ robustly, and moves a value whose
    residual ``s = (v - fit)/σ`` exceeds ``c1`` in size to ``fit + σ sign(s)
    (c1 + (c2 - c1) tanh((|s| - c1)/(c2 - c1)))``, so that ``|s|`` in ``[c1,
    ∞)`` maps onto ``[c1, c2)``. Every other value is left as it is.

    Where nfd differs from AFNI: AFNI fits the curve in L1 (least absolute
    deviations), whose solution is a vertex of a linear programme and moves
    by a noise SD's fraction under a rounding-size change of the data (its
    iteratively reweighted approximation did, by 1e-6 for 1e-15, which broke
    the grid's identical tables across processes). nfd fits Huber's M-estimate
    (Huber 1964, Ann Math Stat 35:73-101; tuning 1.345 σ, σ = the median
    absolute residual / 0.6745, re-estimated each iteration, as statsmodels'
    ``RLM(M=HuberT())`` does), which is as robust to spikes, is
    unique, and converges by iteratively reweighted least squares, all series
    at once. σ of the squashing rule is the same estimate on the final residuals.

    Parameters
    ----------
    values : array_like, (n_volumes, n_series)
        The series, any units.
    c1, c2 : float
        The spike threshold and the limit of the squashed values, in σ
        (AFNI's defaults 2.5 and 4).
    order : int, optional
        ``L``, the Fourier pairs of the curve (default ``n_volumes // 30``).
    iterations : int
        At most this many reweighting iterations (it stops once no fitted value moves by more than 1e-10
        of the series' mean absolute deviation).

    Returns
    -------
    numpy.ndarray
        float64, the shape of `values`.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.random.default_rng(0).normal(size=(120, 1))
    >>> v[60] = 40.0
    >>> d = despike(v)
    >>> bool(d[60, 0] < 6.0), int((d != v).sum()) < 8
    (True, True)
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 5 or not 0 < c1 < c2:
        raise ValueError(f"expected (n_volumes >= 5, n_series) and 0 < c1 < c2, got {v.shape}, {c1}, {c2}")
    n = v.shape[0]
    t = np.arange(n, dtype=np.float64) / n
    pairs = n // 30 if order is None else order
    basis = np.column_stack([np.ones(n), t, t * t]
                            + [f(2 * np.pi * k * t) for k in range(1, pairs + 1) for f in (np.sin, np.cos)])
    level = np.abs(v).mean(axis=0) + 1.0
    fit, sigma = _huber_curve(basis, v, level, iterations)
    residual = v - fit
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(sigma > 0, residual / sigma, 0.0)
    size = np.where(sigma > 1e-9 * level, np.abs(s), 0.0)  # a flat series (sigma ~ rounding) is left as it is
    squashed = c1 + (c2 - c1) * np.tanh((size - c1) / (c2 - c1))
    return np.where(size > c1, fit + sigma * np.sign(s) * squashed, v)


#: Huber's tuning constant, in σ: 95 % efficiency under Gaussian noise.
_HUBER = 1.345


def _mad_sigma(residual: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each column's normal-consistent median absolute residual (statsmodels' RLM scale: ``mad(r, center=0)``)."""
    return np.asarray(np.median(np.abs(residual), axis=0) / 0.6744897501960817)


def _huber_curve(
    basis: npt.NDArray[np.float64], v: npt.NDArray[np.float64], level: npt.NDArray[np.float64], iterations: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Huber's M-estimate of each column of `v` on `basis` by IRLS: the fitted curves and the residuals' σ."""
    n, width = basis.shape
    outer = (basis[:, :, None] * basis[:, None, :]).reshape(n, width * width)
    fit = basis @ np.linalg.lstsq(basis, v, rcond=None)[0]
    spread = np.fmax(np.abs(v - v.mean(axis=0)).mean(axis=0), 1e-9 * level)
    for _ in range(iterations):
        residual = v - fit
        sigma = np.fmax(_mad_sigma(residual), 1e-9 * level)
        weights = np.minimum(1.0, _HUBER * sigma / np.fmax(np.abs(residual), 1e-300))  # in (0, 1]: well posed
        gram = (weights.T @ outer).reshape(-1, width, width)  # (n_series, k, k): each series' weighted normal matrix
        rhs = (weights * v).T @ basis
        previous, fit = fit, basis @ np.linalg.solve(gram, rhs[..., None])[..., 0].T
        if np.all(np.abs(fit - previous) <= 1e-10 * spread):
            break
    return fit, _mad_sigma(v - fit)


def r2star_series(echo_values: npt.ArrayLike, echo_times_ms: Sequence[float]) -> npt.NDArray[np.float64]:
    """Each ROI's R2* per volume from its echoes' means: the log-linear fit that leaves S0 changes out.

    A multi-echo signal ``S(TE) = S0 exp(-TE R2*)`` separates BOLD (a change of R2*, which grows with TE)
    from non-BOLD changes of S0 (equal at every TE): the TE-dependence ME-ICA classifies components by
    (Kundu et al. 2012, NeuroImage 60:1759-1770). Per ROI and volume, ``log S`` is fitted on ``-TE`` by
    weighted least squares with weights the squared mean signal of each echo over the run (the inverse
    variance of ``log S`` under thermal noise; Posse et al. 1999, Magn Reson Med 42:87-97, weight the
    echoes alike); the slope is R2*. Fluctuations of S0 (motion's spin history, inflow, the scanner's
    drift) drop out, as every multiplicative change common to the echoes does.

    Parameters
    ----------
    echo_values : array_like, (n_volumes, n_echoes, n_rois)
        Each echo's ROI means (signal units, > 0).
    echo_times_ms : sequence of float
        The echo times, ms.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_volumes, n_rois)``: R2*, s⁻¹ (a BOLD increase lowers it).

    Examples
    --------
    >>> import numpy as np
    >>> te = np.array([15.0, 35.0, 55.0])
    >>> r2s, s0 = np.array([25.0, 26.0]), np.array([1000.0, 1300.0])  # two volumes; S0 changes by 30 %
    >>> values = (s0[:, None] * np.exp(-te[None, :] / 1000 * r2s[:, None]))[:, :, None]
    >>> np.round(r2star_series(values, te)[:, 0], 6).tolist()
    [25.0, 26.0]
    """
    v = np.asarray(echo_values, dtype=np.float64)
    te = np.asarray(echo_times_ms, dtype=np.float64) / 1000.0
    if v.ndim != 3 or v.shape[1] != te.size or te.size < 2:
        raise ValueError(f"echo_values must be (n_volumes, {te.size} echoes >= 2, n_rois), got {v.shape}")
    logs = np.log(np.fmax(v, 1e-6))
    weights = np.fmax(v.mean(axis=0), 1e-6) ** 2  # (n_echoes, n_rois)
    weights = weights / weights.sum(axis=0)
    te_mean = (weights * te[:, None]).sum(axis=0)  # (n_rois,)
    centred = te[:, None] - te_mean  # (n_echoes, n_rois)
    log_mean = (weights[None] * logs).sum(axis=1)  # (n_volumes, n_rois)
    slope = (weights[None] * centred[None] * (logs - log_mean[:, None, :])).sum(axis=1) / (
        weights * centred**2).sum(axis=0)
    return -slope


def full_roi_series(
    series: MinimalSeries,
    tr: float,
    *,
    multiecho: Literal["none", "r2star"] = "none",
    despike_first: bool = True,
    confounds: Confounds = "24P",
    detrend: bool = True,
    high_pass_hz: float | None = 0.01,
    low_pass_hz: float | None = 0.1,
) -> npt.NDArray[np.float64]:
    """Each ROI's whole series cleaned offline (see the module docstring).

    Parameters
    ----------
    series : MinimalSeries
        The run's ROI series and motion.
    tr : float
        Repetition time, s.
    multiecho : {"none", "r2star"}
        ``"r2star"``: for a multi-echo run (``series.echo_values``), clean each ROI's ``-R2*`` of
        :func:`r2star_series` (s⁻¹, BOLD up) instead of the combined volume's means, so that the
        changes of S0 are gone before the rest; a single-echo run is cleaned as it is.
    despike_first : bool
        Squash each ROI series' spikes (:func:`despike`) before the rest.
    confounds : {"none", "6P", "12P", "24P"}
        The motion regressors (:func:`motion_confounds`), with ``series.noise``'s CompCor
        components where the minimal pass computed them.
    detrend : bool
        Remove each series' linear trend.
    high_pass_hz, low_pass_hz : float or None
        Butterworth band-pass edges, Hz (None: no edge); the defaults are
        resting-state connectivity's 0.01-0.1 Hz.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_volumes, n_rois)``, in the series' column order, not
        standardised (correlations do not need it).
    """
    from nilearn.signal import clean

    regressors = motion_confounds(series.motion, confounds)
    if series.noise is not None:
        regressors = np.hstack([regressors, series.noise])
    values = series.values
    if multiecho == "r2star" and series.echo_values is not None:
        values = -r2star_series(series.echo_values, series.echo_times_ms)
    if despike_first:
        values = despike(values)
    with warnings.catch_warnings():  # nilearn 0.14 deprecates standardize=False for None, which 0.10 lacks
        warnings.simplefilter("ignore", FutureWarning)
        cleaned = clean(
            values, detrend=detrend, standardize=False,
            confounds=regressors if regressors.shape[1] else None, standardize_confounds=True,
            filter="butterworth" if (high_pass_hz or low_pass_hz) else False,
            high_pass=high_pass_hz, low_pass=low_pass_hz, t_r=tr,
        )
    return np.asarray(cleaned, dtype=np.float64)
