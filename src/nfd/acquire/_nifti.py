"""NIfTI-1 and NIfTI-2 single-file volumes (``.nii``), read from bytes.

The header (parsed with nibabel) says how long the file must be:
``vox_offset + prod(dim) * itemsize`` bytes; a shorter buffer is a file still
being written. Compressed ``.nii.gz`` files are decompressed by
:mod:`nfd.acquire._reader` before they get here, never beyond the size their
header implies (:func:`nifti_implied_size`) plus a little slack.

References
----------
Cox RW et al. (2004) A (sort of) new image data format standard: NIfTI-1.
https://nifti.nimh.nih.gov/nifti-1 ; NIfTI-2: https://nifti.nimh.nih.gov/nifti-2
"""

from __future__ import annotations

import math
import struct

import numpy as np
from nibabel.nifti1 import Nifti1Header, data_type_codes
from nibabel.nifti2 import Nifti2Header
from nibabel.spatialimages import HeaderDataError

from nfd.acquire._errors import IncompleteFileError, NotAScanError
from nfd.acquire._image import ScanImage

__all__ = ["NIFTI1_HEADER_SIZE", "NIFTI2_HEADER_SIZE", "nifti_header_size", "nifti_implied_size", "read_nifti_bytes"]

#: ``sizeof_hdr`` of a NIfTI-1 header, bytes.
NIFTI1_HEADER_SIZE = 348
#: ``sizeof_hdr`` of a NIfTI-2 header, bytes.
NIFTI2_HEADER_SIZE = 540

_N1_SINGLE = b"n+1\x00"
_N1_PAIR = b"ni1\x00"
_N2_SINGLE = b"n+2\x00\r\n\x1a\n"
_N2_PAIR = b"ni2\x00\r\n\x1a\n"

# Seconds per unit of the NIfTI ``xyzt_units`` time field, as nibabel names them.
_SECONDS_PER_TIME_UNIT = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


def nifti_header_size(prefix: bytes) -> int | None:
    """The NIfTI header size announced by the first bytes of a buffer.

    Parameters
    ----------
    prefix : bytes
        The start of a file; fewer than 4 bytes are compared as a prefix.

    Returns
    -------
    int or None
        348 (NIfTI-1) or 540 (NIfTI-2) when ``sizeof_hdr`` (int32, either
        byte order) says so, or when a prefix shorter than 4 bytes is
        consistent with one of them; None otherwise.
    """
    head = bytes(prefix[:4])
    for size in (NIFTI1_HEADER_SIZE, NIFTI2_HEADER_SIZE):
        for order in "<>":
            if struct.pack(f"{order}i", size).startswith(head):
                return size
    return None


def read_nifti_bytes(buf: bytes, name: str = "<bytes>") -> ScanImage:
    """Read one 3-D volume from the bytes of a single-file NIfTI-1/2 image.

    Parameters
    ----------
    buf : bytes
        The whole (uncompressed) file content.
    name : str
        The file name, for error messages.

    Returns
    -------
    ScanImage
        float32 data with ``scl_slope``/``scl_inter`` applied; the affine is
        the header's best affine (sform, else qform, else voxel sizes), voxel
        to mm in RAS+; slice times in seconds when the header defines them
        along ``k`` (``slice_code``, ``slice_duration``, ``dim_info``).

    Raises
    ------
    IncompleteFileError
        When the buffer is shorter than the header, or than
        ``vox_offset + prod(dim) * itemsize``.
    NotAScanError
        When the header is not a single-file NIfTI of one 3-D real-valued
        volume, or its ``scl_slope``/``scl_inter`` take finite voxels beyond
        the float32 range.

    Examples
    --------
    >>> import io, nibabel as nib, numpy as np
    >>> img = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    >>> raw = img.to_bytes()
    >>> vol = read_nifti_bytes(raw, "example.nii")
    >>> vol.data.shape, vol.data.dtype.name, float(vol.data[1, 2, 3])
    ((2, 3, 4), 'float32', 23.0)
    >>> read_nifti_bytes(raw[:380], "example.nii")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nfd.acquire.IncompleteFileError: example.nii: 380 bytes, the header implies 400 ...
    """
    header, fmt, shape, dtype, offset = _layout(buf, name)
    n_voxels = math.prod(shape)
    end = offset + n_voxels * dtype.itemsize
    if len(buf) < end:
        raise IncompleteFileError(
            name,
            f"{len(buf)} bytes, the header implies {end} (vox_offset {offset} + "
            f"{'x'.join(map(str, shape))} voxels x {dtype.itemsize} bytes)",
        )
    raw = np.frombuffer(buf, dtype=dtype, count=n_voxels, offset=offset).reshape(shape, order="F")
    data = _scaled(raw, header, name)
    affine = np.asarray(header.get_best_affine(), dtype=np.float64)
    if not np.all(np.isfinite(affine)):
        raise NotAScanError(name, "the header's affine has non-finite values")
    return ScanImage(
        data=data,
        affine=affine,
        header_index=None,
        slice_times=_slice_times(header),
        series=None,
        format=fmt,
    )


