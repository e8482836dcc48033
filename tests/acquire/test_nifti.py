from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfd.acquire import IncompleteFileError, NotAScanError, ScanFileError, read_scan, read_scan_bytes
from nfd.acquire._nifti import nifti_header_size, read_nifti_bytes
from tests.helpers.nifti import nifti_bytes

AFFINE = np.array(
    [[-2.0, 0.1, 0.0, 90.0], [0.0, 2.5, 0.2, -120.0], [0.0, -0.1, 3.0, -60.0], [0, 0, 0, 1]]
)


def test_values_affine_and_layout_known_answer() -> None:
    data = np.arange(6 * 5 * 4, dtype=np.int16).reshape((6, 5, 4), order="F")
    raw = nib.Nifti1Image(data, AFFINE).to_bytes()
    img = read_scan_bytes(raw, "vol.nii")
    assert img.format == "nifti1"
    assert img.data.dtype == np.float32 and img.data.shape == (6, 5, 4)
    np.testing.assert_array_equal(img.data, data.astype(np.float32))
    np.testing.assert_allclose(img.affine, AFFINE, atol=1e-6)
    assert img.header_index is None and img.series is None and img.slice_times is None


def test_scl_slope_and_inter_are_applied() -> None:
    data = np.array([0, 1, 2, 100], dtype=np.int16).reshape((1, 2, 2))
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(0.5, -10.0)
    vol = read_scan_bytes(img.to_bytes(), "scaled.nii")
    np.testing.assert_array_equal(vol.data, data * np.float32(0.5) - np.float32(10.0))
    assert vol.data[0, 1, 1] == 40.0


def test_qform_only_header_uses_qform() -> None:
    img = nib.Nifti1Image(np.zeros((3, 3, 3), np.float32), None)
    img.header.set_qform(AFFINE, code=1)
    img.header.set_sform(None, code=0)
    vol = read_scan_bytes(img.to_bytes(), "q.nii")
    np.testing.assert_allclose(vol.affine, img.header.get_qform(), atol=1e-6)


def test_big_endian_and_nifti2_read_the_same_volume() -> None:
    data = np.arange(24, dtype=np.float32).reshape((2, 3, 4))
    little = nib.Nifti1Image(data, AFFINE)
    big_header = little.header.as_byteswapped(">")
    big = nib.Nifti1Image(data.astype(">f4"), AFFINE, header=big_header)
    two = nib.Nifti2Image(data, AFFINE)
    vols = [read_scan_bytes(img.to_bytes(), "v") for img in (little, big, two)]
    assert [v.format for v in vols] == ["nifti1", "nifti1", "nifti2"]
    for vol in vols:
        np.testing.assert_array_equal(vol.data, data)
        np.testing.assert_allclose(vol.affine, AFFINE, atol=1e-6)


def test_gzipped_file_on_disk(tmp_path) -> None:
    path = tmp_path / "vol.nii.gz"
    path.write_bytes(nifti_bytes(7, compressed=True))
    vol = read_scan(path)
    np.testing.assert_array_equal(vol.data, read_scan_bytes(nifti_bytes(7)).data)


def test_content_decides_not_the_extension(tmp_path) -> None:
    path = tmp_path / "volume.dcm"  # a NIfTI under a DICOM name
    path.write_bytes(nifti_bytes(3))
    assert read_scan(path).format == "nifti1"


def test_single_volume_4d_is_a_volume_but_a_series_is_not() -> None:
    one = nib.Nifti1Image(np.ones((3, 4, 5, 1), np.int16), np.eye(4)).to_bytes()
    assert read_scan_bytes(one).data.shape == (3, 4, 5)
    many = nib.Nifti1Image(np.ones((3, 4, 5, 2), np.int16), np.eye(4)).to_bytes()
    with pytest.raises(NotAScanError, match=r"shape \(3, 4, 5, 2\): expected one 3-D volume"):
        read_scan_bytes(many, "series.nii")
    flat = nib.Nifti1Image(np.ones((3, 4), np.int16), np.eye(4)).to_bytes()
    with pytest.raises(NotAScanError, match="expected one 3-D volume"):
        read_scan_bytes(flat, "slice.nii")


def test_complex_voxels_are_not_a_scan() -> None:
    raw = nib.Nifti1Image(np.ones((2, 2, 2), np.complex64), np.eye(4)).to_bytes()
    with pytest.raises(NotAScanError, match="not a real number type"):
        read_scan_bytes(raw, "complex.nii")


def test_header_pair_and_analyze_are_not_single_file_nifti() -> None:
    raw = bytearray(nifti_bytes())
    raw[344:348] = b"ni1\x00"
    with pytest.raises(NotAScanError, match="pair"):
        read_nifti_bytes(bytes(raw), "pair.hdr")
    raw[344:348] = b"\x00\x00\x00\x00"
    with pytest.raises(NotAScanError, match="no NIfTI magic"):
        read_nifti_bytes(bytes(raw), "analyze.hdr")


def test_slice_times_from_slice_code_in_seconds() -> None:
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4))
    img.header.set_dim_info(slice=2)
    img.header.set_xyzt_units("mm", "msec")
    img.header["slice_duration"] = 500.0  # ms
    img.header.set_slice_times([0.0, 1000.0, 500.0, 1500.0])  # alt+inc in ms
    vol = read_scan_bytes(img.to_bytes())
    assert vol.slice_times == pytest.approx((0.0, 1.0, 0.5, 1.5))


def test_header_size_prefixes() -> None:
    assert nifti_header_size(b"\x5c\x01\x00\x00") == 348
    assert nifti_header_size(b"\x00\x00\x01\x5c") == 348
    assert nifti_header_size(b"\x1c\x02") == 540
    assert nifti_header_size(b"DICM") is None


@pytest.mark.parametrize("compressed", [False, True], ids=["nii", "nii.gz"])
def test_every_prefix_is_incomplete(compressed: bool) -> None:
    raw = nifti_bytes(5, shape=(3, 2, 2), compressed=compressed)
    for length in range(len(raw)):
        with pytest.raises(IncompleteFileError):
            read_scan_bytes(raw[:length], f"prefix{length}")
    assert read_scan_bytes(raw).data.shape == (3, 2, 2)


def test_gzip_stream_complete_but_content_short_is_incomplete() -> None:
    raw = nifti_bytes(5)
    with pytest.raises(IncompleteFileError, match="the header implies"):
        read_scan_bytes(gzip.compress(raw[:-10]), "short.nii.gz")


_BIG = nifti_bytes(11, shape=(16, 16, 10))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=len(_BIG) - 1))
def test_truncated_nifti_raises_incomplete_never_a_volume(length: int) -> None:
    with pytest.raises(IncompleteFileError):
        read_scan_bytes(_BIG[:length], "truncated.nii")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 351), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupt_header_gives_a_volume_or_a_scan_file_error(edits: list[tuple[int, int]]) -> None:
    raw = bytearray(nifti_bytes(2, shape=(4, 3, 2)))
    for offset, value in edits:
        raw[offset] = value
    try:
        vol = read_scan_bytes(bytes(raw), "corrupt.nii")
    except ScanFileError:
        return
    assert vol.data.ndim == 3 and vol.data.dtype == np.float32 and vol.affine.shape == (4, 4)
