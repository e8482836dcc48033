"""One scan file to one volume: recognise the format from the content, then read it.

The format is recognised from the bytes, never from the extension alone:
``DICM`` at byte 128 is DICOM Part 10; ``sizeof_hdr`` 348 or 540 at byte 0 is
NIfTI-1 or NIfTI-2; the gzip magic ``1f 8b`` is decompressed and looked at
again (``.nii.gz``, gzipped DICOM). A buffer too short to tell (an empty or
just-created file, a zero-filled DICOM preamble) is incomplete, not foreign.

Decompression is bounded, so that a small gzip bomb named like a volume costs
no memory: the stream is inflated in chunks, and once its first 544 bytes are
out, a NIfTI is inflated no further than the size its header implies
(``vox_offset`` + voxel data) plus :data:`NIFTI_INFLATE_SLACK`, content that
is neither NIfTI nor DICOM not at all further, and a DICOM no further than a
cap (``max_inflated``, by default :data:`MAX_INFLATED_BYTES`). Beyond the
bound the file is refused (:class:`NotAScanError`).
"""

from __future__ import annotations

import zlib
from pathlib import Path

from nfd.acquire._dicom import read_dicom_part_bytes
from nfd.acquire._dicom_layout import DICOM_PREFIX_END
from nfd.acquire._echoes import with_nifti_echo
from nfd.acquire._errors import IncompleteFileError, NotAScanError
from nfd.acquire._image import ScanImage
from nfd.acquire._nifti import NIFTI2_HEADER_SIZE, nifti_header_size, nifti_implied_size, read_nifti_bytes
from nfd.acquire._slices import SliceImage, SliceOptions, VolumeFrom

__all__ = [
    "MAX_INFLATED_BYTES",
    "NIFTI_INFLATE_SLACK",
    "read_part_bytes",
    "read_scan",
    "read_scan_bytes",
    "read_slice",
    "read_slice_bytes",
]

_GZIP_MAGIC = b"\x1f\x8b"
# TIFF headers are the one common non-zero DICOM preamble (dual-format files).
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*")

#: Default cap on what a gzip stream may inflate to, bytes (512 MB, the
#: default of ``[acquire] max_file_mb``); a NIfTI's own bound is tighter.
MAX_INFLATED_BYTES = 512 * 10**6
#: Bytes a gzipped NIfTI may inflate to beyond the size its header implies.
NIFTI_INFLATE_SLACK = 10**6
# Inflated bytes looked at before the rest is inflated: a NIfTI-2 header and
# its extension flag; also past DICOM's 'DICM' at byte 128.
_HEAD = NIFTI2_HEADER_SIZE + 4
# Inflated bytes asked of zlib at a time.
_CHUNK = 1 << 20


def read_scan(path: str | Path) -> ScanImage:
    """Read the 3-D volume in one scan file.

    Blocking (file I/O and decoding, a few ms for a 74x74x36 mosaic): call
    it from a thread in an event loop.

    Parameters
    ----------
    path : str or Path
        A Siemens mosaic or enhanced MR DICOM file, or a NIfTI-1/2 file
        (``.nii`` or ``.nii.gz``) holding one 3-D volume.

    Returns
    -------
    ScanImage
        float32 data [i, j, k] with scaling applied, the voxel-to-mm RAS+
        affine, and the header's acquisition index, slice times (s) and series.

    Raises
    ------
    IncompleteFileError
        The file is a recognisable scan but shorter than its header implies
        (it may still be being written).
    NotAScanError
        The file is not a scan volume (random bytes, text, a DICOM without
        an image, a 4-D NIfTI...).
    OSError
        The file cannot be read (missing, permissions).

    Examples
    --------
    >>> import tempfile, os, nibabel as nib, numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "vol.nii.gz")
    >>> nib.save(nib.Nifti1Image(np.ones((4, 5, 6), np.int16), np.diag([2.0, 2, 3, 1])), path)
    >>> img = read_scan(path)
    >>> img.data.shape, img.data.dtype.name, img.zooms
    ((4, 5, 6), 'float32', (2.0, 2.0, 3.0))
    """
    path = Path(path)
    return read_scan_bytes(path.read_bytes(), str(path))


