"""Writing volumes, sessions and ROI masks as NIfTI files."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.simulate import SimulationError, make_session, write_nifti_volume, write_roi_masks
from nfd.timeseries import RoiSet

AFFINE = np.array([[-3.0, 0, 0, 90.0], [0, 3.0, 0, -100.0], [0, 0, 3.5, -50.0], [0, 0, 0, 1.0]])


@pytest.mark.parametrize("name", ["vol_0001.nii", "vol_0001.nii.gz"])
def test_volume_round_trip(tmp_path: Path, name: str) -> None:
    data = np.random.default_rng(0).normal(size=(7, 6, 5)).astype(np.float32)
    path = write_nifti_volume(tmp_path / name, data, AFFINE, tr=1.97)
    assert path == tmp_path / name
    img = nib.load(path)
    assert isinstance(img, nib.Nifti1Image)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), data)
    assert img.get_data_dtype() == np.float32
    np.testing.assert_allclose(img.affine, AFFINE)
    assert img.get_qform(coded=True)[1] == 1 and img.get_sform(coded=True)[1] == 1
    assert img.header["pixdim"][4] == pytest.approx(1.97)
    assert img.header.get_xyzt_units() == ("mm", "sec")
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary file left


def test_booleans_become_uint8_and_existing_files_are_replaced(tmp_path: Path) -> None:
    path = tmp_path / "mask.nii"
    write_nifti_volume(path, np.zeros((3, 3, 3), np.float32), AFFINE)
    mask = np.zeros((3, 3, 3), bool)
    mask[1, 2, 0] = True
    write_nifti_volume(path, mask, AFFINE)
    img = nib.load(path)
    assert img.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), mask.astype(np.uint8))


def test_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "taken.nii").mkdir()  # a folder where the file should go
    with pytest.raises(OSError):
        write_nifti_volume(tmp_path / "taken.nii", np.zeros((2, 2, 2), np.float32), AFFINE)
    assert os.listdir(tmp_path) == ["taken.nii"]


@pytest.mark.parametrize(
    ("name", "data", "affine", "match"),
    [
        ("vol.img", np.zeros((2, 2, 2)), AFFINE, r"vol\.img: expected a \.nii or \.nii\.gz"),
        ("vol.nii", np.zeros((2, 2, 2, 2)), AFFINE, r"vol\.nii: data must be a 3-D volume, got shape \(2, 2, 2, 2\)"),
        ("vol.nii", np.zeros((2, 2, 2)), np.eye(3), "affine must be a finite 4x4"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, name: str, data: np.ndarray, affine: np.ndarray, match: str) -> None:
    with pytest.raises(SimulationError, match=match):
        write_nifti_volume(tmp_path / name, data, affine)


def test_session_and_masks_written_for_replay(tmp_path: Path) -> None:
    s = make_session(4, shape=(32, 32, 16), block_length=2, seed=1)
    files = s.write_nifti(tmp_path / "scans", pattern="001_000007_{number:06d}.nii")
    assert [f.name for f in files] == [f"001_000007_{n:06d}.nii" for n in range(1, 5)]
    for t, path in enumerate(files):
        img = nib.load(path)
        np.testing.assert_array_equal(np.asanyarray(img.dataobj), s.volumes[t])
        np.testing.assert_allclose(img.affine, s.affine)
    masks = write_roi_masks(tmp_path / "rois", s)
    assert sorted(masks) == ["roi_a", "roi_b"]
    rois = RoiSet.from_files(masks, shape=s.shape, affine=s.affine)
    for name in rois.names:
        np.testing.assert_array_equal(rois.masks[name], s.rois[name])
    np.testing.assert_allclose(
        rois.means(s.volumes[3]), [s.volumes[3][s.rois[n]].mean(dtype=np.float64) for n in rois.names], rtol=1e-12
    )


def test_session_default_pattern_and_bad_patterns(tmp_path: Path) -> None:
    s = make_session(3, shape=(16, 16, 16), max_motion_mm=0.0, max_motion_deg=0.0)
    assert [f.name for f in s.write_nifti(tmp_path)] == ["vol_0000.nii", "vol_0001.nii", "vol_0002.nii"]
    with pytest.raises(SimulationError, match="the same name"):
        s.write_nifti(tmp_path, pattern="volume.nii")
    with pytest.raises(SimulationError, match=r"only \{index\} and \{number\}"):
        s.write_nifti(tmp_path, pattern="{run}_{index}.nii")
