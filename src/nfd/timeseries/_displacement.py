"""Framewise displacement from rigid-body motion parameters."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from nfd.timeseries._errors import TimeseriesError

__all__ = ["framewise_displacement", "framewise_displacement_series", "micro_displacement"]


def _check_radius(radius: float) -> float:
    if not (isinstance(radius, (int, float, np.integer, np.floating)) and math.isfinite(radius) and radius > 0):
        raise TimeseriesError(f"radius must be a positive number of mm, got {radius!r}")
    return float(radius)


def _as_params(name: str, value: ArrayLike) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TimeseriesError(f"{name} must be 6 numbers (x, y, z mm; rx, ry, rz radians), got {value!r}") from exc
    if arr.shape != (6,):
        raise TimeseriesError(
            f"{name} must be 6 numbers (x, y, z mm; rx, ry, rz radians), got shape {arr.shape}"
        )
    return arr


def framewise_displacement(prev_params: ArrayLike, params: ArrayLike, radius: float = 50.0) -> float:
    """Framewise displacement between two volumes (Power et al., 2012).

    ``FD = |dx| + |dy| + |dz| + radius * (|drx| + |dry| + |drz|)``: the sum of
    the absolute translation differences and of the arc lengths the rotation
    differences sweep on a sphere of `radius` mm (Power, Barnes, Snyder,
    Schlaggar & Petersen, 2012, NeuroImage 59:2142-2154).

    Parameters
    ----------
    prev_params, params : array_like, shape (6,)
        Motion parameters of the previous and the current volume, SPM
        convention: translations x, y, z in mm, then rotations about x, y, z
        in radians.
    radius : float
        Head radius, mm (Power's 50 mm by default).

    Returns
    -------
    float
        Framewise displacement, mm. NaN when a parameter is NaN.

    Raises
    ------
    TimeseriesError
        If a parameter vector does not have 6 entries or `radius` is not positive.

    Examples
    --------
    >>> from nfd.timeseries import framewise_displacement
    >>> fd = framewise_displacement([0, 0, 0, 0, 0, 0], [0.1, -0.2, 0.0, 0.001, 0.0, -0.002])
    >>> round(fd, 6)  # 0.1 + 0.2 mm + 50 mm * 0.003 rad
    0.45
    """
    r = _check_radius(radius)
    prev = _as_params("prev_params", prev_params)
    cur = _as_params("params", params)
    delta = np.abs(cur - prev)
    return float(delta[:3].sum() + r * delta[3:].sum())


def framewise_displacement_series(params: ArrayLike, radius: float = 50.0) -> np.ndarray:
    """Framewise displacement of every volume of a run (Power et al., 2012).

    Parameters
    ----------
    params : array_like, shape (n, 6)
        Motion parameters per volume, SPM convention (x, y, z mm; rotations
        about x, y, z in radians).
    radius : float
        Head radius, mm.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n,)``: framewise displacement in mm of each volume
        relative to the one before; 0 for the first volume.

    Raises
    ------
    TimeseriesError
        If `params` is not an ``(n, 6)`` array or `radius` is not positive.

    Examples
    --------
    >>> from nfd.timeseries import framewise_displacement_series
    >>> framewise_displacement_series([[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 0, 0, 0.01, 0, 0]])
    array([0. , 1. , 0.5])
    """
    r = _check_radius(radius)
    try:
        arr = np.asarray(params, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TimeseriesError(f"params must be an (n, 6) array of motion parameters, got {params!r}") from exc
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise TimeseriesError(
            f"params must be an (n, 6) array (x, y, z mm; rx, ry, rz radians per volume), got shape {arr.shape}"
        )
    fd = np.zeros(arr.shape[0], dtype=np.float64)
    if arr.shape[0] > 1:
        delta = np.abs(np.diff(arr, axis=0))
        fd[1:] = delta[:, :3].sum(axis=1) + r * delta[:, 3:].sum(axis=1)
    return fd


def micro_displacement(prev_params: ArrayLike, params: ArrayLike) -> float:
    """Micro-displacement between two volumes, OpenNFT's real-time QA measure.

    The change of the length of the translation vector:
    ``| ||(x, y, z)_t|| - ||(x, y, z)_{t-1}|| |`` in mm (OpenNFT's
    ``rtqa`` "MD", Koush et al., 2017, NeuroImage 156:489). It ignores
    rotations and is smaller than :func:`framewise_displacement`; it picks
    out small, sudden jerks.

    Parameters
    ----------
    prev_params, params : array_like, shape (6,)
        Motion parameters of the previous and the current volume, SPM
        convention (x, y, z mm; rotations radians).

    Returns
    -------
    float
        mm.

    Raises
    ------
    TimeseriesError
        If a parameter vector does not have 6 entries.

    Examples
    --------
    >>> from nfd.timeseries import micro_displacement
    >>> micro_displacement([0, 0, 0, 0, 0, 0], [0.3, 0.4, 0.0, 0.01, 0, 0])
    0.5
    """
    prev = _as_params("prev_params", prev_params)
    cur = _as_params("params", params)
    return float(abs(math.sqrt(float(cur[:3] @ cur[:3])) - math.sqrt(float(prev[:3] @ prev[:3]))))
