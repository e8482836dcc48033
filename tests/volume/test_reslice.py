"""reslice: known shifts, round trips, masking outside the field of view."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from nfd.volume import InvalidOptionError, reslice, spm_imatrix, spm_matrix
from tests.helpers.phantom import brain_mask, centred_affine, render

SHAPE = (48, 48, 24)
VOXEL = (3.0, 3.0, 3.5)


def test_integer_shift_moves_voxels_exactly() -> None:
    v = np.random.default_rng(0).normal(size=(10, 11, 12))
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    for degree in (1, 2, 3, 4):
        r = reslice(v, affine, [0.0, 6.0, 0.0, 0, 0, 0], degree=degree)  # 2 voxels along j
        np.testing.assert_allclose(r[:, 2:, :], v[:, :-2, :], atol=1e-5)
        assert np.all(r[:, :2, :] == 0)


@pytest.mark.parametrize("degree", [1, 3, 4])
def test_matches_scipy_affine_transform(degree: int) -> None:
    v = render(SHAPE, centred_affine(SHAPE, VOXEL))
    affine = centred_affine(SHAPE, VOXEL, rotation=(0.1, 0.0, -0.2))
    params = [1.0, -0.5, 0.7, 0.02, -0.01, 0.03]
    vox = np.linalg.solve(affine, np.linalg.solve(spm_matrix(params), affine))
    expected = ndi.affine_transform(v, vox, order=degree, mode="mirror")
    got = reslice(v, affine, params, degree=degree)
    inside = got != 0
    assert inside.mean() > 0.9
    np.testing.assert_allclose(got[inside], expected[inside], atol=2e-3 * np.abs(v).max())


def test_move_and_move_back_gives_the_volume() -> None:
    affine = centred_affine(SHAPE, VOXEL)
    v = render(SHAPE, affine)
    params = np.array([1.2, -0.8, 0.6, 0.015, -0.02, 0.01])
    moved = reslice(v, affine, spm_imatrix(np.linalg.inv(spm_matrix(params))))
    # moving the sampled volume is close to rendering the moved phantom
    truth = render(SHAPE, affine, params)
    inside = brain_mask(SHAPE, affine)
    assert np.abs(moved[inside] - truth[inside]).max() < 0.02 * np.abs(truth).max()
    back = reslice(moved, affine, params)
    err = back[inside] - v[inside]
    assert np.sqrt(np.mean(err**2)) < 0.005 * np.sqrt(np.mean(v[inside] ** 2))


def test_bad_degree() -> None:
    with pytest.raises(InvalidOptionError, match="degree"):
        reslice(np.ones((4, 4, 4)), np.eye(4), np.zeros(6), degree=0)
