"""What every DICOM reader in :mod:`nfd.acquire` shares: header fields and nibabel's wrappers.

nibabel's DICOM wrappers (:mod:`nibabel.nicom.dicomwrappers`) un-mosaic and
stack frames and compute the voxel-to-patient affine; their affine maps
0-based voxel indices, with the array in nibabel's order (first axis along
the DICOM rows, i.e. down the column direction), to DICOM patient
coordinates (LPS+). :data:`LPS_TO_RAS` turns that into NIfTI's RAS+.
"""

from __future__ import annotations

import math
import struct
import warnings
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from nfd.acquire._errors import NotAScanError

with warnings.catch_warnings():
    # nibabel announces its DICOM readers as experimental on first import.
    warnings.filterwarnings("ignore", message="The DICOM readers are highly experimental")
    from nibabel.nicom import csareader, dicomwrappers

__all__ = [
    "DICOM_DECODE_ERRORS",
    "LPS_TO_RAS",
    "Header",
    "csareader",
    "dicomwrappers",
    "echo_number",
    "echo_time_ms",
    "header_index",
    "nibabel_wrapper",
    "series_identity",
    "to_float32",
]

#: DICOM patient space (LPS+) to NIfTI world space (RAS+): negate x and y.
LPS_TO_RAS: npt.NDArray[np.float64] = np.diag([-1.0, -1.0, 1.0, 1.0])

#: What pydicom and nibabel raise on values they cannot decode (corrupt or
#: unexpected headers); the readers turn them into :class:`NotAScanError`.
DICOM_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    InvalidDicomError,
    dicomwrappers.WrapperError,
    csareader.CSAError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    OverflowError,
    ZeroDivisionError,
    struct.error,
    np.linalg.LinAlgError,
    AssertionError,  # nibabel's CSA reader asserts on a damaged CSA header
)


class Header(Protocol):
    """What the header functions need of a data set: ``get`` by keyword (a Dataset, or a dict of values)."""

    def get(self, key: str, default: Any = None, /) -> Any:
        """The value of the element named ``key`` (a DICOM keyword), else ``default``."""


def nibabel_wrapper(ds: Dataset, name: str) -> Any:
    """nibabel's wrapper for a dataset (``MosaicWrapper``, ``MultiframeWrapper``...).

    Raises
    ------
    NotAScanError
        When nibabel cannot interpret the header.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The DICOM readers are highly experimental")
            return dicomwrappers.wrapper_from_data(ds)
    except DICOM_DECODE_ERRORS as err:
        raise NotAScanError(name, f"nibabel cannot interpret the DICOM header: {err!r}") from err


def header_index(ds: Header) -> int | None:
    """The acquisition number in the header, 1-based as written.

    InstanceNumber when present and an integer, else AcquisitionNumber, else
    None.
    """
    for keyword in ("InstanceNumber", "AcquisitionNumber"):
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        try:
            return int(value)
        except (TypeError, ValueError):
            continue
    return None


def echo_number(ds: Header) -> int | None:
    """The 1-based echo number, EchoNumbers (0018,0086) (its first value if several); None when absent or not >= 1.

    Examples
    --------
    >>> echo_number({"EchoNumbers": "2"}), echo_number({}), echo_number({"EchoNumbers": 0})
    (2, None, None)
    """
    value = ds.get("EchoNumbers")
    if value is not None and not isinstance(value, str | bytes | int | float):
        value = next(iter(value), None)  # a multi-valued IS
    try:
        number = None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None
    return number if number is not None and number >= 1 else None


def echo_time_ms(ds: Header) -> float | None:
    """EchoTime (0018,0081), ms; None when absent, not a number or not > 0.

    Examples
    --------
    >>> echo_time_ms({"EchoTime": "14.5"}), echo_time_ms({"EchoTime": ""})
    (14.5, None)
    """
    value = ds.get("EchoTime")
    try:
        te = None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None
    return te if te is not None and math.isfinite(te) and te > 0 else None


def series_identity(ds: Dataset) -> str | None:
    """SeriesInstanceUID, else SeriesNumber as a string, else None."""
    uid = ds.get("SeriesInstanceUID")
    if uid:
        return str(uid)
    number = ds.get("SeriesNumber")
    if number is None or number == "":
        return None
    return str(number)


def to_float32(data: npt.ArrayLike, name: str) -> npt.NDArray[np.float32]:
    """Voxel values as a C-contiguous 3-D float32 array, or NotAScanError."""
    array = np.asarray(data)
    if array.ndim != 3:
        raise NotAScanError(
            name, f"pixel data of shape {array.shape}: expected one 3-D volume per file"
        )
    if array.dtype.kind not in "uif":
        raise NotAScanError(name, f"pixel data of type {array.dtype}: expected real numbers")
    return np.ascontiguousarray(array, dtype=np.float32)
