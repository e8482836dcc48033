"""A series' first file as a template of the layout of its further files.

The files of one series carry the same header elements in the same order;
only a few values change from file to file. A :class:`LayoutTemplate` holds
the first file's bytes and where each top-level element lies
(:func:`nfd.acquire._dicom_layout.element_spans`), and walks a further file
along it, each element's header read with the same bounds checks as
:func:`~nfd.acquire._dicom_layout.check_dicom_layout`:

* the elements whose values a reader takes from every file (``read_tags``)
  and the pixel data are located and handed back;
* elements no reader uses (:func:`is_free`: SOP instance UIDs, times, source
  images, frame of reference, slice location, window, group lengths, private elements other than the ones the
  readers use) may differ in value and length;
* ``nested_tags`` elements (a sequence whose items change from file to
  file) are walked by the subclass (:meth:`LayoutTemplate.walk_nested`);
* every other element must be byte for byte the template's: runs of them
  are compared with one ``bytes`` comparison, and an element found to
  differ on a file is walked alone from then on (when it is free);
* the file must end where its last element ends.

Anything else raises :class:`Mismatch` (or the walk's own
IncompleteFileError / NotAScanError): the caller then reads the file in full.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydicom.dataset import Dataset

from nfd.acquire._dicom_header import DICOM_DECODE_ERRORS
from nfd.acquire._dicom_layout import DICOM_PREFIX_END, ElementSpan, ElementWalker
from nfd.acquire._errors import IncompleteFileError, NotAScanError

__all__ = ["FAST_ERRORS", "FREE_TAGS", "LayoutTemplate", "Mismatch", "Walked", "is_free", "used_private_tags"]

PIXEL_DATA = 0x7FE00010

#: Public elements no reader uses, which may differ between the files of a series.
FREE_TAGS: frozenset[int] = frozenset(
    {
        0x00020003,  # MediaStorageSOPInstanceUID
        0x00080012,  # InstanceCreationDate
        0x00080013,  # InstanceCreationTime
        0x00080018,  # SOPInstanceUID
        0x00080022,  # AcquisitionDate
        0x00080023,  # ContentDate
        0x0008002A,  # AcquisitionDateTime
        0x00080032,  # AcquisitionTime
        0x00080033,  # ContentTime
        0x00082112,  # SourceImageSequence (Siemens mosaics: the volume's source images)
        0x00200052,  # FrameOfReferenceUID (one per file in some anonymised Siemens exports)
        0x00201041,  # SliceLocation
        0x00280106,  # SmallestImagePixelValue
        0x00280107,  # LargestImagePixelValue
        0x00281050,  # WindowCenter
        0x00281051,  # WindowWidth
        0x00281055,  # WindowCenterWidthExplanation
    }
)

#: Private elements a reader uses (group, creator, element): never free.
_USED_PRIVATE = (
    (0x0021, "GEMS_RELA_01", 0x4F),
    (0x0043, "GEMS_PARM_01", 0x79),
    (0x0025, "GEMS_SERS_01", 0x1B),
    (0x2001, "Philips Imaging DD 001", 0x18),
    (0x2005, "Philips MR Imaging DD 001", 0x0E),
    (0x0029, "SIEMENS CSA HEADER", 0x10),
    (0x0029, "SIEMENS CSA HEADER", 0x20),
)


class Mismatch(Exception):
    """The file is not laid out as its series' template (read it in full)."""


#: What makes a template read give up (the file is then read in full).
FAST_ERRORS: tuple[type[BaseException], ...] = (Mismatch, IncompleteFileError, NotAScanError, *DICOM_DECODE_ERRORS)


class _Role(enum.Enum):
    RUN = "run"  # template elements compared as one block of bytes
    READ = "read"  # a value read from each file
    FREE = "free"  # skipped by its length
    PIXELS = "pixels"
    NESTED = "nested"  # walked by the subclass


