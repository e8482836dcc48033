"""Single-slice series read at scanner speed: the full header once per series, then only what changes.

A GE or Philips classic series writes one file per slice, each with the
same few hundred header elements (geometry, scaling, vendor blocks). The
first file of a series is read in full (:func:`nfd.acquire._dicom.read_dicom_with_header`)
and kept as the series' *template*: its bytes, where each top-level element
lies (:func:`nfd.acquire._dicom_layout.element_spans`), and what the full
read derived once (slice count, rotation and voxel sizes, scaling, the GE
slice schedule, the volume-number field). Each further file of the series
is walked against the template, element by element in the template's
order, each element's header read with the same bounds checks as
:func:`~nfd.acquire._dicom_layout.check_dicom_layout`:

* what changes from slice to slice is read from the file: InstanceNumber,
  AcquisitionNumber, TemporalPositionIdentifier, InStackPositionNumber,
  ImagePositionPatient, TriggerTime, EchoNumbers and EchoTime (so that one
  template serves every echo of a multi-echo series; decoded by pydicom from their raw
  bytes), and the pixels by their offset (as pydicom's native decoder
  does: the rows and columns as stored, unused high bits shifted out);
* elements nothing reads (:data:`~nfd.acquire._layout_template.FREE_TAGS`: SOP instance UIDs, times,
  slice location, window, group lengths, private elements other than the
  ones the readers use) may differ, in value and length;
* every other element must be byte for byte the template's: runs of them
  are compared with one ``bytes`` comparison, and elements found to differ
  on a file are walked one by one from then on;
* the file must end where its last element ends, its pixel data of the
  template's length.

Anything else (another element, a different geometry, scaling or series, a
file cut short, a pixel offset that does not hold, a gzipped or big-endian
file) is read in full, exactly as without a template, so a foreign, damaged
or incomplete file gets the same error and log line as ever; when that full
read gives a slice, its file becomes its series' template (a series whose
geometry changed starts anew). A template is kept only when the fast read of
its own file gives the full read's slice exactly.

:class:`SeriesReader` holds the templates (a few series, the most recent
first), of single-slice series, of Siemens XA enhanced series
(:mod:`nfd.acquire._enhanced_template`) and of Siemens mosaic series
(:mod:`nfd.acquire._mosaic_template`); the watch folder owns one. It is
safe to call from threads.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from nfd.acquire import _enhanced, _siemens_mosaic, _slices
from nfd.acquire._dicom import read_dicom_with_header
from nfd.acquire._dicom_header import (
    DICOM_DECODE_ERRORS,
    LPS_TO_RAS,
    dicomwrappers,
    echo_number,
    echo_time_ms,
    series_identity,
)
from nfd.acquire._dicom_layout import DICOM_PREFIX_END, ElementSpan, element_spans
from nfd.acquire._enhanced_template import EnhancedTemplate, same_scan
from nfd.acquire._errors import NotAScanError
from nfd.acquire._image import ScanImage
from nfd.acquire._layout_template import FAST_ERRORS, LayoutTemplate, Mismatch, Walked, used_private_tags
from nfd.acquire._mosaic_template import MosaicTemplate
from nfd.acquire._reader import MAX_INFLATED_BYTES, read_part_bytes
from nfd.acquire._slices import SliceImage, SliceOptions

__all__ = ["PER_FILE_TAGS", "SeriesReader", "SliceTemplate", "same_slice"]


#: Elements read from every file of a series (their values differ slice by slice), by keyword.
_PER_FILE: dict[int, str] = {
    0x00200013: "InstanceNumber",
    0x00200012: "AcquisitionNumber",
    0x00200100: "TemporalPositionIdentifier",
    0x00209057: "InStackPositionNumber",
    0x00200032: "ImagePositionPatient",
    0x00181060: "TriggerTime",
    0x00180086: "EchoNumbers",
    0x00180081: "EchoTime",
}
#: The tags of the elements read from every file of a series.
PER_FILE_TAGS: frozenset[int] = frozenset(_PER_FILE)

#: Series whose templates are kept at once.
MAX_SERIES = 4


@dataclass(frozen=True)
class _Derived:
    """What the full read of a series' first file derived once for the series."""

    name: str
    options: SliceOptions
    n: int
    rotzoom: npt.NDArray[np.float64]  # nibabel's rotation matrix times the voxel sizes (LPS)
    normal: npt.NDArray[np.float64]  # nibabel's slice normal (LPS)
    scaling: tuple[float, float, float | None]
    schedule: tuple[float, ...] | None
    ge: bool
    series: str | None
    rows: int
    columns: int
    dtype: np.dtype[Any]
    unused_bits: int


