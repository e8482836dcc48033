"""Reading an HRF estimation's inputs: BOLD runs, a parcellation on their grid, a PyHRF paradigm."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import nibabel as nib
import numpy as np
import structlog

from nfd.design import DesignError, load_protocol
from nfd.hrf._errors import HrfError

__all__ = ["Inputs", "Run", "read_inputs"]

log = structlog.get_logger("nfd.hrf")

ImageLike = str | PathLike[str] | nib.spatialimages.SpatialImage


@dataclass(frozen=True)
class Run:
    """One session: its parcel voxels' series and its events.

    Attributes
    ----------
    data : numpy.ndarray
        float64 ``(n_scans, n_parcel_voxels)``: the raw BOLD of every voxel with a parcel label.
    events : dict
        Condition -> ``(onsets_s, durations_s, amplitudes)`` arrays.
    """

    data: np.ndarray
    events: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Inputs:
    """The runs, and where their parcel voxels lie.

    Attributes
    ----------
    runs : tuple of Run
    labels : numpy.ndarray
        int ``(n_parcel_voxels,)``: each column's parcel label.
    voxels : numpy.ndarray
        int ``(n_parcel_voxels, 3)``: each column's voxel indices.
    conditions : tuple of str
        Every condition of the paradigm, in order of first appearance.
    reference : nibabel.Nifti1Image
        The parcellation (its grid is the outputs').
    """

    runs: tuple[Run, ...]
    labels: np.ndarray
    voxels: np.ndarray
    conditions: tuple[str, ...]
    reference: nib.Nifti1Image


def _image(path: ImageLike, what: str) -> nib.spatialimages.SpatialImage:
    if isinstance(path, nib.spatialimages.SpatialImage):
        return path
    try:
        img = nib.load(str(path))
    except FileNotFoundError:
        raise HrfError(f"{path}: {what} not found") from None
    except Exception as exc:  # noqa: BLE001  nibabel's many errors for a file that is not an image
        raise HrfError(f"{path}: cannot read the {what} as NIfTI ({exc})") from None
    if not isinstance(img, nib.spatialimages.SpatialImage):
        raise HrfError(f"{path}: the {what} is not a spatial image; expected NIfTI")
    return img


def _parcellation(path: ImageLike) -> tuple[nib.Nifti1Image, np.ndarray]:
    img = _image(path, "parcellation")
    data = np.asarray(img.dataobj)
    if data.ndim != 3 or not np.all(np.isfinite(data)) or not np.all(data == np.round(data)):
        raise HrfError(f"{path}: expected a 3-D image of integer parcel labels (0: background), got shape "
                       f"{data.shape}")
    labels = data.astype(np.int64)
    if not np.any(labels > 0):
        raise HrfError(f"{path}: no parcel (every label is 0 or negative); expected labels > 0")
    return nib.Nifti1Image(labels.astype(np.int32), img.affine), labels


def _on_grid(bold: nib.spatialimages.SpatialImage, bold_path: object, reference: nib.Nifti1Image,
             parcels_path: object) -> None:
    if bold.ndim != 4:
        raise HrfError(f"{bold_path}: expected a 4-D BOLD series, got shape {bold.shape}")
    if bold.shape[:3] != reference.shape or not np.allclose(bold.affine, reference.affine, atol=1e-3):
        affines = "equal" if np.allclose(bold.affine, reference.affine, atol=1e-3) else "differ"
        raise HrfError(
            f"{parcels_path}: the parcellation is off the BOLD grid of {bold_path} (shape {reference.shape} vs "
            f"{bold.shape[:3]}, affines {affines}); expected the parcellation resampled onto the BOLD's voxels"
        )


Events = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


def _events(paradigm: Path, n_scans: int, tr: float, session: int | None) -> Events:
    try:
        design = load_protocol(paradigm, n_scans, tr=tr, session=session)
    except DesignError as exc:
        if session is None and "pass session=" in str(exc):
            raise HrfError(f"{exc.args[0].split(';')[0]}; expected one BOLD file per session, in order") from None
        raise HrfError(str(exc)) from None
    out: Events = {}
    for condition in design.conditions:
        mine = [e for e in design.events or () if e.condition == condition]
        onsets, durations, amplitudes = (np.array([getattr(e, field) for e in mine], dtype=np.float64)
                                         for field in ("onset", "duration", "amplitude"))
        out[condition] = (onsets, durations, amplitudes)
    return out


def read_inputs(
    bold: Sequence[ImageLike], parcellation: ImageLike, paradigm: str | PathLike[str], tr: float
) -> Inputs:
    """Load the runs' parcel voxels and their events (session ``k`` of the paradigm for the ``k``-th run).

    Raises
    ------
    HrfError
        One line: a missing or unreadable file, a parcellation off a run's grid, a paradigm whose sessions
        do not match the runs, an onset after a run's end (the paradigm reader's message).
    """
    reference, labels3 = _parcellation(parcellation)
    mask = labels3 > 0
    voxels = np.argwhere(mask)
    runs: list[Run] = []
    conditions: list[str] = []
    paradigm = Path(paradigm)
    for k, path in enumerate(bold):
        img = _image(path, "BOLD series")
        _on_grid(img, path, reference, parcellation)
        header_tr = float(img.header.get_zooms()[3]) if len(img.header.get_zooms()) > 3 else math.nan
        if k == 0 and math.isfinite(header_tr) and abs(header_tr - tr) > 1e-3:
            log.info("hrf_tr_differs_from_header", bold=str(path), tr_s=tr, header_s=header_tr)
        data = np.asarray(img.dataobj, dtype=np.float32)[mask].T.astype(np.float64)
        events = _events(paradigm, data.shape[0], tr, k if len(bold) > 1 else None)
        conditions += [c for c in events if c not in conditions]
        runs.append(Run(data, events))
    if not runs:
        raise HrfError("no BOLD series given; expected one 4-D NIfTI per session")
    return Inputs(tuple(runs), labels3[mask], voxels, tuple(conditions), reference)
