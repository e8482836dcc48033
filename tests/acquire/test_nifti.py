from __future__ import annotations

import gzip
import struct

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nibabel.nifti1 import data_type_codes

from nfd.acquire import IncompleteFileError, NotAScanError, ScanFileError, ScanImage, read_scan, read_scan_bytes
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
        with pytest.raises(IncompleteFileError, match=rf"^prefix{length}: ") as caught:
            read_scan_bytes(raw[:length], f"prefix{length}")
        assert type(caught.value) is IncompleteFileError
    assert read_scan_bytes(raw).data.shape == (3, 2, 2)


def test_gzip_stream_complete_but_content_short_is_incomplete() -> None:
    raw = nifti_bytes(5)
    with pytest.raises(IncompleteFileError, match="the header implies"):
        read_scan_bytes(gzip.compress(raw[:-10]), "short.nii.gz")


_BIG = nifti_bytes(11, shape=(16, 16, 10))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=len(_BIG) - 1))
def test_truncated_nifti_raises_incomplete_never_a_volume(length: int) -> None:
    with pytest.raises(IncompleteFileError, match=r"^truncated\.nii: ") as caught:
        read_scan_bytes(_BIG[:length], "truncated.nii")
    assert type(caught.value) is IncompleteFileError


# The uncorrupted file of the corruption tests: int16 ramp + 2, shape (4, 3, 2),
# sform diag(2, 2.5, 3) (sform_code 2, qform_code 0), vox_offset 352, 400 bytes.
_GOOD = nifti_bytes(2, shape=(4, 3, 2))
_GOOD_DATA = (np.arange(24).reshape((4, 3, 2), order="F") + 2).astype(np.float32)
_GOOD_AFFINE = np.diag([2.0, 2.5, 3.0, 1.0])


def _with(field_offset: int, fmt: str, value: float | int) -> bytes:
    """The good file with one little-endian header field overwritten (``struct`` format)."""
    raw = bytearray(_GOOD)
    struct.pack_into(fmt, raw, field_offset, value)
    return bytes(raw)


def _with_bytes(offset: int, value: bytes) -> bytes:
    raw = bytearray(_GOOD)
    raw[offset : offset + len(value)] = value
    return bytes(raw)


def _assert_well_formed(vol: ScanImage, shape: tuple[int, int, int]) -> None:
    assert isinstance(vol, ScanImage)
    assert vol.data.ndim == 3 and vol.data.dtype == np.float32 and vol.data.shape == shape
    assert vol.affine.shape == (4, 4) and vol.affine.dtype == np.float64
    assert np.all(np.isfinite(vol.affine))
    np.testing.assert_array_equal(vol.affine[3], [0.0, 0.0, 0.0, 1.0])


def test_the_good_file_is_the_known_volume() -> None:
    assert len(_GOOD) == 400
    vol = read_scan_bytes(_GOOD, "good.nii")
    _assert_well_formed(vol, (4, 3, 2))
    np.testing.assert_array_equal(vol.data, _GOOD_DATA)
    np.testing.assert_array_equal(vol.affine, _GOOD_AFFINE)


