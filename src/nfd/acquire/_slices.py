"""Single-slice-per-file DICOM series (GE, Philips classic, Siemens non-mosaic).

Each file holds one 2-D slice; a volume is the slices that share a volume
number, sorted along the slice normal. This module reads one slice
(:func:`read_slice_dataset`, pure) and stacks the slices of one volume
(:func:`assemble_volume`, pure); the watch folder collects the slices of a
volume as they arrive (:mod:`nfd.acquire._assembler`).

Which volume a slice belongs to (``volume_from``):

``"temporal_position"``
    TemporalPositionIdentifier (0020,0100), 1-based (Philips, some GE).
``"acquisition_number"``
    AcquisitionNumber (0020,0012) (Siemens single-slice series).
``"instance_number"``
    ``(InstanceNumber - 1) // (slices_per_volume * echoes) + 1``: GE numbers
    the images of a series consecutively, slice by slice (and, multi-echo,
    echo by echo), volume after volume.
``"auto"``
    TemporalPositionIdentifier when present, else InstanceNumber for GE,
    else AcquisitionNumber when present, else InstanceNumber.

Multi-echo series (``echoes > 1``, one file per slice and echo): a volume is
``slices_per_volume x echoes`` files, the same positions for each echo. A
slice carries its echo number, EchoNumbers (0018,0086), and echo time,
EchoTime (0018,0081, ms); the watcher groups the slices per volume and echo.
``"auto"`` stays right: Philips' TemporalPositionIdentifier numbers the
volume whatever the echo (its InstanceNumber counts across echoes and
slices), and GE's InstanceNumber is divided by the files of a volume, all
echoes' (GE writes no temporal position; its LocationsInAcquisition is the
slices of one echo; when an export writes the count of every echo's files,
set ``slices_per_volume``). Some GE exports write EchoNumbers 1 for every
echo (dcm2niix issue #359): the echo is then the one whose echo time is in
the watcher's ``echo_times_ms`` (:class:`nfd.acquire._echoes.EchoRun`).

The number of slices in a volume comes from the ``slices_per_volume``
option, else the header: GE LocationsInAcquisition (0021,xx4F, GEMS_RELA_01)
or SlicesPerVolume (0043,xx79, GEMS_PARM_01), Philips NumberOfSlicesMR
(2001,xx18, Philips Imaging DD 001), else ImagesInAcquisition (0020,1002).

Voxel values: RescaleSlope and RescaleIntercept (nibabel's wrapper), and for
Philips the private scale slope SS (2005,xx0E, Philips MR Imaging DD 001):
``value = (stored * RS + RI) / (RS * SS)``, the "floating point" value of
Chenevert et al. (2014) that dcm2niix writes by default.

Slice times (seconds from the start of the volume): the slices' TriggerTime
(0018,1060, ms) when it differs between the slices of a volume; else, for
GE, computed from the protocol data block (0025,xx1B: SLICEORDER
sequential or interleaved, MBACCEL multiband factor, DELACQNOAV delay after
the slice group), the repetition time and the slice's place in the
prescription (InStackPositionNumber), as dcm2niix does.

References
----------
DICOM PS3.3 C.7.6.2 (Image Plane Module: ImagePositionPatient,
ImageOrientationPatient, PixelSpacing); Chenevert TL et al. (2014) Errors in
quantitative image analysis due to platform-dependent image scaling. Transl
Oncol 7(1):65-71; Li X, Morgan PS, Ashburner J, Smith J, Rorden C (2016) The
first step for neuroimaging data analysis: DICOM to NIfTI conversion.
J Neurosci Methods 264:47-56; the GE series of dcm_qa_nih
(https://github.com/neurolabusc/dcm_qa_nih).
"""

from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pydicom.multival
from pydicom.dataset import Dataset

from nfd._checks import check_option, ensure_int
from nfd.acquire._dicom_header import (
    DICOM_DECODE_ERRORS,
    LPS_TO_RAS,
    Header,
    dicomwrappers,
    echo_number,
    echo_time_ms,
    series_identity,
)
from nfd.acquire._errors import NotAScanError
from nfd.acquire._image import ScanImage

__all__ = [
    "FORMAT",
    "VOLUME_FROM",
    "Header",
    "SliceImage",
    "SliceOptions",
    "VolumeFrom",
    "accepts",
    "apply_scaling",
    "assemble_volume",
    "ge_protocol_schedule",
    "ge_slice_times",
    "header_int",
    "header_slice_number",
    "header_volume_number",
    "manufacturer_of",
    "read_slice_dataset",
    "scaling_of",
    "schedule_time",
    "slice_count",
    "trigger_time",
]

