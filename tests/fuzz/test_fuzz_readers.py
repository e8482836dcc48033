"""Fuzzing the scan readers: mutated real files give a volume or a documented error.

Each example starts from a valid file (synthetic NIfTI-1 plain and gzipped,
synthetic DICOM slices of each vendor, and real Siemens mosaic, enhanced MR,
GE and Philips files from the shared data) and mutates it: bytes flipped,
truncated, spliced with another file, or a header field set to an extreme
value (NIfTI ``dim``, ``pixdim``, ``vox_offset``, ``datatype``, scaling,
``srow``; DICOM Rows, Columns, BitsAllocated, spacing, orientation, rescale,
slice counts...). The property, for :func:`nfd.acquire.read_scan_bytes`,
:func:`nfd.acquire.read_slice_bytes` and ``read_part_bytes`` (what the watch
folder reads with): either a well-formed image (3-D float32 data for a volume,
2-D float32 for a slice, a finite (4, 4) float64 affine) or a
:class:`nfd.acquire.ScanFileError` (incomplete or not a scan) whose message is
one line starting with the file's name. Anything else is a bug.
"""

from __future__ import annotations

import gzip
import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import config as dicom_config
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from nfd.acquire import (
    IncompleteFileError,
    NotAScanError,
    ScanFileError,
    ScanImage,
    SliceImage,
    read_scan_bytes,
    read_slice_bytes,
)
from nfd.acquire._reader import read_part_bytes
from nfd.acquire._slices import SliceOptions
from tests.helpers.dicom import slice_dicom, synthetic_dicom
from tests.helpers.nifti import nifti_bytes

FUZZ = settings.get_profile("nfd-fuzz")
NAME = "fuzzed-scan.dcm"

# ---------------------------------------------------------------- seeds


def _synthetic_seeds() -> dict[str, bytes]:
    return {
        "nifti_int16": nifti_bytes(),
        "nifti_float32": nifti_bytes(shape=(3, 4, 2), dtype=np.float32),
        "nifti_gz": nifti_bytes(shape=(4, 3, 2), compressed=True),
        "nifti_uint8": nifti_bytes(shape=(2, 2, 2), dtype=np.uint8),
        "dicom_mr_explicit": synthetic_dicom(ExplicitVRLittleEndian),
        "dicom_mr_implicit": synthetic_dicom(ImplicitVRLittleEndian, undefined=False),
        "philips_slice": slice_dicom(3.0, philips_scale_slope=2.0, rescale=(1.5, -3.0)),
        "ge_slice": slice_dicom(6.0, manufacturer="GE MEDICAL SYSTEMS", temporal_position=None, acquisition=2),
        "siemens_slice": slice_dicom(0.0, manufacturer="SIEMENS", trigger_ms=50.0, n_slices=2),
    }


SYNTHETIC = _synthetic_seeds()

#: Real files, one per format (relative to the shared data folder).
REAL_FILES = {
    "siemens_mosaic": "opennft_psc_run/dicom/001_000007_000001.dcm",
    "siemens_rt_mosaic": "siemens_rt_mosaic/001_000013_000001.dcm",
    "prisma_mosaic": "dicom_reader_testset/siemens_mosaic_prisma_vd13/cmrr_Int_8/IM-0007-0001.dcm",
    "siemens_dti_mosaic": "dicom_reader_testset/misc_single_files/nibabel_siemens_dti_mosaic_0.dcm",
    "enhanced_xa30": "dicom_reader_testset/siemens_xa30_enhanced_fmri/"
    "0001_1.3.12.2.1107.5.2.43.67093.2022071112090640678703211.dcm",
    "ge_slice": "dicom_reader_testset/ge_mr750_epi/axial_epi_fmri_interleaved_i_to_s-00007.dcm",
    "philips_slice": "dicom_reader_testset/philips_achieva_fmri/201_EPI_asc_CLEAR_0001_01.dcm",
    "nifti_real": "opennft_psc_run/fanon-0007-00006-000006-01.nii",
}


