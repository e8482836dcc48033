"""The cumulative GLM of an ROI signal: nuisance regressors entered in stages, task kept.

OpenNFT's cumulative GLM (``preprSig.m``, Koush et al., 2017, NeuroImage
156:489): at every volume the whole series so far is fitted again; the
nuisance part of the fit is removed and the task part kept, and the last
point of the cleaned series is the current value. The regressors enter in
stages as data accumulate, so that the early fits are not over-determined.
The stages are OpenNFT's (constant, trend, motion, task); the DCT
high-pass nfd can add at stage 4 is nfd's choice, not OpenNFT's, whose
cGLM has none (OpenNFT filters only its whole-brain iGLM).
"""

from __future__ import annotations

import math
import operator

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike

from nfd._checks import ensure_float, ensure_int
from nfd.timeseries._errors import TimeseriesError

__all__ = ["GLM_STAGES", "dct_highpass", "glm_clean", "glm_stage", "nuisance_regressors"]

#: Names of the stages of the cumulative GLM, in order (stage ``s`` is ``GLM_STAGES[s - 1]``).
GLM_STAGES: tuple[str, ...] = ("constant", "trend", "motion", "full")

#: Relative tolerance below which a z-scored motion column counts as constant and is left out.
_CONSTANT_COLUMN_TOL = 1e-12

#: Smallest ratio of the Cholesky factor's diagonal extremes for which the normal equations are used.
_CHOLESKY_RCOND = 1e-5


def dct_highpass(positions: ArrayLike, span: int, tr: float, cutoff_s: float) -> np.ndarray:
    """SPM's discrete cosine high-pass basis, the constant left out.

    SPM's ``spm_filter`` drift basis (``spm_dctmtx``): for a series of
    ``span`` volumes, ``floor(2 span tr / cutoff_s)`` cosines
    ``sqrt(2 / span) cos(pi (2 t + 1) k / (2 span))``, ``k = 1, 2, ...``,
    i.e. every drift slower than ``1 / cutoff_s`` Hz (Friston et al., 2000,
    NeuroImage 12:196; Frackowiak et al., *Human Brain Function*, 2004).

    Parameters
    ----------
    positions : array_like of int
        0-based volume positions ``t`` in the series (gaps allowed), each in
        ``0 .. span - 1``.
    span : int
        Length of the series the basis is built for (volumes), >= 1.
    tr : float
        Repetition time, seconds, > 0.
    cutoff_s : float
        High-pass cut-off period, seconds, > 0 (SPM's 128 s by default).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(len(positions), floor(2 span tr / cutoff_s))``.

    Raises
    ------
    TimeseriesError
        If `span`, `tr` or `cutoff_s` is not positive.

    Examples
    --------
    >>> from nfd.timeseries import dct_highpass
    >>> dct_highpass(range(100), 100, 2.0, 128.0).shape  # 200 s of data: 3 cosines slower than 1/128 Hz
    (100, 3)
    """
    ensure_int(span, "dct_highpass: span (volumes)", minimum=1, error=TimeseriesError)
    for name, value in (("tr", tr), ("cutoff_s", cutoff_s)):
        ensure_float(value, f"dct_highpass: {name} (seconds)", positive=True, error=TimeseriesError)
    t = np.asarray(positions, dtype=np.float64).ravel()
    n_cos = math.floor(2.0 * int(span) * float(tr) / float(cutoff_s))
    if n_cos == 0:
        return np.zeros((t.size, 0), dtype=np.float64)
    k = np.arange(1, n_cos + 1, dtype=np.float64)
    return math.sqrt(2.0 / span) * np.cos(np.pi * np.outer(2.0 * t + 1.0, k) / (2.0 * span))


