"""The maths of ``nfd eeg fit``'s validation: detrending and scaling, penalty paths, metrics, nulls.

Pure functions on arrays (no files): each transformation is fitted on a
training part and applied unchanged to the part it is tested on.

* :class:`Scaler`: a polynomial trend in time (degree 0 = the mean only,
  1 = a line, 2 = a parabola) removed from every column, then division by
  the residuals' standard deviation; the same is done to the features and
  to the targets.
* :func:`ridge_path_errors`: the mean squared error of every ridge penalty
  over cross-validation folds (leave one run out, or contiguous blocks),
  each fold solved for all penalties from one SVD (ridge's closed form,
  Hoerl & Kennard 1970; Hastie et al. 2009, *Elements of Statistical
  Learning*, section 3.4.1).
* :func:`regression_metrics` (r, R^2, MSE, RMSE, MAE) and :func:`ssim`, the
  structural similarity of two vectors (Wang et al. 2004, IEEE Trans. Image
  Process. 13:600, eq. 13 with K1 = 0.01, K2 = 0.03, computed over the whole
  vector: one parcel map per TR).
* :func:`phase_randomised_p`: the p-value of r against surrogates of the
  measured series with the same power spectrum and random Fourier phases
  (Theiler et al. 1992, Physica D 58:77; Prichard & Theiler 1994), which keep
  the series' autocorrelation (an ordinary t-test of r on autocorrelated
  series rejects far too often).
* :func:`effective_n` (Pyper & Peterman 1998, Can. J. Fish. Aquat. Sci.
  55:2127, eq. 1) and :func:`fisher_interval`, the confidence interval of r
  through Fisher's z with the effective number of independent samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DETRENDS", "Scaler", "cv_groups", "effective_n", "fisher_interval", "phase_randomised_p",
    "regression_metrics", "ridge_path_errors", "ssim", "ssim_per_row",
]

#: Detrending options and their polynomial degree in time.
DETRENDS: dict[str, int] = {"none": 0, "linear": 1, "quadratic": 2}


@dataclass(frozen=True)
class Scaler:
    """A polynomial trend in time and a scale per column, fitted on one part and applied to any.

    Attributes
    ----------
    coef : ndarray
        ``(degree + 1, n_columns)`` the trend's coefficients on the scaled time.
    scale : ndarray
        ``(n_columns,)`` the detrended training columns' standard deviations
        (1 where constant), in the columns' units.
    t_centre, t_span : float
        Time is ``(t - t_centre) / t_span`` (s) in the polynomial.
    """

    coef: np.ndarray
    scale: np.ndarray
    t_centre: float
    t_span: float

    @classmethod
    def fit(cls, t: np.ndarray, values: np.ndarray, degree: int) -> Scaler:
        """Fit the trend of ``degree`` (0: the mean) and the scale on ``values`` ``(n, k)`` at times ``t`` (s)."""
        t = np.asarray(t, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64).reshape(t.size, -1)
        centre = float(t.mean())
        span = float(np.ptp(t)) / 2 or 1.0
        V = np.vander((t - centre) / span, degree + 1, increasing=True)
        coef, *_ = np.linalg.lstsq(V, v, rcond=None)
        scale = (v - V @ coef).std(axis=0)
        scale[~(scale > 1e-12 * (np.abs(v).max(axis=0) + 1e-300))] = 1.0
        return cls(coef=coef, scale=scale, t_centre=centre, t_span=span)

    def trend(self, t: np.ndarray) -> np.ndarray:
        """The trend ``(n, k)`` at times ``t`` (s), in the columns' units."""
        tt = (np.asarray(t, dtype=np.float64) - self.t_centre) / self.t_span
        return np.vander(tt, self.coef.shape[0], increasing=True) @ self.coef

    @property
    def mean(self) -> np.ndarray:
        """The trend at the training part's centre time: the level the scaled values are relative to."""
        return np.asarray(self.coef[0], dtype=np.float64)

    def transform(self, t: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``(values - trend(t)) / scale``, ``(n, k)``."""
        v = np.asarray(values, dtype=np.float64).reshape(np.size(t), -1)
        return (v - self.trend(t)) / self.scale

    def restore(self, z: np.ndarray) -> np.ndarray:
        """Scaled values back in the columns' units around :attr:`mean` (the trend is not put back)."""
        return self.mean + self.scale * np.asarray(z, dtype=np.float64)


def cv_groups(runs: np.ndarray, folds: int) -> np.ndarray:
    """Fold labels: the runs when there are at least two, else ``folds`` contiguous blocks.

    Parameters
    ----------
    runs : ndarray of int
        ``(n,)`` each sample's run, in time order.
    folds : int
        Blocks when there is a single run.
    """
    runs = np.asarray(runs)
    if np.unique(runs).size >= 2:
        return runs
    edges = np.linspace(0, runs.size, folds + 1).round().astype(int)
    return np.searchsorted(edges, np.arange(runs.size), side="right") - 1


def ridge_path_errors(
    X: np.ndarray, Y: np.ndarray, t: np.ndarray, groups: np.ndarray, alphas: Sequence[float], degree: int
) -> np.ndarray:
    """Cross-validated mean squared error of ridge regression for every penalty.

    Each fold (one label of ``groups``) is held out in turn; the trend of
    ``degree`` and the scale of the features and of the targets are fitted
    on the other folds and applied to it; all penalties are solved from one
    SVD of the fold's scaled features.

    Parameters
    ----------
    X : ndarray
        ``(n, p)`` features.
    Y : ndarray
        ``(n, k)`` targets.
    t : ndarray
        ``(n,)`` times, s (for the trend).
    groups : ndarray
        ``(n,)`` fold labels (:func:`cv_groups`).
    alphas : sequence of float
        Penalties, on scaled features and targets.
    degree : int
        Trend degree (:data:`DETRENDS`).

    Returns
    -------
    ndarray
        ``(n_alphas,)`` mean squared error on the scaled targets (averaged
        over volumes and targets).
    """
    Y = np.asarray(Y, dtype=np.float64).reshape(X.shape[0], -1)
    a = np.asarray(alphas, dtype=np.float64)
    errors = np.zeros(a.size)
    for g in np.unique(groups):
        test = groups == g
        sx = Scaler.fit(t[~test], X[~test], degree)
        sy = Scaler.fit(t[~test], Y[~test], degree)
        Ztr, Zte = sx.transform(t[~test], X[~test]), sx.transform(t[test], X[test])
        Ytr, Yte = sy.transform(t[~test], Y[~test]), sy.transform(t[test], Y[test])
        U, s, Vt = np.linalg.svd(Ztr, full_matrices=False)
        uty = U.T @ Ytr  # (rank, k)
        proj = Zte @ Vt.T  # (n_test, rank)
        shrink = s[None, :] / (s[None, :] ** 2 + a[:, None])  # (n_alphas, rank)
        pred = np.einsum("tr,ar,rk->atk", proj, shrink, uty)
        errors += ((pred - Yte[None]) ** 2).sum(axis=(1, 2))
    return errors / Y.size


def regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Pearson r, R^2 (about ``y``'s mean), MSE, RMSE and MAE of predictions ``p`` of ``y`` (same units)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    resid = y - p
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ok = y.size > 1 and np.std(p) > 0 and np.std(y) > 0
    mse = float(np.mean(resid**2))
    return {
        "r": float(np.corrcoef(y, p)[0, 1]) if ok else math.nan,
        "r2": 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else math.nan,
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(resid))),
    }


