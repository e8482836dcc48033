"""conform_to_grid: the same grid in another axis order is reordered, never resampled."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel import orientations

from nfd.volume import GridMismatchError, conform_to_grid

AFFINE = np.array([[-3.0, 0, 0, 90], [0, 3.0, 0, -100], [0, 0, 3.5, -50], [0, 0, 0, 1]])


def _reordered(data: np.ndarray, affine: np.ndarray, ornt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``data`` and ``affine`` with axes permuted and flipped by ``ornt``: the same points in space."""
    out = orientations.apply_orientation(data, ornt)
    return out, affine @ orientations.inv_ornt_aff(ornt, data.shape)


def test_same_grid_is_returned_as_is() -> None:
    data = np.zeros((4, 5, 6), np.float32)
    assert conform_to_grid(data, AFFINE, (4, 5, 6), AFFINE) is data


@pytest.mark.parametrize(
    "ornt",
    [
        [[1, 1], [0, 1], [2, 1]],  # i and j swapped
        [[1, -1], [0, 1], [2, 1]],  # swapped and one reversed (DICOM rows vs NIfTI)
        [[2, 1], [0, -1], [1, -1]],  # every axis moved
    ],
)
def test_permuted_and_flipped_axes_come_back_exactly(ornt: list[list[int]]) -> None:
    data = np.random.default_rng(0).random((4, 5, 6)).astype(np.float32)
    moved, moved_affine = _reordered(data, AFFINE, np.array(ornt, float))
    assert moved.shape != data.shape or not np.array_equal(moved, data)
    back = conform_to_grid(moved, moved_affine, data.shape, AFFINE)
    np.testing.assert_array_equal(back, data)


def test_another_grid_is_refused_with_both_grids_named() -> None:
    data = np.zeros((4, 5, 6), np.float32)
    shifted = AFFINE.copy()
    shifted[0, 3] += 1.5  # half a voxel: a different grid, not a reordering
    with pytest.raises(GridMismatchError, match=r"scan\.dcm is not on the reference grid: shape \(4, 5, 6\)"):
        conform_to_grid(data, shifted, (4, 5, 6), AFFINE, name="scan.dcm")
    with pytest.raises(GridMismatchError, match=r"against shape \(4, 5, 7\)"):
        conform_to_grid(data, AFFINE, (4, 5, 7), AFFINE)


def test_siemens_mosaic_onto_the_spm_template(shared_data: Path) -> None:
    """OpenNFT's template (SPM's DICOM import) orders the rows and columns unlike nibabel's reader."""
    from nfd.acquire import read_scan

    run = shared_data / "opennft_psc_run"
    template = nib.load(run / "fanon-0007-00006-000006-01.nii")
    scan = read_scan(run / "dicom" / "001_000007_000006.dcm")  # the template is this volume
    assert scan.shape == template.shape and not np.allclose(scan.affine, template.affine, atol=1)
    on_grid = conform_to_grid(scan.data, scan.affine, template.shape, template.affine)
    np.testing.assert_allclose(on_grid, np.asarray(template.dataobj, np.float32), rtol=1e-5)