def read_scan_bytes(buf: bytes, name: str = "<bytes>") -> ScanImage:
    """Read the 3-D volume in the content of a scan file.

    Parameters
    ----------
    buf : bytes
        The whole file content.
    name : str
        The file name, for error messages.

    Returns
    -------
    ScanImage
        See :func:`read_scan`.

    Raises
    ------
    IncompleteFileError, NotAScanError
        See :func:`read_scan`.

    Examples
    --------
    >>> read_scan_bytes(b"", "empty.dcm")
    Traceback (most recent call last):
    ...
    nfd.acquire.IncompleteFileError: empty.dcm: empty file
    >>> read_scan_bytes(b"hello, world" * 20, "notes.txt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nfd.acquire.NotAScanError: notes.txt: neither DICOM ('DICM' at byte 128), ...
    """
    image = _read(buf, name, decompressed=False, slices=None)
    assert isinstance(image, ScanImage)
    return image


def read_slice(
    path: str | Path, *, slices_per_volume: int | None = None, volume_from: VolumeFrom = "auto", echoes: int = 1
) -> SliceImage:
    """Read the slice in one file of a single-slice-per-file DICOM series (GE, Philips).

    Blocking: call it from a thread in an event loop.

    Parameters
    ----------
    path : str or Path
        One DICOM file holding one 2-D slice.
    slices_per_volume : int, optional
        Slices per volume; by default from the header (GE
        LocationsInAcquisition, Philips NumberOfSlicesMR, ImagesInAcquisition).
    volume_from : {"auto", "temporal_position", "acquisition_number", "instance_number"}
        Which header field gives the slice's volume (see
        :func:`nfd.acquire.assemble_volume`'s module documentation).
    echoes : int
        Echoes per volume of a multi-echo series (one file per slice and
        echo; the ``"instance_number"`` rule counts ``slices * echoes`` files
        per volume).

    Returns
    -------
    SliceImage
        The pixels (float32, scaled), the slice's affine, its position along
        the normal (mm), its volume number and the volume's slice count, its
        echo number and echo time (EchoNumbers, EchoTime) when the header has them.

    Raises
    ------
    IncompleteFileError
        The file is shorter than its elements announce.
    NotAScanError
        The file is not one slice of a series (a volume, random bytes, no
        slice count...).
    OSError
        The file cannot be read.
    """
    path = Path(path)
    return read_slice_bytes(
        path.read_bytes(), str(path), slices_per_volume=slices_per_volume, volume_from=volume_from, echoes=echoes
    )


def read_slice_bytes(
    buf: bytes,
    name: str = "<bytes>",
    *,
    slices_per_volume: int | None = None,
    volume_from: VolumeFrom = "auto",
    echoes: int = 1,
) -> SliceImage:
    """Read the slice in the content of a single-slice DICOM file (see :func:`read_slice`).

    Examples
    --------
    >>> read_slice_bytes(b"", "empty.dcm")
    Traceback (most recent call last):
    ...
    nfd.acquire.IncompleteFileError: empty.dcm: empty file
    """
    options = SliceOptions(slices_per_volume=slices_per_volume, volume_from=volume_from, echoes=echoes)
    part = _read(buf, name, decompressed=False, slices=options)
    if not isinstance(part, SliceImage):
        raise NotAScanError(
            name, f"a whole volume ({part.format}), not one slice of a single-slice series"
        )
    return part


def read_part_bytes(
    buf: bytes, name: str, slices: SliceOptions, max_inflated: int = MAX_INFLATED_BYTES
) -> ScanImage | SliceImage:
    """A volume, or one slice of a single-slice series, from a file's content.

    What the watch folder reads every file with; see :func:`read_scan_bytes`
    and :func:`read_slice_bytes` for the errors. ``max_inflated`` (bytes)
    caps what gzipped content may inflate to (a NIfTI's header bounds it
    tighter); beyond it the file is a :class:`NotAScanError`.
    """
    return _read(buf, name, decompressed=False, slices=slices, max_inflated=max_inflated)