def nifti_implied_size(buf: bytes, name: str = "<bytes>") -> int:
    """The size of a single-file NIfTI volume as its header implies it.

    Parameters
    ----------
    buf : bytes
        The start of the (uncompressed) file: at least its header (348
        bytes for NIfTI-1, 540 for NIfTI-2).
    name : str
        The file name, for error messages.

    Returns
    -------
    int
        ``vox_offset + prod(dim) * itemsize``, bytes: where the voxel data
        end.

    Raises
    ------
    IncompleteFileError
        When ``buf`` is shorter than the header.
    NotAScanError
        When the header is not a single-file NIfTI of one 3-D real-valued
        volume (as :func:`read_nifti_bytes`).

    Examples
    --------
    >>> import nibabel as nib, numpy as np
    >>> raw = nib.Nifti1Image(np.zeros((2, 3, 4), np.int16), np.eye(4)).to_bytes()
    >>> nifti_implied_size(raw[:348], "example.nii"), len(raw)
    (400, 400)
    """
    _, _, shape, dtype, offset = _layout(buf, name)
    return offset + math.prod(shape) * dtype.itemsize


def _layout(buf: bytes, name: str) -> tuple[Nifti1Header, str, tuple[int, int, int], np.dtype, int]:
    """The header, format name, 3-D shape, voxel dtype and data offset (bytes) of a single-file NIfTI volume."""
    header, size, fmt = _parse_header(buf, name)
    shape = _volume_shape(header, name)
    dtype = _voxel_dtype(header, fmt, name)
    return header, fmt, shape, dtype, _data_offset(header, size, name)


def _parse_header(buf: bytes, name: str) -> tuple[Nifti1Header, int, str]:
    """The single-file NIfTI header at the start of ``buf``, its size (bytes) and format name.

    Raises IncompleteFileError when ``buf`` is shorter than the header, and
    NotAScanError when it is no NIfTI, a .hdr/.img pair's header, or unreadable.
    """
    size = nifti_header_size(buf)
    if size is None:
        raise NotAScanError(name, "not a NIfTI file: sizeof_hdr is neither 348 nor 540")
    if len(buf) < size:
        raise IncompleteFileError(
            name, f"only {len(buf)} bytes, shorter than the {size}-byte NIfTI header"
        )
    if size == NIFTI1_HEADER_SIZE:
        magic = bytes(buf[344:348])
        header_class: type[Nifti1Header] = Nifti1Header
        single, pair, fmt = _N1_SINGLE, _N1_PAIR, "nifti1"
    else:
        magic = bytes(buf[4:12])
        header_class = Nifti2Header
        single, pair, fmt = _N2_SINGLE, _N2_PAIR, "nifti2"
    if magic == pair:
        raise NotAScanError(
            name,
            f"{fmt} header of a .hdr/.img pair: expected a single-file image (magic {single!r})",
        )
    if magic != single:
        raise NotAScanError(
            name,
            f"no NIfTI magic (found {magic!r}, expected {single!r}): Analyze or corrupt header",
        )
    # The byte order is the one sizeof_hdr was found in: nibabel would guess
    # it from dim[0] and read a damaged dim[0] (8, 768...) as a byte-swapped
    # header, whose every field is then garbage.
    order = "<" if struct.unpack_from("<i", buf)[0] == size else ">"
    try:
        header = header_class(bytes(buf[:size]), endianness=order, check=False)
    except (HeaderDataError, ValueError) as err:
        raise NotAScanError(name, f"unreadable {fmt} header: {err}") from err
    return header, size, fmt


