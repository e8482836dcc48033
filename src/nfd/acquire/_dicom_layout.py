"""Is a DICOM file whole? A walk over its data elements, without decoding them.

pydicom reads a truncated file without complaint (a value cut short is
returned short, an element header cut short ends the data set), so the
completeness of a file still being written is decided here: every data
element, sequence item and pixel-data fragment must lie inside the buffer,
and every undefined-length sequence or item must reach its delimiter.

References
----------
DICOM PS3.5 (Data Structures and Encoding), sections 7.1 (data elements),
7.5 (nesting of data sets), A.4 (encapsulated pixel data); PS3.10 section 7.1
(the 128-byte preamble, ``DICM`` prefix and file meta information).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from nfd.acquire._errors import IncompleteFileError, NotAScanError

__all__ = [
    "DICOM_PREFIX_END",
    "DicomLayout",
    "ElementSpan",
    "ElementWalker",
    "NestedSpan",
    "check_dicom_layout",
    "element_spans",
    "nested_spans",
]

#: Byte offset just after the ``DICM`` prefix (128-byte preamble + 4 bytes).
DICOM_PREFIX_END = 132

_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_TRANSFER_SYNTAX = 0x00020010
_SOP_CLASS = 0x00020002
_UNDEFINED = 0xFFFFFFFF
_MAX_DEPTH = 32

_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")
#: Transfer syntaxes whose pixel data are stored natively (not encapsulated).
NATIVE_TRANSFER_SYNTAXES = frozenset(
    {_IMPLICIT_LE, "1.2.840.10008.1.2.1", _EXPLICIT_BE, *_DEFLATED}
)


@dataclass(frozen=True)
class DicomLayout:
    """What the walk learnt about a structurally complete DICOM file.

    Attributes
    ----------
    transfer_syntax : str or None
        The file meta TransferSyntaxUID (None when absent).
    sop_class : str or None
        The file meta MediaStorageSOPClassUID (None when absent).
    pixel_data_length : int or None
        Length in bytes of the top-level native PixelData value; None when
        there is none or it is encapsulated.
    has_pixel_data : bool
        Whether the top-level data set has a PixelData element.
    n_elements : int
        Number of top-level data elements after the file meta information.
    """

    transfer_syntax: str | None
    sop_class: str | None
    pixel_data_length: int | None
    has_pixel_data: bool
    n_elements: int


def check_dicom_layout(buf: bytes, name: str = "<bytes>") -> DicomLayout:
    """Check that a DICOM Part-10 file holds every byte its elements announce.

    Parameters
    ----------
    buf : bytes
        The whole file content, starting with the 128-byte preamble.
    name : str
        The file name, for error messages.

    Returns
    -------
    DicomLayout
        The transfer syntax, SOP class and pixel-data length found.

    Raises
    ------
    IncompleteFileError
        When the file ends inside the preamble, the file meta information, a
        data element, a sequence item or an undefined-length sequence: a
        file still being written.
    NotAScanError
        When there is no ``DICM`` prefix at byte 128 or the element structure
        is impossible (a corrupt file, not a short one).

    Examples
    --------
    >>> check_dicom_layout(bytes(128) + b"DICM", "x.dcm")
    Traceback (most recent call last):
    ...
    nfd.acquire.IncompleteFileError: x.dcm: ends inside the file meta information at byte 132
    """
    if len(buf) < DICOM_PREFIX_END:
        raise IncompleteFileError(
            name, f"only {len(buf)} bytes, shorter than the 128-byte DICOM preamble and 'DICM'"
        )
    if bytes(buf[128:132]) != b"DICM":
        raise NotAScanError(name, "no 'DICM' prefix at byte 128: not a DICOM Part-10 file")

    transfer_syntax, sop_class, pos = _file_meta(buf, name)
    walker, start = _dataset_walker(buf, name, transfer_syntax, pos)
    walker.walk_dataset(start, depth=0, in_item=False)
    return DicomLayout(
        transfer_syntax=transfer_syntax,
        sop_class=sop_class,
        pixel_data_length=walker.pixel_data_length,
        has_pixel_data=walker.has_pixel_data,
        n_elements=walker.n_top_level,
    )


@dataclass(frozen=True)
class ElementSpan:
    """Where one top-level data element (file meta or data set) lies in a file.

    Attributes
    ----------
    tag : int
        ``group << 16 | element``.
    vr : bytes or None
        Its VR as written (None when implicit).
    start : int
        Offset of its header, bytes.
    value_pos : int
        Offset of its value, bytes.
    length : int
        Its value length as written (``0xFFFFFFFF``: undefined).
    end : int
        Offset just after it (after the delimiter of an undefined length).
    implicit : bool
        Whether its data set is encoded with implicit VR (the VR may still be absent: ``vr`` None).
    """

    tag: int
    vr: bytes | None
    start: int
    value_pos: int
    length: int
    end: int
    implicit: bool


class ElementWalker:
    """Bounds-checked reading of one top-level element at a time of a little-endian file.

    The same checks as :func:`check_dicom_layout` (an element or sequence
    cut short is an :class:`IncompleteFileError`), one element at a time:
    for readers that know which elements to expect.
    """

    def __init__(self, buf: bytes, name: str) -> None:
        self._walker = _Walker(buf, name, little=True, implicit=False)

    def header(self, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
        """Tag, VR (None when implicit), value length and value offset of the element at ``pos`` (its header alone)."""
        return self._walker.element_header(pos, implicit)

    def element(self, pos: int, implicit: bool) -> ElementSpan:
        """The element whose header starts at ``pos``, its value (or nested items) within the buffer."""
        w = self._walker
        tag, vr, length, value_pos = w.element_header(pos, implicit)
        end = w._walk_value(tag, vr, length, value_pos, depth=0, implicit=implicit)
        return ElementSpan(tag, vr, pos, value_pos, length, end, implicit)


@dataclass(frozen=True)
class NestedSpan:
    """An element, item or sequence inside a sequence's value, as :func:`nested_spans` finds it.

    Attributes
    ----------
    kind : {"element", "item"}
        A data element (a sequence is one, with nested spans after it), or a sequence item.
    tag : int
        The element's tag (``0xFFFEE000`` for an item).
    vr : bytes or None
        The element's VR as written (None for an item or implicit VR).
    start : int
        Offset of its header, bytes.
    length_pos : int
        Offset of its length field (2 bytes for short explicit VRs, else 4).
    value_pos : int
        Offset of its value or content, bytes.
    length : int
        Its length as written (``0xFFFFFFFF``: undefined).
    end : int
        Offset just after it (after its delimiter when of undefined length).
    depth : int
        Nesting depth: 1 for the items of the walked sequence.
    """

    kind: str
    tag: int
    vr: bytes | None
    start: int
    length_pos: int
    value_pos: int
    length: int
    end: int
    depth: int


def nested_spans(buf: bytes, span: ElementSpan, name: str = "<bytes>", max_spans: int = 200_000) -> list[NestedSpan]:
    """Every item and element inside a little-endian sequence element, defined lengths or not, in file order.

    Raises
    ------
    IncompleteFileError, NotAScanError
        As :func:`check_dicom_layout`; NotAScanError also beyond ``max_spans``
        spans or :data:`_MAX_DEPTH` levels.
    """
    walker = _Walker(buf, name, little=True, implicit=span.implicit)
    found: list[NestedSpan] = []
    end = span.end if span.length == _UNDEFINED else span.value_pos + span.length
    _nested_items(walker, span.value_pos, end, 1, span.implicit, found, max_spans)
    return found


def _nested_items(
    w: _Walker, pos: int, end: int, depth: int, implicit: bool, found: list[NestedSpan], max_spans: int
) -> None:
    """The items of a sequence value from ``pos`` to ``end`` (its delimiter included when undefined)."""
    if depth > _MAX_DEPTH:
        raise NotAScanError(w.name, f"sequences nested deeper than {_MAX_DEPTH} levels")
    while pos < end:
        tag, length, value_pos = w._item_header(pos)
        if tag == _SEQUENCE_END:
            return
        if tag != _ITEM:
            raise NotAScanError(w.name, f"expected a sequence item at byte {pos}, found tag {_tag_str(tag)}")
        item_end = w.walk_dataset(value_pos, depth=depth, in_item=True, implicit=implicit) if length == _UNDEFINED \
            else w.value_end(tag, value_pos, length)
        found.append(NestedSpan("item", tag, None, pos, pos + 4, value_pos, length, item_end, depth))
        content_end = item_end - 8 if length == _UNDEFINED else item_end
        _nested_elements(w, value_pos, content_end, depth, implicit, found, max_spans)
        pos = item_end
        if len(found) > max_spans:
            raise NotAScanError(w.name, f"more than {max_spans} nested elements")


def _nested_elements(
    w: _Walker, pos: int, end: int, depth: int, implicit: bool, found: list[NestedSpan], max_spans: int
) -> None:
    """The elements of an item's content from ``pos`` to ``end``, and what nests in their sequences."""
    while pos < end:
        tag, vr, length, value_pos = w.element_header(pos, implicit)
        long_length = vr is None or vr in _LONG_VRS
        element_end = w._walk_value(tag, vr, length, value_pos, depth=depth, implicit=implicit)
        length_pos = pos + (4 if vr is None else 8 if long_length else 6)
        found.append(NestedSpan("element", tag, vr, pos, length_pos, value_pos, length, element_end, depth))
        if vr == b"SQ" or (vr is None and length == _UNDEFINED):
            value_end = element_end - 8 if length == _UNDEFINED else element_end
            _nested_items(w, value_pos, value_end + (8 if length == _UNDEFINED else 0), depth + 1,
                          implicit, found, max_spans)
        pos = element_end