def _read(
    buf: bytes,
    name: str,
    *,
    decompressed: bool,
    slices: SliceOptions | None,
    max_inflated: int = MAX_INFLATED_BYTES,
) -> ScanImage | SliceImage:
    size = len(buf)
    if size == 0:
        raise IncompleteFileError(name, "gzip stream is empty" if decompressed else "empty file")
    if size >= DICOM_PREFIX_END and bytes(buf[128:DICOM_PREFIX_END]) == b"DICM":
        return read_dicom_part_bytes(buf, name, slices)
    if nifti_header_size(buf) is not None:
        return with_nifti_echo(read_nifti_bytes(buf, name), name)
    if not decompressed and bytes(buf[:2]) == _GZIP_MAGIC[:size]:
        return _read(_BoundedGunzip(name, max_inflated).run(buf), name, decompressed=True, slices=slices)
    if size < DICOM_PREFIX_END and _could_start_dicom(buf):
        raise IncompleteFileError(
            name, f"only {size} bytes, inside what can be a DICOM preamble (128 bytes + 'DICM')"
        )
    raise NotAScanError(
        name, "neither DICOM ('DICM' at byte 128), NIfTI (sizeof_hdr 348 or 540) nor gzip"
    )


def _could_start_dicom(prefix: bytes) -> bool:
    """Whether a buffer shorter than 132 bytes can be the start of a DICOM file.

    The preamble must be all zeros (the usual) or start like a TIFF header,
    and what follows byte 128 must be the start of ``DICM``.
    """
    preamble, after = bytes(prefix[:128]), bytes(prefix[128:])
    if not b"DICM".startswith(after):
        return False
    head = preamble[:4]
    if any(magic.startswith(head) or head.startswith(magic) for magic in _TIFF_MAGICS):
        return True
    return not any(preamble)


class _BoundedGunzip:
    """Inflate every member of a gzip stream in chunks, never beyond a bound.

    Parameters
    ----------
    name : str
        The file name, for error messages.
    max_inflated : int
        Bytes the stream may inflate to at most; once the first ``_HEAD``
        bytes are out, a NIfTI header lowers it to the size it implies plus
        :data:`NIFTI_INFLATE_SLACK`, and content that is neither NIfTI nor
        DICOM stops the inflating there (the caller then says what it is).
    """

    def __init__(self, name: str, max_inflated: int) -> None:
        self.name = name
        self.limit = max_inflated
        self.why = f"the cap of {max_inflated} bytes"
        self.parts: list[bytes] = []
        self.total = 0
        self.decided = False
        self.stopped = False

    def run(self, buf: bytes) -> bytes:
        """The inflated content of ``buf`` (a stream cut short is an incomplete file)."""
        rest = bytes(buf)
        while True:
            rest = self._member(rest)
            if self.stopped or not rest or not any(rest):
                return b"".join(self.parts)
            if not rest.startswith(_GZIP_MAGIC[: len(rest)]):
                raise NotAScanError(self.name, f"{len(rest)} bytes of garbage after the gzip stream")

    def _member(self, data: bytes) -> bytes:
        """Inflate one gzip member; what follows it in ``data``."""
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while not inflater.eof:
            want = _HEAD - self.total if not self.decided else min(_CHUNK, self.limit + 1 - self.total)
            try:
                chunk = inflater.decompress(data, want)
            except zlib.error as err:
                raise NotAScanError(self.name, f"gzip data do not decompress: {err}") from err
            data = inflater.unconsumed_tail
            self._take(chunk)
            if self.stopped:
                return b""
            if not inflater.eof and not data and len(chunk) < want:
                raise IncompleteFileError(
                    self.name, "the gzip stream ends early (file still being written?)"
                )
        return inflater.unused_data

    def _take(self, chunk: bytes) -> None:
        """Keep an inflated chunk; refuse the file beyond the bound; judge the head once it is out."""
        self.parts.append(chunk)
        self.total += len(chunk)
        if self.total > self.limit:
            raise NotAScanError(
                self.name,
                f"gzip data inflate beyond {self.limit} bytes ({self.why}): refused before inflating further",
            )
        if not self.decided and self.total >= _HEAD:
            self._decide(b"".join(self.parts))

    def _decide(self, head: bytes) -> None:
        """Set the bound from the first inflated bytes."""
        self.decided = True
        if nifti_header_size(head) is not None:
            implied = nifti_implied_size(head, self.name)
            if implied > self.limit:
                raise NotAScanError(
                    self.name, f"the NIfTI header implies {implied} bytes, beyond {self.why}"
                )
            self.limit = implied + NIFTI_INFLATE_SLACK
            self.why = f"the NIfTI header implies {implied}, plus {NIFTI_INFLATE_SLACK} bytes of slack"
        elif head[128:DICOM_PREFIX_END] != b"DICM":
            self.stopped = True  # neither NIfTI nor DICOM: the head alone tells
