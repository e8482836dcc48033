"""Enhanced (multi-frame) MR DICOM: one file per volume, one frame per slice.

Siemens XA (and Philips/others' enhanced MR) store each slice as a frame with
its own functional groups. nibabel's ``MultiframeWrapper`` sorts the frames
into a volume along the slice normal and computes the affine; this module
adds the slice times (each frame's FrameAcquisitionDateTime, relative to the
earliest frame) and the conversion to RAS+. A file holding several volumes
(a 4-D series in one file) is not one scan and is rejected.

A file whose frames hold several echoes (each frame's MREchoSequence
EffectiveEchoTime, the echo usually also a column of DimensionIndexValues,
the frames in any order) is one volume per echo: the frames are grouped by
their TE, each group read as a file of its own would be (nibabel sorts its
frames; the echo's index column is then constant and dropped), echo ``k``
being the ``k``-th smallest TE (:func:`echo_frames`). The first echo's
volume is returned with the others in ``more_echoes``.

References
----------
DICOM PS3.3 C.7.6.16 (Multi-frame Functional Groups) and A.36 (Enhanced MR
Image IOD); the Siemens XA examples of dcm_qa_xa30
(https://github.com/neurolabusc/dcm_qa_xa30).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as Sequence_
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

__all__ = ["accepts", "echo_frames", "frame_slice_times", "frame_slice_times_of", "read"]

FORMAT = "enhanced_mr"
_PER_FRAME = 0x52009230
_NUMBER_OF_FRAMES = 0x00280008


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
        When the frames do not make one 3-D volume (per echo, for a file of several echoes).
    """
    groups = echo_frames(wrapper.frames, name)
    if len(groups) > 1:
        return _read_echoes(wrapper, ds, name, groups)
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


#: Two frame echo times closer than this (ms) are of one echo.
_TE_TOLERANCE_MS = 1e-3


def echo_frames(frames: Sequence[Dataset], name: str) -> list[tuple[float, list[int]]]:
    """The frames' echoes: (TE in ms, the indices of its frames in file order), by increasing TE.

    One group (or none) for a file of one echo, or whose frames lack an
    EffectiveEchoTime. Echoes of unequal frame counts, or a TE not a
    number > 0, make no volumes.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> def frame(te):
    ...     echo = Dataset(); echo.EffectiveEchoTime = te
    ...     item = Dataset(); item.MREchoSequence = [echo]
    ...     return item
    >>> echo_frames([frame(t) for t in (30.0, 12.0, 30.0, 12.0)], "f.dcm")
    [(12.0, [1, 3]), (30.0, [0, 2])]
    """
    times = []
    for frame in frames:
        try:
            times.append(float(frame.MREchoSequence[0].EffectiveEchoTime))
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            return []
    groups: list[tuple[float, list[int]]] = []
    for k in sorted(range(len(times)), key=lambda i: times[i]):
        if groups and times[k] - groups[-1][0] <= _TE_TOLERANCE_MS:
            groups[-1][1].append(k)
        else:
            groups.append((times[k], [k]))
    if len(groups) < 2:
        return groups
    if not all(math.isfinite(te) and te > 0 for te, _ in groups):
        raise NotAScanError(name, f"frames of echo times {[te for te, _ in groups]} ms: not all > 0")
    counts = [len(members) for _, members in groups]
    if len(set(counts)) != 1:
        raise NotAScanError(name, f"{len(groups)} echoes of unequal frame counts {counts}: not one volume per echo")
    return [(te, sorted(members)) for te, members in groups]


class _EchoDataset(Dataset):
    """One echo's frames of an enhanced file, for nibabel: its per-frame groups and pixels, the rest shared."""

    def __init__(self, ds: Dataset, members: list[int], pixels: np.ndarray) -> None:
        super().__init__(dict(ds.items()))  # the elements as they are (raw ones not decoded)
        self.file_meta = ds.file_meta
        per_frame = ds.PerFrameFunctionalGroupsSequence
        frames = Sequence_([per_frame[i] for i in members])
        self[_PER_FRAME] = DataElement(_PER_FRAME, "SQ", frames)
        self[_NUMBER_OF_FRAMES] = DataElement(_NUMBER_OF_FRAMES, "IS", len(members))
        self._echo_pixels = pixels[members]

    @property
    def pixel_array(self) -> np.ndarray:
        """This echo's frames of the decoded pixels (what nibabel reads)."""
        return self._echo_pixels


def _read_echoes(wrapper: Any, ds: Dataset, name: str, groups: list[tuple[float, list[int]]]) -> ScanImage:
    """Echo 1's volume, the others in ``more_echoes``: each echo's frames read as a file of one echo."""
    try:
        pixels = np.asarray(ds.pixel_array)
    except DICOM_DECODE_ERRORS as err:
        raise NotAScanError(name, f"enhanced DICOM pixels do not decode: {err!r}") from err
    if pixels.ndim != 3 or pixels.shape[0] != len(wrapper.frames):
        raise NotAScanError(name, f"pixels of shape {pixels.shape} for {len(wrapper.frames)} frames")
    try:
        images = []
        for echo, (te, members) in enumerate(groups, start=1):
            part = _EchoDataset(ds, members, pixels)
            image = read(type(wrapper)(part), part, name)
            images.append(dataclasses.replace(image, echo=echo, echo_time_ms=te))
    except DICOM_DECODE_ERRORS as err:
        raise NotAScanError(name, f"enhanced DICOM echoes do not make volumes: {err!r}") from err
    if any(image.shape != images[0].shape or not np.allclose(image.affine, images[0].affine) for image in images):
        raise NotAScanError(name, "the echoes' frames do not make volumes on one grid")
    return dataclasses.replace(images[0], more_echoes=tuple(images[1:]))


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
