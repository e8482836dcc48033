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

from nfd.evaluate._minimal import MinimalSeries

__all__ = ["Confounds", "despike", "full_roi_series", "motion_confounds", "r2star_series"]

#: Motion confound strategies, by fMRIPrep's names: none, the 6 parameters, 24 (Friston et al. 1996).
Confounds = Literal["none", "6P", "12P", "24P"]


def motion_confounds(motion: npt.ArrayLike, strategy: Confounds = "24P") -> npt.NDArray[np.float64]:
    """The motion regressors of a run, as fMRIPrep's confound strategies define them.

    ``6P``: the 6 rigid parameters; ``12P``: with their backward
    differences (0 at the first volume, fMRIPrep's ``_derivative1``);
    ``24P``: with the squares of both (Friston et al. 1996, Magn Reson Med
    35:346-355); ``none``: no column.

    Parameters
    ----------
    motion : array_like, (n_volumes, 6)
        Translations (mm) and rotations (radians).
    strategy : {"none", "6P", "12P", "24P"}

    Returns
    -------
    numpy.ndarray
        float64 ``(n_volumes, 0 | 6 | 12 | 24)``.

    Examples
    --------
    >>> motion_confounds([[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]], "24P")[1, [0, 6, 12, 18]].tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    m = np.asarray(motion, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != 6:
        raise ValueError(f"motion must have shape (n_volumes, 6), got {m.shape}")
    if strategy == "none":
        return np.zeros((m.shape[0], 0))
    if strategy not in ("6P", "12P", "24P"):
        raise ValueError(f"strategy must be 'none', '6P', '12P' or '24P', got {strategy!r}")
    derivative = np.vstack([np.zeros((1, 6)), np.diff(m, axis=0)])
    columns = [m] if strategy == "6P" else [m, derivative]
    if strategy == "24P":
        columns += [m**2, derivative**2]
    return np.hstack(columns)


def despike(
    values: npt.ArrayLike, *, c1: float = 2.5, c2: float = 4.0, order: int | None = None, iterations: int = 30
) -> npt.NDArray[np.float64]:
    """Squash each series' spikes towards a smooth fit, by AFNI's 3dDespike rule.

    AFNI's ``3dDespike`` (Cox 1996, Comput Biomed Res 29:162-173; the rule
    as its help states it): an L1 fit of the curve ``a + b t + c t² +
    Σ_k (d_k sin(2πkt/T) + e_k cos(2πkt/T))``, ``k = 1..L`` with ``L =
    T // 30``; ``σ = √(π/2) MAD`` of the residuals (MAD: their median
    absolute value); a value whose residual ``s = (v - fit)/σ`` exceeds
    ``c1`` in size is moved to ``fit + σ sign(s) (c1 + (c2 - c1) tanh((|s| -
    c1)/(c2 - c1)))``, so that ``|s|`` in ``[c1, ∞)`` maps onto ``[c1, c2)``.
    Every other value is left as it is. The L1 fit is approximated by
    iteratively reweighted least squares (Schlossmacher 1973, J Am Stat Assoc
    68:857-859), all series at once; after the default 30 iterations the
    curve is within 0.1 noise SD of 200 iterations' (measured on Gaussian
    noise), which moves only values near the threshold.

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
        At most this many reweighting iterations of the L1 fit (it stops once no fitted value moves by more
        than 1e-4 of the series' mean absolute deviation).

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
    fit = basis @ np.linalg.lstsq(basis, v, rcond=None)[0]
    width = basis.shape[1]
    outer = (basis[:, :, None] * basis[:, None, :]).reshape(n, width * width)
    level = np.abs(v).mean(axis=0) + 1.0
    scale = np.fmax(np.abs(v - v.mean(axis=0)).mean(axis=0), 1e-9 * level)
    for _ in range(iterations):
        weights = 1.0 / np.fmax(np.abs(v - fit), np.fmax(1e-6 * scale, 1e-8 * level))  # (n, n_series)
        gram = (weights.T @ outer).reshape(-1, width, width)  # (n_series, k, k): each series' weighted normal matrix
        rhs = (weights * v).T @ basis
        previous, fit = fit, basis @ np.linalg.solve(gram, rhs[..., None])[..., 0].T
        if np.all(np.abs(fit - previous) <= 1e-4 * scale):  # converged: a ten-thousandth of the series' spread
            break
    residual = v - fit
    sigma = 1.4826 * np.median(np.abs(residual), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(sigma > 0, residual / sigma, 0.0)
    size = np.where(sigma > 1e-9 * level, np.abs(s), 0.0)  # a flat series (sigma ~ rounding) is left as it is
    squashed = c1 + (c2 - c1) * np.tanh((size - c1) / (c2 - c1))
    return np.where(size > c1, fit + sigma * np.sign(s) * squashed, v)


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
