"""DICOM Part-10 files: completeness, decoding, and the choice of a vendor reader.

The steps, in order:

1. :func:`nfd.acquire._dicom_layout.check_dicom_layout` makes sure every byte
   the elements announce is there (a file still being written raises
   :class:`IncompleteFileError`);
2. pydicom decodes the data set; an image SOP class without PixelData yet
   is incomplete, anything else without pixel data is not a scan; native
   PixelData shorter than ``Rows * Columns * SamplesPerPixel *
   BitsAllocated / 8 * NumberOfFrames`` is incomplete;
3. the first vendor reader of :data:`VENDOR_READERS` that accepts nibabel's
   wrapper of the data set makes the volume. A new vendor format is a new
   module with ``accepts(wrapper)`` and ``read(wrapper, ds, name)``, added
   to that tuple;
4. a single 2-D slice (GE, Philips classic, Siemens non-mosaic) is a
   :class:`~nfd.acquire._slices.SliceImage` when the caller takes slices
   (:func:`read_dicom_part_bytes`), and not a scan otherwise.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from nfd.acquire import _enhanced, _siemens_mosaic, _slices
from nfd.acquire._dicom_header import DICOM_DECODE_ERRORS, nibabel_wrapper
from nfd.acquire._dicom_layout import NATIVE_TRANSFER_SYNTAXES, DicomLayout, check_dicom_layout
from nfd.acquire._errors import IncompleteFileError, NotAScanError
from nfd.acquire._image import ScanImage
from nfd.acquire._slices import SliceImage, SliceOptions

__all__ = ["VENDOR_READERS", "read_dicom_bytes", "read_dicom_part_bytes", "read_dicom_with_header"]

#: ``(name, accepts(wrapper) -> bool, read(wrapper, ds, name) -> ScanImage)``,
#: tried in order.
VENDOR_READERS: tuple[
    tuple[str, Callable[[Any], bool], Callable[[Any, Dataset, str], ScanImage]], ...
] = (
    (_siemens_mosaic.FORMAT, _siemens_mosaic.accepts, _siemens_mosaic.read),
    (_enhanced.FORMAT, _enhanced.accepts, _enhanced.read),
)

#: SOP classes of MR images: without PixelData such a file is still being written.
_IMAGE_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
        "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage
        "1.2.840.10008.5.1.4.1.1.4.3",  # Enhanced MR Color Image Storage
        "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR Image Storage
        "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
    }
)


def read_dicom_bytes(buf: bytes, name: str = "<bytes>") -> ScanImage:
    """Read one 3-D volume from the bytes of a DICOM Part-10 file.

    Parameters
    ----------
    buf : bytes
        The whole file content (preamble, ``DICM``, meta, data set).
    name : str
        The file name, for error messages.

    Returns
    -------
    ScanImage
        The volume, from the first vendor reader that accepts the file
        (Siemens mosaic, enhanced multi-frame MR).

    Raises
    ------
    IncompleteFileError
        When the file is shorter than its elements announce, an MR image has
        no PixelData yet, or PixelData is shorter than the image size.
    NotAScanError
        When the file is not a DICOM volume a vendor reader handles (no
        image, a single 2-D slice, a corrupt header).

    Examples
    --------
    >>> read_dicom_bytes(bytes(128) + b"DICM" + bytes(4), "x.dcm")
    Traceback (most recent call last):
    ...
    nfd.acquire.IncompleteFileError: x.dcm: ends inside the file meta information at byte 136
    """
    part = read_dicom_part_bytes(buf, name, None)
    assert isinstance(part, ScanImage)
    return part


def read_dicom_part_bytes(
    buf: bytes, name: str, slices: SliceOptions | None
) -> ScanImage | SliceImage:
    """Read a volume, or one slice of a single-slice series, from a DICOM file's bytes.

    Parameters
    ----------
    buf : bytes
        The whole file content.
    name : str
        The file name, for error messages.
    slices : SliceOptions or None
        How single slices are grouped into volumes; None when a single
        slice is not wanted (it is then not a scan).

    Returns
    -------
    ScanImage or SliceImage
        A volume (mosaic, enhanced multi-frame), or a slice when ``slices``
        is given.

    Raises
    ------
    IncompleteFileError, NotAScanError
        See :func:`read_dicom_bytes`.
    """
    return read_dicom_with_header(buf, name, slices)[0]


def read_dicom_with_header(
    buf: bytes, name: str, slices: SliceOptions | None
) -> tuple[ScanImage | SliceImage, Dataset, Any]:
    """:func:`read_dicom_part_bytes`, with the decoded data set and nibabel's wrapper of it.

    For readers that keep what a series' first file says
    (:mod:`nfd.acquire._series_reader`); the errors are those of
    :func:`read_dicom_part_bytes`.
    """
    layout = check_dicom_layout(buf, name)
    try:
        ds = pydicom.dcmread(io.BytesIO(buf))
        _check_pixel_data(ds, layout, name)
        wrapper = nibabel_wrapper(ds, name)
        for _, accepts, read in VENDOR_READERS:
            if accepts(wrapper):
                return read(wrapper, ds, name), ds, wrapper
        single = _slices.accepts(wrapper)
        if single and slices is not None:
            return _slices.read_slice_dataset(wrapper, ds, name, slices), ds, wrapper
        description = _describe(ds)
    except DICOM_DECODE_ERRORS as err:
        # pydicom decodes values lazily: a damaged header fails wherever a
        # value is first used.
        raise NotAScanError(name, f"damaged DICOM header: {err!r}") from err
    if single:
        raise NotAScanError(
            name,
            f"DICOM image of {description} is not a volume but one slice of a single-slice "
            "series (read it with read_slice; the watch folder assembles the volumes)",
        )
    raise NotAScanError(
        name,
        f"DICOM image of {description} is not a volume: expected a Siemens mosaic or an "
        "enhanced multi-frame MR image",
    )


def _check_pixel_data(ds: Dataset, layout: DicomLayout, name: str) -> None:
    """Raise unless the data set has all its pixel data."""
    sop = layout.sop_class or _get(ds, "SOPClassUID")
    if not layout.has_pixel_data:
        if sop in _IMAGE_SOP_CLASSES or ("Rows" in ds and "Columns" in ds):
            raise IncompleteFileError(
                name, f"image (SOP class {sop}) without PixelData yet: the pixel data come last"
            )
        raise NotAScanError(name, f"DICOM without pixel data (SOP class {sop}): expected an image")
    syntax = layout.transfer_syntax
    if syntax is not None and syntax not in NATIVE_TRANSFER_SYNTAXES:
        return  # encapsulated: the layout walk checked every fragment
    try:
        rows = int(ds.Rows)
        columns = int(ds.Columns)
        bits = int(ds.BitsAllocated)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except DICOM_DECODE_ERRORS as err:
        raise NotAScanError(
            name, f"image without usable Rows/Columns/BitsAllocated/NumberOfFrames: {err!r}"
        ) from err
    if min(rows, columns, bits, samples, frames) <= 0:
        raise NotAScanError(
            name,
            f"image size {rows}x{columns}, {bits} bits, {samples} samples, {frames} frames: "
            "expected positive numbers",
        )
    expected = (rows * columns * samples * bits * frames + 7) // 8
    length = layout.pixel_data_length or 0
    if length < expected:
        raise IncompleteFileError(
            name,
            f"PixelData has {length} bytes, {rows}x{columns}x{frames} frames of {bits} bits "
            f"need {expected}",
        )


def _get(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    return None if value is None else str(value)


def _describe(ds: Dataset) -> str:
    try:
        return (
            f"{ds.get('Manufacturer', '?')} {ds.get('Rows', '?')}x{ds.get('Columns', '?')}, "
            f"{ds.get('NumberOfFrames', 1)} frame(s)"
        )
    except DICOM_DECODE_ERRORS:
        return "unreadable header"
