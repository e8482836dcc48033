"""An in-memory scan source: given scans, yielded in order."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nfd.acquire import Scan, ScanImage, ScanSource, SeriesId

__all__ = ["MemoryScanSource"]


class MemoryScanSource:
    """A scan source over given scans (an :class:`nfd.acquire.ScanSource`).

    Parameters
    ----------
    scans : iterable of Scan
        The scans to yield, in strictly increasing :attr:`~nfd.acquire.Scan.index`.
    new_series : SeriesId or None
        The series reported as having ended the run once the scans are
        yielded (None: the source follows one series to its end).

    Attributes
    ----------
    stats : dict of str to int
        ``taken`` (scans yielded) and ``rejected`` (always 0).
    entered, exited : bool
        Whether the source was entered and left as a context manager.

    Raises
    ------
    ValueError
        When the indices are not strictly increasing.

    Examples
    --------
    >>> import asyncio, numpy as np
    >>> source = MemoryScanSource.from_volumes([np.zeros((4, 4, 3))] * 2, np.eye(4))
    >>> async def indices():
    ...     async with source:
    ...         return [scan.index async for scan in source], source.stats["taken"]
    >>> asyncio.run(indices())
    ([0, 1], 2)
    """

    def __init__(self, scans: Iterable[Scan], *, new_series: SeriesId | None = None) -> None:
        self._scans = list(scans)
        indices = [scan.index for scan in self._scans]
        if any(b <= a for a, b in itertools.pairwise(indices)):
            raise ValueError(f"MemoryScanSource: scan indices must be strictly increasing, got {indices}")
        self._new_series = new_series
        self.stats: dict[str, int] = {"taken": 0, "rejected": 0}
        self.entered = False
        self.exited = False

    @classmethod
    def from_volumes(
        cls,
        volumes: Sequence[npt.ArrayLike],
        affine: npt.ArrayLike,
        *,
        new_series: SeriesId | None = None,
    ) -> MemoryScanSource:
        """A source of 3-D volumes on one grid, indexed 0, 1, ... (paths ``vol_0001.nii``, ...).

        Parameters
        ----------
        volumes : sequence of array_like, each of shape (I, J, K)
            The volumes, in acquisition order.
        affine : array_like, shape (4, 4)
            Voxel-to-world transform (0-based voxels to mm, RAS+).
        new_series : SeriesId or None
            As for the constructor.
        """
        grid = np.asarray(affine, dtype=np.float64)
        scans = [
            Scan(index=k, path=Path(f"vol_{k + 1:04d}.nii"), image=ScanImage(np.asarray(v), grid), t_complete=0.0)
            for k, v in enumerate(volumes)
        ]
        return cls(scans, new_series=new_series)

    @property
    def new_series(self) -> SeriesId | None:
        """The given series once every scan was yielded; None before."""
        return self._new_series if self.stats["taken"] == len(self._scans) else None

    async def __aenter__(self) -> MemoryScanSource:
        """The source itself."""
        self.entered = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Mark the source left."""
        self.exited = True

    def __aiter__(self) -> AsyncIterator[Scan]:
        """The scans, in order."""
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Scan]:
        for scan in self._scans[self.stats["taken"] :]:
            self.stats["taken"] += 1
            yield scan



_memory_source_is_a_source: type[ScanSource] = MemoryScanSource
