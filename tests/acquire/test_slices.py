"""Single-slice-per-file DICOM: the GE series against dcm2niix, synthetic Philips and Siemens slices."""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfd.acquire import (
    IncompleteFileError,
    NotAScanError,
    SliceImage,
    assemble_volume,
    read_scan,
    read_scan_bytes,
    read_slice,
    read_slice_bytes,
)
from nfd.acquire._slices import ge_slice_times, slice_count
from tests.helpers.dicom import slice_dicom
from tests.helpers.orientation import canonical, slice_times_in_canonical_order


@pytest.fixture(scope="module")
def ge(shared_data: Path) -> Path:
    return shared_data / "dicom_reader_testset" / "ge_mr750_epi"


def ge_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.dcm"))


# -- the real GE series ----------------------------------------------------------------


def test_ge_series_matches_dcm2niix(ge: Path) -> None:
    reference = nib.load(ge / "DCM2NIIX_regression_test_4.nii")
    sidecar = json.loads((ge / "DCM2NIIX_regression_test_4.json").read_text())
    files = ge_files(ge)
    assert len(files) == 150 and reference.shape == (64, 64, 15, 10)
    for volume in range(10):
        slices = [read_slice(path) for path in files[15 * volume : 15 * (volume + 1)]]
        assert {s.volume_number for s in slices} == {volume + 1}
        assert {s.slices_per_volume for s in slices} == {15}
        img = assemble_volume(list(reversed(slices)))  # arrival order does not matter
        assert img.format == "dicom_slices" and img.header_index == volume + 1
        assert img.shape == (64, 64, 15)
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


def test_ge_slice_header_fields(ge: Path) -> None:
    files = ge_files(ge)
    first, sixteenth = read_slice(files[0]), read_slice(files[15])
    assert (first.volume_number, first.slice_number, first.header_index) == (1, 1, 1)
    assert (sixteenth.volume_number, sixteenth.slice_number, sixteenth.header_index) == (2, 1, 16)
    assert first.series == sixteenth.series == "1.2.840.113619.2.408.5282380.4562341.27283.1537222031.341"
    assert first.data.shape == (64, 64) and first.data.dtype == np.float32
    # interleaved, TR 5 s, 15 slices: prescription position 2 is the 9th excitation
    assert first.protocol_time == 0.0 and read_slice(files[1]).protocol_time == pytest.approx(8 * 5 / 15)
    assert first.trigger_time is None
    # the slice's own affine: 3.75 mm pixels, the normal times SpacingBetweenSlices (5 mm)
    assert np.linalg.norm(first.affine[:3, :3], axis=0) == pytest.approx([3.75, 3.75, 5.0])
    ds = pydicom.dcmread(files[0])
    assert slice_count(ds) == 15


def test_ge_slice_is_not_a_volume_and_a_volume_is_not_a_slice(ge: Path, opennft_dicom: Path) -> None:
    with pytest.raises(NotAScanError, match="one slice of a single-slice series"):
        read_scan(ge_files(ge)[0])
    with pytest.raises(NotAScanError, match="a whole volume \\(siemens_mosaic\\), not one slice"):
        read_slice(opennft_dicom / "001_000007_000001.dcm")


def test_explicit_slice_count_and_grouping_override_the_header(ge: Path) -> None:
    path = ge_files(ge)[20]  # instance 21
    assert read_slice(path).volume_number == 2
    assert read_slice(path, slices_per_volume=5).volume_number == 5  # (21 - 1) // 5 + 1
    assert read_slice(path, volume_from="acquisition_number").volume_number == 1  # GE: always 1
    with pytest.raises(NotAScanError, match="without TemporalPositionIdentifier"):
        read_slice(path, volume_from="temporal_position")
    with pytest.raises(ValueError, match="slices_per_volume must be an int >= 1, got 0"):
        read_slice(path, slices_per_volume=0)
    with pytest.raises(ValueError, match=r"volume_from must be one of 'auto', .*; got 'slice'"):
        read_slice(path, volume_from="slice")  # type: ignore[arg-type]


# -- synthetic slices: other vendors and the known answers of the geometry -------------


