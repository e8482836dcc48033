"""Multi-echo fMRI: S0 and T2* fits, echo weights and an online echo combiner.

The echoes of one volume, ``S(TE_i)``, follow the mono-exponential decay
``S(TE) = S0 exp(-TE / T2*)``. Its log-linear least-squares fit (a
pseudo-inverse of the design ``[1, -TE]``, worked out once per echo set)
gives ``ln S0`` and ``1 / T2*`` per voxel; the echoes are then summed with
weights that favour the echo times of best BOLD contrast:

- ``"t2s"``: ``w_i ∝ TE_i exp(-TE_i / T2*)`` (Posse S et al. 1999, Enhancement
  of BOLD-contrast sensitivity by single-shot multi-echo functional MR
  imaging, MRM 42:87-97);
- ``"paid"``: ``w_i ∝ TE_i tSNR_i`` (Poser BA et al. 2006, BOLD contrast
  sensitivity enhancement and artifact reduction with multiecho EPI:
  parallel-acquired inhomogeneity-desensitized fMRI, MRM 55:1227-1235);
- ``"fixed"``: the ``"t2s"`` weights of a given T2* map; ``"echo"``: one echo.

The behaviour follows tedana's ``t2smap`` (DuPre E et al. 2021, TE-dependent
analysis of multi-echo fMRI with tedana, JOSS 6(66):3669) with its defaults
(``fittype="loglin"``, ``masktype=["dropout"]``, ``combmode="t2s"``):

- the number of good echoes per voxel (tedana's adaptive mask) is the
  smaller of the run of leading echoes that are positive at every time
  point and the "dropout" count: the last echo whose time-mean exceeds a
  third of the time-mean of that echo in the voxel at the 33rd percentile
  ("higher") of the first echo's non-zero time-means;
- the fit uses each voxel's good echoes, the first two when only one is
  good (tedana's ``threshold=1``); voxels with no good echo get T2* = S0 = 0
  and combined value 0;
- over several volumes the fit is made to the time-mean of the log signal
  (tedana's least squares over every volume's log signal, which is the same
  fit);
- T2* is clipped to ``t2s_range_ms`` (default 1-500 ms): a non-positive rate
  (signal not decaying) gives the lower bound, as tedana's ``T2* <= 0 -> 1``;
  a zero rate gives the upper bound, as tedana's ``inf -> 500``;
- the combination uses the same good echoes (the first two for a voxel
  with one good echo).

Deliberate differences from tedana: the log of the signal is
``log(max(S, 1))`` rather than ``log(|S| + 1)`` (exact for noise-free decays;
the two differ by less than ``1/S``), and T2* is also capped at the upper bound
(tedana keeps finite T2* above 500 ms in the map it combines with, up to
~9e5 ms in its own test run); at TEs 14.5/38.5/62.5 ms such a voxel's weights
are 0.134/0.340/0.526 instead of at most 0.126/0.333/0.541. All echo times and
T2* values are in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from nfd.volume._errors import GridMismatchError, InvalidOptionError, InvalidVolumeError, OutputBufferError

__all__ = [
    "CombineMethod",
    "WeightUpdate",
    "T2starFit",
    "adaptive_mask",
    "fit_t2star",
    "t2s_weights",
    "fixed_weights",
    "paid_weights",
    "echo_weights",
    "combine",
    "RunningEchoStats",
    "EchoCombiner",
]

CombineMethod = Literal["t2s", "paid", "fixed", "echo"]
WeightUpdate = Literal["freeze", "running"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Int8 = npt.NDArray[np.int8]
Bool = npt.NDArray[np.bool_]
Index = npt.NDArray[np.intp]

_METHODS = ("t2s", "paid", "fixed", "echo")
_UPDATES = ("freeze", "running")
#: Signals are floored at 1 before the log (tedana adds 1 to |S|).
_LOG_FLOOR = 1.0
#: tedana's dropout rule: the exemplar voxel is at this percentile of the first echo's time-means ...
_DROPOUT_PERCENTILE = 33.0
#: ... and an echo is good where its time-mean exceeds the exemplar's divided by this (a division, as tedana's:
#: multiplying by 1/3 rounds differently, and integer-valued data have time-means exactly at the threshold).
_DROPOUT_DIVISOR = 3.0

# ----------------------------------------------------------------------------- checks


def _check_echo_times(echo_times_ms: npt.ArrayLike) -> F64:
    try:
        tes = np.asarray(echo_times_ms, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidOptionError(f"echo_times_ms must be numbers in ms, got {echo_times_ms!r}") from exc
    if tes.ndim != 1 or tes.size < 2:
        raise InvalidOptionError(f"echo_times_ms must list at least 2 echo times (ms), got {echo_times_ms!r}")
    if not np.all(np.isfinite(tes)) or np.any(tes <= 0) or np.any(np.diff(tes) <= 0):
        raise InvalidOptionError(
            f"echo_times_ms must be finite, positive and strictly increasing (ms), got {tes.tolist()}"
        )
    return tes


def _check_range(t2s_range_ms: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in t2s_range_ms)
    except (TypeError, ValueError) as exc:
        raise InvalidOptionError(f"t2s_range_ms must be (low, high) in ms, got {t2s_range_ms!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise InvalidOptionError(f"t2s_range_ms must satisfy 0 < low < high (finite, ms), got {t2s_range_ms!r}")
    return lo, hi


def _check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    try:
        dims = tuple(int(n) for n in shape)
    except (TypeError, ValueError) as exc:
        raise InvalidOptionError(f"shape must be 3 positive integers, got {shape!r}") from exc
    if len(dims) != 3 or min(dims) < 1:
        raise InvalidOptionError(f"shape must be 3 positive integers, got {shape!r}")
    return dims[0], dims[1], dims[2]


def _check_mask(mask: npt.ArrayLike | None, shape: tuple[int, ...], name: str = "mask") -> Bool:
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask)
    if m.shape != shape:
        raise GridMismatchError(f"{name} has shape {m.shape} but the volumes are {shape}")
    if m.dtype != np.bool_:
        m = m != 0
    return m


def _check_data(data: npt.ArrayLike, n_echoes: int, name: str = "data") -> npt.NDArray[np.floating]:
    arr = np.asarray(data)
    if arr.ndim not in (4, 5):
        raise InvalidVolumeError(f"{name} must be (n_echoes, X, Y, Z) or (n_echoes, X, Y, Z, T), got shape {arr.shape}")
    if arr.shape[0] != n_echoes:
        raise GridMismatchError(f"{name} has {arr.shape[0]} echoes along its first axis but {n_echoes} echo times")
    if arr.dtype.kind not in "biuf":
        raise InvalidVolumeError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def _check_n_good(n_good: npt.ArrayLike, shape: tuple[int, ...], n_echoes: int) -> Int8:
    ng = np.asarray(n_good)
    if ng.shape != shape:
        raise GridMismatchError(f"n_good has shape {ng.shape} but the volumes are {shape}")
    if ng.dtype.kind not in "biu" or (ng.size and (ng.min() < 0 or ng.max() > n_echoes)):
        raise InvalidOptionError(f"n_good must hold integers from 0 to {n_echoes} (good echoes per voxel)")
    return ng.astype(np.int8)


# ----------------------------------------------------------------------------- fit


def _slope_rows(tes: F64) -> dict[int, F64]:
    """Per number of echoes k >= 2, the pseudo-inverse (2 x k) of the design ``[1, -TE]`` of the first k echoes."""
    rows = {}
    for k in range(2, tes.size + 1):
        design = np.column_stack([np.ones(k), -tes[:k]])
        rows[k] = np.linalg.pinv(design)
    return rows


def _fit_k(n_good: Int8) -> Int8:
    """Echoes fitted and combined per voxel: its good echoes, two when only one is good, none when none."""
    return np.where(n_good == 1, np.int8(2), n_good).astype(np.int8)


def _loglin(logmean: F64 | F32, n_good: Int8, pinvs: dict[int, F64]) -> tuple[F64, F64]:
    """``ln S0`` and the rate ``1/T2*`` (1/ms) of each voxel (columns of ``logmean``); 0 where n_good is 0."""
    k_fit = _fit_k(n_good)
    ln_s0 = np.zeros(logmean.shape[1])
    rate = np.zeros(logmean.shape[1])
    for k, p in pinvs.items():
        sel = np.flatnonzero(k_fit == k)
        if sel.size:
            beta = p @ logmean[:k, sel]
            ln_s0[sel] = beta[0]
            rate[sel] = beta[1]
    return ln_s0, rate


def _rate_to_t2s(rate: F64, t2s_range_ms: tuple[float, float]) -> F64:
    """T2* (ms) from the fitted rate, clipped as tedana does (rate <= 0: the bounds; NaN: the upper bound)."""
    lo, hi = t2s_range_ms
    r = np.where(rate < 0, 1.0 / lo, rate)
    r = np.fmin(np.fmax(r, 1.0 / hi), 1.0 / lo)
    return 1.0 / r


def _log_signal(data: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """``log(S)`` with S floored at 1 (NaN counts as 1)."""
    return np.log(np.fmax(data, _LOG_FLOOR))


def _adaptive_from_stats(means: npt.NDArray[np.floating], positive: Bool, position: Index | None = None) -> Int8:
    """tedana's adaptive mask (base and dropout) from per-echo time-means (E x M) and all-positive flags.

    ``position``: each column's place in the mask (tedana's order), when the columns are in another order
    (:func:`_dropout_thresholds`).
    """
    thresholds = _dropout_thresholds(means[0], lambda cols: means[:, cols], position)
    return _good_echoes(means, positive, thresholds)


def _dropout_thresholds(
    first: npt.NDArray[np.floating],
    column_means: Callable[[Index], npt.NDArray[np.floating]],
    position: Index | None = None,
) -> F64 | None:
    """Per echo, a third of the exemplar's time-mean (tedana's dropout rule); None if the first echo is all 0.

    The exemplar is the voxel at the 33rd percentile ("higher") of the first echo's non-zero time-means
    (``first``); of several with that mean, the one of largest summed means, and of equal sums the first
    in the mask (``position``: each column's place in it, if the columns are in another order), as
    tedana's argmax. ``column_means(cols)``: the (E x len(cols)) time-means of those columns.
    """
    nonzero = first[first != 0]
    if nonzero.size == 0:
        return None
    perc = np.percentile(nonzero, _DROPOUT_PERCENTILE, method="higher")
    cols = np.flatnonzero(first == perc)
    if position is not None:
        cols = cols[np.argsort(position[cols], kind="stable")]
    exemplars = np.asarray(column_means(cols), dtype=np.float64) / _DROPOUT_DIVISOR
    thresholds: F64 = exemplars[:, int(np.argmax(exemplars.sum(axis=0)))]
    return thresholds


def _good_echoes(means: npt.NDArray[np.floating], positive: Bool, thresholds: F64 | None) -> Int8:
    """Good echoes per column: the smaller of the leading echoes positive throughout and the dropout count."""
    n_echoes, n_vox = means.shape
    if thresholds is None:
        return np.zeros(n_vox, dtype=np.int8)
    run = positive[0].copy()  # the leading echoes positive at every time point
    base = run.astype(np.int8)
    for e in range(1, n_echoes):
        run &= positive[e]
        base += run
    dropout = np.zeros(n_vox, dtype=np.int8)  # the last echo above its threshold
    magnitude = np.empty(n_vox, dtype=means.dtype)
    for e in range(n_echoes):
        np.abs(means[e], out=magnitude)
        np.greater(magnitude, thresholds[e], out=run)
        np.copyto(dropout, np.int8(e + 1), where=run)
    np.minimum(base, dropout, out=base)
    return base


def _unmask(
    values: npt.NDArray[np.generic], vox: Index, shape: tuple[int, ...], dtype: type[np.generic]
) -> npt.NDArray:
    """(..., X, Y, Z) array of ``dtype``, ``values`` (..., M) at flat indices ``vox``, 0 elsewhere."""
    lead = values.shape[:-1]
    out = np.zeros((*lead, int(np.prod(shape))), dtype=dtype)
    out[..., vox] = values
    return out.reshape(*lead, *shape)


def _masked(data: npt.NDArray[np.floating], vox: Index) -> npt.NDArray[np.floating]:
    """(E, M, T) view of ``data``'s voxels ``vox`` (flat indices); one volume gives T = 1."""
    n_echoes = data.shape[0]
    n_vox = int(np.prod(data.shape[1:4]))
    flat = data.reshape(n_echoes, n_vox, -1)
    return flat[:, vox, :]


def adaptive_mask(data: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> Int8:
    """Number of good echoes per voxel (tedana's adaptive mask, ``"dropout"`` method).

    Parameters
    ----------
    data : array_like, (n_echoes, X, Y, Z) or (n_echoes, X, Y, Z, T)
        Echoes in ascending echo time.
    mask : array_like of bool, (X, Y, Z), optional
        Voxels to consider (default: all); the dropout threshold is taken
        from these voxels only, as tedana takes it from its mask.

    Returns
    -------
    numpy.ndarray, int8, (X, Y, Z)
        0 outside ``mask`` and where the first echo is not good, else the
        number of good echoes: the smaller of the leading echoes positive at
        every time point and the last echo whose time-mean exceeds a third of
        the exemplar's (the voxel at the 33rd percentile of the first echo's
        non-zero time-means, as ``tedana.utils.make_adaptive_mask``).
    """
    arr = np.asarray(data)
    if arr.ndim not in (4, 5):
        raise InvalidVolumeError(f"data must be (n_echoes, X, Y, Z) or (n_echoes, X, Y, Z, T), got shape {arr.shape}")
    arr = _check_data(arr, arr.shape[0])
    shape = arr.shape[1:4]
    vox = np.flatnonzero(_check_mask(mask, shape))
    d = _masked(arr, vox)
    out = np.zeros(int(np.prod(shape)), dtype=np.int8)
    out[vox] = _adaptive_from_stats(d.mean(axis=-1, dtype=np.float64), np.all(d > 0, axis=-1))
    return out.reshape(shape)


@dataclass(frozen=True)
class T2starFit:
    """Voxelwise mono-exponential fit ``S(TE) = S0 exp(-TE / T2*)``.

    Attributes
    ----------
    t2star_ms : numpy.ndarray, float32, (X, Y, Z)
        T2* in ms, within the fit's range inside ``mask``, 0 outside.
    s0 : numpy.ndarray, float32, (X, Y, Z)
        Signal extrapolated to TE = 0 (the data's units), 0 outside ``mask``.
    n_good : numpy.ndarray, int8, (X, Y, Z)
        Good echoes per voxel (tedana's adaptive mask); a voxel with 1 is
        fitted (and combined) on the first two echoes.
    mask : numpy.ndarray, bool, (X, Y, Z)
        Voxels fitted: ``n_good >= 1``.
    """

    t2star_ms: F32
    s0: F32
    n_good: Int8
    mask: Bool


def fit_t2star(
    data: npt.ArrayLike,
    echo_times_ms: npt.ArrayLike,
    mask: npt.ArrayLike | None = None,
    *,
    n_good: npt.ArrayLike | None = None,
    t2s_range_ms: tuple[float, float] = (1.0, 500.0),
) -> T2starFit:
    """Log-linear fit of S0 and T2* per voxel (tedana's ``fit_decay`` with ``fittype="loglin"``).

    Parameters
    ----------
    data : array_like, (n_echoes, X, Y, Z) or (n_echoes, X, Y, Z, T)
        Echoes in ascending echo time; with T volumes the fit is made to the
        time-mean of the log signal (tedana's fit over every volume).
    echo_times_ms : array_like, (n_echoes,)
        Echo times in ms, strictly increasing.
    mask : array_like of bool, (X, Y, Z), optional
        Voxels to fit (default: all).
    n_good : array_like of int, (X, Y, Z), optional
        Good echoes per voxel (0 to n_echoes); by default
        :func:`adaptive_mask` of ``data`` within ``mask``.
    t2s_range_ms : (float, float)
        T2* is clipped to this range (ms); a signal that does not decay gets
        the lower bound (tedana's rule for T2* <= 0).

    Returns
    -------
    T2starFit
        T2* (ms), S0, good echoes and the mask of fitted voxels.
    """
    tes = _check_echo_times(echo_times_ms)
    arr = _check_data(data, tes.size)
    rng = _check_range(t2s_range_ms)
    shape = arr.shape[1:4]
    m = _check_mask(mask, shape)
    vox = np.flatnonzero(m)
    d = _masked(arr, vox)
    if n_good is None:
        ng = _adaptive_from_stats(d.mean(axis=-1, dtype=np.float64), np.all(d > 0, axis=-1))
    else:
        ng = _check_n_good(n_good, shape, tes.size).reshape(-1)[vox]
    ln_s0, rate = _loglin(_log_signal(d).mean(axis=-1, dtype=np.float64), ng, _slope_rows(tes))
    fitted = ng >= 1
    with np.errstate(over="ignore"):
        s0 = np.where(fitted, np.exp(ln_s0), 0.0)
    s0[~np.isfinite(s0)] = 0.0
    t2s = np.where(fitted, _rate_to_t2s(rate, rng), 0.0)
    ng_map = _unmask(ng, vox, shape, np.int8)
    return T2starFit(_unmask(t2s, vox, shape, np.float32), _unmask(s0, vox, shape, np.float32), ng_map, ng_map >= 1)


# ----------------------------------------------------------------------------- weights


def _normalise_log_weights(log_w: F64) -> F32:
    """exp of log weights (E x ...) normalised over echoes; all -inf (or NaN) columns give 0."""
    with np.errstate(invalid="ignore"):
        top = np.max(log_w, axis=0)
        ok = np.isfinite(top)
        w = np.exp(log_w - np.where(ok, top, 0.0))
    w[:, ~ok] = 0.0
    w[~np.isfinite(w)] = 0.0
    total = w.sum(axis=0)
    np.divide(w, total, out=w, where=total > 0)
    return w.astype(np.float32)


def _truncate(log_w: F64, n_good: npt.ArrayLike | None, shape: tuple[int, ...]) -> None:
    """Drop (log weight -inf) the echoes beyond each voxel's good ones (two when one is good, all when 0)."""
    if n_good is None:
        return
    n_echoes = log_w.shape[0]
    k = _fit_k(_check_n_good(n_good, shape, n_echoes))
    for e in range(n_echoes):
        log_w[e][(k <= e) & (k > 0)] = -np.inf
        log_w[e][k == 0] = -np.inf


def t2s_weights(echo_times_ms: npt.ArrayLike, t2star_ms: npt.ArrayLike, *, n_good: npt.ArrayLike | None = None) -> F32:
    """Posse's T2*-weighted echo weights, ``w_i ∝ TE_i exp(-TE_i / T2*)``.

    Posse S et al. 1999, MRM 42:87-97; tedana's ``combmode="t2s"``.

    Parameters
    ----------
    echo_times_ms : array_like, (n_echoes,)
        Echo times in ms, strictly increasing.
    t2star_ms : array_like, (X, Y, Z)
        T2* in ms; voxels where it is not > 0 (0, negative, NaN) get weight
        0; an infinite T2* gives ``w_i ∝ TE_i``.
    n_good : array_like of int, (X, Y, Z), optional
        Good echoes per voxel: later echoes get weight 0 (a voxel with one
        good echo uses the first two, one with none gets 0), as tedana's
        ``make_optcom``.

    Returns
    -------
    numpy.ndarray, float32, (n_echoes, X, Y, Z)
        Weights summing to 1 over echoes (0 in excluded voxels).
    """
    tes = _check_echo_times(echo_times_ms)
    t2s = np.asarray(t2star_ms, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_w = np.log(tes).reshape((-1,) + (1,) * t2s.ndim) - np.multiply.outer(tes, 1.0 / t2s)
    log_w[:, ~(t2s > 0)] = -np.inf
    _truncate(log_w, n_good, t2s.shape)
    return _normalise_log_weights(log_w)


def fixed_weights(
    echo_times_ms: npt.ArrayLike, t2star_ms: npt.ArrayLike, *, n_good: npt.ArrayLike | None = None
) -> F32:
    """Weights of a given T2* map (ms), e.g. from a pre-scan: :func:`t2s_weights` on it.

    Parameters
    ----------
    echo_times_ms : array_like, (n_echoes,)
        Echo times in ms.
    t2star_ms : array_like, (X, Y, Z)
        The fixed T2* map in ms (0 outside the brain).
    n_good : array_like of int, (X, Y, Z), optional
        Good echoes per voxel, as for :func:`t2s_weights`.

    Returns
    -------
    numpy.ndarray, float32, (n_echoes, X, Y, Z)
        Weights summing to 1 over echoes (0 where T2* is not > 0).
    """
    return t2s_weights(echo_times_ms, t2star_ms, n_good=n_good)


def paid_weights(echo_times_ms: npt.ArrayLike, tsnr: npt.ArrayLike, *, n_good: npt.ArrayLike | None = None) -> F32:
    """PAID echo weights, ``w_i ∝ TE_i tSNR_i`` (Poser BA et al. 2006, MRM 55:1227-1235).

    Parameters
    ----------
    echo_times_ms : array_like, (n_echoes,)
        Echo times in ms, strictly increasing.
    tsnr : array_like, (n_echoes, X, Y, Z)
        Temporal SNR (mean / standard deviation) of each echo; negative or
        non-finite values count as 0.
    n_good : array_like of int, (X, Y, Z), optional
        Good echoes per voxel, as for :func:`t2s_weights`.

    Returns
    -------
    numpy.ndarray, float32, (n_echoes, X, Y, Z)
        Weights summing to 1 over echoes; 0 where every echo's tSNR is 0.
    """
    tes = _check_echo_times(echo_times_ms)
    snr = np.asarray(tsnr, dtype=np.float64)
    if snr.ndim < 1 or snr.shape[0] != tes.size:
        raise GridMismatchError(f"tsnr must be (n_echoes={tes.size}, ...), got shape {snr.shape}")
    snr = np.where(np.isfinite(snr) & (snr > 0), snr, 0.0)
    with np.errstate(divide="ignore"):
        log_w = np.log(tes.reshape((-1,) + (1,) * (snr.ndim - 1)) * snr)
    _truncate(log_w, n_good, snr.shape[1:])
    return _normalise_log_weights(log_w)


def echo_weights(n_echoes: int, echo: int, shape: Sequence[int]) -> F32:
    """Weights that pick one echo.

    Parameters
    ----------
    n_echoes : int
        Number of echoes (>= 1).
    echo : int
        The echo to keep, 1-based (1 = shortest TE).
    shape : sequence of int
        Volume shape (X, Y, Z).

    Returns
    -------
    numpy.ndarray, float32, (n_echoes, X, Y, Z)
        1 for ``echo``, 0 for the others.
    """
    if not isinstance(n_echoes, (int, np.integer)) or n_echoes < 1:
        raise InvalidOptionError(f"n_echoes must be a positive integer, got {n_echoes!r}")
    _check_echo_number(echo, int(n_echoes))
    w = np.zeros((int(n_echoes), *(int(n) for n in shape)), dtype=np.float32)
    w[echo - 1] = 1.0
    return w


def _check_echo_number(echo: object, n_echoes: int) -> int:
    if isinstance(echo, bool) or not isinstance(echo, (int, np.integer)) or not 1 <= echo <= n_echoes:
        raise InvalidOptionError(f"echo must be an echo number from 1 to {n_echoes} (1-based), got {echo!r}")
    return int(echo)


def combine(echoes: npt.ArrayLike, weights: npt.ArrayLike, out: F32 | None = None) -> F32:
    """Weighted sum of the echoes, ``sum_i w_i S_i``.

    Parameters
    ----------
    echoes : array_like, (n_echoes, X, Y, Z) or (n_echoes, X, Y, Z, T)
        The echoes of one volume, or of T volumes.
    weights : array_like, (n_echoes, X, Y, Z)
        Weights summing to 1 over echoes (0 outside the mask, which gives 0
        there, as tedana's ``make_optcom``).
    out : float32 array, (X, Y, Z) or (X, Y, Z, T), optional
        Where to write the result.

    Returns
    -------
    numpy.ndarray, float32
        The combined volume(s).
    """
    s = np.asarray(echoes)
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 4 or s.ndim not in (4, 5) or s.shape[:4] != w.shape:
        raise GridMismatchError(f"echoes {s.shape} must be weights' shape {w.shape}, optionally with a time axis")
    shape = s.shape[1:]
    if out is None:
        out = np.zeros(shape, dtype=np.float32)
    elif not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != np.float32:
        raise OutputBufferError(f"out must be a float32 array of shape {shape}")
    else:
        out.fill(0.0)
    if s.ndim == 5:
        w = w[..., np.newaxis]
    for e in range(s.shape[0]):
        out += w[e] * s[e]
    return out


# ----------------------------------------------------------------------------- running statistics


class RunningEchoStats:
    """Welford's running mean and variance per element (e.g. per echo and voxel).

    Accumulators are float64; :meth:`update` is O(elements) and allocates
    nothing.

    Parameters
    ----------
    shape : sequence of int
        Shape of each sample, e.g. (n_echoes, X, Y, Z).
    """

    def __init__(self, shape: Sequence[int]) -> None:
        self._shape = tuple(int(n) for n in shape)
        self._n = 0
        self._mean = np.zeros(self._shape)
        self._m2 = np.zeros(self._shape)
        self._delta = np.zeros(self._shape)
        self._tmp = np.zeros(self._shape)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of each sample."""
        return self._shape

    @property
    def n(self) -> int:
        """Samples seen."""
        return self._n

    @property
    def mean(self) -> F64:
        """Running mean (float64; zeros before the first sample). A view: do not modify."""
        return self._mean

    @property
    def m2(self) -> F64:
        """Sum of squared deviations from the mean (Welford's M2, float64). A view: do not modify."""
        return self._m2

    @property
    def variance(self) -> F64:
        """Unbiased sample variance (``ddof=1``); zeros before the second sample."""
        if self._n < 2:
            return np.zeros(self._shape)
        return self._m2 / (self._n - 1)

    @property
    def std(self) -> F64:
        """Sample standard deviation (``ddof=1``)."""
        return np.sqrt(self.variance)

    @property
    def tsnr(self) -> F64:
        """Temporal SNR, mean / std (``ddof=1``); 0 where std is 0 (as tedana's PAID) or before 2 samples."""
        return _tsnr(self._mean, self._m2, self._n)

    def reset(self) -> None:
        """Forget every sample."""
        self._n = 0
        self._mean.fill(0.0)
        self._m2.fill(0.0)

    def update(self, sample: npt.ArrayLike) -> None:
        """Add one sample of :attr:`shape`.

        Raises
        ------
        GridMismatchError
            If the sample's shape differs from :attr:`shape`.
        """
        x = np.asarray(sample)
        if x.shape != self._shape:
            raise GridMismatchError(f"sample has shape {x.shape} but the statistics are {self._shape}")
        self._n += 1
        _welford_step(x, self._mean, self._m2, self._n, self._delta, self._tmp)


def _welford_step(x: npt.NDArray[np.floating], mean: F64, m2: F64, n: int, delta: F64, tmp: F64) -> None:
    """Welford's update of ``mean`` and ``m2`` (in place) by the n-th sample ``x``; ``delta``, ``tmp`` are scratch."""
    np.subtract(x, mean, out=delta)
    np.multiply(delta, 1.0 / n, out=tmp)
    mean += tmp
    np.subtract(x, mean, out=tmp)
    tmp *= delta
    m2 += tmp


def _tsnr(mean: F64, m2: F64, n: int) -> F64:
    """mean / std (``ddof=1``), 0 where the std is 0 or fewer than 2 samples were seen."""
    out = np.zeros(mean.shape)
    if n >= 2:
        sd = np.sqrt(m2 / (n - 1))
        np.divide(mean, sd, out=out, where=sd > 0)
    return out


# ----------------------------------------------------------------------------- online combiner


def _check_combiner_options(
    method: object, echo: object, t2star_ms: object, update: object, t2s_volumes: object, n_echoes: int
) -> None:
    """Every option of :class:`EchoCombiner` that does not depend on the grid, with one message each."""
    if method not in _METHODS:
        raise InvalidOptionError(f"method must be one of {', '.join(map(repr, _METHODS))}, got {method!r}")
    if update not in _UPDATES:
        raise InvalidOptionError(f"update must be one of {', '.join(map(repr, _UPDATES))}, got {update!r}")
    if isinstance(t2s_volumes, bool) or not isinstance(t2s_volumes, (int, np.integer)) or t2s_volumes < 1:
        raise InvalidOptionError(f"t2s_volumes must be an integer >= 1 (volumes), got {t2s_volumes!r}")
    if method == "echo":
        _check_echo_number(echo, n_echoes)
    elif echo is not None:
        raise InvalidOptionError(f"echo is only used with method='echo', got echo={echo!r} with method={method!r}")
    if method == "fixed" and t2star_ms is None:
        raise InvalidOptionError("method='fixed' needs t2star_ms, the fixed T2* map (ms)")
    if method != "fixed" and t2star_ms is not None:
        raise InvalidOptionError(f"t2star_ms is only used with method='fixed', not method={method!r}")


def _groups(n_sorted: Int8, n_echoes: int) -> list[tuple[int, int, int]]:
    """``(k, start, stop)``: the runs of ascending ``n_sorted`` fitted and combined on k echoes (1 counts as 2)."""
    out = []
    for k in range(2, n_echoes + 1):
        start = int(np.searchsorted(n_sorted, 1 if k == 2 else k, side="left"))
        stop = int(np.searchsorted(n_sorted, k, side="right"))
        if stop > start:
            out.append((k, start, stop))
    return out


def _blocks(groups: list[tuple[int, int, int]], block: int) -> list[tuple[int, int, int]]:
    """``groups`` cut into ``(k, start, stop)`` runs of at most ``block`` voxels."""
    return [(k, a, min(a + block, b)) for k, start, b in groups for a in range(start, b, block)]


#: Voxels processed at a time: every per-voxel array of a block stays in the core's cache.
_BLOCK = 16384


class EchoCombiner:
    """Online combination of the echoes of each volume, with T2* (or tSNR) estimated as the run goes.

    The daemon calls :meth:`combine` once per volume. During the first
    ``t2s_volumes`` volumes (the estimation window) the weights come from the
    running statistics of the volumes so far: volume 1 is combined with the
    T2* fitted to volume 1 alone. The good echoes per voxel (tedana's
    adaptive mask, its rule on the running time-means) are estimated from
    volume 1 and re-estimated after volumes 4, 8, 16... and at the window's
    last volume (tedana's counts of the whole window); the voxels are kept
    sorted by their count, and moved only when it changes.

    ``"paid"`` uses the ``"t2s"`` weights of the running T2* fit until the
    window's last volume, which is combined, as every later one, with PAID's
    weights from the tSNR of the whole window (one switch). A tSNR of 2, 3...
    volumes is mostly noise (its standard deviation, from n volumes, is off
    by ~1/sqrt(2(n-1)), 70 % at n = 2, and enters as 1/sd), and such weights
    change from volume to volume: a ROI's combined mean jumped by 10 % at
    volume 2 and took the window to decay (synthetic session, 2 % thermal
    noise: correlation with the activation over the run 0.24, against 0.89
    for t2s). Under thermal noise PAID's weights are Posse's (tSNR ∝ S), and
    the T2* fit to the mean log signal converges fast, so the window's
    weights stay in the family PAID converges to; the switch changes the ROI
    mean by the noise of a window-long tSNR (~1.5 times the noise's
    volume-to-volume standard deviation on that session, 0.7 % of the mean),
    once. A tSNR shrunk towards the T2*-implied one would blur PAID after the
    window too (its weights would no longer be Poser's), hence the switch.

    After ``t2s_volumes`` volumes the good echoes are frozen and
    the weights are either frozen (``update="freeze"``; the running
    statistics stop too, so :attr:`t2star_ms`, :attr:`s0` and :attr:`tsnr`
    describe the estimation window) or re-estimated every volume from the
    running means of every volume so far (``update="running"``). The T2*
    fit is the log-linear fit to the running mean of the log signal, which
    over the same volumes is tedana's ``t2smap`` fit (the module's notes list
    the differences). Statistics are float64 (Welford's running mean and
    variance); weights and volumes float32.

    Parameters
    ----------
    echo_times_ms : array_like, (n_echoes,)
        Echo times in ms, strictly increasing (at least 2).
    shape : sequence of int
        Volume shape (X, Y, Z).
    method : {"t2s", "paid", "fixed", "echo"}
        ``"t2s"``: Posse S et al. 1999 (MRM 42:87-97), ``w_i ∝ TE_i exp(-TE_i / T2*)``;
        ``"paid"``: Poser BA et al. 2006 (MRM 55:1227-1235), ``w_i ∝ TE_i tSNR_i``;
        both on each voxel's good echoes, as tedana's ``make_optcom``;
        ``"fixed"``: the ``"t2s"`` weights of ``t2star_ms`` on every echo;
        ``"echo"``: echo ``echo`` alone.
    echo : int, optional
        The echo kept by ``method="echo"`` (1-based); only with that method.
    t2star_ms : array_like, (X, Y, Z), optional
        The T2* map (ms) of ``method="fixed"`` (0 where not to combine); only
        with that method.
    mask : array_like of bool, (X, Y, Z), optional
        Voxels to combine (default: all); combined volumes are 0 outside it
        and, for ``"t2s"`` and ``"paid"``, where no echo is good.
    t2s_volumes : int
        Volumes (>= 1) over which the good echoes (and, with
        ``update="freeze"``, the weights) are estimated. Its per-echo sums
        are float32 (exact for integer-valued data), float64 after it.
    update : {"freeze", "running"}
        Weights after ``t2s_volumes`` volumes: frozen, or re-estimated every
        volume from the running means.
    t2s_range_ms : (float, float)
        T2* is clipped to this range (ms).
    running_tsnr : bool, optional
        With ``update="running"``, whether the per-echo mean and variance
        (:attr:`tsnr`) keep being updated after the window; by default only
        for ``"paid"``, whose weights need them (otherwise :attr:`tsnr`
        describes the window, and a running volume is ~30 % faster).

    Raises
    ------
    InvalidOptionError
        For an option out of range or used with the wrong method.
    GridMismatchError
        If ``mask`` or ``t2star_ms`` is not of ``shape``.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.volume._multiecho import EchoCombiner
    >>> tes = np.array([12.0, 28.0, 44.0])
    >>> echoes = (1000.0 * np.exp(-tes / 40.0)).reshape(3, 1, 1, 1) * np.ones((3, 4, 4, 4))
    >>> comb = EchoCombiner(tes, (4, 4, 4), t2s_volumes=2)
    >>> combined = comb.combine(echoes.astype(np.float32))
    >>> round(float(comb.t2star_ms[0, 0, 0]), 3), [round(float(w), 3) for w in comb.weights[:, 0, 0, 0]]
    (40.0, [0.237, 0.371, 0.391])
    """

    def __init__(
        self,
        echo_times_ms: npt.ArrayLike,
        shape: Sequence[int],
        *,
        method: CombineMethod = "t2s",
        echo: int | None = None,
        t2star_ms: npt.ArrayLike | None = None,
        mask: npt.ArrayLike | None = None,
        t2s_volumes: int = 10,
        update: WeightUpdate = "freeze",
        t2s_range_ms: tuple[float, float] = (1.0, 500.0),
        running_tsnr: bool | None = None,
    ) -> None:
        self._tes = _check_echo_times(echo_times_ms)
        self._shape = _check_shape(shape)
        if running_tsnr not in (None, True, False):
            raise InvalidOptionError(f"running_tsnr must be True, False or None, got {running_tsnr!r}")
        self._running_tsnr = method == "paid" if running_tsnr is None else bool(running_tsnr)
        n_echoes = self._tes.size
        _check_combiner_options(method, echo, t2star_ms, update, t2s_volumes, n_echoes)
        self._range = _check_range(t2s_range_ms)
        self._method: CombineMethod = method
        self._update: WeightUpdate = update
        self._t2s_volumes = int(t2s_volumes)
        self._rate_bounds = (1.0 / self._range[1], 1.0 / self._range[0])
        self._mask = _check_mask(mask, self._shape)
        self._pinvs = _slope_rows(self._tes)
        self._ln_ratio = np.log(self._tes / self._tes[0])
        self._dte = self._tes - self._tes[0]
        self._n_seen = 0
        self._n = 0  # volumes in the running statistics (the log signal's sum)
        self._n_welford = 0  # volumes in the mean and variance (fewer when running_tsnr is False)
        self._dom_idx = np.flatnonzero(self._mask)
        n_vox = self._dom_idx.size
        self._init_statistics(n_echoes, n_vox)
        self._blocks = _blocks([(n_echoes, 0, n_vox)], _BLOCK)  # (k echoes fitted, start, stop); k = 0: not combined
        self._act_idx = self._dom_idx
        self._w = self._initial_weights(t2star_ms, echo)
        self._sum = np.zeros(self._act_idx.size, dtype=np.float32)
        self._scratch = {
            name: np.empty(n_echoes * _BLOCK, dtype=dtype)
            for name, dtype in (
                ("x", np.float32),
                ("log", np.float32),
                ("prod", np.float32),
                ("d", np.float64),
                ("t", np.float64),
                ("above", np.bool_),
            )
        }
        self._rate, self._rate_tmp = np.empty(_BLOCK), np.empty(_BLOCK)
        self._total = np.empty(_BLOCK, dtype=np.float32)
        self._neg = np.empty(_BLOCK, dtype=bool)

    def _init_statistics(self, n_echoes: int, n_vox: int) -> None:
        """The running statistics of the domain voxels: the window's (float32), Welford's after it (float64)."""
        # the window's moments: sums of the deviations from the first volume (shifted data), turned into
        # Welford's mean and M2 when the window ends (``_settle``)
        self._first: F32 | None = np.zeros((n_echoes, n_vox), dtype=np.float32)
        self._dsum = np.zeros((n_echoes, n_vox), dtype=np.float32)
        self._dsq = np.zeros((n_echoes, n_vox), dtype=np.float32)
        self._mean, self._m2 = np.zeros((n_echoes, 0)), np.zeros((n_echoes, 0))
        self._logsum: F32 | F64 = np.zeros((n_echoes, n_vox), dtype=np.float32)  # float64 after the window
        self._positive: Bool | None = np.ones((n_echoes, n_vox), dtype=bool)
        self._n_dom = np.zeros(n_vox, dtype=np.int8)

    def _initial_weights(self, t2star_ms: npt.ArrayLike | None, echo: int | None) -> F32:
        n_echoes, vox = self._tes.size, self._dom_idx
        if self._method == "echo":
            w = np.zeros((n_echoes, vox.size), dtype=np.float32)
            w[int(echo or 1) - 1] = 1.0
            return w
        if self._method == "fixed":
            t2s = np.asarray(t2star_ms, dtype=np.float64)
            if t2s.shape != self._shape:
                raise GridMismatchError(f"t2star_ms has shape {t2s.shape} but the volumes are {self._shape}")
            return np.ascontiguousarray(t2s_weights(self._tes, t2s.reshape(-1)[vox]))
        return np.zeros((n_echoes, vox.size), dtype=np.float32)  # the window's weights, in domain order

    def _view(self, name: str, n_cols: int) -> npt.NDArray:
        """A contiguous (n_echoes, n_cols) view of a block's scratch buffer."""
        return self._scratch[name][: self._tes.size * n_cols].reshape(self._tes.size, n_cols)

    # ------------------------------------------------------------- properties
    @property
    def echo_times_ms(self) -> F64:
        """Echo times in ms."""
        return self._tes.copy()

    @property
    def shape(self) -> tuple[int, int, int]:
        """Volume shape."""
        return self._shape

    @property
    def method(self) -> CombineMethod:
        """The weighting method."""
        return self._method

    @property
    def n_seen(self) -> int:
        """Volumes combined so far."""
        return self._n_seen

    @property
    def mask(self) -> Bool:
        """The voxels considered (the ``mask`` option)."""
        return self._mask.copy()

    @property
    def n_good(self) -> Int8:
        """Good echoes per voxel (tedana's adaptive mask), int8 (X, Y, Z); as last re-estimated during the window
        (after volumes 1, 4, 8...), tedana's of the whole window after it, then frozen."""
        return _unmask(self._n_dom, self._dom_idx, self._shape, np.int8)

    @property
    def t2star_ms(self) -> F32:
        """T2* (ms) fitted to the running mean of the log signal, float32 (X, Y, Z); 0 where not fitted.

        For ``"fixed"`` and ``"echo"`` too (it does not set their weights).
        """
        _, rate = _loglin(self._logsum / max(self._n, 1), self._n_dom, self._pinvs)
        t2s = np.where(self._n_dom >= 1, _rate_to_t2s(rate, self._range), 0.0)
        return _unmask(t2s, self._dom_idx, self._shape, np.float32)

    @property
    def s0(self) -> F32:
        """S0 (the data's units) of the same fit, float32 (X, Y, Z); 0 where not fitted."""
        ln_s0, _ = _loglin(self._logsum / max(self._n, 1), self._n_dom, self._pinvs)
        with np.errstate(over="ignore"):
            s0 = np.where(self._n_dom >= 1, np.exp(ln_s0), 0.0)
        s0[~np.isfinite(s0)] = 0.0
        return _unmask(s0, self._dom_idx, self._shape, np.float32)

    @property
    def tsnr(self) -> F32:
        """Temporal SNR of each echo (mean / std, ``ddof=1``), float32 (n_echoes, X, Y, Z); 0 where std is 0."""
        mean, m2 = self._moments()
        return _unmask(_tsnr(mean, m2, self._n_welford), self._dom_idx, self._shape, np.float32)

    @property
    def weights(self) -> F32:
        """The weights of the last volume, float32 (n_echoes, X, Y, Z), summing to 1 (0 where not combined)."""
        return _unmask(self._w, self._act_idx, self._shape, np.float32)

    # ------------------------------------------------------------- per volume
    def combine(self, echoes: npt.ArrayLike, out: F32 | None = None) -> F32:
        """Combine the echoes of the next volume.

        Parameters
        ----------
        echoes : array_like, (n_echoes, X, Y, Z)
            The volume's echoes, in ascending echo time (float32 C-contiguous
            avoids a copy).
        out : float32 array, (X, Y, Z), optional
            C-contiguous array to write the combined volume into.

        Returns
        -------
        numpy.ndarray, float32, (X, Y, Z)
            ``sum_i w_i S_i``; 0 outside the mask and where no echo is good.

        Raises
        ------
        GridMismatchError
            If ``echoes`` is not (n_echoes, X, Y, Z).
        InvalidVolumeError
            If ``echoes`` is not real-valued.
        OutputBufferError
            If ``out`` is not a writeable C-contiguous float32 array of the volume shape.
        """
        flat = self._check_echoes(echoes)
        result = self._check_out(out)
        self._n_seen += 1
        if self._n_seen < self._t2s_volumes:
            self._window_step(flat)
        elif self._n_seen == self._t2s_volumes:
            self._last_window_step(flat)
        else:
            self._step(flat, running=self._update == "running")
        flat_out = result.reshape(-1)
        flat_out.fill(0.0)
        flat_out[self._act_idx] = self._sum
        return result

    def _check_echoes(self, echoes: npt.ArrayLike) -> F32:
        arr = echoes if isinstance(echoes, np.ndarray) else np.asarray(echoes)
        expected = (self._tes.size, *self._shape)
        if arr.shape != expected:
            raise GridMismatchError(f"echoes have shape {arr.shape} but the combiner expects {expected}")
        if arr.dtype != np.float32 or not arr.flags.c_contiguous:
            if arr.dtype.kind not in "biuf":
                raise InvalidVolumeError(f"echoes must be real-valued, got dtype {arr.dtype}")
            arr = np.ascontiguousarray(arr, dtype=np.float32)
        return arr.reshape(self._tes.size, -1)

    def _check_out(self, out: F32 | None) -> F32:
        if out is None:
            return np.empty(self._shape, dtype=np.float32)
        if (
            not isinstance(out, np.ndarray)
            or out.shape != self._shape
            or out.dtype != np.float32
            or not out.flags.c_contiguous
            or not out.flags.writeable
        ):
            raise OutputBufferError(f"out must be a writeable C-contiguous float32 array of shape {self._shape}")
        return out

    def _gather(self, flat: F32, idx: Index, a: int, b: int) -> F32:
        x: F32 = self._view("x", b - a)
        np.take(flat, idx[a:b], axis=1, out=x, mode="clip")
        return x

    def _step(self, flat: F32, *, running: bool) -> None:
        """One volume after the estimation window: statistics and weights (if running) and the sum, by blocks."""
        if running:
            self._n += 1
            self._n_welford += self._running_tsnr
        refresh = running and self._method in ("t2s", "paid")
        for k, a, b in self._blocks:
            x = self._gather(flat, self._act_idx, a, b)
            if running:
                self._accumulate(x, a, b)
                if refresh:
                    self._weights_block(self._logsum, self._mean, self._m2, k, a, b)
            self._sum_block(x, a, b)

    def _window_step(self, flat: F32) -> None:
        """A volume of the estimation window but its last: statistics, weights of the counts so far, sum.

        One pass over the blocks (gather, statistics, weights, sum). For t2s and paid the domain is kept
        sorted by good echoes (``_regroup``), so each block is fitted on one number of echoes; the counts are
        re-estimated from volumes 1-4, 1-8, 1-16... (volumes 1-4: volume 1's own), before the next volume's
        weights, and the domain re-sorted only when they change.
        """
        if self._n == 0:
            self._first_counts(flat)
        elif self._n >= 4 and self._n & (self._n - 1) == 0:  # after volumes 4, 8, 16...
            self._recount()
        self._n += 1
        self._n_welford += 1
        posse = self._method in ("t2s", "paid")
        for k, a, b in self._blocks:
            x = self._gather(flat, self._dom_idx, a, b)
            self._accumulate(x, a, b)
            if k:
                if posse:
                    self._t2s_block(self._logsum, k, a, b)
                    self._normalise_block(a, b)
                self._sum_block(x, a, b)

    def _last_window_step(self, flat: F32) -> None:
        """The window's last volume: statistics, tedana's counts, the combined voxels, the weights, sum."""
        if self._n == 0:
            self._first_counts(flat)
        self._n += 1
        self._n_welford += 1
        for _, a, b in self._blocks:
            self._accumulate(self._gather(flat, self._dom_idx, a, b), a, b)
        self._recount()
        self._settle()
        posse = self._method in ("t2s", "paid")
        for k, a, b in self._blocks:
            x = self._gather(flat, self._act_idx, a, b)
            if posse:
                self._weights_block(self._logsum, self._mean, self._m2, k, a, b)
            self._sum_block(x, a, b)

    def _first_counts(self, flat: F32) -> None:
        """Volume 1's good echoes (its own values as time-means), before its statistics."""
        x = np.take(flat, self._dom_idx, axis=1)
        self._set_counts(_adaptive_from_stats(x, x > 0))

    def _moments(self, start: int = 0) -> tuple[F64, F64]:
        """Per-echo mean and M2 (sum of squared deviations) of the volumes so far, domain voxels from ``start``.

        During the window, from the float32 sums of the deviations from volume 1 (exact for integer-valued
        data; ``float32`` rounding of M2 grows with the window's length and with volume 1's distance from the
        mean, in standard deviations), in float64 block by block.
        """
        first = self._first
        if first is None:
            return self._mean[:, start:], self._m2[:, start:]
        n = max(self._n_welford, 1)
        mean, m2 = (np.empty((self._tes.size, first.shape[1] - start)) for _ in range(2))
        for a in range(start, first.shape[1], _BLOCK):
            b = min(a + _BLOCK, first.shape[1])
            dsum, tmp = self._view("d", b - a), self._view("t", b - a)
            np.copyto(dsum, self._dsum[:, a:b])
            mu, sq = mean[:, a - start : b - start], m2[:, a - start : b - start]
            np.divide(dsum, n, out=mu)
            mu += first[:, a:b]
            np.multiply(dsum, dsum, out=tmp)
            tmp /= n
            np.subtract(self._dsq[:, a:b], tmp, out=sq)
            np.maximum(sq, 0.0, out=sq)
        return mean, m2

    def _recount(self) -> None:
        """Good echoes of every domain voxel (tedana's rule) from the running means and positive flags.

        The means are formed block by block, in float64 (the window's last volume gives tedana's counts).
        """
        first, positive = self._first, self._positive
        assert first is not None and positive is not None
        n = max(self._n_welford, 1)  # divisions, as the means of the data (integer data meet the thresholds)
        thresholds = _dropout_thresholds(
            first[0] + self._dsum[0].astype(np.float64) / n,
            lambda cols: first[:, cols] + self._dsum[:, cols].astype(np.float64) / n,
            self._dom_idx,
        )
        n_good = np.empty_like(self._n_dom)
        for a in range(0, n_good.size, _BLOCK):
            b = min(a + _BLOCK, n_good.size)
            mean = self._view("d", b - a)
            np.divide(self._dsum[:, a:b], n, out=mean, dtype=np.float64)
            mean += first[:, a:b]
            n_good[a:b] = _good_echoes(mean, positive[:, a:b], thresholds)
        if not np.array_equal(n_good, self._n_dom):
            self._set_counts(n_good)

    def _set_counts(self, n_good: Int8) -> None:
        """New good-echo counts (domain order); for t2s and paid, the domain sorted by them (``_regroup``)."""
        self._n_dom = n_good
        if self._method in ("t2s", "paid"):
            self._regroup()

    def _regroup(self) -> None:
        """Sort the domain by good echoes (blocks of one count each), moving only the voxels out of place.

        The domain is sorted by the previous counts: the voxels whose new count's run does not hold their
        place are the places to fill, taken in order of their new count (before volume 1, every statistic is
        still uniform: only the indices move).
        """
        sizes = np.bincount(self._n_dom, minlength=self._tes.size + 1)
        run_count = np.repeat(np.arange(sizes.size, dtype=np.int8), sizes)
        dst = np.flatnonzero(self._n_dom != run_count)
        src = dst[np.argsort(self._n_dom[dst], kind="stable")]
        arrays: list[npt.NDArray[np.generic]] = [self._dom_idx, self._n_dom]
        if self._n:
            assert self._first is not None and self._positive is not None
            arrays += [self._logsum, self._dsum, self._dsq, self._first, self._positive]
        for v in arrays:
            v[..., dst] = v[..., src]
        self._act_idx = self._dom_idx
        n_zero = int(sizes[0])
        self._blocks = _blocks([(0, 0, n_zero)] if n_zero else [], _BLOCK)
        self._blocks += _blocks(_groups(self._n_dom, self._tes.size), _BLOCK)
        moved_out = dst[dst < n_zero]  # not combined any more
        self._w[:, moved_out] = 0.0
        self._sum[moved_out] = 0.0

    def _settle(self) -> None:
        """End of the estimation window: Welford's moments; for t2s/paid, only the combined voxels kept."""
        posse = self._method in ("t2s", "paid")
        n_zero = int(np.searchsorted(self._n_dom, 1)) if posse else 0  # sorted by counts (``_regroup``)
        self._mean, self._m2 = self._moments(n_zero)
        self._logsum = self._logsum[:, n_zero:].astype(np.float64)
        self._first = self._positive = None
        self._dsum = self._dsq = np.zeros((self._tes.size, 0), dtype=np.float32)
        if not posse:
            return
        self._act_idx = self._dom_idx = self._dom_idx[n_zero:]
        self._n_dom = self._n_dom[n_zero:]
        self._blocks = _blocks(_groups(self._n_dom, self._tes.size), _BLOCK)
        self._w = np.zeros((self._tes.size, self._act_idx.size), dtype=np.float32)
        self._sum = np.zeros(self._act_idx.size, dtype=np.float32)

    def _accumulate(self, x: F32, a: int, b: int) -> None:
        """Add a block of one volume (domain voxels a:b) to the running statistics."""
        n_cols = b - a
        if self._first is not None:  # the window: shifted sums, all-positive flags
            self._accumulate_window(x, a, b)
        elif self._n_welford == self._n:  # after it, the mean and variance are kept up (Welford)
            delta, tmp = self._view("d", n_cols), self._view("t", n_cols)
            _welford_step(x, self._mean[:, a:b], self._m2[:, a:b], self._n, delta, tmp)
        log = self._view("log", n_cols)
        # NaN counts as 1 (an infinite sample makes the voxel's rate NaN, i.e. the upper T2* bound)
        np.fmax(x, _LOG_FLOOR, out=log)
        np.log(log, out=log)
        self._logsum[:, a:b] += log  # the running mean of the log signal is logsum / n

    def _accumulate_window(self, x: F32, a: int, b: int) -> None:
        assert self._first is not None and self._positive is not None
        n_cols = b - a
        above = self._view("above", n_cols)
        np.greater(x, 0.0, out=above)
        np.logical_and(self._positive[:, a:b], above, out=self._positive[:, a:b])
        if self._n == 1:
            self._first[:, a:b] = x
            return
        dev = self._view("prod", n_cols)  # the deviation from the first volume (float32: exact near it)
        np.subtract(x, self._first[:, a:b], out=dev)
        self._dsum[:, a:b] += dev
        dev *= dev
        self._dsq[:, a:b] += dev

    def _sum_block(self, x: F32, a: int, b: int) -> None:
        prod = self._view("prod", b - a)
        np.multiply(self._w[:, a:b], x, out=prod)
        np.sum(prod, axis=0, out=self._sum[a:b])

    def _weights_block(self, logsum: F32 | F64, mean: F64, m2: F64, k: int, a: int, b: int) -> None:
        if self._method == "t2s":
            self._t2s_block(logsum, k, a, b)
        else:
            self._paid_block(mean, m2, k, a, b)
        self._normalise_block(a, b)

    def _t2s_block(self, logsum: F32 | F64, k: int, a: int, b: int) -> None:
        """Posse weights of combined voxels a:b (fitted on k echoes) from the log-linear rate of ``logsum / n``.

        ``w_i / w_1 = (TE_i / TE_1) exp(-(TE_i - TE_1) / T2*)``: the first echo's weight is 1 before the
        normalisation, so that no voxel's weights all underflow.
        """
        n_cols = b - a
        rate, tmp, neg = self._rate[:n_cols], self._rate_tmp[:n_cols], self._neg[:n_cols]
        lo, hi = self._rate_bounds
        slope = self._pinvs[k][1]
        scale = 1.0 / self._n  # the fit to the mean log signal, from its sum
        np.multiply(logsum[0, a:b], slope[0] * scale, out=rate, dtype=np.float64)
        for i in range(1, k):
            np.multiply(logsum[i, a:b], slope[i] * scale, out=tmp, dtype=np.float64)
            rate += tmp
        np.less(rate, 0.0, out=neg)
        np.copyto(rate, hi, where=neg)  # signal not decaying: tedana's T2* <= 0 -> lower bound
        np.fmax(rate, lo, out=rate)  # NaN -> lo
        np.fmin(rate, hi, out=rate)
        w = self._w[:, a:b]
        w[0] = 1.0
        for i in range(1, k):
            np.multiply(rate, -self._dte[i], out=w[i])
            w[i] += self._ln_ratio[i]
            np.exp(w[i], out=w[i])
        w[k:] = 0.0

    def _paid_block(self, mean: F64, m2: F64, k: int, a: int, b: int) -> None:
        """PAID weights ``TE_i mean_i / sd_i`` of combined voxels a:b (``TE_i mean_i`` before 2 volumes)."""
        w = self._w[:, a:b]
        tes = self._tes[:, np.newaxis]
        if self._n >= 2:
            snr = self._view("t", b - a)
            np.sqrt(m2[:, a:b], out=snr)  # sd * sqrt(n - 1): the common factor cancels in the normalisation
            np.divide(mean[:, a:b], snr, out=snr, where=snr > 0)  # sd = 0 stays 0, as tedana's PAID
            np.multiply(snr, tes, out=w)
        else:
            np.multiply(mean[:, a:b], tes, out=w)
        np.maximum(w, 0.0, out=w)
        w[k:] = 0.0
        flat = ~(w.sum(axis=0) > 0)
        if flat.any():  # constant signal in every good echo: equal-noise PAID
            w[:k, flat] = np.maximum(mean[:k, a:b][:, flat] * tes[:k], 0.0)

    def _normalise_block(self, a: int, b: int) -> None:
        w, total = self._w[:, a:b], self._total[: b - a]
        np.sum(w, axis=0, out=total)
        np.divide(1.0, total, out=total, where=total > 0)
        w *= total
