"""How nfd writes files so that nothing is lost: hashes, atomic writes, append-only tables.

Three patterns, each written once here:

:func:`file_sha256`
    The lower-case hex SHA-256 of a file's bytes (model files are pinned by it).
:func:`write_atomic`
    A whole file written through a temporary name in the same folder
    (``.<name>.<pid>.<random>.tmp``, a name no scanner pattern matches),
    fsynced, renamed over the target, and the folder fsynced: a reader sees
    either the old file or the complete new one, and the rename survives a
    power cut.
:class:`AppendOnlyFile` and :class:`TsvAppender`
    A file created new (``O_EXCL``) and appended with ``os.write`` on an
    ``O_APPEND`` descriptor, one write per record: each record reaches the OS
    as it is made and a crash leaves at worst a partial last line.
    :meth:`AppendOnlyFile.sync` fsyncs on request; :meth:`AppendOnlyFile.close`
    fsyncs and closes.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_atomic(folder / "a.txt", b"abc")
>>> file_sha256(folder / "a.txt")[:16]
'ba7816bf8f01cfea'
>>> with TsvAppender(folder / "t.tsv", ["index", "fd"]) as table:
...     table.append_row([0, None])
...     table.append_row([1, 0.25])
>>> (folder / "t.tsv").read_text()
'index\\tfd\\n0\\tn/a\\n1\\t0.25\\n'
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
import secrets
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "AppendOnlyFile",
    "TsvAppender",
    "file_sha256",
    "fsync_directory",
    "tsv_cell",
    "tsv_line",
    "write_atomic",
]

_BLOCK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Lower-case hex SHA-256 of a file's bytes, read in 1 MiB blocks.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_directory(path: str | os.PathLike[str]) -> None:
    """Make a creation or rename in the folder ``path`` durable.

    Best effort: a no-op where a directory cannot be opened (some network
    file systems, Windows).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, sync_directory: bool = True) -> None:
    """Write ``data`` to ``path`` atomically and durably (see the module docstring).

    Parameters
    ----------
    path : path
        The file to create or replace.
    data : bytes
        Its whole content.
    sync_directory : bool
        Fsync the folder after the rename (pass False when writing many files
        to one folder and fsync it once with :func:`fsync_directory`).

    Raises
    ------
    OSError
        The file cannot be written; the temporary file is removed.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_directory:
        fsync_directory(target.parent)


class AppendOnlyFile:
    """A new file appended one record at a time; thread-safe.

    Parameters
    ----------
    path : path
        The file to create; it must not exist (``FileExistsError``).

    Attributes
    ----------
    path : Path
        The file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        self._fd: int | None = os.open(self.path, flags, 0o644)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._fd is None

    def append(self, data: bytes) -> None:
        """Append ``data`` with one ``os.write`` (repeated only if the OS takes part of it).

        Raises
        ------
        ValueError
            The file is closed.
        """
        with self._lock:
            if self._fd is None:
                raise ValueError(f"{self.path} is closed")
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]

    def sync(self) -> None:
        """``os.fsync`` what was appended (a no-op once closed)."""
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)

    def close(self) -> None:
        """Fsync and close the file (idempotent)."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def __enter__(self) -> AppendOnlyFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def tsv_cell(value: Any) -> str:
    """One TSV cell: ``None`` and NaN as BIDS's ``n/a``, floats shortest round-trip, no tabs or line breaks.

    >>> [tsv_cell(v) for v in (None, float("nan"), 0.1, 3, True, "a\\tb", "")]
    ['n/a', 'n/a', '0.1', '3', 'true', 'a b', 'n/a']
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return "n/a" if math.isnan(number) else repr(number)
    text = str(value)
    # A tab or a line break in a cell would break the table; keep the text readable.
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ") if text else "n/a"


def tsv_line(cells: Iterable[Any]) -> str:
    """Cells joined by tabs (see :func:`tsv_cell`), without the line break."""
    return "\t".join(tsv_cell(c) for c in cells)


class TsvAppender(AppendOnlyFile):
    """A new tab-separated table with a header line, appended one row per ``os.write``.

    Parameters
    ----------
    path : path
        The file to create; it must not exist.
    columns : sequence of str
        The header.

    Attributes
    ----------
    columns : tuple of str
        The header.
    rows : int
        Rows appended so far (the header not counted).
    """

    def __init__(self, path: str | os.PathLike[str], columns: Sequence[str]) -> None:
        super().__init__(path)
        self.columns = tuple(columns)
        self.rows = 0
        self.append(("\t".join(self.columns) + "\n").encode("utf-8"))

    def append_row(self, cells: Sequence[Any]) -> None:
        """Append one row (as many cells as columns).

        Raises
        ------
        ValueError
            A row of the wrong length, or the file is closed.
        """
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.path}: a row of {len(cells)} cells for {len(self.columns)} columns")
        self.append((tsv_line(cells) + "\n").encode("utf-8"))
        self.rows += 1

    def __enter__(self) -> TsvAppender:
        return self