@pytest.fixture(scope="module")
def real_seeds(shared_data: Path) -> dict[str, bytes]:
    """The real files' bytes (read once per module)."""
    return {key: (shared_data / rel).read_bytes() for key, rel in REAL_FILES.items()}


# ---------------------------------------------------------------- the property


def _check_error(err: ScanFileError, name: str) -> None:
    text = str(err)
    assert "\n" not in text, f"multi-line message: {text!r}"
    assert text.startswith(f"{name}: "), f"message does not name the file: {text!r}"
    assert err.path == name
    assert err.reason.strip(), "empty reason"


def _check_image(image: ScanImage | SliceImage) -> None:
    assert image.data.dtype == np.float32
    assert image.affine.dtype == np.float64 and image.affine.shape == (4, 4)
    assert np.isfinite(image.affine).all(), f"non-finite affine {image.affine}"
    if isinstance(image, ScanImage):
        assert image.data.ndim == 3 and min(image.data.shape) >= 1
    else:
        assert image.data.ndim == 2 and min(image.data.shape) >= 1
        assert math.isfinite(image.position)
        assert image.slices_per_volume >= 1


def check_all_readers(buf: bytes, name: str = NAME) -> None:
    """Every public reader on ``buf``: a well-formed image or a documented error."""
    readers: list[Callable[[], ScanImage | SliceImage]] = [
        lambda: read_scan_bytes(buf, name),
        lambda: read_slice_bytes(buf, name),
        lambda: read_part_bytes(buf, name, SliceOptions(), max_inflated=4 << 20),
        lambda: read_part_bytes(buf, name, SliceOptions(slices_per_volume=3, volume_from="instance_number")),
    ]
    for read in readers:
        try:
            image = read()
        except (IncompleteFileError, NotAScanError) as err:
            _check_error(err, name)
        else:
            _check_image(image)


# ---------------------------------------------------------------- mutations

_BYTE_MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("splice"), st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))),
    st.tuples(st.just("insert"), st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=64))),
)


def _at(fraction: float, size: int) -> int:
    return min(size - 1, int(fraction * size)) if size else 0


def mutate_bytes(buf: bytes, mutation: tuple[str, Any], donor: bytes) -> bytes:
    """One byte-level mutation of ``buf`` (``donor`` gives what a splice inserts)."""
    kind, arg = mutation
    out = bytearray(buf)
    if kind == "flip":
        for where, xor in arg:
            out[_at(where, len(out))] ^= xor
    elif kind == "truncate":
        del out[int(arg * len(out)) :]
    elif kind == "splice":
        cut, start, length = arg
        a = _at(cut, len(out))
        b = _at(start, len(donor))
        out[a:] = donor[b : b + 1 + int(length * (len(donor) - b))]
    else:
        where, blob = arg
        out[_at(where, len(out)) : _at(where, len(out))] = blob
    return bytes(out)


_EXTREME_FLOATS = st.sampled_from(
    [0.0, -0.0, -1.0, 1e-45, 1e-30, 1e30, 3.4e38, -3.4e38, float("nan"), float("inf"), float("-inf")]
)
_EXTREME_INTS = st.sampled_from([0, 1, -1, 2, 7, 255, 32767, -32768, 1000])
_NIFTI_FIELDS = st.sampled_from(
    ["dim", "pixdim", "vox_offset", "datatype", "bitpix", "scl_slope", "scl_inter", "srow_x", "srow_z",
     "qform_code", "sform_code", "quatern_b", "qoffset_x", "slice_code", "slice_duration", "slice_end",
     "xyzt_units", "magic"]
)


