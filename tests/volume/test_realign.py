"""The realignment's building blocks: sample grid, Jacobian, quality, Gauss-Newton."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd._cext import realign as kernels
from nfd.volume._bspline import CoefficientVolume
from nfd.volume._realign import RealignOptions, SampleSet, gauss_newton, quality_subset, rigid_jacobian, sample_grid
from nfd.volume._reslice import voxel_map
from nfd.volume._rigid import spm_matrix
from tests.helpers.phantom import centred_affine, render

SHAPE = (52, 60, 30)  # the phantom fits inside this field of view
VOXEL = (3.0, 3.0, 3.5)


def test_sample_grid_spacing_and_bounds() -> None:
    pts = sample_grid(SHAPE, np.array(VOXEL), 4.0, seed=0)
    assert np.all(pts >= 0) and np.all(pts < np.array(SHAPE) - 1)
    # spacing sep / voxel along each axis (before jitter, SPM's 1:skip:d-0.5 grid)
    expected = [len(np.arange(0, n - 1.5 + 1e-9, 4.0 / v)) for n, v in zip(SHAPE, VOXEL, strict=True)]
    assert pts.shape == (math.prod(expected), 3)
    jitter = pts - np.floor(pts / (4.0 / np.array(VOXEL))) * 0  # coordinates exceed the grid by < 0.5 voxel
    assert np.all(jitter >= 0)
    np.testing.assert_array_equal(sample_grid(SHAPE, np.array(VOXEL), 4.0, seed=0), pts)


def test_jacobian_matches_finite_differences() -> None:
    affine = centred_affine(SHAPE, VOXEL, rotation=(0.2, 0.1, -0.3))
    coef = CoefficientVolume(SHAPE, 3)
    coef.load_samples(render(SHAPE, affine))
    pts = sample_grid(SHAPE, np.array(VOXEL), 6.0, seed=1)
    pts = pts[np.all((pts > 2) & (pts < np.array(SHAPE) - 3), axis=1)]
    _, grad = coef.sample_gradient(pts)
    jac = rigid_jacobian(pts, grad, affine)
    h = 1e-5
    homog = np.c_[pts, np.ones(len(pts))]
    for i in range(6):
        e = np.zeros(6)
        e[i] = h
        # value read at inv(M) inv(spm_matrix(p)) M x; SPM's A is minus its derivative
        plus = coef.sample(homog @ voxel_map(affine, spm_matrix(e)).T)
        minus = coef.sample(homog @ voxel_map(affine, spm_matrix(-e)).T)
        np.testing.assert_allclose(jac[:, i], -(plus - minus) / (2 * h), rtol=1e-4, atol=1e-4 * np.abs(jac).max())


def test_quality_stops_at_the_first_determinant_below_quality() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=(3000, 6)) * rng.exponential(size=(3000, 1))
    b = rng.normal(size=3000)
    keep = quality_subset(a, b, 0.9)
    assert 0 < keep.size < 3000
    c = np.c_[a, b]
    full = np.linalg.slogdet(c.T @ c)[1]
    kept = np.linalg.slogdet(c[keep].T @ c[keep])[1]
    assert kept - full <= math.log(0.9)
    # the points dropped are the least informative: their leverage is below the kept ones'
    h = c.T @ c
    lev = np.einsum("na,na->n", c, np.linalg.solve(h, c.T).T)
    dropped = np.setdiff1d(np.arange(3000), keep)
    assert np.median(lev[dropped]) < np.median(lev[keep])
    np.testing.assert_array_equal(quality_subset(a, b, 1.0), np.arange(3000))


def _moving(volume: np.ndarray, degree: int) -> CoefficientVolume:
    coef = CoefficientVolume(volume.shape, degree)
    coef.load_samples(volume)
    return coef


def test_gauss_newton_recovers_a_transform_from_a_warm_start() -> None:
    affine = centred_affine(SHAPE, VOXEL)
    ref = _moving(render(SHAPE, affine), 4)
    pts = sample_grid(SHAPE, np.array(VOXEL), 4.0, seed=0)
    value, grad = ref.sample_gradient(pts)
    samples = SampleSet.from_arrays(pts, rigid_jacobian(pts, grad, affine), value)
    params = np.array([0.8, -0.6, 0.4, 0.01, 0.012, -0.008])
    moving = _moving(render(SHAPE, affine, params), 4)
    moments = np.zeros(kernels.N_MOMENTS)
    est = gauss_newton(samples, moving, affine, np.eye(4), RealignOptions(), moments)
    assert est is not None and est.converged
    np.testing.assert_allclose(est.transform, spm_matrix(params), atol=2e-3)
    warm = gauss_newton(samples, moving, affine, est.transform, RealignOptions(), moments)
    assert warm is not None and warm.iterations <= est.iterations


def test_gauss_newton_gives_up_on_an_empty_volume() -> None:
    affine = centred_affine(SHAPE, VOXEL)
    ref = _moving(render(SHAPE, affine), 4)
    pts = sample_grid(SHAPE, np.array(VOXEL), 4.0, seed=0)
    value, grad = ref.sample_gradient(pts)
    samples = SampleSet.from_arrays(pts, rigid_jacobian(pts, grad, affine), value)
    empty = _moving(np.zeros(SHAPE), 4)
    assert gauss_newton(samples, empty, affine, np.eye(4), RealignOptions(), np.zeros(kernels.N_MOMENTS)) is None
    far = spm_matrix([500.0, 0, 0, 0, 0, 0])  # no sample point lands inside
    moving = _moving(render(SHAPE, affine), 4)
    assert gauss_newton(samples, moving, affine, far, RealignOptions(), np.zeros(kernels.N_MOMENTS)) is None


def test_moments_split_inside_and_outside_points() -> None:
    affine = centred_affine(SHAPE, VOXEL)
    vol = render(SHAPE, affine)
    moving = _moving(vol, 2)
    pts = sample_grid(SHAPE, np.array(VOXEL), 5.0, seed=3)
    jac = np.random.default_rng(0).normal(size=(len(pts), 6))
    b = np.random.default_rng(1).normal(size=len(pts))
    shift = spm_matrix([-20.0, 0, 0, 0, 0, 0])  # pushes some points beyond the last plane
    vmap = voxel_map(affine, shift)
    m = np.zeros(kernels.N_MOMENTS)
    kernels.gauss_newton_moments(moving.padded, 2, moving.extent, 2, pts, jac, b, vmap, m)
    y = np.c_[pts, np.ones(len(pts))] @ vmap.T
    inside = np.all((y >= 0) & (y <= np.array(SHAPE) - 1), axis=1)
    f = moving.sample(y[inside])
    assert m[kernels.N_IN] == inside.sum() and m[kernels.N_OUT] == (~inside).sum() > 0
    np.testing.assert_allclose(m[kernels.SUM_F], f.sum())
    np.testing.assert_allclose(m[kernels.SUM_FF], f @ f)
    np.testing.assert_allclose(m[kernels.SUM_BF], b[inside] @ f)
    np.testing.assert_allclose(m[kernels.ATF : kernels.ATF + 6], jac[inside].T @ f)
    np.testing.assert_allclose(m[kernels.ATA_OUT : kernels.ATA_OUT + 36].reshape(6, 6), jac[~inside].T @ jac[~inside])
    np.testing.assert_allclose(m[kernels.ATB_OUT : kernels.ATB_OUT + 6], jac[~inside].T @ b[~inside])


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="quality"):
        RealignOptions(quality=0.0)