# Header field offsets (NIfTI-1): sizeof_hdr 0, dim 40, datatype 70, bitpix 72,
# vox_offset 108, scl_slope 112, scl_inter 116, srow_x 280, magic 344.
_CORRUPTIONS: list[tuple[str, bytes, type[ScanFileError], str]] = [
    ("magic", _with_bytes(344, b"xyz\x00"), NotAScanError,
     r"no NIfTI magic \(found b'xyz\\x00', expected b'n\+1\\x00'\): Analyze or corrupt header"),
    ("magic of NIfTI-2", _with_bytes(344, b"n+2\x00"), NotAScanError, r"no NIfTI magic \(found b'n\+2\\x00'"),
    ("sizeof_hdr 349", _with(0, "<i", 349), NotAScanError,
     r"neither DICOM \('DICM' at byte 128\), NIfTI \(sizeof_hdr 348 or 540\) nor gzip"),
    ("sizeof_hdr 0", _with(0, "<i", 0), NotAScanError, r"neither DICOM .*, NIfTI \(sizeof_hdr 348 or 540\) nor gzip$"),
    ("sizeof_hdr 540 in a 400-byte file", _with(0, "<i", 540), IncompleteFileError,
     r"only 400 bytes, shorter than the 540-byte NIfTI header"),
    ("dim[0] 0", _with(40, "<h", 0), NotAScanError, r"dim\[0\] = 0 is not a number of dimensions in 1\.\.7"),
    ("dim[0] 8", _with(40, "<h", 8), NotAScanError, r"dim\[0\] = 8 is not a number of dimensions in 1\.\.7"),
    ("dim[0] -1", _with(40, "<h", -1), NotAScanError, r"dim\[0\] = -1 is not"),
    # 768 is 3 byte-swapped: still the little-endian header sizeof_hdr says, not a swapped one.
    ("dim[0] 768", _with(40, "<h", 768), NotAScanError, r"dim\[0\] = 768 is not"),
    ("dim[1] negative", _with(42, "<h", -5), NotAScanError, r"dim = \[-5, 3, 2\] has a non-positive length"),
    ("datatype unknown", _with(70, "<h", 999), NotAScanError, r"unknown nifti1 datatype code: 999"),
    ("datatype none", _with(70, "<h", 0), NotAScanError, r"datatype 0 \(none\), voxel type .* is not a real number"),
    ("datatype complex", _with(70, "<h", 32), NotAScanError, r"datatype 32 \(complex64\), .* not a real number"),
    ("datatype float32 without its bytes", _with(70, "<h", 16), IncompleteFileError,
     r"400 bytes, the header implies 448 \(vox_offset 352 \+ 4x3x2 voxels x 4 bytes\)"),
    ("vox_offset NaN", _with(108, "<f", float("nan")), NotAScanError, r"vox_offset nan is not a finite byte offset"),
    ("vox_offset inf", _with(108, "<f", float("inf")), NotAScanError, r"vox_offset inf is not a finite byte offset"),
    ("dim[1] absurdly large", _with(42, "<h", 32767), IncompleteFileError,
     r"400 bytes, the header implies 393556 \(vox_offset 352 \+ 32767x3x2 voxels x 2 bytes\)"),
    ("data truncated", _GOOD[:-1], IncompleteFileError, r"399 bytes, the header implies 400"),
    ("data truncated to the header", _GOOD[:352], IncompleteFileError, r"352 bytes, the header implies 400"),
    ("header truncated", _GOOD[:300], IncompleteFileError, r"only 300 bytes, shorter than the 348-byte NIfTI header"),
    ("scl_inter NaN", _with(116, "<f", float("nan")), NotAScanError, r"invalid scl_slope/scl_inter"),
    ("scl_slope overflowing float32", _with(112, "<f", 3e38), NotAScanError,
     r"scl_slope 3\.0+\d*e\+38 and scl_inter 0\.0 scale voxel values beyond the float32 range"),
    ("srow_x NaN", _with(280, "<f", float("nan")), NotAScanError, r"the header's affine has non-finite values"),
]


@pytest.mark.parametrize(
    ("raw", "error", "reason"), [case[1:] for case in _CORRUPTIONS], ids=[case[0] for case in _CORRUPTIONS]
)
def test_corrupt_header_raises_the_specific_error(raw: bytes, error: type[ScanFileError], reason: str) -> None:
    with pytest.raises(ScanFileError, match=r"^corrupt\.nii: " + reason) as caught:
        read_scan_bytes(raw, "corrupt.nii")
    assert type(caught.value) is error
    assert caught.value.path == "corrupt.nii" and "\n" not in str(caught.value)


# Damage the reader ignores, as the NIfTI-1 standard says: each gives the good volume.
_HARMLESS: list[tuple[str, bytes]] = [
    ("bitpix wrong (datatype decides)", _with(72, "<h", 7)),
    ("scl_slope 0 (no scaling)", _with(112, "<f", 0.0)),
    ("scl_slope NaN (no scaling)", _with(112, "<f", float("nan"))),
    ("scl_slope inf (no scaling)", _with(112, "<f", float("inf"))),
    ("vox_offset 0 (right after the header)", _with(108, "<f", 0.0)),
    ("vox_offset negative (right after the header)", _with(108, "<f", -1e30)),
    ("pixdim NaN (qform unused: sform_code 2)", _with(80, "<f", float("nan"))),
    ("descrip garbage", _with_bytes(148, bytes(range(128, 208)))),
]


