"""The once-per-series reader: the real GE and Philips files read along their series' first file.

Known answers: the fast read gives bit for bit the full read's slice (pixels,
affine, position, volume number, slice times) on every real file, and any
file unlike its series' first one (another vendor, geometry, scaling or
series, cut short, a pixel length that lies) gets exactly the full read's
result or error.
"""

from __future__ import annotations

import copy
import io
import random
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfd.acquire import IncompleteFileError, NotAScanError, ScanImage, ScanWatcher, assemble_volume
from nfd.acquire._dicom_layout import element_spans
from nfd.acquire._enhanced_template import same_scan
from nfd.acquire._layout_template import is_free
from nfd.acquire._reader import read_part_bytes
from nfd.acquire._series_reader import SeriesReader, same_slice
from nfd.acquire._slices import SliceImage, SliceOptions
from tests.helpers.watching import events, take, until, write_in_chunks

OPTIONS = SliceOptions()


def _series(shared_data: Path, name: str) -> list[Path]:
    files = sorted((shared_data / "dicom_reader_testset" / name).glob("*.dcm"))
    assert files, name
    return files


@pytest.fixture(scope="module")
def ge_files(shared_data: Path) -> list[Path]:
    return _series(shared_data, "ge_mr750_epi")


@pytest.fixture(scope="module")
def philips_files(shared_data: Path) -> list[Path]:
    return _series(shared_data, "philips_achieva_fmri")


def _outcome(read: Callable[[bytes, str], object], buf: bytes, name: str) -> object:
    """A read's slice, or its error as (type, message)."""
    try:
        return read(buf, name)
    except (IncompleteFileError, NotAScanError) as err:
        return (type(err), str(err))


def assert_same_as_full(reader: SeriesReader, buf: bytes, name: str = "f.dcm") -> object:
    """The reader gives what the full read gives: the same slice bit for bit, or the same error."""
    fast = _outcome(lambda b, n: reader.read(b, n, OPTIONS), buf, name)
    full = _outcome(lambda b, n: read_part_bytes(b, n, OPTIONS), buf, name)
    if isinstance(full, SliceImage):
        assert isinstance(fast, SliceImage) and same_slice(fast, full)
        assert fast.slice_number == full.slice_number and fast.protocol_time == full.protocol_time
    else:
        assert fast == full
    return fast


def _dicom_bytes(ds: pydicom.Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize("vendor", ["ge", "philips"])
@pytest.mark.parametrize("order", ["as_written", "shuffled"])
def test_fast_read_is_the_full_read_on_every_real_file(
    ge_files: list[Path], philips_files: list[Path], vendor: str, order: str
) -> None:
    files = list(ge_files if vendor == "ge" else philips_files)
    if order == "shuffled":
        random.Random(11).shuffle(files)
    reader = SeriesReader()
    for path in files:
        assert_same_as_full(reader, path.read_bytes(), str(path))
    assert reader.counts == {"fast": len(files) - 1, "full": 1}


def test_volumes_of_fast_slices_are_the_volumes_of_full_slices(ge_files: list[Path]) -> None:
    """The stacked volume (data, affine, slice times, volume number) is bit for bit the same."""
    reader = SeriesReader()
    for v in range(10):
        files = ge_files[15 * v : 15 * (v + 1)]
        fast = assemble_volume([reader.read(p.read_bytes(), str(p), OPTIONS) for p in files])
        full = assemble_volume([read_part_bytes(p.read_bytes(), str(p), OPTIONS) for p in files])
        assert isinstance(fast.data, np.ndarray)
        assert fast.data.tobytes() == full.data.tobytes() and fast.affine.tobytes() == full.affine.tobytes()
        assert fast.slice_times == full.slice_times and fast.header_index == full.header_index == v + 1


def philips35(philips_files: list[Path], n_volumes: int) -> list[list[bytes]]:
    """A 35-slice Philips series from the shared files: copies of the first volume's slices with the
    instance numbers, temporal positions, positions and slice count the scanner would write."""
    first = [pydicom.dcmread(p) for p in philips_files]
    first = sorted((ds for ds in first if int(ds.TemporalPositionIdentifier) == 1), key=lambda ds: int(ds.InstanceNumber))
    p0 = np.array(first[0].ImagePositionPatient, float)
    step = np.array(first[1].ImagePositionPatient, float) - p0
    volumes = []
    for v in range(n_volumes):
        files = []
        for s in range(35):
            ds = copy.deepcopy(first[s % len(first)])
            ds.InstanceNumber = v * 35 + s + 1
            ds.TemporalPositionIdentifier = v + 1
            ds.ImagePositionPatient = [f"{x:.6f}" for x in p0 + s * step]
            ds.SliceLocation = f"{float(first[0].SliceLocation) + s * 8.0:.6f}"
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            ds.private_block(0x2001, "Philips Imaging DD 001", create=True).add_new(0x18, "SL", 35)
            files.append(_dicom_bytes(ds))
        volumes.append(files)
    return volumes


def test_staged_35_slice_philips_series(philips_files: list[Path]) -> None:
    volumes = philips35(philips_files, 3)
    reader = SeriesReader()
    for v, files in enumerate(volumes):
        slices = [assert_same_as_full(reader, raw, f"IM_{v}_{k}.dcm") for k, raw in enumerate(files)]
        volume = assemble_volume(slices)  # type: ignore[arg-type]
        assert volume.shape == (64, 64, 35) and volume.header_index == v + 1
    assert reader.counts["full"] == 1


# -- files unlike the series' first file ----------------------------------------------------


def _edit(buf: bytes, change: Callable[[pydicom.Dataset], None]) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(buf))
    change(ds)
    return _dicom_bytes(ds)


