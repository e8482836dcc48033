"""The estimators' mathematics: one HRF shared by a parcel's voxels, or one HRF per voxel (rank-one GLM).

Pure functions on arrays. The data ``Y`` (scans x voxels, percent signal change) and the designs ``X``
(conditions x scans x knots, :func:`nfd.hrf._design.fir_design`) come with their drifts already projected
out, which is the least-squares fit of the drifts beside the task (Frisch-Waugh). The HRF's knot values are
``h = B theta``: ``B`` maps the free parameters to the knots (the identity without the first and last knot
under the zero constraint; SPM's informed basis for ``method = "basis"``).

The shared-HRF model is the joint detection-estimation model's regression part (Ciuciu et al. 2003, IEEE
TSP 51:2463; Makni et al. 2005; Vincent et al. 2010): ``y_j = sum_c a_jc X_c h + e_j``, per-voxel noise
variances, a Gaussian second-order smoothness prior on ``h`` of variance ``sigma_h^2``. It is fitted by
alternating least squares (amplitudes given ``h``, then ``h`` given the amplitudes, each exact), with
``sigma_h^2`` re-estimated at each ``h`` step by the evidence (type-II maximum-likelihood) fixed point of
MacKay (1992, Neural Comput 4:415): ``sigma_h^2 = theta' R theta / gamma``, ``gamma = rank R -
tr(R Sigma) / sigma_h^2``. PyHRF's VEM also estimates activation classes per voxel and a spatial Potts
prior; nfd keeps the amplitudes as least-squares estimates and flags a parcel's activity with an F-test
(:func:`parcel_activity`). The rank-one GLM (Pedregosa et al. 2015, NeuroImage 105:209) fits the same
model with one HRF per voxel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["ParcelFit", "fit_r1glm", "fit_shared_hrf", "normalise_hrf", "parcel_activity"]

#: Iterations of the alternating least squares, and the relative change of the HRF that ends them.
MAX_ITERATIONS = 200
TOLERANCE = 1e-7
#: The rank-one GLM's: relative change of the voxels' summed residual variance.
R1GLM_TOLERANCE = 1e-7
#: Updates of the rank-one GLM's prior per alternation, at most.
PRIOR_UPDATES = 6


@dataclass(frozen=True)
class ParcelFit:
    """One parcel's estimate.

    Attributes
    ----------
    hrf : numpy.ndarray
        float64 ``(n_knots,)``: the HRF at the knots, peak 1 (its largest deflection positive).
    amplitudes : numpy.ndarray
        float64 ``(n_conditions, n_voxels)``: each voxel's response amplitude per condition, percent signal
        change at the peak of the response to a unit event (an impulse of weight 1 s).
    noise_variance : numpy.ndarray
        float64 ``(n_voxels,)``: residual variance, (percent signal change)^2.
    sigma_h : float
        Standard deviation of the smoothness prior (0 without one).
    iterations : int
        Alternations done.
    voxel_hrfs : numpy.ndarray or None
        float64 ``(n_knots, n_voxels)``: each voxel's HRF (rank-one GLM), peak 1; None for a shared HRF.
    """

    hrf: np.ndarray
    amplitudes: np.ndarray
    noise_variance: np.ndarray
    sigma_h: float
    iterations: int
    voxel_hrfs: np.ndarray | None = None


def normalise_hrf(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HRFs (knots x ...) scaled to peak 1 with their largest deflection positive, and the factors used.

    >>> h, s = normalise_hrf(np.array([0.5, -2.0, 1.0]))
    >>> h.tolist(), s.tolist()
    ([-0.25, 1.0, -0.5], -2.0)
    """
    flat = h.reshape(h.shape[0], -1)
    peak = flat[np.argmax(np.abs(flat), axis=0), np.arange(flat.shape[1])]
    scale = np.where(peak == 0, 1.0, peak)
    return (flat / scale).reshape(h.shape) if h.ndim > 1 else flat[:, 0] / scale[0], scale.reshape(h.shape[1:])


def _residual_variance(Y: np.ndarray, fitted: np.ndarray, dof: int) -> np.ndarray:
    var = ((Y - fitted) ** 2).sum(axis=0) / max(dof, 1)
    floor = max(float(np.median(var)) * 1e-6, 1e-12)
    return np.asarray(np.maximum(var, floor))


