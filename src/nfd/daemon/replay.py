"""A recorded run as a scan source, read as fast as the pipeline takes it.

Owns the reading of a recording for ``nfd replay``: a folder of scan files
(ordered by the configured file-name pattern, else by name) or one 4-D NIfTI
(one volume per time point). Files are decoded in a thread, one volume ahead
of the pipeline; a file that cannot be read gets one log line and the replay
goes on, as in a live run.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import structlog

from nfd.acquire import FileNaming, Scan, ScanFileError, ScanImage, read_scan
from nfd.config import AcquireConfig, ConfigError

log = structlog.get_logger(__name__)

Reader = Callable[[], ScanImage]


def _natural_key(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


class RecordingSource:
    """Scans of a recording, in order, each read once.

    Use :meth:`open`; the source is an async context manager and an async
    iterator of :class:`nfd.acquire.Scan`, like the watch folder.

    Attributes
    ----------
    stats : dict
        ``taken`` and ``rejected`` counts.
    missing : list of int
        Indices whose file could not be read.
    """

    def __init__(self, items: list[tuple[int, Path, Reader]]) -> None:
        self._items = items
        self.stats: dict[str, int] = {"taken": 0, "rejected": 0}
        self.missing: list[int] = []

    @classmethod
    def open(cls, path: Path, acquire: AcquireConfig) -> RecordingSource:
        """A source over ``path``: a folder of scan files or a 4-D NIfTI.

        In a folder, files whose names match ``acquire.pattern`` are taken in
        the order of their acquisition number (index = number -
        ``acquire.first_number``); when none match, every file is taken in
        natural name order (index = position).

        Raises
        ------
        ConfigError
            ``path`` is neither a folder with files nor a readable 4-D NIfTI.
        """
        path = Path(path)
        if path.is_dir():
            return cls(cls._folder_items(path, acquire))
        if path.is_file():
            return cls(cls._nifti4d_items(path))
        raise ConfigError(f"expected a folder of scan files or a 4-D NIfTI, {path} is neither", key="--input")

    @staticmethod
    def _folder_items(folder: Path, acquire: AcquireConfig) -> list[tuple[int, Path, Reader]]:
        files = sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
                       key=lambda p: _natural_key(p.name))
        naming = FileNaming(acquire.pattern)
        numbered = [(naming.volume_number(p.name), p) for p in files]
        matched = sorted((n, p) for n, p in numbered if n is not None)
        if matched:
            pairs = [(n - acquire.first_number, p) for n, p in matched]
        else:
            pairs = list(enumerate(files))
        if not pairs:
            raise ConfigError(f"expected scan files in {folder}, found none", key="--input")
        return [(i, p, (lambda p=p: read_scan(p))) for i, p in pairs]

    @staticmethod
    def _nifti4d_items(path: Path) -> list[tuple[int, Path, Reader]]:
        try:
            img = nib.load(path)
        except Exception as exc:  # nibabel raises many types for unreadable files
            raise ConfigError(f"expected a 4-D NIfTI, cannot read {path} ({exc})", key="--input") from None
        if len(img.shape) != 4:
            raise ConfigError(f"expected a 4-D NIfTI, {path} has shape {img.shape}", key="--input")
        affine = np.asarray(img.affine, dtype=np.float64)

        def reader(t: int) -> Reader:
            return lambda: ScanImage(
                data=np.asarray(img.dataobj[..., t], dtype=np.float32), affine=affine, format="nifti"
            )

        return [(t, path, reader(t)) for t in range(img.shape[3])]

    async def __aenter__(self) -> RecordingSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> AsyncIterator[Scan]:
        return self._scans()

    async def _scans(self) -> AsyncIterator[Scan]:
        pending: asyncio.Future[ScanImage] | None = None
        try:
            for k, (index, path, read) in enumerate(self._items):
                current = pending if pending is not None else asyncio.ensure_future(asyncio.to_thread(read))
                pending = None
                try:
                    image = await current
                except ScanFileError as exc:
                    self.stats["rejected"] += 1
                    self.missing.append(index)
                    log.warning("file_rejected", file=str(path), reason=str(exc))
                    continue
                if k + 1 < len(self._items):  # decode the next one while this one is processed
                    pending = asyncio.ensure_future(asyncio.to_thread(self._items[k + 1][2]))
                self.stats["taken"] += 1
                yield Scan(index=index, path=path, image=image, t_complete=time.time())
        finally:
            if pending is not None:
                pending.cancel()
