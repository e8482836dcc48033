"""Siemens XA enhanced (multi-frame) files read once per series: the per-frame groups parsed once.

An enhanced MR file holds one volume: a frame per slice, each with its own
functional groups (PerFrameFunctionalGroupsSequence, some 2600 elements for
33 frames), which pydicom parses element by element on every file. The
files of a series differ only in a few values: the frames' acquisition and
reference times, temporal and acquisition numbers, dimension index values,
window, some private values. :class:`EnhancedTemplate` keeps the series'
first file, read in full (its nibabel wrapper with the frame order, shape,
affine and scale factors it derived), and where every nested element of its
per-frame groups lies (:func:`nfd.acquire._dicom_layout.nested_spans`).
A further file is walked along it (:class:`nfd.acquire._layout_template.LayoutTemplate`
for the top level); its per-frame groups must be byte for byte the
template's except the values of the elements that may change
(:data:`FRAME_VARYING`, and private data elements), whose lengths are read
from the file with bounds checks; a private element seen to differ is added
to those on the fly. From the file are taken: each frame's
FrameAcquisitionDateTime (the slice times), its DimensionIndexValues (which
must order the frames as the template's do, column by column, so that
nibabel's frame order and shape are unchanged), InstanceNumber or
AcquisitionNumber, and the pixels by their offset.

Only Siemens files in explicit VR little endian whose changing values all
lie in sequences and items of undefined length (as Siemens XA writes them)
get a template; anything else is read in full, as is any file unlike its
template, and any file whose frames hold several echoes.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from nfd.acquire._dicom_header import (
    DICOM_DECODE_ERRORS,
    LPS_TO_RAS,
    dicomwrappers,
    header_index,
    series_identity,
    to_float32,
)
from nfd.acquire._dicom_layout import NestedSpan, element_spans, nested_spans
from nfd.acquire._enhanced import FORMAT, frame_slice_times_of
from nfd.acquire._errors import NotAScanError
from nfd.acquire._image import ScanImage
from nfd.acquire._layout_template import LayoutTemplate, Mismatch, Walked, is_free, used_private_tags

__all__ = ["FRAME_VARYING", "EnhancedTemplate", "same_scan"]

_PER_FRAME = 0x52009230
_ACQUISITION_DT = 0x00189074
_DIMENSION_INDEX = 0x00209157
_UNDEFINED = 0xFFFFFFFF
_HEADER_INDEX = {0x00200013: "InstanceNumber", 0x00200012: "AcquisitionNumber"}

#: Elements of the per-frame groups whose values may change from file to file of a series.
FRAME_VARYING: frozenset[int] = frozenset(
    {
        _ACQUISITION_DT,  # FrameAcquisitionDateTime: read (slice times)
        0x00189151,  # FrameReferenceDateTime
        0x00209128,  # TemporalPositionIndex
        0x00209156,  # FrameAcquisitionNumber
        _DIMENSION_INDEX,  # DimensionIndexValues: read (must order the frames as the template's)
        0x00281050,  # WindowCenter
        0x00281051,  # WindowWidth
    }
)
#: Private elements learnt to vary, at most, per template.
_MAX_LEARNT = 64


@dataclass(frozen=True)
class _Piece:
    """A changing value of the per-frame groups: its length field at ``start`` (template offset), the value after."""

    start: int
    end: int
    tag: int
    length_bytes: int


def _frame_pieces(spans: list[NestedSpan], varying: frozenset[int], name: str) -> tuple[_Piece, ...]:
    """The changing values among the nested spans, refusing any inside a container of defined length."""
    pieces = []
    open_ends: list[tuple[int, bool]] = []  # (end, defined length) of the containers around
    defined = 0
    for span in spans:
        while open_ends and open_ends[-1][0] <= span.start:
            defined -= open_ends.pop()[1]
        is_container = span.kind == "item" or span.vr == b"SQ"
        if not is_container and span.tag in varying:
            if defined:
                raise NotAScanError(name, "no template: a changing value inside a sequence of defined length")
            pieces.append(_Piece(span.length_pos, span.end, span.tag, span.value_pos - span.length_pos))
        if is_container:
            is_defined = span.length != _UNDEFINED
            open_ends.append((span.end, is_defined))
            defined += is_defined
    return tuple(pieces)


def _same_order(template: npt.NDArray[np.int64], values: npt.NDArray[np.int64]) -> bool:
    """Whether ``values`` orders and groups the frames as ``template`` does, column by column.

    nibabel's frame order and shape depend on the dimension index values
    only through their order and equalities in each column (``np.unique``,
    counts, ``np.lexsort``), which such values keep.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([[1, 1, 1], [1, 2, 1], [1, 3, 1]])
    >>> _same_order(t, t + [0, 0, 6]), _same_order(t, t[[1, 0, 2]])
    (True, False)
    """
    if template.shape != values.shape:
        return False
    for column in range(template.shape[1]):
        order = np.argsort(template[:, column], kind="stable")
        t, v = template[order, column], values[order, column]
        if not np.array_equal(np.diff(t) > 0, np.diff(v) > 0) or np.any(np.diff(v) < 0):
            return False
    return True


class EnhancedTemplate(LayoutTemplate[ScanImage]):
    """The first file of a Siemens XA enhanced series and how to read its further files.

    Parameters
    ----------
    buf : bytes
        The first file's content.
    ds : pydicom.Dataset
        Its data set, as the full read decoded it.
    wrapper : nibabel.nicom.dicomwrappers.MultiframeWrapper
        nibabel's wrapper of ``ds``, its frame order, shape and scaling derived.
    image : ScanImage
        The full read's volume.
    name : str
        The file name, for error messages.

    Raises
    ------
    NotAScanError
        When the file cannot be a template (see the module documentation).
    """

    def __init__(self, buf: bytes, ds: Dataset, wrapper: Any, image: ScanImage, name: str) -> None:
        syntax, spans = element_spans(buf, name)
        if syntax != "1.2.840.10008.1.2.1" or "SIEMENS" not in str(ds.get("Manufacturer", "")).upper():
            raise NotAScanError(name, "no template: not a Siemens explicit VR little endian file")
        if type(wrapper) is not dicomwrappers.MultiframeWrapper:
            raise NotAScanError(name, "no template: not nibabel's multi-frame wrapper")
        if image.more_echoes:  # frames of several echoes: every such file is read in full
            raise NotAScanError(name, "no template: a file of several echoes")
        super().__init__(buf, spans, used_private_tags(ds), frozenset(_HEADER_INDEX), frozenset({_PER_FRAME}))
        # EchoNumbers and each frame's EffectiveEchoTime are compared byte for byte: a file of another echo
        # is read in full (and becomes its echo's template)
        self._echo = (image.echo, image.echo_time_ms)
        (per_frame,) = [s for s in spans if s.tag == _PER_FRAME]
        self._nested = [s for s in nested_spans(buf, per_frame, name) if s.kind == "element"]
        self._starts = [s.start for s in self._nested]
        self._varying = FRAME_VARYING
        self.pieces = _frame_pieces(self._nested, self._varying, name)
        try:
            self._shape = wrapper.image_shape
            self._order = np.asarray(wrapper.frame_order)
            self._scale = wrapper._scale_data
            self._affine = LPS_TO_RAS @ np.asarray(wrapper.affine, dtype=np.float64)
            self._frames, rows, columns = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
            bits, stored = int(ds.BitsAllocated), int(ds.get("BitsStored", ds.BitsAllocated))
            signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
        except DICOM_DECODE_ERRORS as err:
            raise NotAScanError(name, f"no template: {err!r}") from err
        if len(wrapper.frames) != self._frames:
            raise NotAScanError(name, "no template: frames filtered out by nibabel")
        if bits not in (8, 16, 32) or int(ds.get("SamplesPerPixel", 1) or 1) != 1 or not 0 < stored <= bits:
            raise NotAScanError(name, "no template: not one sample of 8, 16 or 32 bits")
        self._frame_shape = (self._frames, rows, columns)
        self._dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
        self._unused_bits = bits - stored
        if self.pixel_length < self._frames * rows * columns * self._dtype.itemsize:
            raise NotAScanError(name, "no template: PixelData shorter than the frames")
        self._series = series_identity(ds)
        self._dimensions = self._dimension_values(self.buf, self._values_of(self.buf, self.pieces, 0))
        self._piece_lock = threading.Lock()

    def decode(self, buf: bytes, name: str, walked: Walked) -> ScanImage:
        """The volume from the walked file's values and pixels, the rest from the template."""
        return self._volume(buf, name, walked.values, walked.pixel_pos, walked.nested[_PER_FRAME])

    def walk_nested(self, buf: bytes, name: str, value_pos: int, expected: Any) -> tuple[int, object]:
        """The per-frame groups: the template's bytes but for the changing values; those values, by tag."""
        for _ in range(_MAX_LEARNT):
            pieces = self.pieces
            try:
                return self._walk_pieces(buf, value_pos, expected, pieces)
            except _Differs as differs:
                self._learn_private(differs.template_offset, pieces)
        raise Mismatch

    def _walk_pieces(self, buf: bytes, pos: int, expected: Any, pieces: tuple[_Piece, ...]) -> tuple[int, object]:
        template = self.buf
        at = expected.value_pos  # where we are in the template
        found: list[tuple[int, int, int]] = []  # (tag, value start, value end) in the file
        for piece in pieces:
            _compare(buf, pos, template, at, piece.start)
            pos += piece.start - at
            length = int.from_bytes(buf[pos : pos + piece.length_bytes], "little")
            value = pos + piece.length_bytes
            if len(buf) < value + length or piece.length_bytes not in (2, 4):
                raise Mismatch
            found.append((piece.tag, value, value + length))
            pos, at = value + length, piece.end
        _compare(buf, pos, template, at, expected.end)
        return pos + expected.end - at, found

    def _learn_private(self, offset: int, pieces: tuple[_Piece, ...]) -> None:
        """A file differed from the template at ``offset``: its element changes from now on, if it is free."""
        k = bisect.bisect_right(self._starts, offset) - 1
        span = self._nested[k] if k >= 0 else None
        if span is None or not span.length_pos <= offset < span.end or span.vr == b"SQ":
            raise Mismatch
        if not is_free(span.tag, self.used_private) or span.tag in self._varying:
            raise Mismatch
        with self._piece_lock:
            if self.pieces is pieces:
                varying = self._varying | {span.tag}
                self.pieces = _frame_pieces(self._nested, varying, "<template>")
                self._varying = varying

    def _values_of(self, buf: bytes, pieces: tuple[_Piece, ...], shift: int) -> list[tuple[int, int, int]]:
        return [(p.tag, p.start + p.length_bytes + shift, p.end + shift) for p in pieces]

    def _dimension_values(self, buf: bytes, found: list[tuple[int, int, int]]) -> npt.NDArray[np.int64]:
        """Each frame's DimensionIndexValues (a row per frame, in file order)."""
        rows = [np.frombuffer(buf[a:b], dtype="<u4") for tag, a, b in found if tag == _DIMENSION_INDEX]
        if len(rows) != self._frames or len({r.size for r in rows}) != 1:
            raise Mismatch
        return np.stack(rows).astype(np.int64)  # signed: differences of unsigned values wrap

    def _volume(self, buf: bytes, name: str, values: dict[int, Any], pixel_pos: int, nested: Any) -> ScanImage:
        """The volume from the file's pixels and changing values, the rest from the template."""
        if not _same_order(self._dimensions, self._dimension_values(buf, nested)):
            raise Mismatch
        stamps = [_value(buf, _ACQUISITION_DT, "DT", a, b) for tag, a, b in nested if tag == _ACQUISITION_DT]
        if len(stamps) != self._frames:
            raise Mismatch
        count = int(np.prod(self._frame_shape))
        pixels = np.frombuffer(buf, dtype=self._dtype, count=count, offset=pixel_pos).reshape(self._frame_shape)
        if self._unused_bits:  # as pydicom's native decoder: the unused high bits shifted out
            pixels = pixels.copy()
            np.left_shift(pixels, self._unused_bits, out=pixels)
            np.right_shift(pixels, self._unused_bits, out=pixels)
        data = pixels.transpose((1, 2, 0))[..., self._order].reshape(self._shape, order="F")  # nibabel's
        data = np.asarray(self._scale(data))
        while data.ndim > 3 and data.shape[-1] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            raise Mismatch
        header: dict[str, Any] = {}
        for tag, span in values.items():
            header[_HEADER_INDEX[tag]] = _value(buf, tag, None if span.vr is None else span.vr.decode("ascii"),
                                                span.value_pos, span.value_pos + span.length)
        slice_times = None
        if len(self._order) == data.shape[2]:
            slice_times = frame_slice_times_of([stamps[i] for i in self._order])
        return ScanImage(
            data=to_float32(data, name),
            affine=self._affine.copy(),
            header_index=header_index(header),
            slice_times=slice_times,
            series=self._series,
            format=FORMAT,
            echo=self._echo[0],
            echo_time_ms=self._echo[1],
        )