def _noise_inflation(residual: np.ndarray, weighted: np.ndarray, amplitudes: np.ndarray, dof: int) -> float:
    """How much more the voxels' noise varies when combined than independent noise would (>= 1).

    The HRF step sees the data through the combinations ``E (a_c / sigma^2)``; for independent voxels their
    variance would be ``sum_j a_jc^2 / sigma_j^2`` per scan. Noise shared by a parcel's voxels (physiology,
    residual motion) makes it larger, and treating the voxels as independent would weigh the data as if
    hundreds of independent series were averaged, leaving the smoothness prior no say. The ratio (a design
    effect, Kish 1965) divides the normal equations.
    """
    combined = residual @ weighted.T
    observed = (combined**2).sum(axis=0) / max(dof, 1)
    expected = (weighted * amplitudes).sum(axis=1)
    ok = expected > 0
    if not np.any(ok):
        return 1.0
    return max(1.0, float(np.mean(observed[ok] / expected[ok])))


def _evidence_fixed_point(
    M: np.ndarray, b: np.ndarray, R: np.ndarray, sigma_h: float, *, updates: int, tolerance: float
) -> tuple[np.ndarray, float]:
    """Posterior means ``theta`` ``(V, P)`` of whitened normal equations ``M`` ``(V, P, P)``, ``b`` ``(V, P)`` under
    the prior ``N(0, sigma_h^2 R^-1)`` shared by the ``V`` problems, and ``sigma_h`` by MacKay's (1992) fixed point
    ``sigma_h^2 = sum_v theta_v' R theta_v / sum_v gamma_v``, ``gamma_v = rank R - tr(R Sigma_v) / sigma_h^2``,
    at most `updates` times or until ``sigma_h`` changes by less than `tolerance` (relative)."""
    rank = int(np.linalg.matrix_rank(R))
    theta = np.zeros_like(b)
    for _ in range(updates):
        lam = 1.0 / sigma_h**2
        sigma = np.linalg.inv(M + lam * R)
        theta = np.einsum("vpq,vq->vp", sigma, b)
        gamma = np.maximum(rank - lam * np.einsum("pq,vqp->v", R, sigma), 1e-3)
        total = float(np.einsum("vp,pq,vq->", theta, R, theta, optimize=True))
        new = float(np.sqrt(max(total / float(gamma.sum()), 1e-12)))
        converged = abs(new - sigma_h) <= tolerance * sigma_h
        sigma_h = new
        if converged:
            break
    return theta, sigma_h


def _prior_step(M: np.ndarray, b: np.ndarray, R: np.ndarray | None, sigma_h: float) -> tuple[np.ndarray, float]:
    """``theta`` maximising the posterior given whitened normal equations; ``sigma_h`` by MacKay's fixed point."""
    if R is None:
        return np.linalg.lstsq(M, b, rcond=None)[0], 0.0
    theta, sigma_h = _evidence_fixed_point(M[None], b[None], R, sigma_h, updates=20, tolerance=1e-6)
    return theta[0], sigma_h


def fit_shared_hrf(
    Y: np.ndarray, X: np.ndarray, B: np.ndarray, R: np.ndarray | None, h0: np.ndarray, *, dof: int,
) -> ParcelFit:
    """One HRF for all of a parcel's voxels, per-voxel amplitudes per condition (see the module's text).

    Parameters
    ----------
    Y : numpy.ndarray
        ``(n_scans, n_voxels)``, percent signal change, drifts projected out.
    X : numpy.ndarray
        ``(n_conditions, n_scans, n_knots)`` FIR designs, drifts projected out.
    B : numpy.ndarray
        ``(n_knots, n_parameters)``: knot values from the parameters.
    R : numpy.ndarray or None
        ``(n_parameters, n_parameters)`` smoothness penalty on the parameters; None for no prior.
    h0 : numpy.ndarray
        ``(n_knots,)`` starting HRF (SPM's canonical at the knots).
    dof : int
        Residual degrees of freedom of a voxel (scans minus drifts minus conditions).

    Returns
    -------
    ParcelFit
    """
    XB = np.einsum("ctk,kp->ctp", X, B)
    XtX = np.einsum("ctp,dtq->cdpq", XB, XB)
    theta = np.linalg.lstsq(B, h0, rcond=None)[0]
    sigma_h = 1.0
    h = B @ theta
    amplitudes = np.zeros((X.shape[0], Y.shape[1]))
    variance = np.ones(Y.shape[1])
    iterations = 0
    while iterations < MAX_ITERATIONS:
        iterations += 1
        A = np.einsum("ctk,k->tc", X, h)
        amplitudes = np.linalg.lstsq(A, Y, rcond=None)[0]
        residual = Y - A @ amplitudes
        variance = _residual_variance(Y, A @ amplitudes, dof)
        weighted = amplitudes / variance
        inflation = _noise_inflation(residual, weighted, amplitudes, dof)
        M = np.einsum("cd,cdpq->pq", weighted @ amplitudes.T, XtX) / inflation
        b = np.einsum("ctp,tc->p", XB, Y @ weighted.T) / inflation
        theta, sigma_h = _prior_step(M, b, R, sigma_h)
        new, scale = normalise_hrf(B @ theta)
        theta = theta / scale
        change = float(np.linalg.norm(new - h) / max(float(np.linalg.norm(new)), 1e-12))
        h = new
        if change < TOLERANCE:
            break
    A = np.einsum("ctk,k->tc", X, h)
    amplitudes = np.linalg.lstsq(A, Y, rcond=None)[0]
    variance = _residual_variance(Y, A @ amplitudes, dof)
    return ParcelFit(h, amplitudes, variance, sigma_h, iterations)