def element_spans(buf: bytes, name: str = "<bytes>") -> tuple[str | None, list[ElementSpan]]:
    """The transfer syntax and the top-level elements (file meta, then data set) of a little-endian file.

    Raises
    ------
    IncompleteFileError, NotAScanError
        As :func:`check_dicom_layout`; also NotAScanError for a deflated or
        big-endian data set, which this walk does not take.
    """
    layout = check_dicom_layout(buf, name)
    syntax = layout.transfer_syntax
    if syntax in _DEFLATED or syntax == _EXPLICIT_BE:
        raise NotAScanError(name, f"transfer syntax {syntax}: not walked element by element")
    walker = ElementWalker(buf, name)
    spans: list[ElementSpan] = []
    pos = DICOM_PREFIX_END
    implicit = False
    while pos < len(buf):
        if not implicit and walker._walker.u16(pos) != 0x0002:
            implicit = syntax == _IMPLICIT_LE or (syntax is None and not _is_vr(bytes(buf[pos + 4 : pos + 6])))
        span = walker.element(pos, implicit)
        spans.append(span)
        pos = span.end
    return syntax, spans


def _file_meta(buf: bytes, name: str) -> tuple[str | None, str | None, int]:
    """Walk the group-0002 file meta information after 'DICM'.

    Returns the transfer syntax and SOP class UIDs (None when absent) and the
    offset of the data set after it.
    """
    meta = _Walker(buf, name, little=True, implicit=False)
    pos = DICOM_PREFIX_END
    transfer_syntax: str | None = None
    sop_class: str | None = None
    while True:
        if len(buf) - pos < 8:
            raise IncompleteFileError(
                name, f"ends inside the file meta information at byte {len(buf)}"
            )
        if meta.u16(pos) != 0x0002:
            return transfer_syntax, sop_class, pos
        tag, _, length, value_pos = meta.element_header(pos)
        if length == _UNDEFINED:
            raise NotAScanError(name, f"file meta element {_tag_str(tag)} has an undefined length")
        end = meta.value_end(tag, value_pos, length)
        if tag == _TRANSFER_SYNTAX:
            transfer_syntax = _uid(buf[value_pos:end])
        elif tag == _SOP_CLASS:
            sop_class = _uid(buf[value_pos:end])
        pos = end