def glm_stage(n_points: int, stage_volumes: int) -> int:
    """Stage (1 to 4) of the cumulative GLM after `n_points` volumes.

    Stage 1 (constant) below `stage_volumes` points, stage 2 (+ linear
    trend) below twice, stage 3 (+ six motion parameters) below three times,
    stage 4 (+ task regressors, and nfd's DCT high-pass when asked) from
    then on, as OpenNFT's ``opennft/matlab/nfbPreprSig/preprSig.m`` with
    ``regrStep = stage_volumes`` (OpenNFT's stage 4 has no high-pass).

    Parameters
    ----------
    n_points : int
        Number of volumes in the series, >= 1.
    stage_volumes : int
        Volumes per stage, >= 1.

    Returns
    -------
    int

    Examples
    --------
    >>> from nfd.timeseries import glm_stage
    >>> [glm_stage(n, 9) for n in (1, 8, 9, 17, 18, 26, 27, 150)]
    [1, 1, 2, 2, 3, 3, 4, 4]
    """
    n = operator.index(n_points)
    step = operator.index(stage_volumes)
    if n < 1 or step < 1:
        raise TimeseriesError(f"glm_stage: n_points and stage_volumes must be >= 1, got {n}, {step}")
    return min(4, n // step + 1)


def _zscore_columns(motion: np.ndarray) -> np.ndarray:
    """Motion columns z-scored over the rows given; constant columns left out."""
    mean = motion.mean(axis=0)
    centred = motion - mean
    sd = np.sqrt((centred**2).sum(axis=0) / max(1, motion.shape[0] - 1))  # MATLAB's zscore: n - 1
    scale = np.maximum(np.abs(mean), 1.0)
    keep = sd > _CONSTANT_COLUMN_TOL * scale
    return centred[:, keep] / sd[keep]


def nuisance_regressors(
    positions: ArrayLike,
    stage: int,
    *,
    tr: float,
    high_pass_s: float | None = 128.0,
    motion: ArrayLike | None = None,
    trend_scale: float = 100.0,
) -> np.ndarray:
    """The nuisance regressors of a cumulative-GLM stage over the volumes so far.

    Columns, by stage: 1: the constant; 2: and a linear trend
    ``t / trend_scale``; 3: and the six motion parameters z-scored over the
    volumes so far (columns constant so far are left out, e.g. at the
    start of a still run); 4: and, when `high_pass_s` is set (nfd's
    default, not OpenNFT's), the DCT high-pass basis of
    :func:`dct_highpass` for the span so far (``positions[-1] + 1``
    volumes). The task regressors, which stage 4 also enters, are not here
    (see :func:`glm_clean`).

    Parameters
    ----------
    positions : array_like of int
        0-based positions of the volumes so far (after the skipped volumes),
        increasing; gaps are allowed.
    stage : int
        1 to 4 (see :func:`glm_stage`).
    tr : float
        Repetition time, seconds.
    high_pass_s : float or None
        DCT cut-off period, seconds; None for no high-pass.
    motion : array_like, shape (len(positions), 6), optional
        Motion parameters of those volumes (mm, radians); None for no motion
        regressors.
    trend_scale : float
        Divisor of the linear trend, volumes (conditioning only; it does not
        change the fit).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(len(positions), n_columns)``.

    Raises
    ------
    TimeseriesError
        If `stage` is not 1 to 4 or `motion` has the wrong shape.
    """
    t = np.asarray(positions, dtype=np.float64).ravel()
    if stage not in (1, 2, 3, 4):
        raise TimeseriesError(f"nuisance_regressors: stage must be 1, 2, 3 or 4, got {stage!r}")
    columns = [np.ones((t.size, 1))]
    if stage >= 2:
        columns.append((t / trend_scale)[:, None])
    if stage >= 3 and motion is not None:
        m = np.asarray(motion, dtype=np.float64)
        if m.shape != (t.size, 6):
            raise TimeseriesError(
                f"nuisance_regressors: motion must have shape ({t.size}, 6) (mm, radians), got {m.shape}"
            )
        columns.append(_zscore_columns(m))
    if stage >= 4 and high_pass_s is not None and t.size:
        columns.append(dct_highpass(t, int(t[-1]) + 1, tr, high_pass_s))
    return np.hstack(columns)


def glm_clean(y: ArrayLike, nuisance: ArrayLike, task: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``y`` on nuisance and task regressors; remove the nuisance fit, keep the task.

    Ordinary least squares on ``[nuisance, task]``, solved through the
    Cholesky factor of the normal equations (microseconds for a 150 x 20
    design) unless the columns are nearly collinear, then by SVD (the
    minimum-norm solution, as OpenNFT's ``pinv``); the result is
    ``y - nuisance @ beta_nuisance``: the residuals plus the fitted task
    response.

    Parameters
    ----------
    y : array_like, shape (n,)
        The signal (any unit).
    nuisance : array_like, shape (n, p)
        Nuisance regressors (e.g. :func:`nuisance_regressors`).
    task : array_like, shape (n, q), optional
        Task regressors, kept in the output.

    Returns
    -------
    cleaned : numpy.ndarray
        float64, shape ``(n,)``, the unit of `y`.
    beta : numpy.ndarray
        float64, shape ``(p + q,)``: nuisance then task coefficients.

    Raises
    ------
    TimeseriesError
        If the shapes do not agree.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.timeseries import glm_clean
    >>> t = np.arange(6.0)
    >>> cleaned, beta = glm_clean(10 + 2 * t, np.column_stack([np.ones(6), t]))
    >>> np.allclose(cleaned, 0), np.round(beta, 6).tolist()
    (True, [10.0, 2.0])
    """
    yy = np.asarray(y, dtype=np.float64).ravel()
    x0 = np.asarray(nuisance, dtype=np.float64)
    if x0.ndim != 2 or x0.shape[0] != yy.size:
        raise TimeseriesError(f"glm_clean: nuisance must have shape ({yy.size}, p), got {x0.shape}")
    if task is None:
        x = x0
    else:
        x1 = np.asarray(task, dtype=np.float64)
        if x1.ndim != 2 or x1.shape[0] != yy.size:
            raise TimeseriesError(f"glm_clean: task must have shape ({yy.size}, q), got {x1.shape}")
        x = np.hstack([x0, x1])
    beta = _least_squares(x, yy)
    p = x0.shape[1]
    return yy - x0 @ beta[:p], beta


def _least_squares(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS coefficients: normal equations by Cholesky when well conditioned, else SVD."""
    if x.shape[0] >= x.shape[1] > 0:
        gram = x.T @ x
        try:
            factor = scipy.linalg.cholesky(gram, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            factor = None
        if factor is not None:
            diagonal = np.abs(np.diag(factor))
            # cond(gram) is about (max/min diagonal)^2: stay far from float64's 1e16
            if diagonal.min() > _CHOLESKY_RCOND * diagonal.max():
                return scipy.linalg.cho_solve((factor, True), x.T @ y, check_finite=False)
    return np.linalg.lstsq(x, y, rcond=None)[0]
