"""Rigid realignment to a reference: SPM's Gauss-Newton scheme.

Following ``spm_realign`` (Friston, Ashburner et al., "Spatial registration
and normalization of images", Hum. Brain Mapp. 2:165-189, 1995) as OpenNFT
runs it in real time (``spm_realign_rt``): the reference, smoothed, is
sampled on a jittered grid every ``sep`` mm; the derivatives of its values
with respect to the six rigid parameters are computed once, analytically
from its B-spline; SPM's ``quality`` criterion drops the sample points that
contribute least to the determinant of the normal matrix; each volume is
smoothed the same way and the parameters refined by Gauss-Newton with a
global intensity scale (normal matrix over the points inside the moving
volume, as ``spm_realign``; OpenNFT's real-time variant keeps the matrix
of all points), until the relative decrease of the mean squared residual
falls below ``tolerance`` (then two more iterations, as SPM) or a step
moves the volume by less than ``step_tolerance`` mm.

One departure is optional (``edge_margin``, off in SPM): sample points
closer than that many slices to the slab's first or last slice are left
out. Their smoothed spline values depend on what lies beyond the slab (the
mirrored boundary, or the zero slices OpenNFT pads with), which does not
move with the head; on a slab that cuts through the brain such points pull
the estimate towards no motion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nfd._cext import realign as _layout
from nfd.volume import _kernels
from nfd.volume._bspline import MARGIN, CoefficientVolume
from nfd.volume._errors import InvalidOptionError
from nfd.volume._reslice import voxel_map
from nfd.volume._rigid import rigid_generators, spm_matrix

__all__ = [
    "RealignOptions",
    "SampleSet",
    "Estimate",
    "sample_grid",
    "within_slab",
    "rigid_jacobian",
    "quality_subset",
    "build_samples",
    "gauss_newton",
]

#: SPM gives up below this many sample points inside the moving volume.
MIN_POINTS = 32


@dataclass(frozen=True)
class RealignOptions:
    """Settings of the realignment (defaults: SPM's, as OpenNFT calls it).

    Attributes
    ----------
    fwhm : float
        FWHM of the Gaussian applied to both volumes before estimation, mm.
    sep : float
        Separation of the sample points, mm.
    quality : float
        SPM's quality in (0, 1]: sample points are dropped, least
        informative first, until the determinant of the normal matrix has
        fallen to this fraction. 1 keeps every point.
    degree : int
        B-spline degree used to sample the smoothed volumes (2 to 4).
    max_iterations : int
        Gauss-Newton iterations at most per volume.
    tolerance : float
        Relative decrease of the mean squared residual under which the
        estimate counts as converged (two more iterations follow), SPM's rule.
    step_tolerance : float
        Also converged as soon as a Gauss-Newton step moves no corner of the
        volume by more than this, mm (0: SPM's rule only). Steps shrink
        about quadratically (typically 0.5 mm, then 2e-3 mm, then 1e-6 mm;
        the next step is about 0.3 s**2 after a step of s mm), so stopping
        after a step below 0.01 mm leaves a change of the order of 1e-5 mm
        and saves the two to four iterations SPM's rule adds.
    seed : int
        Seed of the sub-voxel jitter of the sample grid.
    edge_margin : float
        Sample points closer than this to the slab's first or last slice
        (third axis) are left out, slices; 0 keeps them all (SPM's rule).
    """

    fwhm: float = 5.0
    sep: float = 4.0
    quality: float = 0.9
    degree: int = 4
    max_iterations: int = 64
    tolerance: float = 1e-8
    step_tolerance: float = 1e-2
    seed: int = 0
    edge_margin: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fwhm) and self.fwhm >= 0):
            raise InvalidOptionError(f"realign_fwhm must be a finite number >= 0 mm, got {self.fwhm!r}")
        if not (math.isfinite(self.sep) and self.sep > 0):
            raise InvalidOptionError(f"sep must be a finite number > 0 mm, got {self.sep!r}")
        if not (0.0 < self.quality <= 1.0):
            raise InvalidOptionError(f"quality must be in (0, 1], got {self.quality!r}")
        if self.degree not in (2, 3, 4):
            raise InvalidOptionError(f"realign_degree must be 2, 3 or 4, got {self.degree!r}")
        if int(self.max_iterations) != self.max_iterations or self.max_iterations < 1:
            raise InvalidOptionError(f"max_iterations must be an integer >= 1, got {self.max_iterations!r}")
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise InvalidOptionError(f"tolerance must be a finite number >= 0, got {self.tolerance!r}")
        if not (math.isfinite(self.step_tolerance) and self.step_tolerance >= 0):
            raise InvalidOptionError(f"step_tolerance must be a finite number >= 0 mm, got {self.step_tolerance!r}")
        if not (math.isfinite(self.edge_margin) and self.edge_margin >= 0):
            raise InvalidOptionError(f"edge_margin must be a finite number >= 0 slices, got {self.edge_margin!r}")


@dataclass(frozen=True)
class SampleSet:
    """What the reference contributes to every Gauss-Newton iteration.

    Attributes
    ----------
    points : (N, 3) float64
        Sample points, 0-based voxel coordinates of the reference.
    jacobian : (N, 6) float64
        ``A``: derivative of the smoothed reference's value at each point
        with respect to the rigid parameters (per mm, per radian).
    target : (N,) float64
        ``b``: the smoothed reference's values at the points.
    ata, atb, sum_b, sum_bb
        ``A.T @ A``, ``A.T @ b``, ``sum(b)``, ``sum(b**2)`` over all points.
    """

    points: npt.NDArray[np.float64]
    jacobian: npt.NDArray[np.float64]
    target: npt.NDArray[np.float64]
    ata: npt.NDArray[np.float64]
    atb: npt.NDArray[np.float64]
    sum_b: float
    sum_bb: float

    @classmethod
    def from_arrays(
        cls, points: npt.NDArray[np.float64], jacobian: npt.NDArray[np.float64], target: npt.NDArray[np.float64]
    ) -> SampleSet:
        p = np.ascontiguousarray(points, dtype=np.float64)
        a = np.ascontiguousarray(jacobian, dtype=np.float64)
        b = np.ascontiguousarray(target, dtype=np.float64)
        return cls(p, a, b, a.T @ a, a.T @ b, float(b.sum()), float(b @ b))


@dataclass(frozen=True)
class Estimate:
    """Result of :func:`gauss_newton`.

    Attributes
    ----------
    transform : (4, 4) float64
        ``spm_matrix(params)``: maps the moving volume's mm to the reference's
        (SPM's ``M2 / M1`` after realignment).
    iterations : int
        Gauss-Newton iterations run.
    converged : bool
        Whether SPM's stopping rule was met within the iteration limit.
    """

    transform: npt.NDArray[np.float64]
    iterations: int
    converged: bool


def sample_grid(
    shape: tuple[int, ...], voxel_size: npt.NDArray[np.float64], sep: float, seed: int
) -> npt.NDArray[np.float64]:
    """Jittered grid of sample points every ``sep`` mm (SPM's realignment grid).

    Along each axis the points start at voxel 0 and step by ``sep /
    voxel_size`` voxels up to ``n - 1.5``; each coordinate then gets a
    uniform jitter in ``[0, 0.5)`` voxel (``spm_realign``; SPM seeds
    MATLAB's legacy generator, here numpy's ``default_rng(seed)``).

    Returns
    -------
    (N, 3) float64
        0-based voxel coordinates, all within ``[0, n - 1)``.
    """
    skip = sep / np.asarray(voxel_size, dtype=np.float64)
    axes = [np.arange(0.0, n - 1.5 + 1e-9, s) for n, s in zip(shape, skip, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    return grid + rng.random(grid.shape) * 0.5


def within_slab(
    points: npt.NDArray[np.float64], slab: tuple[float, float], margin: float
) -> npt.NDArray[np.bool_]:
    """Which sample points lie at least ``margin`` slices inside the slab.

    Parameters
    ----------
    points : (N, 3) float64
        0-based voxel coordinates (the third axis runs across the slices).
    slab : (float, float)
        Third-axis coordinates of the slab's first and last acquired slice,
        voxels (e.g. ``(pad, pad + n - 1)`` on a grid padded with ``pad``
        zero slices).
    margin : float
        Distance from either of those slices under which a point is left
        out, slices (0: every point between them is kept).

    Returns
    -------
    (N,) bool

    Examples
    --------
    >>> import numpy as np
    >>> pts = np.array([[0.0, 0.0, z] for z in (0.0, 2.4, 2.5, 9.5, 9.6, 12.0)])
    >>> within_slab(pts, (0.0, 12.0), 2.5).tolist()
    [False, False, True, True, False, False]
    """
    z = points[:, 2]
    return np.asarray((z >= slab[0] + margin) & (z <= slab[1] - margin))


def rigid_jacobian(
    points: npt.NDArray[np.float64], gradient: npt.NDArray[np.float64], affine: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Derivatives of the sampled reference with respect to the rigid parameters.

    For parameters ``p`` the point ``x`` is read at ``inv(M) @ inv(spm_matrix(p)) @
    M @ x`` (``M`` the affine); the derivative of that value at ``p = 0``,
    negated as in SPM's ``make_A``, is ``grad(x) . (inv(M) @ G_i @ M @ x)``
    with ``G_i`` the generators of :func:`rigid_generators`.

    Parameters
    ----------
    points : (N, 3)
        0-based voxel coordinates.
    gradient : (N, 3)
        The reference's gradient per voxel at the points.
    affine : (4, 4)
        Voxel-to-mm matrix of the reference.

    Returns
    -------
    (N, 6) float64
        Per mm for the translations, per radian for the rotations.
    """
    m = np.asarray(affine, dtype=np.float64)
    m_inv = np.linalg.inv(m)
    homogeneous = np.concatenate([points, np.ones((points.shape[0], 1))], axis=1)
    out = np.empty((points.shape[0], 6))
    for i, g in enumerate(rigid_generators()):
        e = (m_inv @ g @ m)[:3]  # voxel displacement per unit parameter
        out[:, i] = np.einsum("na,na->n", gradient, homogeneous @ e.T)
    return out


def quality_subset(
    jacobian: npt.NDArray[np.float64], target: npt.NDArray[np.float64], quality: float
) -> npt.NDArray[np.intp]:
    """Indices of the sample points SPM's ``quality`` criterion keeps.

    With ``C = [A b]`` and ``H = C.T @ C``, removing point ``i`` scales
    ``det(H)`` by ``1 - c_i H^-1 c_i`` (matrix determinant lemma), so each
    round drops the tenth of the points of lowest leverage ``c_i H^-1 c_i``,
    until ``det(H)`` is at most ``quality`` times its initial value
    (``spm_realign``; the determinant ratio is tracked in logarithms).
    """
    keep = np.arange(target.shape[0])
    if quality >= 1.0:
        return keep
    c = np.concatenate([jacobian, target[:, None]], axis=1)
    sign0, logdet0 = np.linalg.slogdet(c.T @ c)
    if sign0 <= 0:
        return keep
    log_quality = math.log(quality)
    logdet = logdet0
    while logdet - logdet0 > log_quality:
        n_drop = math.floor(keep.size / 10 + 0.5)
        if n_drop == 0 or keep.size - n_drop < 4 * c.shape[1]:
            break
        ck = c[keep]
        h = ck.T @ ck
        leverage = np.einsum("na,na->n", ck, np.linalg.solve(h, ck.T).T)
        order = np.argsort(leverage, kind="stable")
        keep = np.sort(keep[order[n_drop:]])
        ck = c[keep]
        sign, logdet = np.linalg.slogdet(ck.T @ ck)
        if sign <= 0:
            break
    return keep


def build_samples(
    smoothed: CoefficientVolume,
    affine: npt.NDArray[np.float64],
    voxel_size: npt.NDArray[np.float64],
    options: RealignOptions,
    slab: tuple[float, float] | None = None,
) -> SampleSet:
    """Sample the smoothed reference and its rigid-parameter derivatives.

    Parameters
    ----------
    smoothed : CoefficientVolume
        Spline coefficients of the smoothed reference (on the working grid).
    affine : (4, 4) float64
        Voxel-to-mm matrix of the working grid.
    voxel_size : (3,) float64
        Voxel sizes, mm.
    options : RealignOptions
        ``sep``, ``seed``, ``quality`` and ``edge_margin`` are used here.
    slab : (float, float), optional
        Third-axis voxel coordinates of the slab's first and last acquired
        slice on the working grid; the whole grid when None. Points closer
        than ``options.edge_margin`` to either are left out, unless fewer
        than :data:`MIN_POINTS` would remain (a slab too thin for the
        margin keeps every point).

    Returns
    -------
    SampleSet
    """
    points = sample_grid(smoothed.shape, voxel_size, options.sep, options.seed)
    if options.edge_margin > 0:
        edges = slab if slab is not None else (0.0, float(smoothed.shape[2] - 1))
        inside = within_slab(points, edges, options.edge_margin)
        if np.count_nonzero(inside) >= MIN_POINTS:
            points = points[inside]
    value, gradient = smoothed.sample_gradient(points)
    jacobian = rigid_jacobian(points, gradient, affine)
    keep = quality_subset(jacobian, value, options.quality)
    return SampleSet.from_arrays(points[keep], jacobian[keep], value[keep])


def gauss_newton(
    samples: SampleSet,
    moving: CoefficientVolume,
    affine: npt.NDArray[np.float64],
    start: npt.NDArray[np.float64],
    options: RealignOptions,
    moments: npt.NDArray[np.float64],
) -> Estimate | None:
    """Refine the rigid transform that brings ``moving`` onto the reference.

    Parameters
    ----------
    samples : SampleSet
        The reference's sample points (:func:`build_samples`).
    moving : CoefficientVolume
        Spline coefficients of the smoothed moving volume (same grid).
    affine : (4, 4)
        Voxel-to-mm matrix of both volumes.
    start : (4, 4)
        Initial transform (moving mm -> reference mm), e.g. the previous
        volume's estimate.
    options : RealignOptions
        Iteration limit and tolerance.
    moments : float64 array of ``nfd._cext.realign.N_MOMENTS``
        Work buffer.

    Returns
    -------
    Estimate or None
        None when no estimate can be made: fewer than :data:`MIN_POINTS`
        points inside the moving volume, a moving volume that sums to zero
        there, or a step that is not finite.
    """
    corners = _corners_mm(moving.shape, affine)
    transform = np.array(start, dtype=np.float64)
    ss = math.inf
    countdown = -1
    iterations = 0
    converged = False
    while iterations < options.max_iterations:
        iterations += 1
        system = _system_at(samples, moving, affine, transform, moments)
        if system is None:
            return None
        ata, atr, residual = system
        step_matrix = _step_matrix(ata, atr)
        if step_matrix is None:
            return None
        transform = np.asarray(np.linalg.solve(step_matrix, transform), dtype=np.float64)
        if options.step_tolerance > 0 and _largest_move_mm(step_matrix, corners) <= options.step_tolerance:
            converged = True
            break
        previous, ss = ss, residual
        if countdown == -1 and _stopped_improving(previous, ss, options.tolerance):
            countdown = 2
        if countdown == 0:
            converged = True
            break
        if countdown > 0:
            countdown -= 1
    if not np.all(np.isfinite(transform)):
        return None
    return Estimate(transform, iterations, converged)


def mean_squared_residual(
    samples: SampleSet,
    moving: CoefficientVolume,
    affine: npt.NDArray[np.float64],
    transform: npt.NDArray[np.float64],
    moments: npt.NDArray[np.float64],
) -> float | None:
    """The mean squared residual of ``moving`` under ``transform``, as :func:`gauss_newton` minimises it.

    Parameters
    ----------
    samples, moving, affine, moments
        As for :func:`gauss_newton`.
    transform : (4, 4)
        Moving mm -> reference mm.

    Returns
    -------
    float or None
        Intensity units squared, over the sample points inside the moving
        volume, the moving volume scaled to the reference's global
        intensity; None when :func:`gauss_newton` could make no estimate there.
    """
    system = _system_at(samples, moving, affine, transform, moments)
    return None if system is None else system[2]


def _system_at(
    samples: SampleSet,
    moving: CoefficientVolume,
    affine: npt.NDArray[np.float64],
    transform: npt.NDArray[np.float64],
    moments: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float] | None:
    """The kernel's moments of ``moving`` under ``transform``, as :func:`_normal_equations`' system."""
    _kernels.gauss_newton_moments(
        moving.padded,
        MARGIN,
        moving.extent,
        moving.degree,
        samples.points,
        samples.jacobian,
        samples.target,
        voxel_map(affine, transform),
        moments,
    )
    return _normal_equations(samples, moments)


def _normal_equations(
    samples: SampleSet, moments: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float] | None:
    """The Gauss-Newton system over the points inside the moving volume, from the kernel's moments.

    Parameters
    ----------
    samples : SampleSet
        The reference's sample points and their sums over all points.
    moments : float64 array of ``nfd._cext.realign.N_MOMENTS``
        The sums :func:`nfd.volume._kernels.gauss_newton_moments` wrote.

    Returns
    -------
    tuple or None
        ``A.T @ A`` (6, 6) and ``A.T @ r`` (6,) over the points inside, ``r``
        the residual of the moving volume scaled to the reference's global
        intensity, and the mean squared residual (intensity units squared);
        None with fewer than :data:`MIN_POINTS` points inside or a moving
        volume summing to zero (or not finite) there.
    """
    k = _layout
    n_in = moments[k.N_IN]
    sum_f = moments[k.SUM_F]
    if n_in < MIN_POINTS or sum_f == 0.0 or not math.isfinite(sum_f):
        return None
    ata = samples.ata - moments[k.ATA_OUT : k.ATA_OUT + 36].reshape(6, 6)
    atb = samples.atb - moments[k.ATB_OUT : k.ATB_OUT + 6]
    sum_b = samples.sum_b - moments[k.SUM_B_OUT]
    sum_bb = samples.sum_bb - moments[k.SUM_BB_OUT]
    scale = sum_b / sum_f
    atr = atb - scale * moments[k.ATF : k.ATF + 6]
    residual = max(sum_bb - 2.0 * scale * moments[k.SUM_BF] + scale * scale * moments[k.SUM_FF], 0.0) / n_in
    return ata, atr, residual


def _step_matrix(ata: npt.NDArray[np.float64], atr: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | None:
    """``spm_matrix`` of the Gauss-Newton step solving ``ata @ p = atr``; None when singular or not finite."""
    try:
        step = np.linalg.solve(ata, atr)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(step)):
        return None
    return spm_matrix(step)


def _largest_move_mm(step_matrix: npt.NDArray[np.float64], corners: npt.NDArray[np.float64]) -> float:
    """How far the step moves the farthest-moved corner of the volume, mm (corners from :func:`_corners_mm`)."""
    return float(np.sqrt((((step_matrix - np.eye(4)) @ corners)[:3] ** 2).sum(axis=0)).max())


def _corners_mm(shape: tuple[int, ...], affine: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """World coordinates (mm, homogeneous, 4 x 8) of the volume's corner voxels."""
    n0, n1, n2 = (n - 1 for n in shape)
    idx = np.array([[i, j, k, 1.0] for i in (0, n0) for j in (0, n1) for k in (0, n2)]).T
    return affine @ idx


def _stopped_improving(previous: float, current: float, tolerance: float) -> bool:
    """SPM's test ``(pss - ss) / pss < tolerance``, defined for ``pss`` 0 or infinite."""
    if math.isinf(previous):
        return False
    if previous <= 0.0:
        return True
    return (previous - current) / previous < tolerance