def _pixel_length_field(buf: bytes) -> int:
    """Offset of the 4-byte length of PixelData (explicit VR OW)."""
    _, spans = element_spans(buf)
    (pixels,) = [s for s in spans if s.tag == 0x7FE00010]
    return pixels.value_pos - 4


def _lying_pixel_length(buf: bytes, delta: int) -> bytes:
    at = _pixel_length_field(buf)
    (length,) = struct.unpack_from("<I", buf, at)
    return buf[:at] + struct.pack("<I", length + delta) + buf[at + 4 :]


def _set(keyword: str, value: object) -> Callable[[pydicom.Dataset], None]:
    return lambda ds: setattr(ds, keyword, value)


def _private_slope(ds: pydicom.Dataset) -> None:
    ds.private_block(0x2005, "Philips MR Imaging DD 001").add_new(0x0E, "FL", 2.5)


#: Files that must not be read along the template (each is read in full, as without one).
UNLIKE: dict[str, Callable[[bytes, bytes], bytes]] = {
    "other geometry (orientation)": lambda b, _: _edit(b, _set("ImageOrientationPatient", [1, 0, 0, 0, 0.8, 0.6])),
    "other geometry (pixel spacing)": lambda b, _: _edit(b, _set("PixelSpacing", [3.0, 3.0])),
    "other geometry (slice thickness)": lambda b, _: _edit(b, _set("SliceThickness", 4.0)),
    "other size": lambda b, _: _edit(b, lambda ds: (setattr(ds, "Rows", 32), setattr(ds, "PixelData", ds.PixelData[: 32 * 64 * 2]))),
    "other scaling (RescaleSlope)": lambda b, _: _edit(b, _set("RescaleSlope", 3.5)),
    "other scaling (Philips scale slope)": lambda b, _: _edit(b, _private_slope),
    "other series": lambda b, _: _edit(b, _set("SeriesInstanceUID", "1.2.3.4.5")),
    "other vendor's header": lambda b, _: _edit(b, _set("Manufacturer", "GE MEDICAL SYSTEMS")),
    "other slice count": lambda b, _: _edit(b, _set("ImagesInAcquisition", 12)),
    "an element more": lambda b, _: _edit(b, _set("PatientComments", "extra")),
    "an element fewer": lambda b, _: _edit(b, lambda ds: ds.__delattr__("SliceThickness")),
    "other vendor's file": lambda _, ge: ge,
    "truncated in the header": lambda b, _: b[:2000],
    "truncated in the pixels": lambda b, _: b[:-7],
    "cut after the pixels' header": lambda b, _: b[: _pixel_length_field(b) + 4],
    "pixel length lies (longer)": lambda b, _: _lying_pixel_length(b, 2),
    "pixel length lies (shorter)": lambda b, _: _lying_pixel_length(b, -2),
    "bytes after the pixels": lambda b, _: b + b"\x00" * 8,
    "garbage after the pixels": lambda b, _: b + b"\xde\xad\xbe\xef" * 3,
    "zeroed preamble changed": lambda b, _: b"\x01" + b[1:],
    "gzipped": lambda b, _: __import__("gzip").compress(b),
}