@dataclass(frozen=True)
class _Step:
    role: _Role
    spans: tuple[ElementSpan, ...]

    @property
    def start(self) -> int:
        return self.spans[0].start

    @property
    def end(self) -> int:
        return self.spans[-1].end


@dataclass
class Walked:
    """What a walk found: ``read_tags`` elements, the pixels' offset, nested results, free elements that differed."""

    values: dict[int, ElementSpan] = field(default_factory=dict)
    pixel_pos: int = -1
    nested: dict[int, object] = field(default_factory=dict)
    varying: set[int] = field(default_factory=set)


def is_free(tag: int, used_private: frozenset[int]) -> bool:
    """Whether an element may differ between the files of a series without a reader noticing.

    Group lengths, :data:`FREE_TAGS`, and private data elements (not their
    creators) other than those in ``used_private``.

    Examples
    --------
    >>> is_free(0x00080018, frozenset()), is_free(0x00280030, frozenset())
    (True, False)
    >>> is_free(0x20051010, frozenset()), is_free(0x20050010, frozenset()), is_free(0x2005100E, frozenset({0x2005100E}))
    (True, False, False)
    """
    group, element = tag >> 16, tag & 0xFFFF
    if element == 0x0000 or tag in FREE_TAGS:
        return True
    if group % 2 == 1 and group > 0x0008:
        return element > 0x00FF and tag not in used_private
    return False


def used_private_tags(ds: Dataset) -> frozenset[int]:
    """The tags of the private elements the readers use that ``ds`` has (their block depends on its creators)."""
    tags = set()
    for group, creator, element in _USED_PRIVATE:
        try:
            tags.add(int(ds.private_block(group, creator).get_tag(element)))
        except KeyError:
            continue
    return frozenset(tags)


def _same_element(walker: ElementWalker, pos: int, expected: ElementSpan) -> ElementSpan:
    """The element at ``pos``, which must have the template element's tag and VR."""
    span = walker.element(pos, expected.implicit)
    if span.tag != expected.tag or span.vr != expected.vr:
        raise Mismatch
    return span


#: What a template decodes from a further file (a volume, or a slice).
T = TypeVar("T")


