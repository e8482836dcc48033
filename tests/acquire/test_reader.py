"""Format recognition from content, and what is incomplete versus not a scan."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from nfd.acquire import IncompleteFileError, NotAScanError, read_scan, read_scan_bytes
from tests.helpers.dicom import synthetic_dicom
from tests.helpers.nifti import nifti_bytes

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


def test_empty_file_is_incomplete() -> None:
    with pytest.raises(IncompleteFileError, match=r"x\.dcm: empty file"):
        read_scan_bytes(b"", "x.dcm")


@pytest.mark.parametrize("length", [1, 3, 4, 64, 127, 128, 130, 131])
def test_start_of_a_dicom_preamble_is_incomplete(length: int) -> None:
    start = (bytes(128) + b"DICM")[:length]
    # (1 or 2 zero bytes also start a big-endian NIfTI header: incomplete either way)
    with pytest.raises(IncompleteFileError, match="DICOM preamble" if length > 2 else "NIfTI"):
        read_scan_bytes(start, "growing.dcm")


def test_short_text_is_not_a_scan() -> None:
    with pytest.raises(NotAScanError, match=r"notes.txt: neither DICOM \('DICM' at byte 128\)"):
        read_scan_bytes(b"hello\n", "notes.txt")


def test_zero_preamble_without_dicm_is_not_a_scan() -> None:
    with pytest.raises(NotAScanError, match="neither DICOM"):
        read_scan_bytes(bytes(300), "zeros.bin")


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_scan(tmp_path / "absent.dcm")


@pytest.mark.filterwarnings("ignore:Unable to find Philips private scale factor")
def test_gzipped_dicom_is_read(shared_data: Path) -> None:
    img = read_scan(
        shared_data / "dicom_reader_testset" / "misc_single_files" / "nibabel_philips_enhanced_mprage.dcm.gz"
    )
    assert img.format == "enhanced_mr" and img.shape == (256, 256, 176)


def test_gzip_cases() -> None:
    raw = nifti_bytes(4)
    two_members = gzip.compress(raw[:100]) + gzip.compress(raw[100:])
    np.testing.assert_array_equal(read_scan_bytes(two_members).data, read_scan_bytes(raw).data)
    padded = gzip.compress(raw) + bytes(8)
    assert read_scan_bytes(padded).shape == (6, 5, 4)
    with pytest.raises(NotAScanError, match="garbage after the gzip stream"):
        read_scan_bytes(gzip.compress(raw) + b"trailing", "junk.nii.gz")
    with pytest.raises(IncompleteFileError, match="gzip stream ends early"):
        read_scan_bytes(gzip.compress(raw)[:-5], "short.nii.gz")
    with pytest.raises(NotAScanError, match="neither DICOM"):
        read_scan_bytes(gzip.compress(b"just text " * 30), "text.gz")
    with pytest.raises(NotAScanError, match="do not decompress"):
        read_scan_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)), "broken.gz")


def test_dicom_without_pixel_data_is_not_a_scan_unless_an_image_in_writing() -> None:
    with pytest.raises(NotAScanError, match=f"DICOM without pixel data \\(SOP class {BASIC_TEXT_SR}\\)"):
        read_scan_bytes(synthetic_dicom(ExplicitVRLittleEndian, sop_class=BASIC_TEXT_SR, image=False, pixels=False), "report.dcm")
    with pytest.raises(IncompleteFileError, match="without PixelData yet"):
        read_scan_bytes(synthetic_dicom(ExplicitVRLittleEndian, sop_class=MRImageStorage, pixels=False), "growing.dcm")
    with pytest.raises(IncompleteFileError, match="without PixelData yet"):
        read_scan_bytes(synthetic_dicom(ExplicitVRLittleEndian, sop_class=BASIC_TEXT_SR, pixels=False), "growing.dcm")


def test_pixel_data_shorter_than_the_image_is_incomplete() -> None:
    raw = synthetic_dicom(ExplicitVRLittleEndian, undefined=False)
    # Rows 4 x Columns 3 x 16 bits = 24 bytes; announce and hold only 12.
    header = b"\xe0\x7f\x10\x00OW\x00\x00" + (24).to_bytes(4, "little")
    at = raw.index(header)
    short = raw[:at] + b"\xe0\x7f\x10\x00OW\x00\x00" + (12).to_bytes(4, "little") + bytes(12)
    with pytest.raises(IncompleteFileError, match="PixelData has 12 bytes, 4x3x1 frames of 16 bits need 24"):
        read_scan_bytes(short, "short.dcm")


def test_single_frame_synthetic_image_is_not_a_volume() -> None:
    with pytest.raises(NotAScanError, match="is not a volume"):
        read_scan_bytes(synthetic_dicom(ExplicitVRLittleEndian), "slice.dcm")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_are_not_a_scan_or_incomplete(raw: bytes) -> None:
    with pytest.raises((NotAScanError, IncompleteFileError), match=r"^random\.bin: [^\n]+$"):
        read_scan_bytes(raw, "random.bin")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_after_a_dicom_prefix_are_not_a_scan_or_incomplete(raw: bytes) -> None:
    with pytest.raises((NotAScanError, IncompleteFileError), match=r"^random\.dcm: [^\n]+$"):
        read_scan_bytes(bytes(128) + b"DICM" + raw, "random.dcm")


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=400))
def test_random_bytes_with_nifti_or_gzip_magic_are_not_a_scan_or_incomplete(raw: bytes) -> None:
    for magic in (b"\x5c\x01\x00\x00", b"\x1c\x02\x00\x00", b"\x1f\x8b"):
        with pytest.raises((NotAScanError, IncompleteFileError), match=r"^random\.nii: [^\n]+$"):
            read_scan_bytes(magic + raw, "random.nii")
