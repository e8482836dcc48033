"""SPM's canonical haemodynamic response function (double gamma)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

from nfd.timeseries._errors import TimeseriesError

__all__ = ["SPM_HRF_PARAMETERS", "spm_hrf"]

#: SPM's default parameters, in seconds except the ratio ``p[4]``: delay of the
#: response (6), delay of the undershoot (16), dispersion of the response (1),
#: dispersion of the undershoot (1), ratio response/undershoot (6), onset (0),
#: length of the kernel (32).
SPM_HRF_PARAMETERS: tuple[float, float, float, float, float, float, float] = (
    6.0, 16.0, 1.0, 1.0, 6.0, 0.0, 32.0,
)


def _gamma_pdf(x: np.ndarray, shape: float, rate: float) -> np.ndarray:
    """Gamma density ``rate**shape x**(shape-1) exp(-rate x) / Gamma(shape)``.

    The parametrisation of SPM's ``spm_Gpdf(x, h, l)``; zero for ``x <= 0``.
    """
    out = np.zeros_like(x, dtype=np.float64)
    positive = x > 0
    xp = x[positive]
    out[positive] = np.exp(
        shape * math.log(rate) + (shape - 1.0) * np.log(xp) - rate * xp - gammaln(shape)
    )
    return out


def spm_hrf(
    tr: float,
    p: Sequence[float] = SPM_HRF_PARAMETERS,
    oversampling: int = 16,
) -> np.ndarray:
    """SPM's canonical haemodynamic response function, sampled every `tr` seconds.

    A difference of two gamma densities (the response and its undershoot),
    built on SPM's microtime grid of ``tr / oversampling`` seconds, sampled at
    ``0, tr, 2 tr, ...`` up to the kernel length, and divided by its sum, as
    SPM12's ``spm_hrf.m`` (Friston et al., 1998, NeuroImage 7:30; Friston,
    Ashburner et al., *Statistical Parametric Mapping*, 2007) does.

    Parameters
    ----------
    tr : float
        Sampling interval (repetition time), seconds, > 0.
    p : sequence of 7 floats
        SPM's parameters: delay of the response (s), delay of the undershoot
        (s), dispersion of the response (s), dispersion of the undershoot (s),
        ratio of response to undershoot (unitless), onset (s), length of the
        kernel (s). Default ``(6, 16, 1, 1, 6, 0, 32)``.
    oversampling : int
        SPM's microtime resolution ``T`` (bins per `tr`), >= 1. The samples
        returned lie on the microtime grid, so it does not change them; it is
        kept for parity with ``spm_hrf(RT, p, T)``.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(floor(p[6] / tr) + 1,)``: the response at
        ``0, tr, 2 tr, ...`` seconds after the onset of a neural impulse,
        normalised to sum 1 (so a sustained unit input converges to 1).

    Raises
    ------
    TimeseriesError
        If `tr` is not a positive finite number, `p` does not hold 7 finite
        numbers with positive dispersions, ratio and length, or
        `oversampling` is not a positive integer.

    Examples
    --------
    >>> from nfd.timeseries import spm_hrf
    >>> h = spm_hrf(1.0)
    >>> h.shape, int(h.argmax()), round(float(h.sum()), 12)
    ((33,), 5, 1.0)
    >>> [round(float(v), 4) for v in spm_hrf(2.0)[:4]]
    [0.0, 0.0866, 0.3749, 0.3849]
    """
    if not (isinstance(tr, (int, float, np.floating, np.integer)) and math.isfinite(tr) and tr > 0):
        raise TimeseriesError(f"spm_hrf: tr must be a positive number of seconds, got {tr!r}")
    if isinstance(oversampling, bool) or not isinstance(oversampling, (int, np.integer)) or oversampling < 1:
        raise TimeseriesError(
            f"spm_hrf: oversampling must be a positive integer (microtime bins per TR), got {oversampling!r}"
        )
    params = np.asarray(p, dtype=np.float64)
    if params.shape != (7,) or not np.all(np.isfinite(params)):
        raise TimeseriesError(
            f"spm_hrf: p must hold 7 finite numbers (delays, dispersions, ratio, onset, length), got {p!r}"
        )
    delay1, delay2, disp1, disp2, ratio, onset, length = (float(v) for v in params)
    if min(disp1, disp2, ratio, length) <= 0 or delay1 <= 0 or delay2 <= 0:
        raise TimeseriesError(
            f"spm_hrf: delays, dispersions, ratio and kernel length in p must be > 0, got {p!r}"
        )
    fmri_t = int(oversampling)
    dt = float(tr) / fmri_t
    # SPM: u = [0:ceil(p7/dt)] - p6/dt, in microtime bins
    u = np.arange(0, math.ceil(length / dt) + 1, dtype=np.float64) - onset / dt
    hrf = _gamma_pdf(u, delay1 / disp1, dt / disp1) - _gamma_pdf(u, delay2 / disp2, dt / disp2) / ratio
    # SPM: hrf([0:floor(p7/RT)]*T + 1), 1-based
    picks = np.arange(0, math.floor(length / tr) + 1) * fmri_t
    hrf = hrf[picks[picks < hrf.size]]
    total = hrf.sum()
    if total == 0 or not math.isfinite(total):
        raise TimeseriesError(
            f"spm_hrf: the response sampled at tr={tr} s with p={tuple(params)} sums to {total}; "
            "expected a kernel with a nonzero sum (is the onset beyond the kernel length?)"
        )
    return hrf / total