FORMAT = "dicom_slices"

VolumeFrom = Literal["auto", "temporal_position", "acquisition_number", "instance_number"]
#: The accepted values of ``volume_from``.
VOLUME_FROM: tuple[str, ...] = ("auto", "temporal_position", "acquisition_number", "instance_number")

#: Largest distance (mm) between two slices' ImageOrientationPatient cosines,
#: PixelSpacing, or the steps between consecutive slice positions, for them
#: to count as the same.
GEOMETRY_TOLERANCE_MM = 1e-3
#: Slice positions closer than this (mm) along the normal are the same slice.
SAME_POSITION_MM = 1e-3

_GE = "GE"
_PHILIPS = "PHILIPS"


@dataclass(frozen=True)
class SliceOptions:
    """How single-slice files are grouped into volumes.

    Attributes
    ----------
    slices_per_volume : int or None
        Number of slices in a volume; None to take it from the header.
    volume_from : {"auto", "temporal_position", "acquisition_number", "instance_number"}
        Which header field gives the volume a slice belongs to (see the
        module documentation).
    echoes : int
        Echoes per volume: a volume is ``slices_per_volume * echoes`` files
        (which the ``"instance_number"`` rule divides by).

    Raises
    ------
    ValueError
        When ``slices_per_volume`` or ``echoes`` is not a positive integer or
        ``volume_from`` is not one of the names above.
    """

    slices_per_volume: int | None = None
    volume_from: VolumeFrom = "auto"
    echoes: int = 1

    def __post_init__(self) -> None:
        n = self.slices_per_volume
        if n is not None:  # frozen: the canonical int replaces the given one
            object.__setattr__(self, "slices_per_volume", ensure_int(n, "slices_per_volume", minimum=1))
        object.__setattr__(self, "echoes", ensure_int(self.echoes, "echoes", minimum=1))
        check_option("volume_from", self.volume_from, VOLUME_FROM)


@dataclass(frozen=True, eq=False)
class SliceImage:
    """One 2-D slice of a single-slice-per-file series.

    Attributes
    ----------
    data : ndarray of float32, shape (Rows, Columns)
        Pixel values, ``data[i, j]`` the pixel of row ``i`` and column ``j``
        (nibabel's order), scaling applied.
    affine : ndarray of float64, shape (4, 4)
        Voxel-to-mm RAS+ affine of the slice alone: ``(i, j, 0)`` to the
        pixel's centre; the third column is the slice normal times the
        slice spacing (SpacingBetweenSlices, else SliceThickness).
    position : float
        Position of the slice along nibabel's slice normal, mm (the sort key
        of the slices of a volume).
    volume_number : int
        The volume it belongs to, 1-based as the scanner counts (see
        ``volume_from``).
    slices_per_volume : int
        Number of slices of its volume.
    slice_number : int or None
        Its place in the prescription, 1-based (InStackPositionNumber, else
        from InstanceNumber); None when unknown.
    header_index : int or None
        InstanceNumber.
    trigger_time : float or None
        TriggerTime in seconds, when the header has it.
    protocol_time : float or None
        Time of the slice in the volume's acquisition computed from the GE
        protocol data block, seconds; None for other vendors or without it.
    series : str or None
        SeriesInstanceUID, else SeriesNumber.
    format : str
        ``"dicom_slices"``.
    echo : int or None
        EchoNumbers (0018,0086), None when absent (the watcher may settle
        another echo number from the TE, see the module documentation).
    echo_time_ms : float or None
        EchoTime (0018,0081), ms; None when absent.
    """

    data: npt.NDArray[np.float32]
    affine: npt.NDArray[np.float64]
    position: float
    volume_number: int
    slices_per_volume: int
    slice_number: int | None = None
    header_index: int | None = None
    trigger_time: float | None = None
    protocol_time: float | None = None
    series: str | None = None
    format: str = FORMAT
    echo: int | None = None
    echo_time_ms: float | None = None

    @property
    def normal(self) -> npt.NDArray[np.float64]:
        """Unit slice normal in RAS+ (the direction of increasing ``position``)."""
        column = self.affine[:3, 2]
        return np.asarray(column / np.linalg.norm(column), dtype=np.float64)