def ssim(x: np.ndarray, y: np.ndarray, data_range: float, k1: float = 0.01, k2: float = 0.03) -> float:
    """Structural similarity of two vectors (Wang et al. 2004, eq. 13), over the whole vector.

    ``((2 mx my + C1) (2 sxy + C2)) / ((mx^2 + my^2 + C1) (sx^2 + sy^2 + C2))``
    with ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``, ``L = data_range`` and the
    sample (co)variances (``N - 1``, the paper's eqs. 5 and 11).

    Parameters
    ----------
    x, y : ndarray
        ``(n,)`` e.g. the measured and predicted parcel values of one TR (n >= 2).
    data_range : float
        ``L``, the dynamic range of the values (their units).

    Examples
    --------
    >>> round(ssim(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]), 2.0), 12)
    1.0
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(ddof=1), y.var(ddof=1)
    cxy = float(np.sum((x - mx) * (y - my))) / (x.size - 1)
    return float((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))


def ssim_per_row(Y: np.ndarray, P: np.ndarray, data_range: float | None = None) -> np.ndarray:
    """:func:`ssim` of every row (TR) of measured ``Y`` and predicted ``P`` ``(n, k)``, k >= 2 parcels.

    ``data_range`` defaults to the measured values' range (max - min over all rows).
    """
    L = float(np.ptp(Y)) if data_range is None else float(data_range)
    return np.array([ssim(y, p, L) for y, p in zip(Y, P, strict=True)])


def _surrogates(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, len(y))`` phase-randomised copies of ``y``: the same amplitude spectrum, uniform random phases."""
    spectrum = np.fft.rfft(y - y.mean())
    phases = rng.uniform(0.0, 2 * np.pi, (n, spectrum.size))
    phases[:, 0] = 0.0
    if y.size % 2 == 0:
        phases[:, -1] = 0.0  # the Nyquist term stays real
    return y.mean() + np.fft.irfft(np.abs(spectrum) * np.exp(1j * phases), n=y.size, axis=1)