@pytest.mark.parametrize("raw", [case[1] for case in _HARMLESS], ids=[case[0] for case in _HARMLESS])
def test_damage_outside_the_fields_read_gives_the_good_volume(raw: bytes) -> None:
    vol = read_scan_bytes(raw, "damaged.nii")
    _assert_well_formed(vol, (4, 3, 2))
    np.testing.assert_array_equal(vol.data, _GOOD_DATA)
    np.testing.assert_array_equal(vol.affine, _GOOD_AFFINE)


# Bytes the reader never uses for a volume: data_type, db_name, extents, session_error,
# regular (4-38); intent_p1..3, intent_code (56-69); bitpix (72-73); cal_max/min (124-131);
# toffset, glmax, glmin, descrip, aux_file (136-251); intent_name (328-343).
_UNUSED = st.one_of(
    st.integers(4, 38), st.integers(56, 69), st.integers(72, 73), st.integers(124, 131),
    st.integers(136, 251), st.integers(328, 343),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_UNUSED, st.integers(0, 255)), min_size=1, max_size=8))
def test_random_damage_to_unused_header_bytes_gives_the_good_volume(edits: list[tuple[int, int]]) -> None:
    raw = bytearray(_GOOD)
    for offset, value in edits:
        raw[offset] = value
    vol = read_scan_bytes(bytes(raw), "corrupt.nii")
    _assert_well_formed(vol, (4, 3, 2))
    np.testing.assert_array_equal(vol.data, _GOOD_DATA)
    np.testing.assert_array_equal(vol.affine, _GOOD_AFFINE)
    assert vol.slice_times is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(352, 399), st.integers(0, 255)), min_size=1, max_size=8))
def test_random_damage_to_the_voxels_gives_exactly_those_voxels(edits: list[tuple[int, int]]) -> None:
    raw = bytearray(_GOOD)
    for offset, value in edits:
        raw[offset] = value
    expected = np.frombuffer(bytes(raw[352:400]), dtype="<i2").reshape((4, 3, 2), order="F")
    vol = read_scan_bytes(bytes(raw), "corrupt.nii")
    _assert_well_formed(vol, (4, 3, 2))
    np.testing.assert_array_equal(vol.data, expected.astype(np.float32))
    np.testing.assert_array_equal(vol.affine, _GOOD_AFFINE)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=4, max_size=4).filter(lambda magic: magic not in (b"n+1\x00", b"ni1\x00")))
def test_any_other_magic_is_not_a_scan(magic: bytes) -> None:
    with pytest.raises(NotAScanError, match=r"^corrupt\.nii: no NIfTI magic \(found ") as caught:
        read_scan_bytes(_with_bytes(344, magic), "corrupt.nii")
    assert type(caught.value) is NotAScanError


@settings(max_examples=100, deadline=None)
@given(st.integers(-(2**15), 2**15 - 1).filter(lambda n: not 1 <= n <= 7))
def test_any_dim0_outside_1_to_7_is_not_a_scan_and_named(dim0: int) -> None:
    with pytest.raises(NotAScanError, match=rf"^corrupt\.nii: dim\[0\] = {dim0} is not a number of dimensions"):
        read_scan_bytes(_with(40, "<h", dim0), "corrupt.nii")


_KNOWN_CODES = data_type_codes.value_set("code")


@settings(max_examples=100, deadline=None)
@given(st.integers(-(2**15), 2**15 - 1).filter(lambda code: code not in _KNOWN_CODES))
def test_any_unknown_datatype_is_not_a_scan(code: int) -> None:
    with pytest.raises(NotAScanError, match=rf"^corrupt\.nii: unknown nifti1 datatype code: {code}$"):
        read_scan_bytes(_with(70, "<h", code), "corrupt.nii")