def accepts(wrapper: Any) -> bool:
    """Whether nibabel's wrapper is a single 2-D slice (not a mosaic nor multi-frame)."""
    if isinstance(wrapper, (dicomwrappers.MosaicWrapper, dicomwrappers.MultiframeWrapper)):
        return False
    try:
        frames = int(wrapper.get("NumberOfFrames", 1) or 1)
    except DICOM_DECODE_ERRORS:
        return False
    return frames == 1


def read_slice_dataset(wrapper: Any, ds: Dataset, name: str, options: SliceOptions) -> SliceImage:
    """The slice in a single-slice DICOM data set.

    Parameters
    ----------
    wrapper : nibabel.nicom.dicomwrappers.Wrapper
        nibabel's wrapper of ``ds`` (one for which :func:`accepts` holds).
    ds : pydicom.Dataset
        The whole data set, pixel data included.
    name : str
        The file name, for error messages.
    options : SliceOptions
        Slice count and grouping.

    Returns
    -------
    SliceImage

    Raises
    ------
    NotAScanError
        When the slice has no usable geometry or pixels, no slice count
        (neither in the header nor in ``options``), or no volume number.
    """
    try:
        pixels = np.asarray(wrapper.get_unscaled_data())
        affine = LPS_TO_RAS @ np.asarray(wrapper.affine, dtype=np.float64)
        position = float(wrapper.slice_indicator)
    except DICOM_DECODE_ERRORS as err:
        raise NotAScanError(
            name,
            f"single-slice DICOM without usable geometry or pixels (ImagePositionPatient, "
            f"ImageOrientationPatient, PixelSpacing): {err!r}",
        ) from err
    if pixels.ndim != 2 or pixels.dtype.kind not in "uif":
        raise NotAScanError(
            name, f"pixel data of shape {pixels.shape} and type {pixels.dtype}: expected one 2-D slice"
        )
    if not (np.all(np.isfinite(affine)) and math.isfinite(position)):
        raise NotAScanError(name, "the slice's geometry has non-finite values")
    manufacturer = manufacturer_of(ds)
    data = _scaled(pixels, ds, manufacturer == _PHILIPS, name)
    n = options.slices_per_volume or slice_count(ds)
    if n is None:
        raise NotAScanError(
            name,
            "single-slice DICOM without a slice count in the header (GE LocationsInAcquisition, "
            "Philips NumberOfSlicesMR, ImagesInAcquisition): set slices_per_volume",
        )
    volume_number = header_volume_number(ds, n, options.volume_from, name, options.echoes)
    slice_number = header_slice_number(ds, n, options.echoes)
    protocol_time = None
    if manufacturer == _GE and slice_number is not None:
        protocol_time = _ge_protocol_time(ds, n, slice_number)
    return SliceImage(
        data=np.ascontiguousarray(data, dtype=np.float32),
        affine=affine,
        position=position,
        volume_number=volume_number,
        slices_per_volume=n,
        slice_number=slice_number,
        header_index=header_int(ds, "InstanceNumber"),
        trigger_time=trigger_time(ds),
        protocol_time=protocol_time,
        series=series_identity(ds),
        echo=echo_number(ds),
        echo_time_ms=echo_time_ms(ds),
    )


