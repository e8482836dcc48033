"""Enhanced (multi-frame) MR DICOM: one file per volume, one frame per slice.

Siemens XA (and Philips/others' enhanced MR) store each slice as a frame with
its own functional groups. nibabel's ``MultiframeWrapper`` sorts the frames
into a volume along the slice normal and computes the affine; this module
adds the slice times (each frame's FrameAcquisitionDateTime, relative to the
earliest frame) and the conversion to RAS+. A file holding several volumes
(a 4-D series in one file) is not one scan and is rejected.

References
----------
DICOM PS3.3 C.7.6.16 (Multi-frame Functional Groups) and A.36 (Enhanced MR
Image IOD); the Siemens XA examples of dcm_qa_xa30
(https://github.com/neurolabusc/dcm_qa_xa30).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.valuerep import DT

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

__all__ = ["accepts", "frame_slice_times", "frame_slice_times_of", "read"]

FORMAT = "enhanced_mr"


def accepts(wrapper: Any) -> bool:
    """Whether nibabel recognised a multi-frame (enhanced) image."""
    return isinstance(wrapper, dicomwrappers.MultiframeWrapper)


def read(wrapper: Any, ds: Dataset, name: str) -> ScanImage:
    """The volume in an enhanced multi-frame MR file.

    Parameters
    ----------
    wrapper : nibabel.nicom.dicomwrappers.MultiframeWrapper
        nibabel's wrapper of ``ds``.
    ds : pydicom.Dataset
        The whole data set, pixel data included.
    name : str
        The file name, for error messages.

    Returns
    -------
    ScanImage
        float32 data [i, j, k] (k along the slice normal, as nibabel sorts
        the frames), scaling applied; affine in RAS+ mm; slice times in
        seconds when every frame has a FrameAcquisitionDateTime; echo number
        (EchoNumbers, when at the top level) and echo time
        (:func:`frame_echo_time_ms`).

    Raises
    ------
    NotAScanError
        When the frames do not make one 3-D volume.
    """
    try:
        data = np.asarray(wrapper.get_data())
        affine = LPS_TO_RAS @ np.asarray(wrapper.affine, dtype=np.float64)
        order = [int(i) for i in wrapper.frame_order]
        frames = list(wrapper.frames)
    except DICOM_DECODE_ERRORS as err:
        raise NotAScanError(name, f"enhanced DICOM frames do not make a volume: {err!r}") from err
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        raise NotAScanError(name, "enhanced DICOM with a single 2-D frame: expected a 3-D volume")
    volume = to_float32(data, name)
    if not np.all(np.isfinite(affine)):
        raise NotAScanError(name, "the affine of the frames has non-finite values")
    slice_times = None
    if len(order) == volume.shape[2]:
        slice_times = frame_slice_times([frames[i] for i in order])
    return ScanImage(
        data=volume,
        affine=affine,
        header_index=header_index(ds),
        slice_times=slice_times,
        series=series_identity(ds),
        format=FORMAT,
        echo=echo_number(ds),
        echo_time_ms=frame_echo_time_ms(frames, ds),
    )


def frame_echo_time_ms(frames: Sequence[Dataset], ds: Dataset) -> float | None:
    """The volume's echo time, ms: every frame's MREchoSequence EffectiveEchoTime when one value, else EchoTime.

    Siemens XA writes one echo per file, its TE in each frame's MR Echo
    functional group (0018,9114) > EffectiveEchoTime (0018,9082); frames of
    several echo times in one file give None (not one echo).
    """
    times = set()
    for frame in frames:
        try:
            times.add(float(frame.MREchoSequence[0].EffectiveEchoTime))
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            return echo_time_ms(ds)
    if len(times) != 1:
        return None if times else echo_time_ms(ds)
    te = times.pop()
    return te if math.isfinite(te) and te > 0 else None


def frame_slice_times(frames: Sequence[Dataset]) -> tuple[float, ...] | None:
    """Acquisition time of each frame, seconds after the earliest one.

    Parameters
    ----------
    frames : sequence of pydicom.Dataset
        Items of PerFrameFunctionalGroupsSequence, in slice order (``k``).

    Returns
    -------
    tuple of float or None
        From FrameContentSequence[0].FrameAcquisitionDateTime (DT, resolution
        as written, typically 2.5 ms on Siemens XA); None when a frame lacks
        it or it does not parse.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> def frame(dt):
    ...     content = Dataset(); content.FrameAcquisitionDateTime = dt
    ...     item = Dataset(); item.FrameContentSequence = [content]
    ...     return item
    >>> frame_slice_times([frame("20220711120905.7250"), frame("20220711120905.225")])
    (0.5, 0.0)
    """
    raws = []
    for frame in frames:
        try:
            raws.append(frame.FrameContentSequence[0].FrameAcquisitionDateTime)
        except DICOM_DECODE_ERRORS:
            return None
    return frame_slice_times_of(raws)


def frame_slice_times_of(values: Sequence[Any]) -> tuple[float, ...] | None:
    """Acquisition times, seconds after the earliest, from the frames' FrameAcquisitionDateTime values.

    Parameters
    ----------
    values : sequence
        The values as pydicom decodes them (DT strings), in slice order.

    Returns
    -------
    tuple of float or None
        None when one does not parse (see :func:`frame_slice_times`).
    """
    stamps = []
    for raw in values:
        try:
            stamps.append(DT(raw))
        except DICOM_DECODE_ERRORS:
            return None
    if not stamps:
        return None
    try:
        start = min(stamps)
        times = tuple((stamp - start).total_seconds() for stamp in stamps)
    except TypeError:  # a mix of time-zone aware and naive stamps
        return None
    if not all(math.isfinite(t) for t in times):
        return None
    return times
