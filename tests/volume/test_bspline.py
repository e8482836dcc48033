"""B-spline prefilter and sampling kernels against scipy.ndimage (mode 'mirror')."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from nfd._cext import bspline as kernels
from nfd.volume._bspline import MARGIN, CoefficientVolume, mirror_index, prefilter


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(17, 12, 9))


@pytest.mark.parametrize("degree", [2, 3, 4])
def test_prefilter_matches_scipy_mirror(samples: np.ndarray, degree: int) -> None:
    c = samples.copy()
    prefilter(c, degree)
    np.testing.assert_allclose(c, ndi.spline_filter(samples, order=degree, mode="mirror"), atol=1e-11)


def test_prefilter_short_axis_uses_exact_initialisation() -> None:
    # 5 samples is shorter than the pole's horizon: the exact mirror sum is used
    v = np.random.default_rng(1).normal(size=(5, 6, 40))
    c = v.copy()
    prefilter(c, 4)
    np.testing.assert_allclose(c, ndi.spline_filter(v, order=4, mode="mirror"), atol=1e-11)


def test_prefilter_works_on_strided_views(samples: np.ndarray) -> None:
    padded = np.zeros((21, 16, 13))
    view = padded[2:-2, 2:-2, 2:-2]
    view[...] = samples
    prefilter(view, 3)
    np.testing.assert_allclose(view, ndi.spline_filter(samples, order=3, mode="mirror"), atol=1e-11)


@pytest.mark.parametrize("degree", [1, 2, 3, 4])
def test_sampling_matches_map_coordinates(samples: np.ndarray, degree: int) -> None:
    coef = CoefficientVolume(samples.shape, degree)
    coef.load_samples(samples)
    rng = np.random.default_rng(3)
    # inside, and up to half a voxel beyond each edge (mirror boundary)
    pts = rng.uniform(-0.5, 1.0, size=(2000, 3)) * (np.array(samples.shape) - 1) + rng.uniform(-0.4, 0.4, (2000, 3))
    pts = np.clip(pts, -0.5, np.array(samples.shape) - 0.5)
    expected = ndi.map_coordinates(samples, pts.T, order=degree, mode="mirror")
    # coefficients are stored in float32
    np.testing.assert_allclose(coef.sample(pts), expected, atol=2e-6 * np.abs(samples).max())


@pytest.mark.parametrize("degree", [2, 3, 4])
def test_spline_interpolates_its_samples(samples: np.ndarray, degree: int) -> None:
    coef = CoefficientVolume(samples.shape, degree)
    coef.load_samples(samples)
    idx = np.stack(np.meshgrid(*(np.arange(n, dtype=float) for n in samples.shape), indexing="ij"), -1).reshape(-1, 3)
    np.testing.assert_allclose(coef.sample(idx), samples.ravel(), atol=2e-6 * np.abs(samples).max())


@pytest.mark.parametrize("degree", [2, 3, 4])
def test_gradient_is_the_spline_derivative(samples: np.ndarray, degree: int) -> None:
    coef = CoefficientVolume(samples.shape, degree)
    coef.load_samples(samples)
    pts = np.random.default_rng(5).uniform(0.5, np.array(samples.shape) - 1.5, (500, 3))
    value, grad = coef.sample_gradient(pts)
    np.testing.assert_allclose(value, coef.sample(pts), atol=1e-12 * np.abs(samples).max())
    h = 1e-3  # float32 coefficients: a wider step keeps rounding out of the difference
    for axis in range(3):
        step = np.zeros(3)
        step[axis] = h
        numeric = (coef.sample(pts + step) - coef.sample(pts - step)) / (2 * h)
        np.testing.assert_allclose(grad[:, axis], numeric, atol=1e-4 * np.abs(samples).max())


def test_basis_functions_partition_unity() -> None:
    x = np.linspace(0.01, 0.97, 12)  # avoids 0.5, where B0 is discontinuous
    for degree in range(5):
        total = np.zeros_like(x)
        for shift in range(-3, 4):
            out = np.empty_like(x)
            kernels.basis_values(degree, np.ascontiguousarray(x - shift), out)
            total += out
        np.testing.assert_allclose(total, 1.0, atol=1e-14)


def test_margins_mirror_the_interior(samples: np.ndarray) -> None:
    coef = CoefficientVolume(samples.shape, 1)
    coef.load_samples(samples)
    n = np.array(samples.shape)
    for a in range(-MARGIN, n[0] + MARGIN):
        np.testing.assert_array_equal(
            coef.padded[a + MARGIN, MARGIN:-MARGIN, MARGIN : MARGIN + n[2]],
            samples[mirror_index(a, n[0])].astype(np.float32),
        )
    np.testing.assert_array_equal(coef.padded[0, 0, 0], np.float32(samples[2, 2, 2]))
    # the slack after the last axis' margin stays zero (read with weight 0 by 8-wide loads)
    assert np.all(coef.padded[:, :, MARGIN + n[2] + MARGIN :] == 0)


def test_mirror_index() -> None:
    assert [mirror_index(i, 4) for i in range(-5, 10)] == [1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert mirror_index(-3, 1) == 0


def kernels_slack(coef: CoefficientVolume) -> int:
    """Floats of zero slack after the last axis' margin."""
    return coef.padded.shape[2] - coef.shape[2] - 2 * MARGIN


