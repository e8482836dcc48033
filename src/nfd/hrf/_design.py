"""Design matrices of HRF estimation: the FIR of a condition's events, drifts, SPM's informed basis.

Pure functions on arrays (times in seconds). The HRF is modelled as piecewise linear between knots
``tau_k = k dt``: ``h(tau) = sum_k h_k Lambda((tau - tau_k) / dt)`` with ``Lambda`` the unit hat function,
so the FIR columns of an event at onset ``o`` are ``Lambda((t_n - o - tau_k) / dt)`` at scan times
``t_n = n TR`` (the start of each volume, as :func:`nfd.design.hrf_regressor` samples), exact for onsets off
the knots' grid (PyHRF rounds onsets to its ``dt`` grid instead). An event of duration ``d > 0`` is the
integral of the hat over ``[o, o + d)`` (seconds); an impulse (``d = 0``) weighs 1 s, as in nfd's regressors.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from nfd.design import SPM_HRF_PARAMETERS, spm_hrf

__all__ = ["canonical_basis", "drift_basis", "fir_design", "hrf_knots", "second_difference_penalty"]


def hrf_knots(dt: float, duration_s: float) -> np.ndarray:
    """The HRF's knots ``0, dt, 2 dt, ...`` up to `duration_s` (seconds).

    >>> hrf_knots(1.2, 6.0).tolist()
    [0.0, 1.2, 2.4, 3.6, 4.8, 6.0]
    """
    count = math.floor(duration_s / dt + 1e-9) + 1
    return np.round(np.arange(count) * dt, 10)


def _hat_integral(x: np.ndarray) -> np.ndarray:
    """``int_{-inf}^{x} Lambda(u) du`` for the unit hat ``Lambda(u) = max(0, 1 - |u|)``."""
    out = np.where(x < 0.0, 0.5 * (x + 1.0) ** 2, 1.0 - 0.5 * (1.0 - x) ** 2)
    return np.where(x <= -1.0, 0.0, np.where(x >= 1.0, 1.0, out))


def fir_design(
    onsets: ArrayLike, durations: ArrayLike, amplitudes: ArrayLike,
    n_scans: int, tr: float, knots: np.ndarray,
) -> np.ndarray:
    """FIR design of one condition's events: column ``k`` is the response to a hat HRF at knot ``k``.

    Parameters
    ----------
    onsets, durations, amplitudes : array_like
        The condition's events: onsets and durations in seconds from the start of the first volume,
        amplitudes unitless (PyHRF's fifth column).
    n_scans : int
        Volumes of the run.
    tr : float
        Repetition time, seconds.
    knots : numpy.ndarray
        The HRF's knots (seconds, regular, from 0; :func:`hrf_knots`).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_scans, len(knots))``; ``X @ h`` is the condition's response sampled at
        ``n TR`` for the piecewise-linear HRF with knot values ``h`` (a unit impulse gives ``h`` itself).

    Examples
    --------
    >>> X = fir_design([0.0], [0.0], [1.0], n_scans=4, tr=1.0, knots=hrf_knots(1.0, 2.0))
    >>> X.tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    dt = float(knots[1] - knots[0])
    times = np.arange(n_scans, dtype=np.float64) * tr
    out = np.zeros((n_scans, knots.size), dtype=np.float64)
    events = zip(np.ravel(onsets), np.ravel(durations), np.ravel(amplitudes), strict=True)
    for onset, duration, amplitude in events:
        lag = (times[:, None] - onset - knots[None, :]) / dt
        if duration > 0:
            column = dt * (_hat_integral(lag) - _hat_integral(lag - duration / dt))
        else:
            column = np.maximum(0.0, 1.0 - np.abs(lag))
        out += amplitude * column
    return out


def drift_basis(n_scans: int, tr: float, kind: str, *, order: int = 4, high_pass_s: float = 128.0) -> np.ndarray:
    """Low-frequency drifts of one run, orthonormal columns, the constant included.

    ``"poly"``: Legendre polynomials of degrees 0 to `order` over the run (PyHRF's polynomial drifts, order
    4 by default); ``"cos"``: the constant and the discrete cosines of periods above `high_pass_s`
    (SPM's ``spm_dctmtx`` high-pass filter, 128 s).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_scans, n_drifts)``, orthonormal columns.

    Examples
    --------
    >>> P = drift_basis(50, 2.0, "cos")
    >>> P.shape, bool(np.allclose(P.T @ P, np.eye(P.shape[1])))
    ((50, 2), True)
    """
    if kind == "poly":
        x = np.linspace(-1.0, 1.0, n_scans)
        columns = np.polynomial.legendre.legvander(x, min(order, n_scans - 1))
    else:
        count = math.floor(2.0 * n_scans * tr / high_pass_s) if high_pass_s > 0 else 0
        n = np.arange(n_scans)
        columns = np.column_stack(
            [np.ones(n_scans)] + [np.cos(math.pi * k * (2 * n + 1) / (2 * n_scans)) for k in range(1, count + 1)]
        )
    q, _ = np.linalg.qr(columns)
    return np.asarray(q)


def canonical_basis(knots: np.ndarray) -> np.ndarray:
    """SPM's informed basis at the knots: the canonical HRF, its temporal and its dispersion derivative.

    As SPM12's ``spm_get_bf`` ("hrf (with time and dispersion derivatives)"): the temporal derivative is
    the canonical minus the canonical delayed by 1 s, the dispersion derivative the canonical minus the one
    of dispersion 1.01, divided by 0.01; both orthogonalised on the columns before them (Friston et al.
    1998, NeuroImage 7:30). Columns scaled to unit peak magnitude.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(len(knots), 3)``.
    """
    fine = 0.05
    grid = np.arange(0.0, knots[-1] + fine / 2, fine)
    p = list(SPM_HRF_PARAMETERS)
    p[6] = max(float(knots[-1]), 1.0)
    base = spm_hrf(fine, p, oversampling=1)
    delayed = list(p)
    delayed[5] = p[5] + 1.0
    wider = list(p)
    wider[2] = p[2] + 0.01
    derivatives = [base - spm_hrf(fine, delayed, oversampling=1), (base - spm_hrf(fine, wider, oversampling=1)) / 0.01]
    columns = [base]
    for derivative in derivatives:
        stacked = np.column_stack(columns)
        columns.append(derivative - stacked @ np.linalg.lstsq(stacked, derivative, rcond=None)[0])
    basis = np.column_stack(columns)[: grid.size]
    sampled = np.column_stack([np.interp(knots, grid[: basis.shape[0]], basis[:, j]) for j in range(3)])
    return sampled / np.abs(sampled).max(axis=0)


def second_difference_penalty(n_knots: int) -> np.ndarray:
    """``D2' D2``: the second-order smoothness prior of Ciuciu et al. (2003, IEEE TSP 51:2463) on the knots.

    >>> second_difference_penalty(4).astype(int).tolist()
    [[1, -2, 1, 0], [-2, 5, -4, 1], [1, -4, 5, -2], [0, 1, -2, 1]]
    """
    d2 = np.diff(np.eye(n_knots), n=2, axis=0)
    return np.asarray(d2.T @ d2)