def assemble_volume(slices: Sequence[SliceImage], name: str = "<slices>") -> ScanImage:
    """Stack the slices of one volume along the slice normal.

    Parameters
    ----------
    slices : sequence of SliceImage
        Every slice of the volume, in any order, at distinct positions.
    name : str
        What to call the volume in error messages (e.g. its last file).

    Returns
    -------
    ScanImage
        float32 data [i, j, k], ``k`` along increasing ``position`` (nibabel's
        slice normal, as for mosaics); the affine's third column is the step
        between consecutive slice positions (mm, RAS+); ``header_index`` is
        the volume number; slice times (s) from TriggerTime or the GE
        protocol, see the module documentation; ``echo`` and
        ``echo_time_ms`` the slices' when they all have the same.

    Raises
    ------
    NotAScanError
        When the slices differ in size, orientation or pixel spacing, two
        share a position, or their positions are not evenly spaced.

    Examples
    --------
    >>> import numpy as np
    >>> def axial(z, value):
    ...     affine = np.diag([-2.0, -2.0, 3.0, 1.0]); affine[2, 3] = z
    ...     return SliceImage(np.full((4, 4), value, np.float32), affine, position=z,
    ...                       volume_number=1, slices_per_volume=3)
    >>> vol = assemble_volume([axial(6.0, 3), axial(0.0, 1), axial(3.0, 2)])
    >>> vol.shape, [float(v) for v in vol.data[0, 0, :]], float(vol.affine[2, 2])
    ((4, 4, 3), [1.0, 2.0, 3.0], 3.0)
    """
    if not slices:
        raise NotAScanError(name, "no slices to assemble")
    ordered = sorted(slices, key=lambda s: s.position)
    first = ordered[0]
    for other in ordered[1:]:
        if other.data.shape != first.data.shape:
            raise NotAScanError(
                name, f"slices of {first.data.shape} and {other.data.shape} pixels in one volume"
            )
        if not np.allclose(other.affine[:3, :2], first.affine[:3, :2], atol=GEOMETRY_TOLERANCE_MM):
            raise NotAScanError(
                name, "slices of one volume differ in orientation or pixel spacing"
            )
    positions = np.array([s.position for s in ordered])
    steps = np.diff(positions)
    if steps.size and steps.min() < SAME_POSITION_MM:
        at = float(positions[1:][steps.argmin()])
        raise NotAScanError(name, f"two slices of one volume at the same position ({at:.3f} mm)")
    corners = np.array([s.affine[:3, 3] for s in ordered])
    affine = first.affine.copy()
    if len(ordered) > 1:
        vectors = np.diff(corners, axis=0)
        step = (corners[-1] - corners[0]) / (len(ordered) - 1)
        deviation = float(np.abs(vectors - step).max())
        if deviation > max(GEOMETRY_TOLERANCE_MM, 1e-3 * float(np.linalg.norm(step))):
            raise NotAScanError(
                name,
                f"slice positions are not evenly spaced (steps {np.round(steps, 3).tolist()} mm): "
                "expected one volume of contiguous, equidistant slices",
            )
        affine[:3, 2] = step
    data = np.stack([s.data for s in ordered], axis=2)
    echo = first.echo if all(s.echo == first.echo for s in ordered) else None
    te = first.echo_time_ms if all(s.echo_time_ms == first.echo_time_ms for s in ordered) else None
    return ScanImage(
        data=np.ascontiguousarray(data, dtype=np.float32),
        affine=affine,
        header_index=first.volume_number,
        slice_times=_volume_slice_times(ordered),
        series=first.series,
        format=FORMAT,
        echo=echo,
        echo_time_ms=te,
    )


def slice_count(ds: Dataset) -> int | None:
    """The number of slices per volume written in a single-slice header.

    Tried in order: GE LocationsInAcquisition (0021,xx4F), GE SlicesPerVolume
    (0043,xx79), Philips NumberOfSlicesMR (2001,xx18), ImagesInAcquisition
    (0020,1002). None when none is a positive integer.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.ImagesInAcquisition = "36"
    >>> slice_count(ds)
    36
    """
    for group, creator, element in (
        (0x0021, "GEMS_RELA_01", 0x4F),
        (0x0043, "GEMS_PARM_01", 0x79),
        (0x2001, "Philips Imaging DD 001", 0x18),
    ):
        value = _positive_int(_private(ds, group, creator, element))
        if value is not None:
            return value
    return _positive_int(ds.get("ImagesInAcquisition"))