class _Differs(Exception):
    """The file differs from the template at ``template_offset`` (a template byte offset)."""

    def __init__(self, template_offset: int) -> None:
        super().__init__(template_offset)
        self.template_offset = template_offset


def _compare(buf: bytes, pos: int, template: bytes, start: int, end: int) -> None:
    """Raise :class:`_Differs` at the first differing byte unless ``buf[pos:]`` starts with ``template[start:end]``."""
    size = end - start
    if buf[pos : pos + size] == template[start:end]:
        return
    got = np.frombuffer(buf[pos : pos + size], dtype=np.uint8)
    want = np.frombuffer(template[start:end], dtype=np.uint8)[: got.size]
    differ = np.flatnonzero(got != want)
    raise _Differs(start + int(differ[0]) if differ.size else start + got.size)


def _value(buf: bytes, tag: int, vr: str | None, start: int, end: int) -> Any:
    """An element's value as pydicom decodes it from its bytes."""
    raw = RawDataElement(Tag(tag), vr, end - start, bytes(buf[start:end]), start, False, True)
    return convert_raw_data_element(raw).value


def same_scan(a: ScanImage, b: ScanImage) -> bool:
    """Whether two volumes are identical: the arrays bit for bit, and every other field."""
    return (
        a.data.dtype == b.data.dtype
        and a.data.shape == b.data.shape
        and a.data.tobytes() == b.data.tobytes()
        and a.affine.tobytes() == b.affine.tobytes()
        and (a.header_index, a.slice_times, a.series, a.format, a.echo, a.echo_time_ms)
        == (b.header_index, b.slice_times, b.series, b.format, b.echo, b.echo_time_ms)
        and len(a.more_echoes) == len(b.more_echoes)
        and all(same_scan(x, y) for x, y in zip(a.more_echoes, b.more_echoes, strict=True))
    )