def mutate_nifti(buf: bytes, field: str, ints: list[int], floats: list[float], at: int) -> bytes:
    """``buf`` (a plain NIfTI-1) with one header field set to extreme values."""
    hdr = np.frombuffer(bytearray(buf[:348]), dtype=nib.nifti1.header_dtype).copy()
    value = hdr[field]
    if field == "magic":
        hdr[field] = [b"n+2", b"ni1", b"", b"n+1"][at % 4]
    elif value.dtype.kind == "f":
        flat = value.reshape(-1)
        for i, v in enumerate(floats):
            flat[(at + i) % flat.size] = v
        hdr[field] = flat.reshape(value.shape)
    else:
        flat = value.reshape(-1)
        info = np.iinfo(flat.dtype)
        for i, v in enumerate(ints):
            flat[(at + i) % flat.size] = min(max(v, info.min), info.max)
        hdr[field] = flat.reshape(value.shape)
    return hdr.tobytes() + buf[348:]


#: DICOM header fields and the values they are set to (strings for the text VRs).
_DICOM_FIELDS: dict[str, list[Any]] = {
    "Rows": [0, 1, 65535, 3],
    "Columns": [0, 1, 65535, 7],
    "BitsAllocated": [0, 1, 8, 12, 32, 64, 65535],
    "BitsStored": [0, 1, 17, 64],
    "HighBit": [0, 31, 255],
    "PixelRepresentation": [1, 2, 65535],
    "SamplesPerPixel": [0, 3, 65535],
    "NumberOfFrames": ["0", "-1", "1", "1000000", "abc", ""],
    "PixelSpacing": [["0", "0"], ["nan", "1"], ["inf", "-inf"], ["1e400", "1"], ["1"], []],
    "SliceThickness": ["0", "nan", "-inf", "1e308", "x"],
    "SpacingBetweenSlices": ["0", "nan", "-1e308"],
    "ImageOrientationPatient": [["0"] * 6, ["nan"] * 6, ["1", "0", "0", "1", "0", "0"], ["1", "0"], ["inf"] * 6],
    "ImagePositionPatient": [["nan", "0", "0"], ["1e308", "1e308", "-1e308"], ["0"], ["inf", "0", "0"]],
    "RescaleSlope": ["0", "nan", "inf", "-1e308", "1e38", "q"],
    "RescaleIntercept": ["nan", "-inf", "1e308"],
    "InstanceNumber": ["0", "-5", "99999999999999999999", "abc", ""],
    "AcquisitionNumber": ["0", "-1", "99999999999999999999", "z"],
    "TemporalPositionIdentifier": ["0", "-1", "4294967296", "x"],
    "ImagesInAcquisition": ["0", "-3", "99999999999", "abc", ""],
    "TriggerTime": ["nan", "-inf", "1e308", "z"],
    "PhotometricInterpretation": ["RGB", "PALETTE COLOR", ""],
    "SeriesInstanceUID": ["", "1." * 40],
}


@contextmanager
def _lenient_pydicom() -> Iterator[None]:
    """Let pydicom write invalid values (the point of the mutation), then restore it."""
    saved = (dicom_config.settings.writing_validation_mode, dicom_config.settings.reading_validation_mode)
    dicom_config.settings.writing_validation_mode = dicom_config.IGNORE
    dicom_config.settings.reading_validation_mode = dicom_config.IGNORE
    try:
        yield
    finally:
        dicom_config.settings.writing_validation_mode, dicom_config.settings.reading_validation_mode = saved


def mutate_dicom(buf: bytes, field: str, choice: int) -> bytes:
    """``buf`` (a Part-10 DICOM file) with one header field set to an extreme value.

    The field is set in the top-level data set and in the first item of each
    functional-group sequence that has it (enhanced MR), so that both kinds
    of file see it.
    """
    values = _DICOM_FIELDS[field]
    value = values[choice % len(values)]
    with _lenient_pydicom():
        ds = pydicom.dcmread(io.BytesIO(buf), force=True)
        _set_everywhere(ds, field, value)
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def _set_everywhere(ds: pydicom.Dataset, field: str, value: Any) -> None:
    _set(ds, field, value)
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for item in list(ds.get(group, []))[:2]:
            for sub in item:
                if sub.VR == "SQ" and sub.value and field in sub.value[0]:
                    _set(sub.value[0], field, value)