def ge_slice_times(
    tr: float, n_slices: int, *, interleaved: bool, multiband: int = 1, group_delay: float = 0.0
) -> tuple[float, ...]:
    """Slice acquisition times of a GE EPI, in prescription order.

    Parameters
    ----------
    tr : float
        Repetition time, seconds.
    n_slices : int
        Slices in the volume.
    interleaved : bool
        GE SLICEORDER 1 (odd prescription positions first, then even) rather
        than 0 (sequential).
    multiband : int
        Slices excited together (HyperBand factor); slice ``i`` shares the
        time of slice ``i mod ceil(n_slices / multiband)``.
    group_delay : float
        Pause at the end of the TR after the slice group, seconds.

    Returns
    -------
    tuple of float
        Seconds from the start of the volume, for prescription positions 1,
        2, ... ``n_slices``.

    Examples
    --------
    >>> [round(t, 3) for t in ge_slice_times(5.0, 5, interleaved=True)]
    [0.0, 3.0, 1.0, 4.0, 2.0]
    >>> ge_slice_times(2.0, 4, interleaved=False, multiband=2)
    (0.0, 1.0, 0.0, 1.0)
    """
    if n_slices < 1 or multiband < 1:
        raise ValueError(f"n_slices and multiband must be >= 1, got {n_slices} and {multiband}")
    excitations = math.ceil(n_slices / multiband)
    step = (tr - group_delay) / excitations
    times = []
    first_half = (excitations + 1) // 2  # positions 1, 3, 5, ... come first when interleaved
    for i in range(excitations):
        slot = (i // 2 if i % 2 == 0 else first_half + i // 2) if interleaved else i
        times.append(slot * step)
    return tuple(times[i % excitations] for i in range(n_slices))


# -- header fields ----------------------------------------------------------


def manufacturer_of(ds: Header) -> str:
    """"GE", "PHILIPS", or the Manufacturer as written, upper case."""
    value = str(ds.get("Manufacturer", "") or "").upper()
    if value.startswith("GE"):
        return _GE
    if "PHILIPS" in value:
        return _PHILIPS
    return value


def _private(ds: Dataset, group: int, creator: str, element: int) -> Any:
    """A private element's value, or None (absent, or no such creator block)."""
    try:
        return ds.get_private_item(group, element, creator).value
    except KeyError:
        return None


def header_int(ds: Header, keyword: str) -> int | None:
    """An integer element's value, None when absent, empty or not an integer."""
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _positive_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def header_volume_number(ds: Header, n: int, volume_from: VolumeFrom, name: str, echoes: int = 1) -> int:
    """The 1-based volume number of a single-slice data set (see the module documentation).

    ``n`` is the slices per volume, ``echoes`` the echoes per volume (the
    ``"instance_number"`` rule counts ``n * echoes`` files per volume).

    Raises
    ------
    NotAScanError
        When the field ``volume_from`` names (or "auto" picks) is absent.
    """
    if volume_from == "auto":
        if header_int(ds, "TemporalPositionIdentifier") is not None:
            volume_from = "temporal_position"
        elif manufacturer_of(ds) != _GE and header_int(ds, "AcquisitionNumber") is not None:
            volume_from = "acquisition_number"
        else:
            volume_from = "instance_number"
    keyword = {
        "temporal_position": "TemporalPositionIdentifier",
        "acquisition_number": "AcquisitionNumber",
        "instance_number": "InstanceNumber",
    }[volume_from]
    value = header_int(ds, keyword)
    if value is None:
        raise NotAScanError(
            name, f"single-slice DICOM without {keyword} (volume_from={volume_from!r})"
        )
    if volume_from == "instance_number":
        if value < 1:
            raise NotAScanError(name, f"InstanceNumber {value}: expected a number from 1")
        return (value - 1) // (n * echoes) + 1
    return value


def header_slice_number(ds: Header, n: int, echoes: int = 1) -> int | None:
    """The 1-based place of a slice in the prescription (InStackPositionNumber, else InstanceNumber).

    With ``echoes > 1`` only InStackPositionNumber counts (how the instance
    numbers interleave the echoes is the vendor's).
    """
    in_stack = _positive_int(ds.get("InStackPositionNumber"))
    if in_stack is not None:
        return in_stack
    instance = _positive_int(ds.get("InstanceNumber"))
    return None if instance is None or echoes > 1 else (instance - 1) % n + 1


def trigger_time(ds: Header) -> float | None:
    """TriggerTime (0018,1060) in seconds, None when absent or not a finite number."""
    value = ds.get("TriggerTime")
    if value is None or value == "":
        return None
    try:
        seconds = float(value) / 1000.0
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) else None


def _scaled(pixels: npt.NDArray[Any], ds: Dataset, philips: bool, name: str) -> npt.NDArray[Any]:
    """Stored values to real values: RescaleSlope/Intercept, then Philips' private scale slope.

    (nibabel's wrapper is not used for this: for Philips it drops the
    rescale and multiplies by the private slope, unlike dcm2niix.)
    """
    return apply_scaling(pixels, scaling_of(ds, philips, name), name)


def scaling_of(ds: Dataset, philips: bool, name: str) -> tuple[float, float, float | None]:
    """RescaleSlope, RescaleIntercept and (Philips) the private scale slope SS of a slice header.

    Raises
    ------
    NotAScanError
        When one is unreadable, or the slope or intercept is not finite.
    """
    try:
        rs = float(ds.get("RescaleSlope", 1.0) or 1.0)
        ri = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        ss_value = _private(ds, 0x2005, "Philips MR Imaging DD 001", 0x0E) if philips else None
        if isinstance(ss_value, (list, tuple, pydicom.multival.MultiValue)):
            ss_value = ss_value[0] if ss_value else None
        ss = None if ss_value is None else float(ss_value)
    except DICOM_DECODE_ERRORS as err:
        raise NotAScanError(name, f"unreadable RescaleSlope, RescaleIntercept or scale slope: {err!r}") from err
    if not (math.isfinite(rs) and math.isfinite(ri)):
        raise NotAScanError(name, f"RescaleSlope {rs} / RescaleIntercept {ri}: expected finite numbers")
    return rs, ri, ss