@pytest.mark.parametrize("case", sorted(UNLIKE))
def test_a_file_unlike_the_series_first_is_read_in_full(
    philips_files: list[Path], ge_files: list[Path], case: str
) -> None:
    reader = SeriesReader()
    first, other = philips_files[0].read_bytes(), philips_files[5].read_bytes()
    assert_same_as_full(reader, first)
    unlike = UNLIKE[case](other, ge_files[20].read_bytes())
    assert_same_as_full(reader, unlike)
    assert reader.counts["fast"] == 0
    assert_same_as_full(reader, philips_files[7].read_bytes())  # the series goes on along a template
    assert reader.counts["fast"] == 1


def test_free_elements_may_differ_in_value_and_length(philips_files: list[Path]) -> None:
    """SOP instance UID, times, window: nothing reads them; the file is read along the template."""
    reader = SeriesReader()
    assert_same_as_full(reader, philips_files[0].read_bytes())

    def change(ds: pydicom.Dataset) -> None:
        ds.SOPInstanceUID = "1.2." + "3" * 40
        ds.AcquisitionTime = "101010.5"
        ds.WindowCenter = 12345.678
        ds.private_block(0x2005, "Philips MR Imaging DD 001").add_new(0x10, "DS", "1.0")

    assert_same_as_full(reader, _edit(philips_files[4].read_bytes(), change))
    assert reader.counts["fast"] == 1


def test_a_new_geometry_starts_a_new_template(philips_files: list[Path]) -> None:
    reader = SeriesReader()
    tilted = [_edit(p.read_bytes(), _set("ImageOrientationPatient", [1, 0, 0, 0, 0.8, 0.6])) for p in philips_files[9:12]]
    for raw in [p.read_bytes() for p in philips_files[:3]] + tilted:
        assert_same_as_full(reader, raw)
    assert reader.counts == {"fast": 4, "full": 2}
    assert_same_as_full(reader, philips_files[20].read_bytes())  # the first geometry's template is kept too
    assert reader.counts == {"fast": 5, "full": 2}


def test_series_in_turn_each_keep_their_template(philips_files: list[Path], ge_files: list[Path]) -> None:
    reader = SeriesReader()
    for k in range(6):
        assert_same_as_full(reader, philips_files[k].read_bytes())
        assert_same_as_full(reader, ge_files[k].read_bytes())
    assert reader.counts == {"fast": 10, "full": 2}


def test_no_templates_reads_every_file_in_full(philips_files: list[Path]) -> None:
    reader = SeriesReader(max_series=0)
    for path in philips_files[:4]:
        assert_same_as_full(reader, path.read_bytes())
    assert reader.counts == {"fast": 0, "full": 4}


def test_free_elements() -> None:
    used = frozenset({0x2005100E})
    assert is_free(0x00020003, used) and is_free(0x00200000, used) and is_free(0x00431028, used)
    assert not is_free(0x2005100E, used) and not is_free(0x00280030, used) and not is_free(0x00430010, used)


# -- in the watch folder --------------------------------------------------------------------


async def test_foreign_files_mid_series_are_refused_with_one_line_each(
    tmp_path: Path, philips_files: list[Path], ge_files: list[Path], logs: list
) -> None:
    """A 35-slice Philips series; between its slices a GE slice (another series), a copy cut short
    and one whose pixel length lies: one line each, the volumes as the full read stacks them."""
    volumes = philips35(philips_files, 3)
    cut = volumes[1][3][:-100]
    lying = _lying_pixel_length(volumes[1][4], 2)
    async with ScanWatcher(tmp_path, index_from="header", reorder_timeout=1.0, complete_timeout=0.3) as w:
        for v, files in enumerate(volumes):
            for k, raw in enumerate(files):
                await write_in_chunks(tmp_path / f"IM_{v:02d}_{k:02d}.dcm", raw, n_chunks=2, pause=0.001)
                if (v, k) == (1, 10):
                    (tmp_path / "IM_foreign_ge.dcm").write_bytes(ge_files[3].read_bytes())
                    (tmp_path / "IM_cut.dcm").write_bytes(cut)
                    (tmp_path / "IM_lying.dcm").write_bytes(lying)
        scans = await take(w, 3)
        await until(lambda: w.stats["incomplete"] == 2)
    assert [s.index for s in scans] == [0, 1, 2] and w.missing == []
    for scan, files in zip(scans, volumes, strict=True):
        full = assemble_volume([read_part_bytes(raw, "x", OPTIONS) for raw in files])  # type: ignore[misc]
        assert scan.image.data.tobytes() == full.data.tobytes() and scan.image.affine.tobytes() == full.affine.tobytes()
    assert len(events(logs, "series_ignored")) == 1 and w.stats["other_series"] == 1
    incomplete = events(logs, "file_incomplete")
    assert sorted(Path(e["file"]).name for e in incomplete) == ["IM_cut.dcm", "IM_lying.dcm"]
    assert w._reader.counts["full"] <= 1 + 2 * 20  # the series' first file; the foreign ones, re-checked