class LayoutTemplate(Generic[T]):
    """The first file of a series, and the walk of a further file along it (see the module documentation).

    A subclass decodes a walked file (:meth:`decode`); :meth:`read` walks
    and decodes, and gives None for any file that must be read in full.

    Parameters
    ----------
    buf : bytes
        The first file's content.
    spans : list of ElementSpan
        Its top-level elements.
    used_private : frozenset of int
        Private elements a reader uses (never free).
    read_tags : frozenset of int
        Elements whose values are taken from every file.
    nested_tags : frozenset of int
        Elements walked by :meth:`walk_nested`.
    """

    def __init__(
        self,
        buf: bytes,
        spans: list[ElementSpan],
        used_private: frozenset[int],
        read_tags: frozenset[int],
        nested_tags: frozenset[int] = frozenset(),
    ) -> None:
        self.buf = bytes(buf)
        self.spans = spans
        self.used_private = used_private
        self.read_tags = read_tags
        self.nested_tags = nested_tags
        self._varying: frozenset[int] = frozenset()
        self.steps = self._steps()
        pixels = [s for s in spans if s.tag == PIXEL_DATA]
        self.pixel_length = pixels[0].length if len(pixels) == 1 else -1
        self._lock = threading.Lock()

    def _steps(self) -> tuple[_Step, ...]:
        """The walk: per-file values, nested elements, pixels and free elements seen to vary alone; runs between."""
        steps: list[_Step] = []
        run: list[ElementSpan] = []
        for span in self.spans:
            role = self._role(span.tag)
            if role is _Role.RUN:
                run.append(span)
                continue
            if run:
                steps.append(_Step(_Role.RUN, tuple(run)))
                run = []
            steps.append(_Step(role, (span,)))
        if run:
            steps.append(_Step(_Role.RUN, tuple(run)))
        return tuple(steps)

    def _role(self, tag: int) -> _Role:
        if tag == PIXEL_DATA:
            return _Role.PIXELS
        if tag in self.read_tags:
            return _Role.READ
        if tag in self.nested_tags:
            return _Role.NESTED
        if tag in self._varying and is_free(tag, self.used_private):
            return _Role.FREE
        return _Role.RUN

    def walk_nested(self, buf: bytes, name: str, value_pos: int, expected: ElementSpan) -> tuple[int, object]:
        """Walk the value of a ``nested_tags`` element of undefined length from ``value_pos``.

        Returns the offset after it (after its delimiter) and what it holds;
        ``expected`` is the template's element.

        Raises
        ------
        Mismatch
            Here, always: subclasses with ``nested_tags`` say how.
        """
        raise Mismatch

    def _nested_at(self, walker: ElementWalker, buf: bytes, name: str, pos: int, expected: ElementSpan,
                   walked: Walked) -> int:
        """The ``nested_tags`` element at ``pos``: its header read here, its value by :meth:`walk_nested`."""
        tag, vr, length, value_pos = walker.header(pos, expected.implicit)
        if tag != expected.tag or vr != expected.vr or length != expected.length or length != 0xFFFFFFFF:
            raise Mismatch
        end, walked.nested[tag] = self.walk_nested(buf, name, value_pos, expected)
        return end

    def walk(self, buf: bytes, name: str) -> Walked:
        """Walk a further file along the template.

        Raises
        ------
        Mismatch, IncompleteFileError, NotAScanError
            When the file is not laid out as the template (see the module documentation).
        """
        if len(buf) < DICOM_PREFIX_END or buf[:DICOM_PREFIX_END] != self.buf[:DICOM_PREFIX_END]:
            raise Mismatch
        walker = ElementWalker(buf, name)
        walked = Walked()
        pos = DICOM_PREFIX_END
        template = self.buf
        for step in self.steps:
            if step.role is _Role.RUN:
                size = step.end - step.start
                if buf[pos : pos + size] == template[step.start : step.end]:
                    pos += size
                else:
                    pos = self._walk_run(walker, buf, pos, step, walked.varying)
                continue
            expected = step.spans[0]
            if step.role is _Role.NESTED:
                pos = self._nested_at(walker, buf, name, pos, expected, walked)
                continue
            span = _same_element(walker, pos, expected)
            if step.role is _Role.READ:
                walked.values[span.tag] = span
            elif step.role is _Role.PIXELS:
                if span.length != self.pixel_length:
                    raise Mismatch
                walked.pixel_pos = span.value_pos
            pos = span.end
        if pos != len(buf) or walked.pixel_pos < 0:
            raise Mismatch
        return walked

    def _walk_run(self, walker: ElementWalker, buf: bytes, pos: int, step: _Step, varying: set[int]) -> int:
        """Walk a run element by element: only free elements may differ from the template's."""
        template = self.buf
        for expected in step.spans:
            span = _same_element(walker, pos, expected)
            if buf[span.start : span.end] != template[expected.start : expected.end]:
                if not is_free(expected.tag, self.used_private):
                    raise Mismatch
                varying.add(expected.tag)
            pos = span.end
        return pos

    def read(self, buf: bytes, name: str) -> T | None:
        """The image in a further file of the series, or None when it must be read in full.

        Never raises for a file of any content: anything unexpected gives
        None (and the caller's full read its own error).
        """
        try:
            walked = self.walk(buf, name)
            image = self.decode(buf, name, walked)
        except FAST_ERRORS:
            return None
        self.learn(walked.varying)
        return image

    def decode(self, buf: bytes, name: str, walked: Walked) -> T:
        """The image of a walked file, from its per-file values and pixels and the template (the subclass's)."""
        raise NotImplementedError

    def learn(self, varying: set[int]) -> None:
        """Walk the free elements a file showed to vary alone from now on (only an optimisation)."""
        if varying - self._varying:
            with self._lock:
                self._varying |= varying
                self.steps = self._steps()