def _set(ds: pydicom.Dataset, field: str, value: Any) -> None:
    """Set ``field``; a value its VR cannot hold (``"abc"`` for an IS) is written as text (LO)."""
    try:
        setattr(ds, field, value)
    except (ValueError, TypeError, OverflowError):
        text = "\\".join(value) if isinstance(value, list) else str(value)
        ds[pydicom.datadict.tag_for_keyword(field)] = pydicom.DataElement(
            pydicom.datadict.tag_for_keyword(field), "LO", text
        )


# ---------------------------------------------------------------- the tests

_SYNTHETIC_KEYS = st.sampled_from(sorted(SYNTHETIC))
_REAL_KEYS = st.sampled_from(sorted(REAL_FILES))


@settings(FUZZ)
@given(key=_SYNTHETIC_KEYS, donor=_SYNTHETIC_KEYS, mutation=_BYTE_MUTATIONS)
def test_synthetic_files_mutated_bytes(key: str, donor: str, mutation: tuple[str, Any]) -> None:
    check_all_readers(mutate_bytes(SYNTHETIC[key], mutation, SYNTHETIC[donor]))


@settings(FUZZ)
@given(
    field=_NIFTI_FIELDS,
    ints=st.lists(_EXTREME_INTS | st.integers(-(2**15), 2**15 - 1), min_size=1, max_size=4),
    floats=st.lists(_EXTREME_FLOATS | st.floats(), min_size=1, max_size=4),
    at=st.integers(0, 7),
    compressed=st.booleans(),
)
def test_nifti_header_fields_extreme(
    field: str, ints: list[int], floats: list[float], at: int, compressed: bool
) -> None:
    raw = mutate_nifti(SYNTHETIC["nifti_int16"], field, ints, floats, at)
    check_all_readers(gzip.compress(raw, mtime=0) if compressed else raw, "fuzzed.nii.gz")


@settings(FUZZ)
@given(key=st.sampled_from(["philips_slice", "ge_slice", "siemens_slice", "dicom_mr_explicit"]),
       field=st.sampled_from(sorted(_DICOM_FIELDS)), choice=st.integers(0, 10))
def test_synthetic_dicom_header_fields_extreme(key: str, field: str, choice: int) -> None:
    check_all_readers(mutate_dicom(SYNTHETIC[key], field, choice))


@settings(FUZZ)
@given(key=_REAL_KEYS, donor=_REAL_KEYS, mutation=_BYTE_MUTATIONS)
def test_real_files_mutated_bytes(
    real_seeds: dict[str, bytes], key: str, donor: str, mutation: tuple[str, Any]
) -> None:
    check_all_readers(mutate_bytes(real_seeds[key], mutation, real_seeds[donor]))


@settings(FUZZ)
@given(key=_REAL_KEYS.filter(lambda k: k != "nifti_real"), field=st.sampled_from(sorted(_DICOM_FIELDS)),
       choice=st.integers(0, 10))
def test_real_dicom_header_fields_extreme(real_seeds: dict[str, bytes], key: str, field: str, choice: int) -> None:
    check_all_readers(mutate_dicom(real_seeds[key], field, choice))


def test_the_seeds_are_valid(real_seeds: dict[str, bytes]) -> None:
    """Unmutated, every seed reads (so the fuzzing starts from real, working files)."""
    for key, buf in {**SYNTHETIC, **real_seeds}.items():
        reader = read_slice_bytes if "slice" in key else read_scan_bytes
        if key.startswith("dicom_mr") or key == "siemens_dti_mosaic":
            continue  # a single 2-D MR image; a mosaic that does not un-tile (nibabel's test file)
        _check_image(reader(buf, key))