# -- Siemens XA enhanced: the per-frame groups once per series ----------------------------------


@pytest.fixture(scope="module")
def xa_files(shared_data: Path) -> list[Path]:
    return _series(shared_data, "siemens_xa30_enhanced_fmri")


def assert_same_volume_as_full(reader: SeriesReader, buf: bytes, name: str = "xa.dcm") -> object:
    """The reader gives what the full read gives: the same volume bit for bit, or the same error."""
    fast = _outcome(lambda b, n: reader.read(b, n, OPTIONS), buf, name)
    full = _outcome(lambda b, n: read_part_bytes(b, n, OPTIONS), buf, name)
    if isinstance(full, ScanImage):
        assert isinstance(fast, ScanImage) and same_scan(fast, full)
    else:
        assert fast == full
    return fast


@pytest.mark.parametrize("order", ["as_written", "shuffled"])
def test_fast_read_is_the_full_read_on_every_enhanced_file(xa_files: list[Path], order: str) -> None:
    files = list(xa_files)
    if order == "shuffled":
        random.Random(5).shuffle(files)
    reader = SeriesReader()
    for path in files:
        volume = assert_same_volume_as_full(reader, path.read_bytes(), str(path))
        assert isinstance(volume, ScanImage) and volume.shape == (64, 64, 33) and volume.slice_times is not None
    assert reader.counts == {"fast": len(files) - 1, "full": 1}


def _frames(change: Callable[[pydicom.Dataset], None]) -> Callable[[bytes], bytes]:
    return lambda b: _edit(b, change)


def _frame_content(ds: pydicom.Dataset, k: int) -> pydicom.Dataset:
    return ds.PerFrameFunctionalGroupsSequence[k].FrameContentSequence[0]


def _swap_dimension_values(ds: pydicom.Dataset) -> None:
    a, b = _frame_content(ds, 0), _frame_content(ds, 1)
    a.DimensionIndexValues, b.DimensionIndexValues = b.DimensionIndexValues, a.DimensionIndexValues


def _move_frame(ds: pydicom.Dataset) -> None:
    ds.PerFrameFunctionalGroupsSequence[3].PlanePositionSequence[0].ImagePositionPatient = [1.0, 2.0, 3.0]


def _rescale_frame(ds: pydicom.Dataset) -> None:
    ds.PerFrameFunctionalGroupsSequence[2].PixelValueTransformationSequence[0].RescaleSlope = 2


def _later_frame_time(ds: pydicom.Dataset) -> None:
    _frame_content(ds, 4).FrameAcquisitionDateTime = "20220711120907.500000"


def _tilt(ds: pydicom.Dataset) -> None:
    for frame in ds.PerFrameFunctionalGroupsSequence:
        frame.PixelMeasuresSequence[0].PixelSpacing = [3.0, 3.0]


def _one_frame_later(ds: pydicom.Dataset) -> None:
    _frame_content(ds, 7).DimensionIndexValues = [1, 8, 9]  # one frame of another temporal position


#: Enhanced files unlike their series' first one: (edit, read along the template?).
UNLIKE_ENHANCED: dict[str, tuple[Callable[[bytes], bytes], bool]] = {
    "frames ordered otherwise (dimension index values)": (_frames(_swap_dimension_values), False),
    "a frame of another time (dimension index values)": (_frames(_one_frame_later), False),
    "a frame moved": (_frames(_move_frame), False),
    "a frame scaled otherwise": (_frames(_rescale_frame), False),
    "other pixel spacing": (_frames(_tilt), False),
    "other series": (_frames(_set("SeriesInstanceUID", "1.2.3.4.5")), False),
    "truncated in the frames": (lambda b: b[: len(b) // 3], False),
    "truncated in the pixels": (lambda b: b[:-11], False),
    "pixel length lies": (lambda b: _lying_pixel_length(b, 4), False),
    "a later frame time": (_frames(_later_frame_time), True),
    "other window (free)": (_frames(lambda ds: setattr(ds.PerFrameFunctionalGroupsSequence[0].FrameVOILUTSequence[0],
                                                        "WindowWidth", "123456.5")), True),
}


@pytest.mark.parametrize("case", sorted(UNLIKE_ENHANCED))
def test_an_enhanced_file_unlike_the_series_first_is_read_in_full(xa_files: list[Path], case: str) -> None:
    reader = SeriesReader()
    first = _edit(xa_files[0].read_bytes(), lambda ds: None)  # both through pydicom's writer, as the edited one
    assert_same_volume_as_full(reader, first)
    edit, fast = UNLIKE_ENHANCED[case]
    assert_same_volume_as_full(reader, edit(_edit(xa_files[6].read_bytes(), lambda ds: None)))
    assert reader.counts["fast"] == int(fast)


# -- random damage: the fast read never differs from the full read ------------------------------

#: Damage to a file: bytes set at relative places, or the file cut at a relative length.
DAMAGE = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=6)),
    st.tuples(st.just("cut"), st.floats(0, 1)),
)