def apply_scaling(
    pixels: npt.NDArray[Any], scaling: tuple[float, float, float | None], name: str
) -> npt.NDArray[Any]:
    """``(stored * RS + RI) / (RS * SS)`` (Chenevert et al. 2014), or the pixels as they are when RS 1, RI 0, no SS.

    Parameters
    ----------
    pixels : ndarray
        Stored values.
    scaling : (float, float, float or None)
        RS, RI and SS as :func:`scaling_of` gives them.
    name : str
        The file name, for error messages.

    Raises
    ------
    NotAScanError
        When the scaled values do not fit a float32.
    """
    rs, ri, ss = scaling
    precise = ss is not None and math.isfinite(ss) and ss != 0.0 and rs != 0.0
    if rs == 1.0 and ri == 0.0 and not precise:
        return pixels
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        values = np.asarray(pixels, dtype=np.float64) * rs + ri
        if precise:
            assert ss is not None
            values /= rs * ss  # Chenevert et al. (2014): FP = DV / (RS * SS)
        finite = bool(np.all(np.abs(values) <= _FLOAT32_MAX))
    if not finite:
        raise NotAScanError(
            name, f"RescaleSlope {rs}, RescaleIntercept {ri}, scale slope {ss}: the scaled pixels do not fit a float32"
        )
    return values


_FLOAT32_MAX = float(np.finfo(np.float32).max)

_PROTOCOL_LINE = re.compile(r'^(\w+)\s+"([^"]*)"\s*$', re.MULTILINE)


def _ge_protocol(ds: Dataset) -> dict[str, str] | None:
    """The GE protocol data block (0025,xx1B): gzip text of ``KEY "value"`` lines."""
    raw = _private(ds, 0x0025, "GEMS_SERS_01", 0x1B)
    if not isinstance(raw, bytes) or len(raw) < 8:
        return None
    (length,) = struct.unpack("<I", raw[:4])
    body = raw[4 : 4 + length] if 0 < length <= len(raw) - 4 else raw[4:]
    try:
        text = gzip.decompress(body).decode("latin-1")
    except (OSError, EOFError, zlib.error):
        return None
    return dict(_PROTOCOL_LINE.findall(text))


def _ge_protocol_time(ds: Dataset, n: int, slice_number: int) -> float | None:
    return schedule_time(ge_protocol_schedule(ds, n), slice_number)


def ge_protocol_schedule(ds: Dataset, n: int) -> tuple[float, ...] | None:
    """The slice times (s) of a GE volume of ``n`` slices from its protocol data block, in prescription order.

    None when the header is not GE's, has no usable protocol block
    (SLICEORDER 0 or 1) or repetition time.
    """
    if manufacturer_of(ds) != _GE:
        return None
    protocol = _ge_protocol(ds)
    if protocol is None or protocol.get("SLICEORDER") not in ("0", "1"):
        return None
    try:
        tr = float(ds.get("RepetitionTime")) / 1000.0
        multiband = int(float(protocol.get("MBACCEL", "1") or 1))
        delay = float(protocol.get("DELACQNOAV", "0") or 0) / 1000.0
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(tr) and tr > 0 and multiband >= 1 and n >= 1):
        return None
    return ge_slice_times(
        tr, n, interleaved=protocol["SLICEORDER"] == "1", multiband=multiband, group_delay=delay
    )


def schedule_time(schedule: tuple[float, ...] | None, slice_number: int | None) -> float | None:
    """The time (s) of prescription position ``slice_number`` (1-based) in a schedule, None outside it."""
    if schedule is None or slice_number is None or not 1 <= slice_number <= len(schedule):
        return None
    return schedule[slice_number - 1]


def _volume_slice_times(ordered: Sequence[SliceImage]) -> tuple[float, ...] | None:
    triggers = [s.trigger_time for s in ordered]
    if all(t is not None for t in triggers):
        values = [float(t) for t in triggers if t is not None]
        if max(values) > min(values):
            start = min(values)
            return tuple(t - start for t in values)
    scheduled = [s.protocol_time for s in ordered]
    if all(t is not None for t in scheduled):
        return tuple(float(t) for t in scheduled if t is not None)
    return None