def test_synthetic_volume_geometry_is_known() -> None:
    slices = [read_slice_bytes(slice_dicom(z, value=int(z)), f"z{z}.dcm") for z in (3.0, 9.0, 6.0)]
    img = assemble_volume(slices)
    # nibabel's convention, as for mosaics: i is the row index (along IOP's column cosine,
    # LPS +y, PixelSpacing[0] = 2.0 mm), j the column index (row cosine, LPS +x, 2.5 mm),
    # k along column cosine x row cosine = LPS -z.
    expected = np.array([
        [0.0, -2.5, 0.0, 10.0],
        [-2.0, 0.0, 0.0, 20.0],
        [0.0, 0.0, -3.0, 9.0],
        [0.0, 0.0, 0.0, 1.0],
    ])
    np.testing.assert_allclose(img.affine, expected, atol=1e-9)
    # pixel (row r, column c) holds 5 r + c + value, and data[i, j] = pixel (row i, column j)
    assert img.shape == (4, 5, 3)
    assert [float(img.data[0, 0, k]) for k in range(3)] == [9.0, 6.0, 3.0]
    assert float(img.data[1, 0, 2]) == 3.0 + 5  # next row
    assert float(img.data[0, 1, 2]) == 3.0 + 1  # next column
    assert img.header_index == 1 and img.series == "1.2.3.4" and img.slice_times is None


def test_philips_precise_scaling() -> None:
    raw = slice_dicom(0.0, value=100, rescale=(2.0, 10.0), philips_scale_slope=4.0)
    s = read_slice_bytes(raw)
    # (stored * RS + RI) / (RS * SS), Chenevert et al. 2014
    assert float(s.data[0, 0]) == pytest.approx((100 * 2.0 + 10.0) / (2.0 * 4.0))
    plain = read_slice_bytes(slice_dicom(0.0, value=100, rescale=(2.0, 10.0)))
    assert float(plain.data[0, 0]) == 210.0


@pytest.mark.parametrize(
    ("rescale", "philips_scale_slope"),
    [((1e37, 0.0), None), ((1.0, 1e39), None), ((2.0, 10.0), 1e-37)],
    ids=["slope", "intercept", "tiny-scale-slope"],
)
def test_scaling_beyond_float32_is_refused(rescale: tuple[float, float], philips_scale_slope: float | None) -> None:
    # found by tests/fuzz: the float32 cast made inf voxels, which an ROI mean would have carried into the feedback
    raw = slice_dicom(0.0, value=100, rescale=rescale, philips_scale_slope=philips_scale_slope)
    with pytest.raises(NotAScanError, match="do not fit a float32"):
        read_slice_bytes(raw, "scaled.dcm")


def test_temporal_position_and_acquisition_number_group_slices() -> None:
    philips = read_slice_bytes(slice_dicom(0.0, temporal_position=7, instance=40))
    assert philips.volume_number == 7
    siemens = read_slice_bytes(
        slice_dicom(0.0, manufacturer="SIEMENS", temporal_position=None, acquisition=4, instance=2)
    )
    assert siemens.volume_number == 4
    other = read_slice_bytes(
        slice_dicom(0.0, manufacturer="ACME", temporal_position=None, instance=8), slices_per_volume=3
    )
    assert other.volume_number == 3  # (8 - 1) // 3 + 1


def test_slice_without_a_slice_count_names_the_option() -> None:
    with pytest.raises(NotAScanError, match="set slices_per_volume"):
        read_slice_bytes(slice_dicom(0.0, n_slices=None), "noslices.dcm")
    assert read_slice_bytes(slice_dicom(0.0, n_slices=None), slices_per_volume=12).slices_per_volume == 12


def test_trigger_times_give_the_slice_times() -> None:
    slices = [
        read_slice_bytes(slice_dicom(z, trigger_ms=t))
        for z, t in ((0.0, 1000.0), (3.0, 0.0), (6.0, 500.0))
    ]
    # k runs down z (z = 6, 3, 0 mm): the slice at z = 6 mm was acquired at 0.5 s
    assert assemble_volume(slices).slice_times == pytest.approx((0.5, 0.0, 1.0))
    constant = [read_slice_bytes(slice_dicom(z, trigger_ms=0.0)) for z in (0.0, 3.0)]
    assert assemble_volume(constant).slice_times is None


def test_ge_slice_times_known_answers() -> None:
    assert ge_slice_times(3.0, 3, interleaved=False) == pytest.approx((0.0, 1.0, 2.0))
    assert ge_slice_times(4.0, 4, interleaved=True) == pytest.approx((0.0, 2.0, 1.0, 3.0))
    assert ge_slice_times(4.0, 4, interleaved=True, group_delay=2.0) == pytest.approx((0.0, 1.0, 0.5, 1.5))
    # multiband 2 on 6 slices: 3 excitations, slice i shares the time of slice i mod 3
    assert ge_slice_times(3.0, 6, interleaved=True, multiband=2) == pytest.approx((0, 2, 1, 0, 2, 1))


