"""Fully processed ROI series: the whole run cleaned offline, the level a gold standard is computed on.

Ramot & Gonzalez-Castillo (2019) compare every real-time algorithm with a
gold standard computed on *fully processed* data: the best offline
pipeline, over the full series. nfd's own offline level starts from the
motion-corrected (and, multi-echo, combined) volumes of
:func:`nfd.evaluate.minimal_roi_series` and cleans each ROI's whole series
with nilearn's :func:`nilearn.signal.clean` (nilearn is an offline
dependency: ``pip install "nfd[evaluate]"``): detrending, regression of the
motion confounds (Friston et al. 1996's 24 parameters by default, as
fMRIPrep's ``24P`` strategy), and a Butterworth band-pass. Each of these
steps is linear in the voxels' values, so cleaning a ROI's mean equals the
mean of its voxels cleaned one by one.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import numpy.typing as npt

from nfd.evaluate._minimal import MinimalSeries

__all__ = ["Confounds", "full_roi_series", "motion_confounds"]

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


def full_roi_series(
    series: MinimalSeries,
    tr: float,
    *,
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
    confounds : {"none", "6P", "12P", "24P"}
        The motion regressors (:func:`motion_confounds`).
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
    with warnings.catch_warnings():  # nilearn 0.14 deprecates standardize=False for None, which 0.10 lacks
        warnings.simplefilter("ignore", FutureWarning)
        cleaned = clean(
            series.values, detrend=detrend, standardize=False,
            confounds=regressors if regressors.shape[1] else None, standardize_confounds=True,
            filter="butterworth" if (high_pass_hz or low_pass_hz) else False,
            high_pass=high_pass_hz, low_pass=low_pass_hz, t_r=tr,
        )
    return np.asarray(cleaned, dtype=np.float64)
