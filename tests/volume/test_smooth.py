"""Separable smoothing: analytic FWHM of a smoothed delta, SPM's kernel, edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi

from nfd.volume import (
    InvalidAffineError,
    InvalidOptionError,
    InvalidVolumeError,
    OutputBufferError,
    smooth,
    smoothing_kernel,
)

FWHM_PER_SIGMA = math.sqrt(8 * math.log(2))


def _fwhm_from_second_moment(profile: np.ndarray) -> float:
    """FWHM (in samples) of a Gaussian with the profile's variance."""
    x = np.arange(profile.size) - np.argmax(profile)
    p = profile / profile.sum()
    return FWHM_PER_SIGMA * math.sqrt(float((p * x**2).sum() - (p * x).sum() ** 2))


@pytest.mark.parametrize("fwhm", [5.0, 6.0, 8.0])
def test_smoothed_delta_has_the_requested_fwhm_in_mm(fwhm: float) -> None:
    voxel = np.array([2.5, 2.5, 3.5])
    affine = np.diag([*voxel, 1.0])
    delta = np.zeros((41, 41, 31))
    delta[20, 20, 15] = 1.0
    out = smooth(delta, affine, fwhm, kind="gaussian")
    assert abs(float(out.sum()) - 1.0) < 1e-5
    profiles = [out[:, 20, 15], out[20, :, 15], out[20, 20, :]]
    for axis, profile in enumerate(profiles):
        measured_mm = _fwhm_from_second_moment(profile.astype(np.float64)) * voxel[axis]
        # a sampled Gaussian narrower than ~1 voxel has a slightly smaller variance than the continuous one
        assert measured_mm == pytest.approx(fwhm, rel=0.02), (axis, measured_mm)
    # away from the edges, each profile is the Gaussian whose half maximum is fwhm / 2 mm from the centre:
    # value(x mm) / value(0) = 2 ** -(2 x / fwhm) ** 2
    for axis, profile in enumerate(profiles):
        centre = int(np.argmax(profile))
        x_mm = np.arange(-2, 3) * voxel[axis]
        ratio = profile[centre - 2 : centre + 3] / profile[centre]
        np.testing.assert_allclose(ratio, 2.0 ** (-((2 * x_mm / fwhm) ** 2)), rtol=1e-4)


def test_default_kernel_is_spms_smoothed_delta_variance() -> None:
    # SPM's kernel: the smoothed delta's variance along each axis is sigma**2 + 1/6 voxel**2
    voxel = np.array([2.5, 2.5, 3.5])
    delta = np.zeros((41, 41, 31))
    delta[20, 20, 15] = 1.0
    out = smooth(delta, np.diag([*voxel, 1.0]), 5.0).astype(np.float64)
    for axis, profile in enumerate([out[:, 20, 15], out[20, :, 15], out[20, 20, :]]):
        x = np.arange(profile.size) - int(np.argmax(profile))
        var = float((profile * x**2).sum() / profile.sum())
        assert var == pytest.approx((5.0 / voxel[axis] / FWHM_PER_SIGMA) ** 2 + 1.0 / 6.0, rel=2e-3)


def test_spm_kernel_adds_the_triangle_variance() -> None:
    # spm_smoothkern = Gaussian convolved with a 1st-degree B-spline (variance 1/6 voxel^2)
    for fwhm_vox in (1.5, 2.0, 3.0):
        k = smoothing_kernel(fwhm_vox, "spm")
        x = np.arange(k.size) - (k.size - 1) // 2
        sigma2 = (fwhm_vox / FWHM_PER_SIGMA) ** 2
        assert float((k * x**2).sum()) == pytest.approx(sigma2 + 1.0 / 6.0, rel=1e-3)


def test_interior_matches_scipy_gaussian_filter() -> None:
    v = np.random.default_rng(0).normal(size=(40, 36, 30))
    affine = np.diag([2.0, 2.5, 3.0, 1.0])
    out = smooth(v, affine, 6.0, kind="gaussian")
    sig = 6.0 / FWHM_PER_SIGMA / np.array([2.0, 2.5, 3.0])
    ref = ndi.gaussian_filter(v, sig, mode="constant", truncate=6.0)
    inner = (slice(10, -10), slice(10, -10), slice(8, -8))
    np.testing.assert_allclose(out[inner], ref[inner], atol=1e-5)


def test_edges_follow_spm_conv_vol() -> None:
    ones = np.ones((20, 20, 20))
    out = smooth(ones, np.eye(4), 4.0)
    # renormalised along the third axis, zero beyond the first two
    np.testing.assert_allclose(out[10, 10, :], 1.0, atol=1e-6)
    assert out[0, 10, 10] < 0.7 and out[10, 0, 10] < 0.7


def test_zero_fwhm_is_identity_and_nan_is_zero() -> None:
    v = np.random.default_rng(1).normal(size=(6, 7, 8))
    np.testing.assert_allclose(smooth(v, np.eye(4), 0.0), v.astype(np.float32))
    w = v.copy()
    w[1, 2, 3] = np.nan
    v[1, 2, 3] = 0.0
    np.testing.assert_allclose(smooth(w, np.eye(4), 3.0), smooth(v, np.eye(4), 3.0))


def test_out_argument() -> None:
    v = np.ones((6, 7, 8))
    out = np.empty((6, 7, 8), dtype=np.float32)
    assert smooth(v, np.eye(4), 2.0, out=out) is out
    with pytest.raises(OutputBufferError, match="out"):
        smooth(v, np.eye(4), 2.0, out=np.empty((6, 7, 8)))


def test_bad_arguments() -> None:
    with pytest.raises(InvalidOptionError, match="fwhm"):
        smooth(np.ones((4, 4, 4)), np.eye(4), -1.0)
    with pytest.raises(InvalidOptionError, match="kernel kind"):
        smoothing_kernel(2.0, "box")  # type: ignore[arg-type]
    with pytest.raises(InvalidAffineError, match="affine"):
        smooth(np.ones((4, 4, 4)), np.eye(3), 2.0)
    with pytest.raises(InvalidVolumeError, match="3-D"):
        smooth(np.ones((4, 4)), np.eye(4), 2.0)