def _dataset_walker(buf: bytes, name: str, transfer_syntax: str | None, pos: int) -> tuple[_Walker, int]:
    """A walker over the data set starting at ``pos``, encoded as ``transfer_syntax`` says, and its start.

    A deflated data set is inflated first (the walk is then over the inflated
    bytes, from 0); without a transfer syntax, implicit VR is recognised by
    the first element's VR field.
    """
    if transfer_syntax in _DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            body = inflater.decompress(bytes(buf[pos:]))
        except zlib.error as err:
            raise NotAScanError(name, f"deflated data set does not inflate: {err}") from err
        if not inflater.eof:
            raise IncompleteFileError(name, "the deflated data set ends before its end-of-stream")
        return _Walker(body, name, little=True, implicit=False), 0
    if transfer_syntax is not None:
        implicit = transfer_syntax == _IMPLICIT_LE
    else:  # no transfer syntax: implicit VR when the first element has no VR field
        implicit = not _is_vr(bytes(buf[pos + 4 : pos + 6]))
    return _Walker(buf, name, little=transfer_syntax != _EXPLICIT_BE, implicit=implicit), pos


class _Walker:
    """Bounds-checked walk over the data elements of one encoded data set."""

    def __init__(self, buf: bytes, name: str, *, little: bool, implicit: bool) -> None:
        self.buf = buf
        self.end = len(buf)
        self.name = name
        self.implicit = implicit
        order = "<" if little else ">"
        self._u16 = struct.Struct(f"{order}H").unpack_from
        self._u32 = struct.Struct(f"{order}L").unpack_from
        self._tag = struct.Struct(f"{order}HH").unpack_from
        self.pixel_data_length: int | None = None
        self.has_pixel_data = False
        self.n_top_level = 0

    def u16(self, pos: int) -> int:
        value: int = self._u16(self.buf, pos)[0]
        return value

    def _need(self, pos: int, n: int, what: str) -> None:
        if self.end - pos < n:
            raise IncompleteFileError(self.name, f"ends inside {what} at byte {self.end}")

    def element_header(
        self, pos: int, implicit: bool = False
    ) -> tuple[int, bytes | None, int, int]:
        """Tag, VR (None when implicit), value length and value offset of the element at ``pos``."""
        self._need(pos, 8, "a data element header")
        group, element = self._tag(self.buf, pos)
        tag = group << 16 | element
        if group == 0xFFFE or implicit:
            return tag, None, self._u32(self.buf, pos + 4)[0], pos + 8
        vr = bytes(self.buf[pos + 4 : pos + 6])
        if vr in _LONG_VRS:
            self._need(pos, 12, f"the header of element {_tag_str(tag)}")
            return tag, vr, self._u32(self.buf, pos + 8)[0], pos + 12
        if _is_vr(vr):
            return tag, vr, self._u16(self.buf, pos + 6)[0], pos + 8
        # Not a VR: some writers switch to implicit VR inside explicit data
        # sets; read the element as implicit, as pydicom does.
        return tag, None, self._u32(self.buf, pos + 4)[0], pos + 8

    def value_end(self, tag: int, value_pos: int, length: int) -> int:
        end = value_pos + length
        if end > self.end:
            raise IncompleteFileError(
                self.name,
                f"ends inside the value of element {_tag_str(tag)} at byte {self.end} "
                f"({length} bytes announced from byte {value_pos})",
            )
        return end

    def walk_dataset(
        self, pos: int, *, depth: int, in_item: bool, implicit: bool | None = None
    ) -> int:
        """Walk a data set from ``pos``; return the offset after it (after its item delimiter)."""
        if depth > _MAX_DEPTH:
            raise NotAScanError(self.name, f"sequences nested deeper than {_MAX_DEPTH} levels")
        implicit = self.implicit if implicit is None else implicit
        while True:
            if pos == self.end:
                if in_item:
                    raise IncompleteFileError(
                        self.name, f"ends inside an undefined-length sequence item at byte {pos}"
                    )
                return pos
            tag, vr, length, value_pos = self.element_header(pos, implicit)
            if tag == _ITEM_END:
                if in_item:
                    return value_pos
                raise NotAScanError(self.name, f"item delimiter outside any item at byte {pos}")
            if tag in (_ITEM, _SEQUENCE_END):
                raise NotAScanError(
                    self.name, f"sequence tag {_tag_str(tag)} outside a sequence at byte {pos}"
                )
            if depth == 0:
                self.n_top_level += 1
            pos = self._walk_value(tag, vr, length, value_pos, depth=depth, implicit=implicit)

    def _walk_value(
        self, tag: int, vr: bytes | None, length: int, value_pos: int, *, depth: int, implicit: bool
    ) -> int:
        """Walk one element's value (fragments, a sequence, or ``length`` bytes); return the offset after it."""
        if length == _UNDEFINED:
            if tag == _PIXEL_DATA or vr in (b"OB", b"OW"):
                pos = self.walk_fragments(value_pos)
            elif vr is None or vr in (b"SQ", b"UN"):
                # An undefined-length UN holds an implicit VR little-endian sequence.
                nested_implicit = implicit or vr == b"UN"
                pos = self.walk_sequence(value_pos, depth=depth + 1, implicit=nested_implicit)
            else:
                raise NotAScanError(
                    self.name, f"element {_tag_str(tag)} of VR {vr!r} has an undefined length"
                )
            if tag == _PIXEL_DATA and depth == 0:
                self.has_pixel_data = True
            return pos
        pos = self.value_end(tag, value_pos, length)
        if tag == _PIXEL_DATA and depth == 0:
            self.has_pixel_data = True
            self.pixel_data_length = length
        return pos

    def _item_header(self, pos: int) -> tuple[int, int, int]:
        self._need(pos, 8, "a sequence item header")
        group, element = self._tag(self.buf, pos)
        return group << 16 | element, self._u32(self.buf, pos + 4)[0], pos + 8

    def walk_sequence(self, pos: int, *, depth: int, implicit: bool) -> int:
        """Walk the items of an undefined-length sequence; return the offset after its delimiter."""
        while True:
            tag, length, value_pos = self._item_header(pos)
            if tag == _SEQUENCE_END:
                return value_pos
            if tag != _ITEM:
                raise NotAScanError(
                    self.name, f"expected a sequence item at byte {pos}, found tag {_tag_str(tag)}"
                )
            if length == _UNDEFINED:
                pos = self.walk_dataset(value_pos, depth=depth, in_item=True, implicit=implicit)
            else:
                pos = self.value_end(tag, value_pos, length)

    def walk_fragments(self, pos: int) -> int:
        """Walk encapsulated pixel-data fragments; return the offset after the delimiter."""
        while True:
            tag, length, value_pos = self._item_header(pos)
            if tag == _SEQUENCE_END:
                return value_pos
            if tag != _ITEM or length == _UNDEFINED:
                raise NotAScanError(
                    self.name, f"malformed encapsulated pixel data fragment at byte {pos}"
                )
            pos = self.value_end(tag, value_pos, length)


def _is_vr(vr: bytes) -> bool:
    return len(vr) == 2 and 0x41 <= vr[0] <= 0x5A and 0x41 <= vr[1] <= 0x5A


def _uid(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\x00 ").decode("ascii", errors="replace")


def _tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