def _r1glm_amplitudes(X: np.ndarray, H: np.ndarray, Y: np.ndarray, dof: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-voxel least-squares amplitudes ``(n_voxels, n_conditions)`` given each voxel's HRF, and variances."""
    n_conditions, n_scans, _ = X.shape
    A = np.ascontiguousarray((X.reshape(-1, X.shape[2]) @ H).reshape(n_conditions, n_scans, -1).transpose(2, 0, 1))
    G = A @ A.transpose(0, 2, 1)
    g = (A @ Y.T[:, :, None])[..., 0]
    ridge = 1e-10 * np.trace(G, axis1=1, axis2=2)[:, None, None] * np.eye(n_conditions)
    beta = np.linalg.solve(G + ridge, g[..., None])[..., 0]
    fitted = (beta[:, None, :] @ A)[:, 0, :].T
    return beta, _residual_variance(Y, fitted, dof)


def _r1glm_hrf_step(
    beta: np.ndarray, variance: np.ndarray, XtX: np.ndarray, XtY: np.ndarray, R: np.ndarray, sigma_h: float
) -> tuple[np.ndarray, float]:
    """Each voxel's parameters given its amplitudes, and ``sigma_h`` pooled over voxels (MacKay's fixed point).

    At most :data:`PRIOR_UPDATES` updates of the prior per alternation: the fixed point then converges with
    the alternations.
    """
    w = beta / variance[:, None]
    M = np.einsum("vc,vd,cdpq->vpq", w, beta, XtX, optimize=True)
    b = np.einsum("vc,cpv->vp", w, XtY, optimize=True)
    theta, sigma_h = _evidence_fixed_point(M, b, R, sigma_h, updates=PRIOR_UPDATES, tolerance=1e-4)
    return theta.T, sigma_h


def _parcel_mean(h0: np.ndarray, H: np.ndarray, beta: np.ndarray, variance: np.ndarray) -> tuple[np.ndarray, ...]:
    """The parcel's HRF from its voxels', and the voxels' HRFs and amplitudes on its scale.

    Each voxel's HRF is signed to correlate positively with SPM's canonical and scaled to unit norm; the
    parcel's HRF is their mean weighted by the voxels' signal-to-noise ratio ``|beta_j|^2 |h_j|^2 /
    sigma_j^2``, scaled to peak 1. Each voxel's HRF is then scaled to project on it with weight 1 (and its
    amplitudes inversely), so that amplitudes mean what the shared-HRF model's mean: not scaling by each
    voxel's own peak, which noise inflates.
    """
    signs = np.sign(h0 @ H)
    signs[signs == 0] = 1.0
    norms = np.maximum(np.linalg.norm(H, axis=0), 1e-300)
    unit = H * (signs / norms)
    beta = beta * (signs * norms)[:, None]
    snr = (beta**2).sum(axis=1) / variance
    mean, _ = normalise_hrf(unit @ (snr / max(float(snr.sum()), 1e-300)))
    scale = (mean @ unit) / float(mean @ mean)
    scale[np.abs(scale) < 1e-6] = 1.0
    return mean, unit / scale, beta * scale[:, None]


def fit_r1glm(
    Y: np.ndarray, X: np.ndarray, B: np.ndarray, R: np.ndarray, h0: np.ndarray, *, dof: int,
) -> ParcelFit:
    """One HRF per voxel, shared by the conditions (the rank-one GLM of Pedregosa et al. 2015).

    Starts from the parcel's shared HRF (:func:`fit_shared_hrf`).

    ``y_j = sum_c beta_jc X_c h_j + e_j`` with the smoothness prior of :func:`fit_shared_hrf` on each
    ``h_j`` (one ``sigma_h`` for the parcel), fitted by alternating least squares vectorised over voxels
    (Pedregosa et al. minimise the same objective with a quasi-Newton method, and shrink ``h_j`` towards the
    canonical instead). The parcel's HRF is the mean of its voxels' HRFs weighted by their
    signal-to-noise ratio ``|beta_j|^2 / sigma_j^2``, each first signed to correlate positively with SPM's
    canonical; arguments as :func:`fit_shared_hrf`.

    Returns
    -------
    ParcelFit
        With :attr:`ParcelFit.voxel_hrfs`.
    """
    XB = np.einsum("ctk,kp->ctp", X, B)
    XtX = np.einsum("ctp,dtq->cdpq", XB, XB)
    XtY = np.einsum("ctp,tv->cpv", XB, Y)
    shared = fit_shared_hrf(Y, X, B, R, h0, dof=dof)
    theta = np.repeat(np.linalg.lstsq(B, shared.hrf, rcond=None)[0][:, None], Y.shape[1], axis=1)
    H = B @ theta
    sigma_h = shared.sigma_h
    beta, variance = _r1glm_amplitudes(X, H, Y, dof)
    rss = float(variance.sum())
    iterations = 0
    while iterations < MAX_ITERATIONS:
        iterations += 1
        theta, sigma_h = _r1glm_hrf_step(beta, variance, XtX, XtY, R, sigma_h)
        H, _ = normalise_hrf(B @ theta)
        beta, variance = _r1glm_amplitudes(X, H, Y, dof)
        new_rss = float(variance.sum())
        if abs(rss - new_rss) <= R1GLM_TOLERANCE * new_rss:
            break
        rss = new_rss
    mean, H, beta = _parcel_mean(h0, H, beta, variance)
    return ParcelFit(mean, beta.T, variance, sigma_h, iterations, voxel_hrfs=H)


def parcel_activity(y: np.ndarray, design: np.ndarray, dof_lost: int) -> tuple[float, float]:
    """F-test of a parcel's mean series on the conditions' informed basis, after AR(1) prewhitening.

    The columns (each condition's events convolved with SPM's canonical HRF and its temporal and dispersion
    derivatives, drifts projected out) against none; the AR(1) coefficient is the lag-1 autocorrelation of
    the full model's residuals, and both models are refitted on the whitened series (Cochrane & Orcutt
    1949). The basis is fixed in advance, so the test does not reuse the estimated HRF.

    Parameters
    ----------
    y : numpy.ndarray
        ``(n_scans,)`` the parcel's mean, percent signal change, drifts projected out.
    design : numpy.ndarray
        ``(n_scans, n_columns)``.
    dof_lost : int
        Drift columns projected out beforehand.

    Returns
    -------
    (F, p) : tuple of float
    """
    beta = np.linalg.lstsq(design, y, rcond=None)[0]
    e = y - design @ beta
    rho = float(np.clip((e[1:] @ e[:-1]) / max(float(e @ e), 1e-300), -0.9, 0.9))
    yw = np.concatenate([[y[0] * np.sqrt(1 - rho**2)], y[1:] - rho * y[:-1]])
    Xw = np.vstack([design[:1] * np.sqrt(1 - rho**2), design[1:] - rho * design[:-1]])
    rank = int(np.linalg.matrix_rank(Xw))
    fitted = Xw @ np.linalg.lstsq(Xw, yw, rcond=None)[0]
    rss1 = float(((yw - fitted) ** 2).sum())
    rss0 = float((yw**2).sum())
    df2 = y.size - dof_lost - rank
    if rank == 0 or df2 <= 0 or rss1 <= 0:
        return 0.0, 1.0
    f = ((rss0 - rss1) / rank) / (rss1 / df2)
    return float(f), float(stats.f.sf(f, rank, df2))
