"""Regions of interest on the EPI grid and their mean signal."""

from __future__ import annotations

import math
from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import nibabel as nib
import numpy as np
from numpy.typing import ArrayLike

from nfd.timeseries._errors import RoiError
from nfd.volume import GridMismatchError, conform_to_grid

__all__ = ["RoiSet"]


def _format_affine(affine: np.ndarray) -> str:
    rows = ("[" + ", ".join(f"{v:.6g}" for v in row) + "]" for row in np.asarray(affine)[:3])
    return "[" + ", ".join(rows) + "]"


class RoiSet:
    """A named set of binary region-of-interest masks on one EPI grid.

    The masks are fixed at construction; the flat voxel indices of each mask
    are precomputed so that :meth:`means` costs a gather and a sum per ROI
    (a few microseconds for ROIs of a few hundred voxels). An instance is
    immutable and holds no global state, so it may be shared by threads or
    pickled to worker processes.

    Parameters
    ----------
    masks : mapping of str to array_like
        ROI name -> 3-D mask indexed ``[i, j, k]`` (NIfTI voxel order). Any
        nonzero finite voxel is in the ROI. Every mask must have the same
        shape and at least one voxel.
    affine : array_like, shape (4, 4), optional
        The voxel -> mm (RAS+) affine of the grid the masks are on, kept for
        reference (:attr:`affine`); not used by the maths.

    Raises
    ------
    RoiError
        If there is no mask, a name is not a non-empty string, a mask is not
        3-D, the shapes differ, or a mask is empty.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.timeseries import RoiSet
    >>> left = np.zeros((4, 4, 2), bool); left[0, 0, 0] = left[0, 1, 0] = True
    >>> right = np.zeros((4, 4, 2), bool); right[3, 3, 1] = True
    >>> rois = RoiSet({"left": left, "right": right})
    >>> volume = np.arange(32, dtype=np.float32).reshape(4, 4, 2)
    >>> rois.names, rois.means(volume).tolist()
    (('left', 'right'), [1.0, 31.0])
    """

    __slots__ = ("_affine", "_c_index", "_f_index", "_ijk", "_masks", "_names", "_shape")

    def __init__(self, masks: Mapping[str, ArrayLike], *, affine: ArrayLike | None = None) -> None:
        if not isinstance(masks, Mapping) or len(masks) == 0:
            raise RoiError("RoiSet needs a non-empty mapping of ROI name -> 3-D mask")
        shape: tuple[int, ...] | None = None
        names: list[str] = []
        bool_masks: list[np.ndarray] = []
        for name, mask in masks.items():
            if not isinstance(name, str) or not name:
                raise RoiError(f"ROI names must be non-empty strings, got {name!r}")
            arr = np.asarray(mask)
            if arr.ndim != 3:
                raise RoiError(f"ROI mask {name!r} must be 3-D (i, j, k), got shape {arr.shape}")
            if shape is None:
                shape = arr.shape
            elif arr.shape != shape:
                raise RoiError(
                    f"ROI mask {name!r} has shape {arr.shape} but the other masks have {shape}: "
                    "all masks must be on one grid"
                )
            if arr.dtype == np.bool_:
                boolean = arr.copy()
            else:
                with np.errstate(invalid="ignore"):
                    boolean = (arr != 0) & np.isfinite(arr) if arr.dtype.kind in "fc" else arr != 0
            if not boolean.any():
                raise RoiError(f"ROI mask {name!r} is empty: expected at least one nonzero voxel")
            boolean.setflags(write=False)
            names.append(name)
            bool_masks.append(boolean)
        assert shape is not None
        self._names = tuple(names)
        self._shape = tuple(int(n) for n in shape)
        self._masks = tuple(bool_masks)
        self._c_index = tuple(np.flatnonzero(m.ravel(order="C")) for m in bool_masks)
        self._f_index = tuple(np.flatnonzero(m.ravel(order="F")) for m in bool_masks)
        self._ijk = tuple(np.nonzero(m) for m in bool_masks)
        if affine is None:
            self._affine: np.ndarray | None = None
        else:
            aff = np.array(affine, dtype=np.float64)
            if aff.shape != (4, 4) or not np.all(np.isfinite(aff)):
                raise RoiError(f"RoiSet affine must be a finite 4x4 voxel->mm matrix, got shape {aff.shape}")
            aff.setflags(write=False)
            self._affine = aff

    @classmethod
    def from_files(
        cls,
        paths: Mapping[str, str | PathLike[str]],
        *,
        shape: tuple[int, int, int],
        affine: ArrayLike,
        atol_mm: float = 1e-3,
    ) -> RoiSet:
        """Read ROI masks from NIfTI files that must lie on the EPI grid.

        Parameters
        ----------
        paths : mapping of str to path
            ROI name -> NIfTI file (``.nii`` or ``.nii.gz``). Any nonzero
            finite voxel is in the ROI.
        shape : tuple of 3 ints
            Shape of the EPI volumes (voxels).
        affine : array_like, shape (4, 4)
            Voxel -> mm affine of the EPI volumes.
        atol_mm : float
            Largest absolute difference (mm, element-wise) tolerated between
            a mask's affine and `affine`, after reordering the mask's axes: a
            mask on the EPI grid in another voxel order (DICOM readers order
            rows and columns differently) is reordered, never resampled.

        Returns
        -------
        RoiSet

        Raises
        ------
        RoiError
            If a file cannot be read as NIfTI, is not 3-D, is empty, or is not
            on the EPI grid (shape or affine differ); the message names the
            file and shows both grids.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np, nibabel as nib
        >>> from nfd.timeseries import RoiSet
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> mask = np.zeros((4, 4, 2), np.uint8); mask[1, 1, 1] = 1
        >>> nib.Nifti1Image(mask, np.eye(4)).to_filename(folder / "a.nii")
        >>> RoiSet.from_files({"a": folder / "a.nii"}, shape=(4, 4, 2), affine=np.eye(4)).names
        ('a',)
        """
        if not isinstance(paths, Mapping) or len(paths) == 0:
            raise RoiError("RoiSet.from_files needs a non-empty mapping of ROI name -> NIfTI path")
        grid_shape = tuple(int(n) for n in shape)
        if len(grid_shape) != 3:
            raise RoiError(f"shape must be the 3-D EPI shape (i, j, k), got {shape!r}")
        grid_affine = np.asarray(affine, dtype=np.float64)
        if grid_affine.shape != (4, 4):
            raise RoiError(f"affine must be the 4x4 voxel->mm EPI affine, got shape {grid_affine.shape}")
        if not (math.isfinite(atol_mm) and atol_mm >= 0):
            raise RoiError(f"atol_mm must be a non-negative number of mm, got {atol_mm!r}")
        masks: dict[str, np.ndarray] = {}
        for name, raw_path in paths.items():
            path = Path(raw_path)
            try:
                img = nib.load(path)
            except (OSError, nib.filebasedimages.ImageFileError, ValueError) as exc:
                raise RoiError(f"ROI mask {name!r}: cannot read {path} as NIfTI ({exc})") from exc
            if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
                raise RoiError(f"ROI mask {name!r}: {path} is a {type(img).__name__}, expected a NIfTI file")
            if len(img.shape) != 3:
                raise RoiError(
                    f"ROI mask {name!r}: {path} has shape {img.shape}, expected a 3-D mask "
                    f"on the EPI grid {grid_shape}"
                )
            try:  # the same grid in another axis order is reordered, anything else refused
                data = conform_to_grid(
                    np.asanyarray(img.dataobj), img.affine, grid_shape, grid_affine, atol_mm=atol_mm,
                    name=f"ROI mask {name!r} ({path})",
                )
            except GridMismatchError as exc:
                raise RoiError(f"{exc}: ROI masks must be on the EPI grid") from None
            with np.errstate(invalid="ignore"):
                inside = (data != 0) & np.isfinite(data) if data.dtype.kind in "fc" else data != 0
            if not inside.any():
                raise RoiError(f"ROI mask {name!r}: {path} is empty: expected at least one nonzero voxel")
            masks[name] = inside
        return cls(masks, affine=grid_affine)

    @property
    def names(self) -> tuple[str, ...]:
        """ROI names, in construction order (the order of :meth:`means`)."""
        return self._names

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape (voxels) of the grid the masks are on."""
        return self._shape

    @property
    def affine(self) -> np.ndarray | None:
        """Voxel -> mm affine of the grid, or None when not given (read-only)."""
        return self._affine

    @property
    def masks(self) -> dict[str, np.ndarray]:
        """ROI name -> read-only boolean mask."""
        return dict(zip(self._names, self._masks, strict=True))

    @property
    def sizes(self) -> dict[str, int]:
        """ROI name -> number of voxels."""
        return {name: int(idx.size) for name, idx in zip(self._names, self._c_index, strict=True)}

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={s}" for n, s in self.sizes.items())
        return f"RoiSet(shape={self._shape}, {sizes})"

    def _check_volume(self, volume: ArrayLike) -> np.ndarray:
        arr = np.asanyarray(volume)
        if arr.shape != self._shape:
            raise RoiError(f"volume has shape {arr.shape} but the ROI masks are on a grid of shape {self._shape}")
        return arr

    def _gather(self, arr: np.ndarray, which: int) -> np.ndarray:
        if arr.flags.c_contiguous:
            return arr.reshape(-1)[self._c_index[which]]
        if arr.flags.f_contiguous:
            return arr.ravel(order="F")[self._f_index[which]]
        return arr[self._ijk[which]]

    def voxels(self, volume: ArrayLike, name: str) -> np.ndarray:
        """Values of `volume` inside ROI `name`, in C (i, j, k) order.

        Raises
        ------
        RoiError
            If `name` is not an ROI of the set or the volume is on another grid.
        """
        arr = self._check_volume(volume)
        try:
            which = self._names.index(name)
        except ValueError:
            raise RoiError(f"no ROI named {name!r}; the ROIs are {list(self._names)}") from None
        return self._gather(arr, which)

    def means(self, volume: ArrayLike) -> np.ndarray:
        """Mean of `volume` inside each ROI, NaN voxels ignored.

        Parameters
        ----------
        volume : array_like
            A 3-D volume on the masks' grid (any dtype, any memory order).

        Returns
        -------
        numpy.ndarray
            float64, shape ``(len(self),)``, in the order of :attr:`names`;
            NaN for an ROI whose voxels are all NaN.

        Raises
        ------
        RoiError
            If the volume's shape differs from the masks'.
        """
        arr = self._check_volume(volume)
        out = np.empty(len(self._names), dtype=np.float64)
        for which in range(len(self._names)):
            values = self._gather(arr, which)
            total = values.sum(dtype=np.float64)
            if math.isnan(total):
                finite = values[~np.isnan(values)]
                out[which] = finite.sum(dtype=np.float64) / finite.size if finite.size else math.nan
            else:
                out[which] = total / values.size
        return out