def damage(buf: bytes, how: tuple[str, object]) -> bytes:
    kind, arg = how
    if kind == "cut":
        return buf[: int(len(buf) * float(arg))]  # type: ignore[arg-type]
    out = bytearray(buf)
    for where, value in arg:  # type: ignore[attr-defined]
        out[min(len(out) - 1, int(where**3 * len(out)))] = value  # mostly in the header
    return bytes(out)


_SERIES_OF = {"ge": "ge_mr750_epi", "philips": "philips_achieva_fmri", "xa": "siemens_xa30_enhanced_fmri",
              "mosaic": "siemens_mosaic_prisma_vd13/cmrr_Int_8"}


@pytest.fixture(scope="module")
def series_seeds(shared_data: Path) -> dict[str, tuple[bytes, bytes]]:
    """Per series: its first file, and a further one to damage."""
    seeds = {}
    for key, folder in _SERIES_OF.items():
        files = _series(shared_data, folder)
        seeds[key] = (files[0].read_bytes(), files[3].read_bytes())
    return seeds


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(_SERIES_OF)), how=DAMAGE)
def test_a_damaged_file_mid_series_gets_the_full_reads_outcome(
    series_seeds: dict[str, tuple[bytes, bytes]], key: str, how: tuple[str, object]
) -> None:
    """Bytes set or the file cut in a further file of a series read along a template: the outcome
    (the slice or volume bit for bit, or the error with its message) is the full read's."""
    first, further = series_seeds[key]
    reader = SeriesReader()
    reader.read(first, "first.dcm", OPTIONS)
    damaged = damage(further, how)
    fast = _outcome(lambda b, n: reader.read(b, n, OPTIONS), damaged, "damaged.dcm")
    full = _outcome(lambda b, n: read_part_bytes(b, n, OPTIONS), damaged, "damaged.dcm")
    if isinstance(full, SliceImage):
        assert isinstance(fast, SliceImage) and same_slice(fast, full)
    elif isinstance(full, ScanImage):
        assert isinstance(fast, ScanImage) and same_scan(fast, full)
    else:
        assert fast == full


# -- Siemens mosaics: the header and CSA headers once per series ---------------------------------

_MOSAIC_SERIES = {"opennft": ("opennft_psc_run", "dicom"), "rt_mosaic": ("siemens_rt_mosaic",),
                  "cmrr": ("dicom_reader_testset", "siemens_mosaic_prisma_vd13", "cmrr_Int_8")}


def _mosaic_files(shared_data: Path, key: str) -> list[Path]:
    files = sorted(shared_data.joinpath(*_MOSAIC_SERIES[key]).glob("*.dcm"))
    assert files, key
    return files


@pytest.fixture(scope="module")
def mosaic_files(shared_data: Path) -> list[Path]:
    return _mosaic_files(shared_data, "opennft")


@pytest.mark.parametrize("key", sorted(_MOSAIC_SERIES))
@pytest.mark.parametrize("order", ["as_written", "shuffled"])
def test_fast_read_is_the_full_read_on_every_mosaic_file(shared_data: Path, key: str, order: str) -> None:
    """Data, affine, slice times, header index and series bit for bit (rt_mosaic's CSA image headers
    differ from file to file: parsed, same tiling and slice normal)."""
    files = _mosaic_files(shared_data, key)
    if order == "shuffled":
        random.Random(7).shuffle(files)
    reader = SeriesReader()
    for path in files:
        volume = assert_same_volume_as_full(reader, path.read_bytes(), str(path))
        assert isinstance(volume, ScanImage) and volume.format == "siemens_mosaic" and volume.slice_times is not None
    assert reader.counts == {"fast": len(files) - 1, "full": 1}


