"""make_session: ground truth of the synthetic sessions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from nfd.feedback import ContinuousPSC
from nfd.simulate import SimulationError, SyntheticSession, make_session
from nfd.simulate._motion import _spm_matrix
from nfd.timeseries import spm_hrf

SMALL: dict[str, Any] = {"shape": (32, 32, 16), "voxel_size": (3.0, 3.0, 3.5), "block_length": 5}
QUIET: dict[str, Any] = {"noise_pct": 0.0, "drift_pct": 0.0, "max_motion_mm": 0.0, "max_motion_deg": 0.0}


@pytest.fixture(scope="module")
def quiet() -> SyntheticSession:
    """Noise-free, drift-free, motion-free: only the activation."""
    return make_session(30, tr=2.0, seed=3, activation_pct=3.0, **SMALL, **QUIET)


def test_shapes_dtypes_and_read_only_truth(quiet: SyntheticSession) -> None:
    assert quiet.volumes.shape == (30, 32, 32, 16) and quiet.volumes.dtype == np.float32
    assert quiet.phantom.shape == (32, 32, 16) and quiet.phantom.dtype == np.float32
    assert quiet.activation.shape == (30,) and quiet.motion.shape == (30, 6) and quiet.drift.shape == (30,)
    assert quiet.n_volumes == 30 and quiet.shape == (32, 32, 16) and quiet.tr == 2.0 and quiet.seed == 3
    assert set(quiet.rois) == {"roi_a", "roi_b"}
    for array in (quiet.volumes, quiet.phantom, quiet.activation, quiet.motion, quiet.rois["roi_a"]):
        assert not array.flags.writeable


def test_affine_is_ras_and_centred() -> None:
    s = make_session(2, shape=(32, 30, 16), voxel_size=(3.0, 2.5, 3.5), **QUIET)
    np.testing.assert_allclose(np.diag(s.affine), [3.0, 2.5, 3.5, 1.0])
    centre = s.affine @ [15.5, 14.5, 7.5, 1.0]
    np.testing.assert_allclose(centre[:3], 0.0, atol=1e-12)


def test_design_alternates_blocks_from_baseline_after_the_skipped_volumes() -> None:
    s = make_session(27, skip_volumes=2, **SMALL, **QUIET)
    assert s.design.conditions == ("UP",)
    assert s.design.skip_volumes == 2
    assert s.design.blocks == [("BAS", 0, 6), ("UP", 7, 11), ("BAS", 12, 16), ("UP", 17, 21), ("BAS", 22, 26)]


def test_activation_is_the_hrf_convolved_boxcar(quiet: SyntheticSession) -> None:
    expected = 3.0 * np.convolve(quiet.design.boxcar("UP"), spm_hrf(2.0))[:30]
    np.testing.assert_allclose(quiet.activation, expected, rtol=1e-12)
    assert quiet.activation[:6].tolist() == [0.0] * 6  # the response starts one TR after the block
    assert quiet.activation.max() > 2.5


def test_roi_signal_has_the_requested_percent_signal_change(quiet: SyntheticSession) -> None:
    for name, mask in quiet.rois.items():
        baseline = float(quiet.phantom[mask].mean(dtype=np.float64))
        measured = 100.0 * (quiet.volumes[:, mask].mean(axis=1, dtype=np.float64) / baseline - 1.0)
        np.testing.assert_allclose(measured, quiet.activation, atol=1e-4, err_msg=name)
    outside = ~(quiet.rois["roi_a"] | quiet.rois["roi_b"])
    for t in (0, 9, 17):
        np.testing.assert_array_equal(quiet.volumes[t][outside], quiet.phantom[outside])


def test_continuous_psc_of_the_roi_follows_the_activation(quiet: SyntheticSession) -> None:
    rois = quiet.roi_set()
    psc = ContinuousPSC(quiet.design, delay=0)
    out = np.array([psc.update(t, rois.means(quiet.volumes[t])[0]) for t in range(quiet.n_volumes)])
    # the first regulation block (5..9) against the first baseline block (no activation there)
    np.testing.assert_allclose(out[5:10], quiet.activation[5:10], atol=1e-4)


def test_drift_scales_the_whole_image() -> None:
    s = make_session(20, activation_pct=1.0, seed=1, **SMALL, **{**QUIET, "drift_pct": 2.0})
    assert s.drift[0] == 0.0 and s.drift[-1] == pytest.approx(2.0)
    assert np.all(np.diff(s.drift) > 0)
    brain_outside_rois = s.brain & ~(s.rois["roi_a"] | s.rois["roi_b"])
    ratio = s.volumes[:, brain_outside_rois].mean(axis=1, dtype=np.float64) / s.phantom[brain_outside_rois].mean(
        dtype=np.float64
    )
    np.testing.assert_allclose(ratio, 1.0 + s.drift / 100.0, rtol=1e-6)
    # the activation stays a percent of the drifting baseline
    roi = s.rois["roi_b"]
    roi_ratio = s.volumes[:, roi].mean(axis=1, dtype=np.float64) / s.phantom[roi].mean(dtype=np.float64)
    np.testing.assert_allclose(roi_ratio, (1 + s.drift / 100) * (1 + s.activation / 100), rtol=1e-6)


def test_noise_is_gaussian_with_the_requested_level() -> None:
    s = make_session(6, seed=2, activation_pct=0.0, **SMALL, **{**QUIET, "noise_pct": 1.0})
    assert s.noise_sd == pytest.approx(0.01 * s.phantom[s.brain].mean(dtype=np.float64), rel=1e-6)
    values = (s.volumes.astype(np.float64) - s.phantom).ravel()
    assert values.mean() == pytest.approx(0.0, abs=0.01 * s.noise_sd)
    assert values.std() == pytest.approx(s.noise_sd, rel=0.01)


def test_motion_truth_has_the_requested_size() -> None:
    s = make_session(25, seed=4, **SMALL, **{**QUIET, "max_motion_mm": 0.7, "max_motion_deg": 0.6})
    np.testing.assert_array_equal(s.motion[0], np.zeros(6))
    assert np.abs(s.motion[:, :3]).max() == pytest.approx(0.7)
    assert np.abs(s.motion[:, 3:]).max() == pytest.approx(np.deg2rad(0.6))
    np.testing.assert_array_equal(s.volumes[0], s.phantom)


def test_resampling_with_the_inverse_motion_restores_the_phantom() -> None:
    s = make_session(8, seed=5, **SMALL, **{**QUIET, "max_motion_mm": 1.5, "max_motion_deg": 1.5})
    A = s.affine
    inner = ndimage.binary_erosion(s.brain, iterations=2)
    scale = float(s.phantom[s.brain].mean())
    largest_change = 0.0
    for t in range(1, s.n_volumes):
        # SPM's reslicing: reference voxel v is read in volume t at inv(mat_t) @ mat_ref @ v,
        # with mat_t = spm_matrix(motion[t]) @ A and mat_ref = A
        to_volume = np.linalg.inv(_spm_matrix(s.motion[t]) @ A) @ A
        restored = ndimage.affine_transform(s.volumes[t].astype(np.float64), to_volume, order=3, mode="constant")
        error = np.abs(restored - s.phantom)[inner]
        # two interpolations (quadratic there, cubic back) cost about 1.5 % at the sharpest
        # edges and 0.3 % rms; the opposite convention would leave 10-30 % and 4-6 % rms
        assert error.max() < 0.025 * scale, t
        assert np.sqrt(np.mean(error**2)) < 0.004 * scale, t
        largest_change = max(largest_change, float(np.abs(s.volumes[t] - s.phantom)[inner].max()))
    assert largest_change > 0.05 * scale  # the volumes did move


def test_same_seed_same_session_and_independent_streams() -> None:
    a = make_session(6, seed=11, **SMALL)
    b = make_session(6, seed=11, **SMALL)
    np.testing.assert_array_equal(a.volumes, b.volumes)
    np.testing.assert_array_equal(a.motion, b.motion)
    c = make_session(6, seed=12, **SMALL)
    assert not np.array_equal(a.volumes, c.volumes)
    assert not np.array_equal(a.motion, c.motion)
    # the motion and the phantom do not depend on the noise level
    d = make_session(6, seed=11, **{**SMALL, "noise_pct": 2.0})
    np.testing.assert_array_equal(a.motion, d.motion)
    np.testing.assert_array_equal(a.phantom, d.phantom)


def test_phantom_is_brain_like() -> None:
    s = make_session(1, seed=0, shape=(64, 64, 30), **QUIET)
    image = s.phantom
    grey = np.zeros_like(s.brain)
    for mask in s.rois.values():
        grey |= mask
    centre = tuple(n // 2 for n in image.shape)
    assert s.brain[centre]
    assert image[0, 0, 0] == 0.0  # background
    assert image[s.rois["roi_a"]].mean() > image[centre]  # grey matter brighter than the white-matter core
    for name, side in (("roi_a", -1), ("roi_b", 1)):
        mask = s.rois[name]
        assert 20 <= mask.sum() <= 200
        x_mm = (s.affine @ np.vstack([np.array(np.nonzero(mask)), np.ones(mask.sum())]))[0]
        assert np.all(np.sign(x_mm) == side), name  # roi_a left (x < 0), roi_b right (x > 0)
    # no mirror symmetry, so that rigid realignment is well posed
    assert np.abs(image - image[::-1]).max() > 100
    assert np.abs(image - image[:, ::-1]).max() > 100


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_volumes": 0}, "n_volumes must be an int >= 1"),
        ({"tr": 0.0}, "tr must be a number > 0"),
        ({"shape": (8, 32, 16)}, "shape must be an int >= 16"),
        ({"shape": (32, 32)}, "3 numbers each"),
        ({"voxel_size": (3.0, -1.0, 3.0)}, "voxel_size must be a number > 0"),
        ({"seed": -1}, "seed must be an int >= 0"),
        ({"block_length": 0}, "block_length must be an int >= 1"),
        ({"skip_volumes": 10}, "skip_volumes=10 must be smaller than n_volumes=10"),
        ({"noise_pct": -1.0}, "noise_pct must be a number >= 0"),
        ({"activation_pct": float("nan")}, "activation_pct must be a finite number, got nan"),
        ({"max_motion_deg": -0.5}, "max_motion_deg must be a number >= 0"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], match: str) -> None:
    arguments = {"n_volumes": 10, **SMALL, **kwargs}
    with pytest.raises(SimulationError, match=match):
        make_session(**arguments)
