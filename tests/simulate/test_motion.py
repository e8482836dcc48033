"""The generator's rigid motion: SPM's matrix, the random walk, the resampling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from nfd.simulate._motion import _spm_matrix, move_volume, random_walk_motion, spline_coefficients
from nfd.simulate._phantom import centred_affine


def test_spm_matrix_single_parameters() -> None:
    np.testing.assert_allclose(_spm_matrix([1, -2, 3, 0, 0, 0])[:3, 3], [1, -2, 3])
    a = 0.3
    c, s = np.cos(a), np.sin(a)
    # SPM's R1 (pitch, about x), R2 (roll, about y), R3 (yaw, about z)
    np.testing.assert_allclose(_spm_matrix([0, 0, 0, a, 0, 0])[:3, :3], [[1, 0, 0], [0, c, s], [0, -s, c]])
    np.testing.assert_allclose(_spm_matrix([0, 0, 0, 0, a, 0])[:3, :3], [[c, 0, s], [0, 1, 0], [-s, 0, c]])
    np.testing.assert_allclose(_spm_matrix([0, 0, 0, 0, 0, a])[:3, :3], [[c, s, 0], [-s, c, 0], [0, 0, 1]])


def test_spm_matrix_order_is_translation_then_pitch_roll_yaw() -> None:
    p = [1.0, 2.0, 3.0, 0.1, -0.2, 0.3]
    expected = _spm_matrix([1, 2, 3, 0, 0, 0]) @ _spm_matrix([0, 0, 0, 0.1, 0, 0]) @ _spm_matrix(
        [0, 0, 0, 0, -0.2, 0]
    ) @ _spm_matrix([0, 0, 0, 0, 0, 0.3])
    np.testing.assert_allclose(_spm_matrix(p), expected)
    rotation = _spm_matrix(p)[:3, :3]
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)


def test_random_walk_reaches_the_requested_extremes() -> None:
    motion = random_walk_motion(50, np.random.default_rng(1), 0.8, 0.4)
    assert motion.shape == (50, 6)
    np.testing.assert_array_equal(motion[0], np.zeros(6))
    assert np.abs(motion[:, :3]).max() == pytest.approx(0.8)
    assert np.abs(motion[:, 3:]).max() == pytest.approx(np.deg2rad(0.4))
    np.testing.assert_array_equal(random_walk_motion(5, np.random.default_rng(1), 0.0, 0.0), np.zeros((5, 6)))
    np.testing.assert_array_equal(random_walk_motion(1, np.random.default_rng(1), 1.0, 1.0), np.zeros((1, 6)))


def test_translation_of_one_voxel_shifts_the_image() -> None:
    # SPM convention: the moved image at voxel u shows the still head at inv(A) M A u,
    # so x = +3 mm with 3 mm voxels reads the still image one voxel further along i
    rng = np.random.default_rng(0)
    still = ndimage.gaussian_filter(rng.standard_normal((16, 12, 10)), 1.5)
    affine = centred_affine((16, 12, 10), (3.0, 2.0, 4.0))
    moved = move_volume(spline_coefficients(still), affine, [3.0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(moved[:-1], still[1:], atol=1e-5)
    assert np.all(moved[-1] == 0.0)  # from outside the field of view
    moved_z = move_volume(spline_coefficients(still), affine, [0, 0, -8.0, 0, 0, 0])
    np.testing.assert_allclose(moved_z[:, :, 2:], still[:, :, :-2], atol=1e-5)


def test_yaw_rotates_about_the_volume_centre() -> None:
    shape = (21, 21, 5)
    affine = centred_affine(shape, (2.0, 2.0, 2.0))
    still = np.zeros(shape)
    still[10, 10, 2] = 1.0  # the centre voxel
    still[15, 10, 2] = 1.0  # 10 mm along +x
    moved = move_volume(spline_coefficients(ndimage.gaussian_filter(still, 0.7)), affine, [0, 0, 0, 0, 0, np.pi / 2])
    # with M = R3(pi/2) the moved image at u shows the still one at M u: (x, y) -> (y, -x);
    # the still point at x = +10 mm is seen where M u = (10, 0), i.e. u = (0, 10) mm
    peak_centre = moved[10, 10, 2]
    assert peak_centre == pytest.approx(ndimage.gaussian_filter(still, 0.7)[10, 10, 2], rel=1e-4)
    assert moved[10, 15, 2] == pytest.approx(ndimage.gaussian_filter(still, 0.7)[15, 10, 2], rel=1e-4)
    assert moved[15, 10, 2] < 1e-3