def _voxel_dtype(header: Nifti1Header, fmt: str, name: str) -> np.dtype:
    """The voxels' dtype (an integer or float type), from the header's datatype code."""
    try:
        dtype = header.get_data_dtype()
    except (HeaderDataError, KeyError) as err:
        raise NotAScanError(name, f"unknown {fmt} datatype code: {err}") from err
    if dtype.kind not in "uif" or dtype.fields is not None:
        code = int(header["datatype"])
        raise NotAScanError(
            name,
            f"datatype {code} ({data_type_codes.label[code]}), voxel type {dtype}, is not a "
            "real number type (expected integer or float)",
        )
    return dtype


def _data_offset(header: Nifti1Header, size: int, name: str) -> int:
    """Where the voxels start, bytes from the start of the file."""
    vox_offset = float(header["vox_offset"])
    if not math.isfinite(vox_offset):
        raise NotAScanError(name, f"vox_offset {vox_offset} is not a finite byte offset")
    # The data of a single-file image start after the header and the 4-byte
    # extension flag at the earliest; a smaller vox_offset (0 from careless
    # writers) means exactly there.
    return max(int(vox_offset), size + 4)


def _scaled(raw: np.ndarray, header: Nifti1Header, name: str) -> np.ndarray:
    """The voxels as float32 with ``scl_slope``/``scl_inter`` applied."""
    try:
        slope, inter = header.get_slope_inter()
    except HeaderDataError as err:
        raise NotAScanError(name, f"invalid scl_slope/scl_inter: {err}") from err
    slope = 1.0 if slope is None else float(slope)
    inter = 0.0 if inter is None else float(inter)
    if slope == 1.0 and inter == 0.0:
        return np.ascontiguousarray(raw, dtype=np.float32)
    # In float64, then rounded once to float32 (as nibabel's get_fdata).
    scaled = np.ascontiguousarray(raw, dtype=np.float64)
    scaled *= slope
    scaled += inter
    with np.errstate(over="ignore"):
        data = scaled.astype(np.float32)
    # A damaged scl_slope (3e38) turns every finite voxel into inf.
    if np.any(np.isinf(data) & np.isfinite(raw)):
        raise NotAScanError(
            name,
            f"scl_slope {slope} and scl_inter {inter} scale voxel values beyond the float32 "
            "range: expected scale factors that keep finite voxels finite",
        )
    return data


def _volume_shape(header: Nifti1Header, name: str) -> tuple[int, int, int]:
    """The 3-D shape from ``dim``, accepting trailing dimensions of length 1."""
    dim = [int(d) for d in header["dim"]]
    ndim = dim[0]
    if not 1 <= ndim <= 7:
        raise NotAScanError(name, f"dim[0] = {ndim} is not a number of dimensions in 1..7")
    shape = dim[1 : ndim + 1]
    if any(n <= 0 for n in shape):
        raise NotAScanError(name, f"dim = {shape} has a non-positive length")
    while len(shape) > 3 and shape[-1] == 1:
        shape.pop()
    if len(shape) != 3:
        raise NotAScanError(
            name, f"image of shape {tuple(dim[1 : ndim + 1])}: expected one 3-D volume per file"
        )
    return (shape[0], shape[1], shape[2])


def _slice_times(header: Nifti1Header) -> tuple[float, ...] | None:
    """Slice times along ``k`` in seconds, when the header defines them."""
    _, _, slice_dim = header.get_dim_info()
    if slice_dim != 2 or not float(header["slice_duration"]) > 0:
        return None
    try:
        times = header.get_slice_times()
    except (HeaderDataError, KeyError, ValueError):
        return None
    if any(t is None for t in times):
        return None
    _, time_unit = header.get_xyzt_units()
    scale = _SECONDS_PER_TIME_UNIT.get(time_unit, 1.0)
    return tuple(float(t) * scale for t in times)
