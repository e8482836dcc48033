"""The AVX2 build of the kernels against the portable build (same results to float32 rounding)."""

from __future__ import annotations

import numpy as np
import pytest

from nfd._cext import bspline, realign, reslice, smooth
from nfd.volume import _kernels, spm_matrix
from nfd.volume._bspline import MARGIN, CoefficientVolume
from nfd.volume._reslice import voxel_map
from tests.helpers.phantom import centred_affine, render

if not _kernels.cpu_has_avx2_fma():
    pytest.skip("this CPU has no AVX2/FMA: only the portable kernels run here", allow_module_level=True)

from nfd._cext import avx2

SHAPE = (37, 41, 23)


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return render(SHAPE, centred_affine(SHAPE, (4.0, 4.0, 4.5)))


def test_the_fast_build_is_used_here() -> None:
    import os

    if os.environ.get("NFD_VOLUME_KERNELS", "").lower() == "generic":
        pytest.skip("NFD_VOLUME_KERNELS=generic forces the portable kernels")
    assert _kernels.BUILD == "avx2"


@pytest.mark.parametrize("degree", [2, 3, 4])
def test_prefilter(volume: np.ndarray, degree: int) -> None:
    a, b = volume.copy(), volume.copy()
    bspline.prefilter_lines(a, degree)
    avx2.prefilter_lines(b, degree)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-9 * np.abs(a).max())
    bspline.prefilter_last_axis(a, degree)
    avx2.prefilter_last_axis(b, degree)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-9 * np.abs(a).max())
    c = volume.copy()
    bspline.prefilter_lines(c, degree)
    bspline.prefilter_lines(np.moveaxis(c, 2, 1), degree)  # the last axis as strided lanes
    np.testing.assert_allclose(a, c, rtol=0, atol=1e-9 * np.abs(a).max())


@pytest.mark.parametrize("normalize", [False, True])
def test_convolution(volume: np.ndarray, normalize: bool) -> None:
    src = volume.astype(np.float32)
    kernel = np.exp(-0.5 * (np.arange(-5, 6) / 1.7) ** 2)
    kernel /= kernel.sum()
    a, b = np.empty_like(src), np.empty_like(src)
    smooth.convolve_lines(src, a, kernel, normalize)
    avx2.convolve_lines(src, b, kernel, normalize)
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6 * np.abs(a).max())
    smooth.convolve_last(src, a, kernel, normalize)
    avx2.convolve_last(src, b, kernel, normalize)
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6 * np.abs(a).max())


@pytest.mark.parametrize("degree", [1, 2, 3, 4])
def test_reslice(volume: np.ndarray, degree: int) -> None:
    affine = centred_affine(SHAPE, (4.0, 4.0, 4.5))
    coef = CoefficientVolume(SHAPE, degree)
    coef.load_samples(volume)
    mapping = voxel_map(affine, spm_matrix([3.0, -2.0, 5.0, 0.05, -0.03, 0.08]))
    a, b = np.empty(SHAPE, np.float32), np.empty(SHAPE, np.float32)
    reslice.reslice(coef.padded, MARGIN, coef.extent, degree, mapping, a, 0.05)
    avx2.reslice(coef.padded, MARGIN, coef.extent, degree, mapping, b, 0.05)
    assert np.array_equal(a == 0, b == 0)  # the same voxels fall outside
    assert 0.05 < np.mean(a == 0) < 0.5
    np.testing.assert_allclose(b, a, rtol=0, atol=2e-6 * np.abs(a).max())


@pytest.mark.parametrize("degree", [2, 4])
def test_gauss_newton_moments(volume: np.ndarray, degree: int) -> None:
    affine = centred_affine(SHAPE, (4.0, 4.0, 4.5))
    coef = CoefficientVolume(SHAPE, degree)
    coef.load_samples(volume)
    rng = np.random.default_rng(0)
    points = rng.uniform(0, np.array(SHAPE) - 1, size=(3000, 3))
    jac = rng.normal(size=(3000, 6))
    target = rng.normal(size=3000)
    mapping = voxel_map(affine, spm_matrix([6.0, 0.0, 0.0, 0.02, 0.0, 0.0]))
    a, b = np.zeros(realign.N_MOMENTS), np.zeros(realign.N_MOMENTS)
    realign.gauss_newton_moments(coef.padded, MARGIN, coef.extent, degree, points, jac, target, mapping, a)
    avx2.gauss_newton_moments(coef.padded, MARGIN, coef.extent, degree, points, jac, target, mapping, b)
    assert a[realign.N_OUT] > 0 and a[realign.N_IN] == b[realign.N_IN]
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    "params",
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.7, -1.3, 0.4, 0.0, 0.0, 0.0],  # translation: taps shared along each row
        [0.7, -1.3, 0.4, 0.004, -0.002, 0.003],  # small rotation
        [1.5, -1.0, 1.2, 0.026, -0.026, 0.026],  # 1.5 degrees: rows whose taps shift by a voxel
        [2.0, 1.0, -1.0, 0.2, -0.15, 0.25],  # beyond the row sampler's range: per-point sampling
    ],
    ids=["identity", "shift", "small-rotation", "rotation", "large-rotation"],
)
@pytest.mark.parametrize("shape", [SHAPE, (9, 8, 6)], ids=["rows-of-23", "rows-shorter-than-8"])
def test_reslice_degree_4_by_rows(params: list[float], shape: tuple[int, int, int]) -> None:
    v = render(shape, centred_affine(shape, (4.0, 4.0, 4.5)))
    affine = centred_affine(shape, (4.0, 4.0, 4.5))
    coef = CoefficientVolume(shape, 4)
    coef.load_samples(v)
    mapping = voxel_map(affine, spm_matrix(params))
    a, b = np.empty(shape, np.float32), np.empty(shape, np.float32)
    reslice.reslice(coef.padded, MARGIN, coef.extent, 4, mapping, a, 0.05)
    avx2.reslice(coef.padded, MARGIN, coef.extent, 4, mapping, b, 0.05)
    assert np.array_equal(a == 0, b == 0)
    assert np.mean(a != 0) > 0.3
    np.testing.assert_allclose(b, a, rtol=0, atol=2e-6 * np.abs(a).max())


def test_convolve_last_into_a_strided_output(volume: np.ndarray) -> None:
    src = np.ascontiguousarray(volume, dtype=np.float32)
    kernel = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    a = np.empty_like(src)
    big = np.zeros((SHAPE[0] + 2, SHAPE[1] + 3, SHAPE[2] + 5), np.float32)
    b = big[1:-1, 2:-1, 1:-4]
    smooth.convolve_last(src, a, kernel, True)
    avx2.convolve_last(src, b, kernel, True)
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6 * np.abs(a).max())
    b[...] = 0.0
    assert not big.any()  # nothing written outside the view