class SliceTemplate(LayoutTemplate[SliceImage]):
    """The first file of a single-slice series and how to read the series' further files.

    Parameters
    ----------
    buf : bytes
        The first file's content.
    ds : pydicom.Dataset
        Its data set, as the full read decoded it.
    wrapper : nibabel.nicom.dicomwrappers.Wrapper
        nibabel's wrapper of ``ds`` (a plain one: GE, Philips classic).
    options : SliceOptions
        How the slices are grouped into volumes.
    name : str
        The file name, for error messages.

    Raises
    ------
    NotAScanError
        When the file cannot be a template (not little-endian native
        pixels of one sample, a Siemens CSA header, no geometry...).
    """

    def __init__(self, buf: bytes, ds: Dataset, wrapper: Any, options: SliceOptions, name: str) -> None:
        if type(wrapper) is not dicomwrappers.Wrapper:
            raise NotAScanError(name, "not a plain single-slice header (Siemens CSA or multi-frame)")
        syntax, spans = element_spans(buf, name)
        super().__init__(buf, spans, used_private_tags(ds), PER_FILE_TAGS)
        self.derived = _derive(ds, wrapper, options, name, syntax)
        d = self.derived
        if self.pixel_length < d.rows * d.columns * d.dtype.itemsize:
            raise NotAScanError(name, "no native PixelData of the image's size")
        self._manufacturer = ds.get("Manufacturer")

    def decode(self, buf: bytes, name: str, walked: Walked) -> SliceImage:
        """The slice from the walked file's values and pixels, the rest from the template."""
        return self._slice(buf, name, walked.values, walked.pixel_pos)

    def _slice(self, buf: bytes, name: str, values: dict[int, ElementSpan], pixel_pos: int) -> SliceImage:
        """The slice from the per-file values and the pixels at ``pixel_pos``, the rest from the template."""
        d = self.derived
        header: dict[str, Any] = {} if self._manufacturer is None else {"Manufacturer": self._manufacturer}
        for tag, span in values.items():
            vr = None if span.vr is None else span.vr.decode("ascii")
            raw = bytes(buf[span.value_pos : span.value_pos + span.length])
            element = RawDataElement(Tag(tag), vr, span.length, raw, span.value_pos, span.implicit, True)
            header[_PER_FILE[tag]] = convert_raw_data_element(element).value
        pixels = np.frombuffer(buf, dtype=d.dtype, count=d.rows * d.columns, offset=pixel_pos)
        pixels = pixels.reshape(d.rows, d.columns)
        if d.unused_bits:  # as pydicom's native decoder: the unused high bits shifted out
            pixels = pixels.copy()
            np.left_shift(pixels, d.unused_bits, out=pixels)
            np.right_shift(pixels, d.unused_bits, out=pixels)
        ipp = header.get("ImagePositionPatient")
        if ipp is None:
            raise Mismatch
        position_lps = np.array(list(map(float, ipp)))  # as nibabel's Wrapper.image_position
        lps = np.eye(4)
        lps[:3, :3] = d.rotzoom
        lps[:3, 3] = position_lps
        affine = LPS_TO_RAS @ lps
        position = float(np.inner(position_lps, d.normal))
        if not (np.all(np.isfinite(affine)) and math.isfinite(position)):
            raise Mismatch
        data = _slices.apply_scaling(pixels, d.scaling, name)
        echoes = d.options.echoes
        slice_number = _slices.header_slice_number(header, d.n, echoes)
        return SliceImage(
            data=np.ascontiguousarray(data, dtype=np.float32),
            affine=affine,
            position=position,
            volume_number=_slices.header_volume_number(header, d.n, d.options.volume_from, name, echoes),
            slices_per_volume=d.n,
            slice_number=slice_number,
            header_index=_slices.header_int(header, "InstanceNumber"),
            trigger_time=_slices.trigger_time(header),
            protocol_time=_slices.schedule_time(d.schedule, slice_number) if d.ge else None,
            series=d.series,
            echo=echo_number(header),
            echo_time_ms=echo_time_ms(header),
        )


