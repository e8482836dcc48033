"""Siemens mosaic DICOM: one file per volume, the slices tiled in one 2-D image.

nibabel's ``MosaicWrapper`` un-tiles the slices (their number from the CSA
image header's ``NumberOfImagesInMosaic``) and computes the affine from the
CSA ``SliceNormalVector``, which also covers head-to-foot slice order. This
module adds the slice times (CSA ``MosaicRefAcqTimes``, ms) and the
conversion to the RAS+ convention.

References
----------
Siemens CSA header and mosaic layout as documented by nibabel:
https://nipy.org/nibabel/dicom/dicom_mosaic.html ; Li X, Morgan PS, Ashburner
J, Smith J, Rorden C (2016) The first step for neuroimaging data analysis:
DICOM to NIfTI conversion. J Neurosci Methods 264:47-56.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from nfd.acquire._dicom_header import (
    DICOM_DECODE_ERRORS,
    LPS_TO_RAS,
    dicomwrappers,
    echo_number,
    echo_time_ms,
    header_index,
    series_identity,
    to_float32,
)
from nfd.acquire._errors import NotAScanError
from nfd.acquire._image import ScanImage

__all__ = ["accepts", "read", "mosaic_slice_times"]

FORMAT = "siemens_mosaic"


def accepts(wrapper: Any) -> bool:
    """Whether nibabel recognised a Siemens mosaic (CSA NumberOfImagesInMosaic)."""
    return isinstance(wrapper, dicomwrappers.MosaicWrapper)


def read(wrapper: Any, ds: Dataset, name: str) -> ScanImage:
    """The volume in a Siemens mosaic.

    Parameters
    ----------
    wrapper : nibabel.nicom.dicomwrappers.MosaicWrapper
        nibabel's wrapper of ``ds``.
    ds : pydicom.Dataset
        The whole data set, pixel data included.
    name : str
        The file name, for error messages.

    Returns
    -------
    ScanImage
        float32 data [i, j, k] (k along the CSA slice normal, in stored
        order), RescaleSlope/Intercept applied; affine in RAS+ mm; slice
        times in seconds; InstanceNumber; SeriesInstanceUID; EchoNumbers
        and EchoTime (ms) when the header has them.

    Raises
    ------
    NotAScanError
        When the mosaic cannot be un-tiled or has no usable geometry.
    """
    try:
        data = wrapper.get_data()
        affine = LPS_TO_RAS @ np.asarray(wrapper.affine, dtype=np.float64)
        csa = wrapper.csa_header
    except DICOM_DECODE_ERRORS as err:
        raise NotAScanError(name, f"Siemens mosaic cannot be un-tiled: {err!r}") from err
    volume = to_float32(data, name)
    if not np.all(np.isfinite(affine)):
        raise NotAScanError(name, "the mosaic's affine has non-finite values")
    return ScanImage(
        data=volume,
        affine=affine,
        header_index=header_index(ds),
        slice_times=mosaic_slice_times(csa, volume.shape[2]),
        series=series_identity(ds),
        format=FORMAT,
        echo=echo_number(ds),
        echo_time_ms=echo_time_ms(ds),
    )


def mosaic_slice_times(csa: dict[str, Any] | None, n_slices: int) -> tuple[float, ...] | None:
    """Slice times in seconds from a CSA image header's ``MosaicRefAcqTimes`` (ms).

    Parameters
    ----------
    csa : dict or None
        The CSA image header as parsed by nibabel (``wrapper.csa_header``).
    n_slices : int
        Number of slices in the volume (along ``k``).

    Returns
    -------
    tuple of float or None
        One time per slice, in stored slice order (= ``k``), seconds from the
        start of the volume; None when absent or not one finite value per
        slice.

    Examples
    --------
    >>> csa = {"tags": {"MosaicRefAcqTimes": {"items": [0.0, 1000.0, 500.0]}}}
    >>> mosaic_slice_times(csa, 3)
    (0.0, 1.0, 0.5)
    """
    if csa is None:
        return None
    items = csa.get("tags", {}).get("MosaicRefAcqTimes", {}).get("items")
    if not items or len(items) != n_slices:
        return None
    try:
        times = tuple(float(t) / 1000.0 for t in items)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(t) for t in times):
        return None
    return times