@pytest.mark.parametrize("shape", [(2, 3, 2), (5, 6, 7), (9, 4, 12)])
def test_margins_follow_mirror_index_on_every_axis(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(3)
    coef = CoefficientVolume(shape, 1)
    coef.padded[:, :, : coef.padded.shape[2] - kernels_slack(coef)] = 99.0  # stale margins
    interior = rng.normal(size=shape).astype(np.float32)
    coef.interior[...] = interior
    coef.fill_margins()
    idx = [np.array([mirror_index(a, n) for a in range(-MARGIN, n + MARGIN)]) for n in shape]
    expected = interior[np.ix_(*idx)]
    m = MARGIN
    np.testing.assert_array_equal(coef.padded[:, :, : shape[2] + 2 * m], expected)
    assert np.all(coef.padded[:, :, shape[2] + 2 * m :] == 0)


@pytest.mark.parametrize("degree", [2, 3, 4])
def test_prefilter_ignores_what_the_margins_held(samples: np.ndarray, degree: int) -> None:
    clean = CoefficientVolume(samples.shape, degree)
    clean.load_samples(samples)
    stale = CoefficientVolume(samples.shape, degree)
    body = stale.padded[:, :, : stale.padded.shape[2] - kernels_slack(stale)]
    body[...] = np.random.default_rng(1).normal(size=body.shape) * 1e3
    stale.load_samples(samples)
    np.testing.assert_array_equal(stale.padded, clean.padded)


def test_load_rows_copies_pads_and_flags_non_finite_values() -> None:
    rng = np.random.default_rng(2)
    src = rng.normal(size=(4, 5, 6)).astype(np.float32)
    dst = np.full((6, 7, 12), 7.0, dtype=np.float32)[1:5, 1:6, :]  # strided view, unit last stride
    assert kernels.load_rows(src, dst, 3)
    np.testing.assert_array_equal(dst[:, :, 3:9], src)
    assert np.all(dst[:, :, :3] == 0) and np.all(dst[:, :, 9:] == 0)
    for bad in (np.nan, np.inf, -np.inf):
        flawed = src.copy()
        flawed[2, 3, 4] = bad
        assert not kernels.load_rows(flawed, dst, 3)
    huge = src.copy()
    huge[0, 0, 0] = np.finfo(np.float32).max
    assert kernels.load_rows(huge, dst, 3)
    with pytest.raises(ValueError, match="2 pad"):
        kernels.load_rows(src, dst, 2)
