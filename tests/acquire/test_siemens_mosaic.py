"""Siemens mosaic DICOM against dcm2niix's reference NIfTIs and the real runs."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfd.acquire import IncompleteFileError, NotAScanError, ScanImage, read_scan, read_scan_bytes
from nfd.acquire._dicom import read_dicom_bytes
from tests.helpers.orientation import canonical, slice_times_in_canonical_order

SERIES = ["ep2d_Int_4", "ep2d_Int_HF_5", "cmrr_Int_8"]


@pytest.mark.parametrize("series", SERIES)
def test_prisma_mosaics_match_dcm2niix(prisma_mosaics: Path, series: str) -> None:
    folder = prisma_mosaics / series
    reference = nib.load(next(folder.glob("*.nii")))
    sidecar = json.loads(next(folder.glob("*.json")).read_text())
    files = sorted(folder.glob("*.dcm"))
    assert len(files) == reference.shape[3] == 6
    for volume, path in enumerate(files):
        img = read_scan(path)
        assert img.format == "siemens_mosaic"
        assert img.shape == reference.shape[:3]
        assert img.header_index == volume + 1
        ours = canonical(img.data, img.affine)
        ref = canonical(np.asanyarray(reference.dataobj[..., volume]).astype(np.float32), reference.affine)
        np.testing.assert_allclose(ours.affine, ref.affine, atol=1e-3)
        np.testing.assert_array_equal(ours.get_fdata(), ref.get_fdata())
        assert img.slice_times is not None
        np.testing.assert_allclose(
            slice_times_in_canonical_order(img.slice_times, img.affine),
            slice_times_in_canonical_order(sidecar["SliceTiming"], reference.affine),
            atol=1e-4,
        )


def test_head_to_foot_series_keeps_stored_slice_order(prisma_mosaics: Path) -> None:
    img = read_scan(prisma_mosaics / "ep2d_Int_HF_5" / "IM-0004-0001.dcm")
    assert img.affine[2, 2] < 0  # k runs from head to foot, as stored
    assert img.slice_times is not None and img.slice_times[-2] == 0.0  # last-but-one slice first


def test_opennft_run_matches_its_template(shared_data: Path, opennft_dicom: Path) -> None:
    template = read_scan(shared_data / "opennft_psc_run" / "fanon-0007-00006-000006-01.nii")
    volume6 = read_scan(opennft_dicom / "001_000007_000006.dcm")
    ours = canonical(volume6.data, volume6.affine)
    ref = canonical(template.data, template.affine)
    np.testing.assert_allclose(ours.affine, ref.affine, atol=1e-3)
    np.testing.assert_array_equal(ours.get_fdata(), ref.get_fdata())


def test_opennft_run_reads_whole(opennft_dicom: Path) -> None:
    files = sorted(opennft_dicom.glob("*.dcm"))
    assert len(files) == 155
    first = read_scan(files[0])
    for number, path in enumerate(files, start=1):
        img = read_scan(path)
        assert img.shape == (74, 74, 36)
        assert img.header_index == number
        assert img.series == first.series
        np.testing.assert_allclose(img.affine, first.affine, atol=1e-6)
    # PixelSpacing 2.97297 mm, SpacingBetweenSlices 3.75 mm (3 mm slices + gap)
    assert first.zooms == pytest.approx((2.97297, 2.97297, 3.75), abs=1e-4)
    assert first.slice_times is not None
    times = np.asarray(first.slice_times)
    assert times.max() < 1.97  # within the TR
    # descending (slice 35 first), 52.5 to 55 ms apart (the scanner's 2.5 ms raster)
    assert np.all((-np.diff(times) >= 0.0525 - 1e-6) & (-np.diff(times) <= 0.055 + 1e-6))


def test_rt_cloud_sample_slice_times_and_duplicate(rt_mosaic: Path) -> None:
    vol10 = read_scan(rt_mosaic / "001_000013_000010.dcm")
    copy = read_scan(rt_mosaic / "001_000013_000000.dcm")
    assert vol10.shape == (64, 64, 27)
    assert vol10.zooms == pytest.approx((3.0, 3.0, 4.0), abs=1e-3)
    np.testing.assert_array_equal(copy.data, vol10.data)
    assert vol10.slice_times is not None
    times = np.sort(vol10.slice_times)
    assert times[0] == 0.0 and times[-1] < 1.5  # within the 1.5 s TR
    # interleaved, 52.5 to 55 ms apart (the scanner's 2.5 ms raster)
    assert np.all((np.diff(times) >= 0.0525 - 1e-6) & (np.diff(times) <= 0.055 + 1e-6))
    assert vol10.slice_times[:4] == pytest.approx((0.0, 0.765, 0.0525, 0.82))


def test_single_slice_dicom_is_not_a_volume(shared_data: Path) -> None:
    path = next((shared_data / "dicom_reader_testset" / "ge_mr750_epi").glob("*.dcm"))
    with pytest.raises(NotAScanError, match=r"GE MEDICAL SYSTEMS 64x64, 1 frame\(s\) is not a volume"):
        read_scan(path)


def test_mosaic_that_does_not_untile_is_not_a_scan(shared_data: Path) -> None:
    # nibabel's test file: 48 images of 128x128 announced in a 256x256 mosaic.
    path = shared_data / "dicom_reader_testset" / "misc_single_files" / "nibabel_siemens_dti_mosaic_0.dcm"
    with pytest.raises(NotAScanError, match="cannot be un-tiled"):
        read_scan(path)


@pytest.fixture(scope="module")
def mosaic_bytes(opennft_dicom: Path) -> bytes:
    return (opennft_dicom / "001_000007_000001.dcm").read_bytes()


def test_every_prefix_of_the_mosaic_header_is_incomplete(mosaic_bytes: bytes) -> None:
    pixel_start = len(mosaic_bytes) - 444 * 444 * 2
    for length in range(pixel_start + 64):
        with pytest.raises(IncompleteFileError, match=r"^prefix\.dcm: ") as caught:
            read_scan_bytes(mosaic_bytes[:length], "prefix.dcm")
        assert type(caught.value) is IncompleteFileError


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_truncated_mosaic_raises_incomplete_never_a_volume(data: st.DataObject, opennft_dicom: Path) -> None:
    raw = (opennft_dicom / "001_000007_000002.dcm").read_bytes()
    length = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(IncompleteFileError, match=r"^truncated\.dcm: ") as caught:
        read_scan_bytes(raw[:length], "truncated.dcm")
    assert type(caught.value) is IncompleteFileError


# Where the elements of 001_000007_000003.dcm stand (bytes from the start of the file).
_META_OB = 144  # (0002,0001) FileMetaInformationVersion, OB: its 4-byte length at +8
_CSA_IMAGE = 2082  # (0029,1010) the CSA image header, UN: its 4-byte length at +8
_PIXEL_DATA = 13124  # (7FE0,0010) PixelData, OW: 444 x 444 x 2 = 394272 bytes from 13136
_PIXEL_BYTES = 444 * 444 * 2


@pytest.fixture(scope="module")
def good_mosaic(opennft_dicom: Path) -> tuple[bytes, ScanImage]:
    raw = (opennft_dicom / "001_000007_000003.dcm").read_bytes()
    assert len(raw) == _PIXEL_DATA + 12 + _PIXEL_BYTES
    assert raw[_META_OB : _META_OB + 6] == b"\x02\x00\x01\x00OB"
    assert raw[_CSA_IMAGE : _CSA_IMAGE + 6] == b"\x29\x00\x10\x10UN"
    assert raw[_PIXEL_DATA : _PIXEL_DATA + 12] == b"\xe0\x7f\x10\x00OW\x00\x00" + _PIXEL_BYTES.to_bytes(4, "little")
    img = read_scan_bytes(raw, "good.dcm")
    _assert_well_formed(img)
    return raw, img


def _assert_well_formed(img: ScanImage) -> None:
    assert isinstance(img, ScanImage) and img.format == "siemens_mosaic"
    assert img.data.ndim == 3 and img.data.dtype == np.float32 and img.data.shape == (74, 74, 36)
    assert img.affine.shape == (4, 4) and img.affine.dtype == np.float64
    assert np.all(np.isfinite(img.affine))
    np.testing.assert_array_equal(img.affine[3], [0.0, 0.0, 0.0, 1.0])


def _put(raw: bytes, offset: int, value: bytes) -> bytes:
    edited = bytearray(raw)
    edited[offset : offset + len(value)] = value
    return bytes(edited)


def test_file_without_the_dicm_prefix_is_not_a_scan(good_mosaic: tuple[bytes, ScanImage]) -> None:
    raw, _ = good_mosaic
    for prefix in (b"DICX", bytes(4), b"dicm"):
        with pytest.raises(NotAScanError, match=r"^corrupt\.dcm: neither DICOM \('DICM' at byte 128\), NIfTI") as caught:
            read_scan_bytes(_put(raw, 128, prefix), "corrupt.dcm")
        assert type(caught.value) is NotAScanError
        with pytest.raises(NotAScanError, match=r"^corrupt\.dcm: no 'DICM' prefix at byte 128: not a DICOM Part-10 file$"):
            read_dicom_bytes(_put(raw, 128, prefix), "corrupt.dcm")


@pytest.mark.parametrize(
    ("where", "announced", "reason"),
    [
        (_META_OB, 10**6, r"ends inside the value of element \(0002,0001\) at byte 407408 \(1000000 bytes announced from byte 156\)"),
        (_CSA_IMAGE, 407408, r"ends inside the value of element \(0029,1010\) at byte 407408 \(407408 bytes announced from byte 2094\)"),
        (_PIXEL_DATA, _PIXEL_BYTES + 2, r"ends inside the value of element \(7FE0,0010\) at byte 407408 \(394274 bytes announced from byte 13136\)"),
    ],
    ids=["file meta element", "CSA image header", "PixelData"],
)
def test_element_longer_than_the_file_is_incomplete(
    good_mosaic: tuple[bytes, ScanImage], where: int, announced: int, reason: str
) -> None:
    raw, _ = good_mosaic
    with pytest.raises(IncompleteFileError, match=rf"^corrupt\.dcm: {reason}$") as caught:
        read_scan_bytes(_put(raw, where + 8, announced.to_bytes(4, "little")), "corrupt.dcm")
    assert type(caught.value) is IncompleteFileError and caught.value.path == "corrupt.dcm"


@pytest.mark.parametrize("kept", [0, 1, 1000, _PIXEL_BYTES - 1])
def test_truncated_pixel_data_is_incomplete(good_mosaic: tuple[bytes, ScanImage], kept: int) -> None:
    raw, _ = good_mosaic
    end = _PIXEL_DATA + 12 + kept
    with pytest.raises(
        IncompleteFileError,
        match=rf"^truncated\.dcm: ends inside the value of element \(7FE0,0010\) at byte {end} "
        r"\(394272 bytes announced from byte 13136\)$",
    ) as caught:
        read_scan_bytes(raw[:end], "truncated.dcm")
    assert type(caught.value) is IncompleteFileError


def test_pixel_data_shorter_than_the_mosaic_is_incomplete(good_mosaic: tuple[bytes, ScanImage]) -> None:
    raw, _ = good_mosaic
    short = _put(raw, _PIXEL_DATA + 8, (1000).to_bytes(4, "little"))[: _PIXEL_DATA + 12 + 1000]
    with pytest.raises(
        IncompleteFileError, match=r"^short\.dcm: PixelData has 1000 bytes, 444x444x1 frames of 16 bits need 394272$"
    ) as caught:
        read_scan_bytes(short, "short.dcm")
    assert type(caught.value) is IncompleteFileError


@settings(max_examples=100, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 127), st.integers(0, 255)), min_size=1, max_size=8))
def test_random_damage_to_the_preamble_gives_the_good_volume(
    edits: list[tuple[int, int]], good_mosaic: tuple[bytes, ScanImage]
) -> None:
    raw, good = good_mosaic
    damaged = bytearray(raw)
    for offset, value in edits:
        damaged[offset] = value
    img = read_scan_bytes(bytes(damaged), "damaged.dcm")
    _assert_well_formed(img)
    np.testing.assert_array_equal(img.data, good.data)
    np.testing.assert_array_equal(img.affine, good.affine)
    assert (img.header_index, img.series, img.slice_times) == (good.header_index, good.series, good.slice_times)


@settings(max_examples=100, deadline=None)
@given(prefix=st.binary(min_size=4, max_size=4).filter(lambda b: b != b"DICM"))
def test_any_other_prefix_is_not_a_scan(prefix: bytes, good_mosaic: tuple[bytes, ScanImage]) -> None:
    raw, _ = good_mosaic
    with pytest.raises(NotAScanError, match=r"^corrupt\.dcm: neither DICOM \('DICM' at byte 128\)") as caught:
        read_scan_bytes(_put(raw, 128, prefix), "corrupt.dcm")
    assert type(caught.value) is NotAScanError