def _csa_span(buf: bytes) -> tuple[int, int]:
    _, spans = element_spans(buf, "x")
    (csa,) = [s for s in spans if s.tag == 0x00291010]
    return csa.value_pos, csa.value_pos + csa.length


def _garbled_csa(buf: bytes) -> bytes:
    start, end = _csa_span(buf)
    return buf[:start] + b"\x07" * (end - start) + buf[end:]


def _later_slice_time(buf: bytes) -> bytes:
    """The CSA image header with the first MosaicRefAcqTimes value changed (same length)."""
    start, end = _csa_span(buf)
    csa = buf[start:end]
    at = csa.index(b"MosaicRefAcqTimes")
    digits = csa.index(b"0.0", at)  # the first slice's time, "0.0..." in its item
    changed = csa[:digits] + b"1.5" + csa[digits + 3 :]
    return buf[:start] + changed + buf[end:]


#: Mosaic files unlike the series' first one, and whether they are still read along the template.
UNLIKE_MOSAIC: dict[str, tuple[Callable[[bytes], bytes], bool]] = {
    "other series": (lambda b: _edit(b, _set("SeriesInstanceUID", "1.2.3.4.5")), False),
    "other geometry (orientation)": (lambda b: _edit(b, _set("ImageOrientationPatient", [1, 0, 0, 0, 0.8, 0.6])),
                                     False),
    "other geometry (pixel spacing)": (lambda b: _edit(b, _set("PixelSpacing", [2.0, 2.0])), False),
    "other position": (lambda b: _edit(b, _set("ImagePositionPatient", [1.0, 2.0, 3.0])), False),
    "other scaling": (lambda b: _edit(b, _set("RescaleSlope", 2.5)), False),
    "truncated in the header": (lambda b: b[:3000], False),
    "truncated in the CSA header": (lambda b: b[: _csa_span(b)[0] + 100], False),
    "truncated in the pixels": (lambda b: b[:-9], False),
    "pixel length lies (longer)": (lambda b: _lying_pixel_length(b, 2), False),
    "pixel length lies (shorter)": (lambda b: _lying_pixel_length(b, -2), False),
    "bytes after the pixels": (lambda b: b + b"\x00" * 8, False),
    "garbled CSA image header": (_garbled_csa, False),
    "a later slice time in the CSA header": (_later_slice_time, True),
    "other SOP instance and frame of reference (free)": (
        lambda b: _edit(b, lambda ds: (setattr(ds, "SOPInstanceUID", "1.2." + "9" * 50),
                                       setattr(ds, "FrameOfReferenceUID", "1.2.3"))), True),
}


@pytest.mark.parametrize("case", sorted(UNLIKE_MOSAIC))
def test_a_mosaic_unlike_the_series_first_is_read_in_full(mosaic_files: list[Path], case: str) -> None:
    reader = SeriesReader()
    first = _edit(mosaic_files[0].read_bytes(), lambda ds: None)  # both through pydicom's writer, as the edited one
    assert_same_volume_as_full(reader, first)
    edit, fast = UNLIKE_MOSAIC[case]
    assert_same_volume_as_full(reader, edit(_edit(mosaic_files[6].read_bytes(), lambda ds: None)))
    assert reader.counts["fast"] == int(fast)
    assert_same_volume_as_full(reader, _edit(mosaic_files[9].read_bytes(), lambda ds: None))  # the series goes on
    assert reader.counts["fast"] == int(fast) + 1


def test_a_later_slice_time_is_read_from_the_file(mosaic_files: list[Path]) -> None:
    reader = SeriesReader()
    first = mosaic_files[0].read_bytes()
    template = assert_same_volume_as_full(reader, first)
    later = assert_same_volume_as_full(reader, _later_slice_time(mosaic_files[3].read_bytes()))
    assert isinstance(template, ScanImage) and isinstance(later, ScanImage) and reader.counts["fast"] == 1
    assert later.slice_times is not None and template.slice_times is not None
    assert later.slice_times != template.slice_times


def test_other_mosaic_series_in_turn_each_keep_their_template(shared_data: Path) -> None:
    a, b = _mosaic_files(shared_data, "opennft"), _mosaic_files(shared_data, "rt_mosaic")
    reader = SeriesReader()
    for k in range(6):
        assert_same_volume_as_full(reader, a[k].read_bytes())
        assert_same_volume_as_full(reader, b[k].read_bytes())
    assert reader.counts == {"fast": 10, "full": 2}