def test_protocol_block_round_trip() -> None:
    """A synthetic GE slice: the slice time comes from its own protocol data block."""
    raw = slice_dicom(0.0, manufacturer="GE MEDICAL SYSTEMS", temporal_position=None, instance=2, n_slices=4)
    ds = pydicom.dcmread(io.BytesIO(raw))
    text = b'SLICEORDER "1"\nMBACCEL "1"\nNOSLC "4"\n'
    body = gzip.compress(text)
    block = ds.private_block(0x0025, "GEMS_SERS_01", create=True)
    block.add_new(0x1B, "OB", struct.pack("<I", len(body)) + body)
    ds.RepetitionTime = 2000
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    s = read_slice_bytes(out.getvalue())
    assert (s.volume_number, s.slice_number) == (1, 2)
    assert s.protocol_time == pytest.approx(1.0)  # interleaved: 1, 3 at 0 and 0.5 s; 2, 4 at 1 and 1.5 s


def _slice(z: float, shape: tuple[int, int] = (4, 4), spacing: float = 2.0) -> SliceImage:
    affine = np.diag([-spacing, -spacing, 3.0, 1.0])
    affine[2, 3] = z
    return SliceImage(np.zeros(shape, np.float32), affine, position=z, volume_number=1, slices_per_volume=3)


def test_assembly_refuses_what_is_not_one_volume() -> None:
    with pytest.raises(NotAScanError, match="not evenly spaced"):
        assemble_volume([_slice(0.0), _slice(3.0), _slice(9.0)], "gap.dcm")
    with pytest.raises(NotAScanError, match="same position"):
        assemble_volume([_slice(0.0), _slice(0.0)], "twice.dcm")
    with pytest.raises(NotAScanError, match="pixels in one volume"):
        assemble_volume([_slice(0.0), _slice(3.0, shape=(4, 5))], "sizes.dcm")
    with pytest.raises(NotAScanError, match="orientation or pixel spacing"):
        assemble_volume([_slice(0.0), _slice(3.0, spacing=2.5)], "spacing.dcm")
    with pytest.raises(NotAScanError, match="no slices"):
        assemble_volume([], "none")
    single = assemble_volume([_slice(6.0)])
    assert single.shape == (4, 4, 1) and single.affine[2, 2] == 3.0


# -- what no reader may do: crash, or take a broken file for a slice --------------------


@pytest.fixture(scope="module")
def ge_bytes(shared_data: Path) -> bytes:
    return (shared_data / "dicom_reader_testset" / "ge_mr750_epi" / "axial_epi_fmri_interleaved_i_to_s-00007.dcm").read_bytes()


def test_every_truncation_of_a_ge_slice_is_incomplete(ge_bytes: bytes) -> None:
    """Cut at every 97th byte and at the last bytes: never a slice, never another error."""
    cuts = sorted(set(range(0, len(ge_bytes), 97)) | set(range(len(ge_bytes) - 20, len(ge_bytes))))
    for cut in cuts:
        with pytest.raises(IncompleteFileError):
            read_slice_bytes(ge_bytes[:cut], "cut.dcm")


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(min_value=0), flips=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=8))
def test_damaged_ge_slices_are_refused_or_read(ge_bytes: bytes, cut: int, flips: list[tuple[int, int]]) -> None:
    """Truncated and bit-flipped GE slices: a slice, or IncompleteFileError / NotAScanError."""
    raw = bytearray(ge_bytes[: len(ge_bytes) - cut % len(ge_bytes)])
    for at, value in flips:
        if raw:
            raw[at % len(raw)] = value
    try:
        s = read_slice_bytes(bytes(raw), "damaged.dcm")
    except (IncompleteFileError, NotAScanError):
        return
    assert s.data.shape == (64, 64) and np.isfinite(s.affine).all()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_are_not_a_slice(raw: bytes) -> None:
    with pytest.raises((NotAScanError, IncompleteFileError)):
        read_slice_bytes(bytes(128) + b"DICM" + raw, "random.dcm")
    with pytest.raises((NotAScanError, IncompleteFileError)):
        read_slice_bytes(raw, "random.bin")


def test_wrong_vendor_files_are_refused_by_the_slice_reader(shared_data: Path) -> None:
    """Volumes of every other format are not slices; and GE slices are not volumes."""
    misc = shared_data / "dicom_reader_testset" / "misc_single_files"
    others = [
        shared_data / "siemens_rt_mosaic" / "001_000013_000001.dcm",
        next((shared_data / "dicom_reader_testset" / "siemens_xa30_enhanced_fmri").glob("*.dcm")),
        shared_data / "opennft_psc_run" / "fanon-0007-00006-000006-01.nii",
        *sorted(p for p in misc.iterdir() if p.is_file()),
    ]
    for path in others:
        with pytest.raises((NotAScanError, IncompleteFileError)):
            read_slice(path)
    with pytest.raises(NotAScanError):
        read_scan_bytes((shared_data / "dicom_reader_testset" / "ge_mr750_epi" / "axial_epi_fmri_interleaved_i_to_s-00001.dcm").read_bytes())