def _derive(ds: Dataset, wrapper: Any, options: SliceOptions, name: str, syntax: str | None) -> _Derived:
    """What the series' further files take from the first one (see :class:`_Derived`)."""
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        bits, stored = int(ds.BitsAllocated), int(ds.get("BitsStored", ds.BitsAllocated))
        signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        rotzoom = np.asarray(wrapper.rotation_matrix, dtype=np.float64) * np.array(wrapper.voxel_sizes)
        normal = np.asarray(wrapper.slice_normal, dtype=np.float64)
    except DICOM_DECODE_ERRORS as err:
        raise NotAScanError(name, f"no template: {err!r}") from err
    if syntax not in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1") or bits not in (8, 16, 32):
        raise NotAScanError(name, f"no template for transfer syntax {syntax}, {bits} bits")
    if samples != 1 or frames != 1 or not 0 < stored <= bits:
        raise NotAScanError(name, "no template: not one sample of one frame")
    n = options.slices_per_volume or _slices.slice_count(ds)
    if n is None:
        raise NotAScanError(name, "no template: no slice count")
    philips = _slices.manufacturer_of(ds) == "PHILIPS"
    ge = _slices.manufacturer_of(ds) == "GE"
    return _Derived(
        name=name,
        options=options,
        n=n,
        rotzoom=rotzoom,
        normal=normal,
        scaling=_slices.scaling_of(ds, philips, name),
        schedule=_slices.ge_protocol_schedule(ds, n) if ge else None,
        ge=ge,
        series=series_identity(ds),
        rows=rows,
        columns=columns,
        dtype=np.dtype(f"<{'i' if signed else 'u'}{bits // 8}"),
        unused_bits=bits - stored,
    )


def same_slice(a: SliceImage, b: SliceImage) -> bool:
    """Whether two slices are identical: every field, the arrays bit for bit."""
    if a.data.dtype != b.data.dtype or a.data.shape != b.data.shape or a.data.tobytes() != b.data.tobytes():
        return False
    if a.affine.tobytes() != b.affine.tobytes():
        return False
    fields = ("position", "volume_number", "slices_per_volume", "slice_number", "header_index",
              "trigger_time", "protocol_time", "series", "format", "echo", "echo_time_ms")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


class SeriesReader:
    """Reads scan files, keeping templates of the series' first files (single-slice, Siemens XA enhanced, mosaic).

    Parameters
    ----------
    max_series : int
        Templates kept (the most recently used first; a series whose
        geometry changed has one per geometry); 0 keeps none, every file
        then being read in full.

    Attributes
    ----------
    counts : dict of str to int
        ``fast`` (files read along a template), ``full`` (read in full).
    """

    def __init__(self, max_series: int = MAX_SERIES) -> None:
        self.max_series = max_series
        self._templates: list[_Template] = []
        self._lock = threading.Lock()
        self.counts = {"fast": 0, "full": 0}

    def read(
        self, buf: bytes, name: str, slices: SliceOptions, max_inflated: int = MAX_INFLATED_BYTES
    ) -> ScanImage | SliceImage:
        """A volume, or one slice of a single-slice series, from a file's content.

        The result and errors of :func:`nfd.acquire._reader.read_part_bytes`
        for every file (see the module documentation).
        """
        is_dicom = len(buf) >= DICOM_PREFIX_END and bytes(buf[128:DICOM_PREFIX_END]) == b"DICM"
        if not is_dicom or self.max_series <= 0:
            self.counts["full"] += 1
            return read_part_bytes(buf, name, slices, max_inflated=max_inflated)
        with self._lock:
            candidates = [t for t in self._templates if not isinstance(t, SliceTemplate) or t.derived.options == slices]
        for template in candidates:
            fast = template.read(buf, name)
            if fast is not None:
                self._keep(template)
                self.counts["fast"] += 1
                return fast
        self.counts["full"] += 1
        image, ds, wrapper = read_dicom_with_header(buf, name, slices)
        self._learn(buf, name, slices, image, ds, wrapper)
        return image

    def _keep(self, template: _Template) -> None:
        """Put a template first (the most recently used), dropping the least recently used beyond ``max_series``."""
        with self._lock:
            if template in self._templates:
                self._templates.remove(template)
            self._templates.insert(0, template)
            del self._templates[self.max_series :]

    def _learn(
        self, buf: bytes, name: str, slices: SliceOptions, image: ScanImage | SliceImage, ds: Dataset, wrapper: Any
    ) -> None:
        """Keep the file as a template, if reading it along itself gives the full read's result exactly."""
        template: _Template
        try:
            if isinstance(image, SliceImage):
                template = SliceTemplate(buf, ds, wrapper, slices, name)
            elif image.format == _enhanced.FORMAT:
                template = EnhancedTemplate(buf, ds, wrapper, image, name)
            elif image.format == _siemens_mosaic.FORMAT:
                template = MosaicTemplate(buf, ds, wrapper, image, name)
            else:
                return
        except FAST_ERRORS:
            return
        if _same(template.read(buf, name), image):
            self._keep(template)


def _same(again: ScanImage | SliceImage | None, image: ScanImage | SliceImage) -> bool:
    """Whether a template's read of its own file is the full read's result exactly."""
    if isinstance(again, SliceImage) and isinstance(image, SliceImage):
        return same_slice(again, image)
    if isinstance(again, ScanImage) and isinstance(image, ScanImage):
        return same_scan(again, image)
    return False


_Template = SliceTemplate | EnhancedTemplate | MosaicTemplate
