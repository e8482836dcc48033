"""Siemens mosaic DICOM against dcm2niix's reference NIfTIs and the real runs."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfd.acquire import IncompleteFileError, NotAScanError, ScanFileError, ScanImage, read_scan, read_scan_bytes
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
        with pytest.raises(IncompleteFileError):
            read_scan_bytes(mosaic_bytes[:length], "prefix.dcm")


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_truncated_mosaic_raises_incomplete_never_a_volume(data: st.DataObject, opennft_dicom: Path) -> None:
    raw = (opennft_dicom / "001_000007_000002.dcm").read_bytes()
    length = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(IncompleteFileError):
        read_scan_bytes(raw[:length], "truncated.dcm")


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom and nibabel warn about the damage
@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 13135), st.integers(0, 255)), min_size=1, max_size=6))
def test_corrupt_mosaic_header_gives_a_volume_or_a_scan_file_error(
    edits: list[tuple[int, int]], opennft_dicom: Path
) -> None:
    raw = bytearray((opennft_dicom / "001_000007_000003.dcm").read_bytes())
    for offset, value in edits:
        raw[offset] = value
    try:
        img = read_scan_bytes(bytes(raw), "corrupt.dcm")
    except ScanFileError:
        return
    assert isinstance(img, ScanImage) and img.data.ndim == 3