def phase_randomised_p(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, n_surrogates: int = 1000, seed: int = 0
) -> tuple[float, np.ndarray]:
    """One-sided p-value of the pooled Pearson r of ``p`` with ``y`` against phase-randomised ``y``.

    Each group (held-out run) of ``y`` is randomised on its own, the
    predictions are kept; p = (1 + #{r_null >= r}) / (1 + n_surrogates).

    Parameters
    ----------
    y, p : ndarray
        ``(n,)`` measured and predicted values.
    groups : ndarray
        ``(n,)`` labels of contiguous runs.
    n_surrogates : int
    seed : int
        Of the random phases (reproducible reports).

    Returns
    -------
    p_value : float
    r_null : ndarray
        ``(n_surrogates,)`` the surrogates' r.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=np.float64)
    surr = np.empty((n_surrogates, y.size))
    for g in np.unique(groups):
        m = groups == g
        surr[:, m] = _surrogates(y[m], n_surrogates, rng)
    pc = p - p.mean()
    sc = surr - surr.mean(axis=1, keepdims=True)
    r_null = sc @ pc / (np.linalg.norm(sc, axis=1) * np.linalg.norm(pc) + 1e-300)
    r = float(np.corrcoef(y, p)[0, 1])
    return float((1 + np.count_nonzero(r_null >= r)) / (1 + n_surrogates)), r_null


def _autocorrelation(x: np.ndarray, lags: int) -> np.ndarray:
    """Sample autocorrelation at lags 1..lags (the lag-0 normalisation of the biased estimator)."""
    x = x - x.mean()
    denom = float(x @ x) or 1.0
    return np.array([float(x[:-j] @ x[j:]) / denom for j in range(1, lags + 1)])


def effective_n(x: np.ndarray, y: np.ndarray) -> float:
    """Effective number of independent pairs for r of two autocorrelated series (Pyper & Peterman 1998, eq. 1).

    ``1 / N* = 1 / N + (2 / N) sum_{j=1}^{N/5} (N - j) / N rho_xx(j) rho_yy(j)``,
    bounded to [3, N].
    """
    n = int(np.size(x))
    lags = max(1, n // 5)
    rx, ry = _autocorrelation(np.asarray(x, float), lags), _autocorrelation(np.asarray(y, float), lags)
    j = np.arange(1, lags + 1)
    inv = 1.0 / n + 2.0 / n * float(np.sum((n - j) / n * rx * ry))
    return float(min(n, max(3.0, 1.0 / inv))) if inv > 0 else float(n)


def fisher_interval(r: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of a correlation ``r`` from ``n`` (effective) pairs through Fisher's z.

    ``tanh(atanh(r) -+ z_{(1+level)/2} / sqrt(n - 3))`` (Fisher 1921);
    NaNs when ``n <= 3`` or ``r`` is NaN.
    """
    from scipy.stats import norm

    if not (n > 3) or not math.isfinite(r):
        return math.nan, math.nan
    z = math.atanh(max(-1 + 1e-15, min(1 - 1e-15, r)))
    half = float(norm.ppf(0.5 + level / 2)) / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)
