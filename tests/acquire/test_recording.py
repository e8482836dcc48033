"""Recorded series, volume by volume, from names and headers."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.acquire import FileNaming, RecordingError, plan_recording, read_scan
from tests.helpers.nifti import nifti_bytes
from tests.helpers.orientation import canonical


def test_opennft_run_in_name_order(opennft_dicom: Path) -> None:
    volumes = plan_recording(opennft_dicom, naming=FileNaming())
    assert [v.index for v in volumes] == list(range(155))
    assert {v.kind for v in volumes} == {"volume"}
    assert volumes[5].files == (opennft_dicom / "001_000007_000006.dcm",)
    np.testing.assert_array_equal(volumes[5].read().data, read_scan(volumes[5].files[0]).data)


def test_rt_cloud_copy_numbered_zero_is_left_out(rt_mosaic: Path) -> None:
    volumes = plan_recording(rt_mosaic, naming=FileNaming())
    assert [v.index for v in volumes] == list(range(10))
    assert all("000000" not in v.files[0].name for v in volumes)


def test_ge_slices_grouped_by_volume_in_instance_order(shared_data: Path) -> None:
    folder = shared_data / "dicom_reader_testset" / "ge_mr750_epi"
    volumes = plan_recording(folder)  # the 4-D reference NIfTI beside the files is left out
    assert [v.index for v in volumes] == list(range(10))
    assert {v.kind for v in volumes} == {"slices"}
    assert [p.name for p in volumes[1].files] == [
        f"axial_epi_fmri_interleaved_i_to_s-{n:05d}.dcm" for n in range(16, 31)
    ]
    reference = nib.load(folder / "DCM2NIIX_regression_test_4.nii")
    img = volumes[9].read()
    ours = canonical(img.data, img.affine)
    ref = canonical(np.asanyarray(reference.dataobj[..., 9]).astype(np.float32), reference.affine)
    np.testing.assert_array_equal(ours.get_fdata(), ref.get_fdata())


def test_enhanced_series_ordered_by_instance_number(shared_data: Path) -> None:
    folder = shared_data / "dicom_reader_testset" / "siemens_xa30_enhanced_fmri"
    volumes = plan_recording(folder, naming=FileNaming())  # no name matches: the header orders
    assert [v.index for v in volumes] == list(range(20))
    assert [v.files[0].name[:4] for v in volumes] == [f"{n:04d}" for n in range(1, 21)]


def test_nifti_folder_in_natural_name_order(tmp_path: Path) -> None:
    for n in (10, 2, 1):
        (tmp_path / f"scan{n}.nii").write_bytes(nifti_bytes(n))
    (tmp_path / "notes.txt").write_text("not a scan")
    volumes = plan_recording(tmp_path)
    assert [v.files[0].name for v in volumes] == ["scan1.nii", "scan2.nii", "scan10.nii"]
    assert [int(v.read().data[0, 0, 0]) for v in volumes] == [1, 2, 10]


def test_4d_nifti_time_points_and_their_files(tmp_path: Path) -> None:
    data = np.arange(4 * 3 * 2 * 5, dtype=np.int16).reshape(4, 3, 2, 5)
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "run.nii.gz")
    volumes = plan_recording(tmp_path / "run.nii.gz")
    assert [v.index for v in volumes] == [0, 1, 2, 3, 4] and {v.kind for v in volumes} == {"nifti4d"}
    np.testing.assert_array_equal(volumes[3].read().data, data[..., 3])
    ((name, content),) = volumes[3].file_bytes(first_number=0)
    assert name == "vol_0003.nii"
    written = tmp_path / name
    written.write_bytes(content)
    np.testing.assert_array_equal(read_scan(written).data, data[..., 3])
    np.testing.assert_allclose(read_scan(written).affine, affine)
    assert volumes[0].file_bytes("run1_{volume:03d}_{index}.nii")[0][0] == "run1_001_0.nii"
    with pytest.raises(RecordingError, match="does not format"):
        volumes[0].file_bytes("{run}.nii")


def test_unusable_recordings_are_named(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such folder or file"):
        plan_recording(tmp_path / "absent")
    with pytest.raises(RecordingError, match="no scan files in the folder"):
        plan_recording(tmp_path)
    (tmp_path / "text.nii").write_text("not an image")
    with pytest.raises(RecordingError, match="expected a 4-D NIfTI"):
        plan_recording(tmp_path / "text.nii")
