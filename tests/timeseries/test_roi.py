"""RoiSet: means on hand-made volumes, masks read from NIfTI, grid checks."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.timeseries import RoiError, RoiSet

SHAPE = (6, 5, 4)
AFFINE = np.array(
    [[-3.0, 0.0, 0.0, 9.0], [0.0, 3.0, 0.0, -6.0], [0.0, 0.0, 3.5, -5.25], [0.0, 0.0, 0.0, 1.0]]
)


def _masks() -> dict[str, np.ndarray]:
    left = np.zeros(SHAPE, bool)
    left[0:2, 0:2, 0] = True  # 4 voxels
    right = np.zeros(SHAPE, bool)
    right[5, 4, 3] = True
    right[4, 4, 3] = True
    return {"left": left, "right": right}


def _volume() -> np.ndarray:
    return np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)


def test_means_of_a_hand_made_volume() -> None:
    rois = RoiSet(_masks())
    vol = _volume()
    # left: [0,0,0]=0, [0,1,0]=4, [1,0,0]=20, [1,1,0]=24 -> 12; right: [4,4,3]=99, [5,4,3]=119 -> 109
    np.testing.assert_array_equal(rois.means(vol), [12.0, 109.0])
    assert rois.means(vol).dtype == np.float64
    assert rois.names == ("left", "right")
    assert rois.sizes == {"left": 4, "right": 2}
    assert len(rois) == 2


def test_means_do_not_depend_on_memory_layout() -> None:
    rois = RoiSet(_masks())
    vol = _volume()
    expected = rois.means(vol)
    np.testing.assert_array_equal(rois.means(np.asfortranarray(vol)), expected)
    big = np.zeros((12, 5, 4), np.float32)
    big[::2] = vol
    strided = big[::2]
    assert not strided.flags.c_contiguous and not strided.flags.f_contiguous
    np.testing.assert_array_equal(rois.means(strided), expected)
    np.testing.assert_array_equal(rois.means(vol.astype(np.int16)), expected)


def test_nan_voxels_are_ignored_and_all_nan_gives_nan() -> None:
    rois = RoiSet(_masks())
    vol = _volume()
    vol[0, 0, 0] = np.nan  # left now averages 4, 20, 24
    vol[4, 4, 3] = vol[5, 4, 3] = np.nan
    means = rois.means(vol)
    assert means[0] == pytest.approx(16.0)
    assert np.isnan(means[1])


def test_voxels_returns_the_values_inside_one_roi() -> None:
    rois = RoiSet(_masks())
    np.testing.assert_array_equal(rois.voxels(_volume(), "right"), [99.0, 119.0])
    with pytest.raises(RoiError, match="no ROI named 'middle'"):
        rois.voxels(_volume(), "middle")


def test_volume_on_another_grid_is_refused() -> None:
    rois = RoiSet(_masks())
    with pytest.raises(RoiError, match=r"shape \(6, 5, 3\)"):
        rois.means(np.zeros((6, 5, 3)))


def test_masks_are_read_only_copies() -> None:
    masks = _masks()
    rois = RoiSet(masks)
    masks["left"][:] = False
    assert rois.sizes["left"] == 4
    with pytest.raises(ValueError):
        rois.masks["left"][0, 0, 0] = False


def test_any_nonzero_value_is_inside() -> None:
    mask = np.zeros(SHAPE, np.float32)
    mask[1, 1, 1] = 0.5
    mask[2, 2, 2] = -3.0
    mask[3, 3, 3] = np.nan
    rois = RoiSet({"a": mask})
    assert rois.sizes == {"a": 2}


@pytest.mark.parametrize(
    ("masks", "match"),
    [
        ({}, "non-empty mapping"),
        ({"a": np.zeros(SHAPE, bool)}, "'a' is empty"),
        ({"a": np.ones((3, 3), bool)}, "must be 3-D"),
        ({"a": np.ones(SHAPE, bool), "b": np.ones((2, 2, 2), bool)}, "all masks must be on one grid"),
        ({"": np.ones(SHAPE, bool)}, "non-empty strings"),
    ],
)
def test_bad_masks_are_refused(masks: dict, match: str) -> None:
    with pytest.raises(RoiError, match=match):
        RoiSet(masks)


def _save(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    nib.Nifti1Image(data, affine).to_filename(path)
    return path


def test_from_files_reads_masks_on_the_epi_grid(tmp_path: Path) -> None:
    masks = _masks()
    paths = {
        name: _save(tmp_path / f"{name}.nii.gz" if name == "left" else tmp_path / f"{name}.nii", m.astype(np.uint8) * 3)
        for name, m in masks.items()
    }
    rois = RoiSet.from_files(paths, shape=SHAPE, affine=AFFINE)
    assert rois.names == ("left", "right")
    np.testing.assert_array_equal(rois.means(_volume()), [12.0, 109.0])
    np.testing.assert_array_equal(rois.affine, AFFINE)


def test_from_files_tolerates_tiny_affine_differences(tmp_path: Path) -> None:
    nudged = AFFINE.copy()
    nudged[0, 3] += 5e-4
    path = _save(tmp_path / "a.nii", _masks()["left"].astype(np.uint8), nudged)
    assert RoiSet.from_files({"a": path}, shape=SHAPE, affine=AFFINE, atol_mm=1e-3).sizes == {"a": 4}
    with pytest.raises(RoiError, match=r"tolerance 0\.0001 mm"):
        RoiSet.from_files({"a": path}, shape=SHAPE, affine=AFFINE, atol_mm=1e-4)


def test_from_files_refuses_another_shape_and_names_the_file(tmp_path: Path) -> None:
    path = _save(tmp_path / "wrong_shape.nii", np.ones((6, 5, 3), np.uint8))
    with pytest.raises(RoiError) as info:
        RoiSet.from_files({"a": path}, shape=SHAPE, affine=AFFINE)
    message = str(info.value)
    assert str(path) in message
    assert "(6, 5, 3)" in message and "(6, 5, 4)" in message
    assert "must be on the EPI grid" in message


def test_from_files_refuses_another_affine_and_names_the_file(tmp_path: Path) -> None:
    shifted = AFFINE.copy()
    shifted[1, 3] += 3.0
    path = _save(tmp_path / "shifted.nii", _masks()["left"].astype(np.uint8), shifted)
    with pytest.raises(RoiError) as info:
        RoiSet.from_files({"a": path}, shape=SHAPE, affine=AFFINE)
    message = str(info.value)
    assert str(path) in message
    assert "-3" in message and "-6" in message  # the two y offsets
    assert "must be on the EPI grid" in message


def test_from_files_refuses_4d_empty_and_unreadable_masks(tmp_path: Path) -> None:
    four_d = _save(tmp_path / "four_d.nii", np.ones((*SHAPE, 2), np.uint8))
    with pytest.raises(RoiError, match=r"four_d\.nii has shape \(6, 5, 4, 2\), expected a 3-D mask"):
        RoiSet.from_files({"a": four_d}, shape=SHAPE, affine=AFFINE)
    empty = _save(tmp_path / "empty.nii", np.zeros(SHAPE, np.uint8))
    with pytest.raises(RoiError, match=r"empty\.nii is empty"):
        RoiSet.from_files({"a": empty}, shape=SHAPE, affine=AFFINE)
    garbage = tmp_path / "garbage.nii"
    garbage.write_bytes(b"not a nifti file at all")
    with pytest.raises(RoiError, match=r"cannot read .*garbage\.nii"):
        RoiSet.from_files({"a": garbage}, shape=SHAPE, affine=AFFINE)
    with pytest.raises(RoiError, match=r"cannot read .*missing\.nii"):
        RoiSet.from_files({"a": tmp_path / "missing.nii"}, shape=SHAPE, affine=AFFINE)


@pytest.mark.shared
def test_real_opennft_rois_on_the_template_grid(shared_data: Path) -> None:
    run = shared_data / "opennft_psc_run"
    template = nib.load(run / "fanon-0007-00006-000006-01.nii")
    rois = RoiSet.from_files(
        {"left": run / "rois" / "lROI_1.nii", "right": run / "rois" / "rROI_2.nii"},
        shape=template.shape,
        affine=template.affine,
    )
    data = np.asanyarray(template.dataobj)
    means = rois.means(data)
    for which, name in enumerate(rois.names):
        expected = data[np.asanyarray(nib.load(run / "rois" / ("lROI_1.nii" if name == "left" else "rROI_2.nii")).dataobj) != 0].mean()
        assert means[which] == pytest.approx(expected, rel=1e-12)
    assert all(size > 0 for size in rois.sizes.values())
    assert np.all(means > 0)
