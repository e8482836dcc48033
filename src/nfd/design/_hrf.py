"""SPM's canonical haemodynamic response function (double gamma)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln

from nfd._checks import ensure_float, ensure_int
from nfd.design._errors import DesignError
from nfd.design._hrf_file import SampledHrf

__all__ = ["SPM_HRF_PARAMETERS", "hrf_regressor", "spm_hrf"]

#: SPM's default parameters, in seconds except the ratio ``p[4]``: delay of the
#: response (6), delay of the undershoot (16), dispersion of the response (1),
#: dispersion of the undershoot (1), ratio response/undershoot (6), onset (0),
#: length of the kernel (32).
SPM_HRF_PARAMETERS: tuple[float, float, float, float, float, float, float] = (
    6.0, 16.0, 1.0, 1.0, 6.0, 0.0, 32.0,
)


def _seconds(caller: str, tr: object) -> float:
    """`tr` as a positive finite float (seconds); the message keeps the wording callers match."""
    try:
        return ensure_float(tr, "tr", positive=True, error=DesignError)
    except DesignError:
        raise DesignError(f"{caller}: tr must be a positive number of seconds, got {tr!r}") from None


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
    DesignError
        If `tr` is not a positive finite number, `p` does not hold 7 finite
        numbers with positive dispersions, ratio and length, or
        `oversampling` is not a positive integer.

    Examples
    --------
    >>> from nfd.design import spm_hrf
    >>> h = spm_hrf(1.0)
    >>> h.shape, int(h.argmax()), round(float(h.sum()), 12)
    ((33,), 5, 1.0)
    >>> [round(float(v), 4) for v in spm_hrf(2.0)[:4]]
    [0.0, 0.0866, 0.3749, 0.3849]
    """
    tr = _seconds("spm_hrf", tr)
    oversampling = ensure_int(
        oversampling, "spm_hrf: oversampling (microtime bins per TR)", minimum=1, error=DesignError
    )
    params = np.asarray(p, dtype=np.float64)
    if params.shape != (7,) or not np.all(np.isfinite(params)):
        raise DesignError(
            f"spm_hrf: p must hold 7 finite numbers (delays, dispersions, ratio, onset, length), got {p!r}"
        )
    delay1, delay2, disp1, disp2, ratio, onset, length = (float(v) for v in params)
    if min(disp1, disp2, ratio, length) <= 0 or delay1 <= 0 or delay2 <= 0:
        raise DesignError(
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
        raise DesignError(
            f"spm_hrf: the response sampled at tr={tr} s with p={tuple(params)} sums to {total}; "
            "expected a kernel with a nonzero sum (is the onset beyond the kernel length?)"
        )
    return hrf / total


def _as_event_array(name: str, values: ArrayLike, size: int | None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise DesignError(f"hrf_regressor: {name} must be numbers, got {values!r}") from exc
    if size is not None and arr.size != size:
        raise DesignError(f"hrf_regressor: {name} has {arr.size} entries but onsets has {size}")
    if not np.all(np.isfinite(arr)):
        raise DesignError(f"hrf_regressor: {name} must be finite numbers, got {arr.tolist()}")
    return arr


#: Tolerance, in microtime bins, within which an event boundary counts as on a bin edge.
_EDGE_TOLERANCE_BINS = 1e-6


def _on_edge(position: float) -> float:
    """`position` (bins) snapped to the nearest bin edge when within the tolerance."""
    nearest = round(position)
    return float(nearest) if abs(position - nearest) < _EDGE_TOLERANCE_BINS else position


def _stimulus(on: np.ndarray, dur: np.ndarray, amp: np.ndarray, n_bins: int, dt: float) -> np.ndarray:
    """The stimulus function on the microtime grid: bin ``j`` holds the mean of ``u`` over ``[j dt, (j + 1) dt)``.

    >>> _stimulus(np.array([0.25, 2.0]), np.array([0.5, 0.0]), np.array([1.0, 3.0]), 4, 1.0).tolist()
    [0.5, 0.0, 3.0, 0.0]
    """
    u = np.zeros(n_bins, dtype=np.float64)
    for onset, duration, amplitude in zip(on, dur, amp, strict=True):
        if duration > 0:
            start = _on_edge(onset / dt)
            end = _on_edge((onset + duration) / dt)
            first = max(0, math.floor(start))
            stop = min(n_bins, math.ceil(end))
            if first < stop:
                edges = np.arange(first, stop + 1, dtype=np.float64)
                covered = np.minimum(edges[1:], end) - np.maximum(edges[:-1], start)
                u[first:stop] += amplitude * covered
        else:
            j = math.floor(onset / dt + _EDGE_TOLERANCE_BINS)
            if 0 <= j < n_bins:
                u[j] += amplitude / dt
    return u


def hrf_regressor(
    onsets: ArrayLike,
    durations: ArrayLike,
    amplitudes: ArrayLike | None,
    n_volumes: int,
    tr: float,
    *,
    p: Sequence[float] = SPM_HRF_PARAMETERS,
    oversampling: int = 16,
    hrf: SampledHrf | None = None,
) -> np.ndarray:
    """Events convolved with SPM's canonical HRF (or a given one), sampled at every volume.

    The stimulus function ``u(t)`` is built on SPM's microtime grid of
    ``dt = tr / oversampling`` seconds, from the exact times: an event of
    duration ``d > 0`` adds to every bin ``[j dt, (j + 1) dt)`` its
    amplitude times the fraction of the bin that ``[onset, onset + d)``
    covers, so the area of ``u`` is ``amplitude * d`` whatever the grid (an
    event shorter than a bin, or not aligned to the grid, keeps its onset
    and duration; bin edges within 1e-6 bin of an event boundary count as
    on it, so decimal times like ``19.7`` hit their bin); an event of
    duration 0 is an impulse of weight ``amplitude * 1 s`` (height
    ``amplitude / dt`` in the bin it falls in). ``u`` is convolved with
    :func:`spm_hrf` sampled every ``dt`` (sum 1, so a sustained amplitude of
    1 converges to 1) and sampled at ``i * tr``, the start of volume ``i``:
    the frame times of nilearn's first-level models with their default
    ``slice_time_ref=0`` (``frame_times = tr * arange(n_volumes)``, then
    ``nilearn.glm.first_level.compute_regressor``), and SPM's microtime
    onset ``fmri_t0`` at the first bin (Friston et al., 1998, NeuroImage
    7:30; Henson, in *Statistical Parametric Mapping*, 2007). Events on the
    grid give what SPM gives; see the README for how this compares with
    nilearn's rounding of onsets to its grid. With `hrf`, its
    :meth:`SampledHrf.kernel` at ``dt`` (also of sum 1) replaces
    :func:`spm_hrf`'s and `p` is not used.

    Parameters
    ----------
    onsets : array_like
        Event onsets, seconds from the start of volume 0 (the first volume
        acquired, skipped ones included); may be negative or beyond the run.
    durations : array_like
        Event durations, seconds, >= 0 (0 for an impulse); one per onset.
    amplitudes : array_like or None
        Event heights (unitless, e.g. a parametric modulation); None for 1.
    n_volumes : int
        Number of volumes to sample, >= 1.
    tr : float
        Repetition time, seconds, > 0.
    p : sequence of 7 floats
        HRF parameters (see :func:`spm_hrf`).
    oversampling : int
        Microtime bins per TR, >= 1.
    hrf : SampledHrf or None
        A response read from an HRF TSV file (:func:`read_hrf_tsv`), e.g.
        the subject's as estimated by ``nfd hrf estimate``; None for SPM's
        canonical HRF with parameters `p`.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_volumes,)``.

    Raises
    ------
    DesignError
        If the arrays differ in length, hold non-finite values or negative
        durations, or `n_volumes`, `tr`, `p` or `oversampling` is invalid
        (:class:`HrfFileError` if `hrf`'s kernel sums to <= 0).

    Examples
    --------
    >>> from nfd.design import hrf_regressor
    >>> x = hrf_regressor([0.0], [400.0], None, n_volumes=100, tr=2.0)
    >>> round(float(x[0]), 6), round(float(x[50]), 6)  # a sustained block converges to 1
    (0.0, 1.0)
    """
    on = _as_event_array("onsets", onsets, None)
    dur = _as_event_array("durations", durations, on.size)
    amp = np.ones_like(on) if amplitudes is None else _as_event_array("amplitudes", amplitudes, on.size)
    if np.any(dur < 0):
        raise DesignError(f"hrf_regressor: durations must be >= 0 seconds, got {dur.tolist()}")
    n_volumes = ensure_int(n_volumes, "hrf_regressor: n_volumes", minimum=1, error=DesignError)
    oversampling = ensure_int(oversampling, "hrf_regressor: oversampling", minimum=1, error=DesignError)
    tr = _seconds("hrf_regressor", tr)
    t_bins = int(oversampling)
    dt = float(tr) / t_bins
    n_bins = int(n_volumes) * t_bins
    u = _stimulus(on, dur, amp, n_bins, dt)
    kernel = spm_hrf(dt, p, oversampling=1) if hrf is None else hrf.kernel(dt)
    x = np.convolve(u, kernel)[:n_bins]
    return np.ascontiguousarray(x[::t_bins])
