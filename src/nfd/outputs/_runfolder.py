"""The run folder: everything a run produced, written so that nothing is lost.

Layout of ``<base_dir>/<prefix>-YYYYmmdd-HHMMSS[-N]/`` (``-N`` = ``-2``,
``-3``, ... when a folder of that name exists already; no folder is ever
reused):

``config.toml``
    The configuration text the run used, written at creation.
``volumes.jsonl``
    One JSON object per acquisition index (JSON Lines, UTF-8, orjson),
    appended and flushed as each volume is done (``os.write`` on an
    ``O_APPEND`` descriptor, so the file is valid after every append; a crash
    can at worst leave a trailing partial line, which
    :meth:`RunFolder.read_volumes` ignores).  Each line is a
    :class:`~nfd.outputs.VolumeRecord`; its fields, with units, and which of
    them each status (``processed``, ``missing``, ``refused``, ``failed``)
    carries are specified once, in :mod:`nfd.outputs._record`.  NaN and
    infinities are written as ``null``, numpy scalars and arrays as numbers
    and lists.
``events.jsonl``
    Events marked by the operator (:meth:`RunFolder.append_event`):
    ``name``, ``time`` (s since the epoch), ``after_index``.
``resumes.jsonl``
    One line per restart that resumed this run (:meth:`RunFolder.mark_resumed`):
    ``interrupted_after_index`` (the last index recorded before the
    interruption), ``resumed_at`` (s since the epoch), ``pid``.

Written by :meth:`RunFolder.finish`, from the records appended (each
atomically: a temporary name, then a rename):

``motion.tsv`` + ``motion.json``
    ``index`` and fMRIPrep's ``trans_x trans_y trans_z rot_x rot_y rot_z
    framewise_displacement``, one row per record (``n/a`` for missing and
    refused volumes); the sidecar gives units (mm, rad, mm) and the
    convention (SPM, relative to the reference).
``timeseries.tsv`` + ``timeseries.json``
    ``index``, ``condition``, ``roi_<name>`` (raw means), each chain stage
    ``<name>_<stage>`` when the records carry ``chain``, and ``feedback``.
``summary.json``
    The summary the daemon passes (orjson, indented by 2).
``<name>.nii.gz`` (:meth:`RunFolder.write_map`)
    3-D maps on the EPI grid, e.g. ``tmap`` and ``tsnr``.
``raw.nii.gz``
    Optional: the raw volumes as a 4-D NIfTI-1 image [i, j, k, t] with the
    run's affine and the TR (s) in ``pixdim[4]``, units mm and s.

Missing values are ``n/a`` in the TSV files (BIDS).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import nibabel as nib
import numpy as np
import orjson
import structlog
from numpy.typing import ArrayLike

from nfd._checks import ensure_float
from nfd._files import fsync_directory, write_atomic
from nfd._json import dumps as json_dumps
from nfd.outputs._errors import RunFolderError
from nfd.outputs._record import VolumeRecord, VolumeStatus
from nfd.outputs._tables import (
    format_tsv,
    motion_sidecar,
    motion_table,
    timeseries_sidecar,
    timeseries_table,
)

__all__ = ["RunFolder"]

log = structlog.get_logger(__name__)

_MAX_NAME_ATTEMPTS: Final[int] = 10_000
#: After the first refused append, ``run_folder_write_failed`` is logged again every this many appends.
WRITE_FAILED_EVERY: Final[int] = 50
#: Bytes of ``volumes.jsonl`` lines held in memory while the file system refuses them (the oldest go beyond).
BACKLOG_MAX_BYTES: Final[int] = 64 * 1024 * 1024


def _dumps(obj: Any, what: str, *, indent: bool = False, newline: bool = False) -> bytes:
    """``obj`` as JSON (:func:`nfd._json.dumps`); :class:`RunFolderError` naming ``what`` when it cannot be."""
    try:
        return json_dumps(obj, indent=indent, newline=newline)
    except orjson.JSONEncodeError as exc:
        raise RunFolderError(f"{what} cannot be written as JSON: {exc}") from exc


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    try:
        write_atomic(path, data, sync_directory=False)
    except OSError as exc:
        raise RunFolderError(f"cannot write {path}: {exc}") from exc


class RunFolder:
    """One run's output folder; its files and their formats are specified in :mod:`nfd.outputs._runfolder`.

    Create it with :meth:`create`; append one record per processed volume
    with :meth:`append_volume` and ``await`` :meth:`sync` before the next
    volume starts; write the tables with :meth:`finish` at the end.  Not
    thread-safe: use one instance from one thread (the daemon's loop; run
    :meth:`finish` in a worker thread if it should not block the loop -- a
    ``raw.nii.gz`` of a few hundred volumes takes seconds to compress).

    Examples
    --------
    >>> import tempfile
    >>> from datetime import datetime
    >>> base = tempfile.mkdtemp()
    >>> run = RunFolder.create(base, prefix="run", config_text="[run]\\ntr = 2.0\\n",
    ...                        started=datetime(2025, 11, 21, 10, 30, 0))
    >>> run.path.name
    'run-20251121-103000'
    >>> from nfd.outputs import VolumeRecord, VolumeStatus
    >>> run.append_volume(VolumeRecord(index=5, status=VolumeStatus.PROCESSED, condition="BAS",
    ...                                motion=[0.0] * 6, fd=0.0, roi={"v1": 812.5}, feedback=0.0))
    >>> run.finish({"volumes": 1})  # the files it could not write: none
    []
    >>> RunFolder.read_volumes(run.path)[0]["roi"]
    {'v1': 812.5}
    >>> sorted(p.name for p in run.path.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['config.toml', 'motion.json', 'motion.tsv', 'summary.json', 'timeseries.json',
     'timeseries.tsv', 'volumes.jsonl']
    """

    CONFIG_FILE: Final[str] = "config.toml"
    VOLUMES_FILE: Final[str] = "volumes.jsonl"
    MOTION_FILE: Final[str] = "motion.tsv"
    MOTION_SIDECAR: Final[str] = "motion.json"
    TIMESERIES_FILE: Final[str] = "timeseries.tsv"
    TIMESERIES_SIDECAR: Final[str] = "timeseries.json"
    SUMMARY_FILE: Final[str] = "summary.json"
    EVENTS_FILE: Final[str] = "events.jsonl"
    RESUMES_FILE: Final[str] = "resumes.jsonl"
    RAW_FILE: Final[str] = "raw.nii.gz"

    def __init__(self, path: Path, volumes_fd: int) -> None:
        """Wrap an existing folder whose ``volumes.jsonl`` is open as ``volumes_fd``; use :meth:`create`."""
        self._path = path
        self._fd: int | None = volumes_fd
        self._size = os.fstat(volumes_fd).st_size
        self._records: list[VolumeRecord] = []
        self._backlog: deque[tuple[int, bytes]] = deque()  # (index, line) not yet written, oldest first
        self._backlog_bytes = 0
        self._failed_appends = 0  # appends since the file system last refused one
        self.dropped: list[int] = []  # indices whose line was dropped from a full backlog (kept in the tables)

    # -- creation --------------------------------------------------------------
    @staticmethod
    def check(base_dir: str | os.PathLike[str], prefix: str = "run") -> None:
        """Check, creating nothing, that :meth:`create` could make a run folder there.

        The prefix must be a plain file name; ``base_dir`` must be a writable
        folder, or be creatable: its nearest existing ancestor a writable
        folder (for the user running the check: run it as the service user).

        Raises
        ------
        RunFolderError
            Naming the prefix or the folder, and what was expected.

        Examples
        --------
        >>> RunFolder.check("/tmp", prefix="../x")
        Traceback (most recent call last):
        ...
        nfd.outputs._errors.RunFolderError: run folder prefix must be a plain file name (no path separator), got '../x'
        """
        _check_prefix(prefix)
        base = Path(base_dir).absolute()
        existing = next(p for p in (base, *base.parents) if p.exists() or p == p.parent)
        if not existing.is_dir():
            raise RunFolderError(f"cannot create the runs folder {base}: {existing} is not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            if existing == base:
                raise RunFolderError(f"cannot write in the runs folder {base}: not writable by this user")
            raise RunFolderError(f"cannot create the runs folder {base}: {existing} is not writable by this user")

    @classmethod
    def create(
        cls,
        base_dir: str | os.PathLike[str],
        prefix: str = "run",
        config_text: str = "",
        started: datetime | None = None,
    ) -> RunFolder:
        """Create a new run folder ``<base_dir>/<prefix>-YYYYmmdd-HHMMSS[-N]`` and write ``config.toml``.

        Parameters
        ----------
        base_dir : path
            Folder holding the run folders; created (with parents) if absent.
        prefix : str
            The folder name's prefix (no path separator).
        config_text : str
            The configuration (TOML text) the run uses, written as ``config.toml``.
        started : datetime, optional
            The run's start; its own wall-clock fields name the folder
            (default: now, local time).

        Returns
        -------
        RunFolder
            With an empty ``volumes.jsonl`` open for appending.

        Raises
        ------
        RunFolderError
            If the prefix is unusable or the folder cannot be created.
        """
        _check_prefix(prefix)
        if not isinstance(config_text, str):
            raise RunFolderError(f"config_text must be the configuration's TOML text (str), got {type(config_text)}")
        started = datetime.now() if started is None else started
        base = Path(base_dir)
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(f"cannot create the runs folder {base}: {exc}") from exc
        stem = f"{prefix}-{started:%Y%m%d-%H%M%S}"
        for attempt in range(1, _MAX_NAME_ATTEMPTS + 1):
            path = base / (stem if attempt == 1 else f"{stem}-{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise RunFolderError(f"cannot create the run folder {path}: {exc}") from exc
            break
        else:
            raise RunFolderError(f"no free run folder name under {base} for {stem!r} after {_MAX_NAME_ATTEMPTS} tries")
        _write_atomic(path / cls.CONFIG_FILE, config_text.encode("utf-8"))
        volumes = path / cls.VOLUMES_FILE
        try:
            fd = os.open(volumes, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise RunFolderError(f"cannot create {volumes}: {exc}") from exc
        fsync_directory(path)
        fsync_directory(base)
        return cls(path, fd)

    @classmethod
    def reopen(cls, path: str | os.PathLike[str]) -> RunFolder:
        """An unfinished run folder, open again for appending (a restarted daemon resuming the run).

        A partial last line of ``volumes.jsonl`` (a crash in the middle of a
        write) is cut off, so that the next append starts a line.

        Raises
        ------
        RunFolderError
            The folder has no ``volumes.jsonl``, is finished (has
            ``summary.json``), or cannot be opened.
        """
        folder = Path(path)
        volumes = folder / cls.VOLUMES_FILE
        if (folder / cls.SUMMARY_FILE).exists():
            raise RunFolderError(f"run folder {folder} is finished (it has {cls.SUMMARY_FILE}): it cannot be resumed")
        try:
            content = volumes.read_bytes()
            fd = os.open(volumes, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise RunFolderError(f"cannot reopen {volumes}: {exc}") from exc
        complete = content.rfind(b"\n") + 1
        if complete < len(content):
            os.ftruncate(fd, complete)
            log.warning("volumes_partial_line_cut", path=str(volumes), bytes=len(content) - complete)
        run = cls(folder, fd)
        run._records = cls.read_volumes(folder)
        return run

    @classmethod
    def find_unfinished(
        cls, base_dir: str | os.PathLike[str], prefix: str, config_text: str, files: Iterable[str]
    ) -> Path | None:
        """The newest run folder a restarted daemon should resume, or None.

        It is unfinished (no ``summary.json``), ran with the same
        configuration text, and the file of its last processed volume is
        among ``files`` (the names now in the watch folder): the same series
        is still there to continue.
        """
        present = set(files)
        base = Path(base_dir)
        if not base.is_dir():
            return None
        candidates = sorted((p for p in base.glob(f"{prefix}-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for folder in reversed(candidates):
            if (folder / cls.SUMMARY_FILE).exists() or not (folder / cls.VOLUMES_FILE).is_file():
                continue
            try:
                if (folder / cls.CONFIG_FILE).read_text(encoding="utf-8") != config_text:
                    continue
                records = cls.read_volumes(folder)
            except (OSError, RunFolderError, UnicodeDecodeError):
                continue
            files_done = [r.file for r in records if r.status is VolumeStatus.PROCESSED and r.file]
            if files_done and files_done[-1] in present:
                return folder
        return None

    def mark_resumed(self, pid: int, now: float) -> int:
        """Note in ``resumes.jsonl`` that the run was interrupted and resumed; returns the last index recorded."""
        last = max((r.index for r in self._records), default=-1)
        line = _dumps({"interrupted_after_index": last, "resumed_at": now, "pid": pid}, "resume", newline=True)
        try:
            with open(self._path / self.RESUMES_FILE, "ab") as f:
                f.write(line)
                os.fsync(f.fileno())
        except OSError as exc:
            raise RunFolderError(f"cannot write {self._path / self.RESUMES_FILE}: {exc}") from exc
        return last

    # -- state -----------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The run folder."""
        return self._path

    @property
    def records(self) -> list[VolumeRecord]:
        """The records appended so far, as read back (JSON round trip: NaN is ``None``); a copy."""
        return list(self._records)

    @property
    def is_open(self) -> bool:
        """True while ``volumes.jsonl`` accepts appends (until :meth:`finish` or :meth:`close`)."""
        return self._fd is not None

    def __repr__(self) -> str:
        return f"<RunFolder {self._path} volumes={len(self._records)} {'open' if self.is_open else 'closed'}>"

    # -- per volume ------------------------------------------------------------
    def append_volume(self, record: VolumeRecord) -> None:
        """Append one volume's record to ``volumes.jsonl`` as one JSON line, written through to the OS.

        Parameters
        ----------
        record : VolumeRecord
            The volume's record (:mod:`nfd.outputs._record`); numpy scalars and
            arrays in its fields are written as numbers and lists, NaN as ``null``.

        When the file system refuses the write (a full disk, a quota), the
        file is truncated back, so it stays valid, and the line is kept in
        memory, in order, to be written before the next one: nothing is lost
        while space comes back. ``run_folder_write_failed`` is logged at the
        first refusal and every :data:`WRITE_FAILED_EVERY` appends after it,
        ``run_folder_write_recovered`` once the backlog is written. The
        backlog is bounded (:data:`BACKLOG_MAX_BYTES`): beyond it the oldest
        lines are dropped from the file (their indices in :attr:`dropped`;
        the records stay in :attr:`records` and in the tables written by
        :meth:`finish`).

        Raises
        ------
        RunFolderError
            If the folder is finished or closed, or the record is not a
            :class:`VolumeRecord` or cannot be serialised.
        """
        if self._fd is None:
            raise RunFolderError(f"run folder {self._path} is finished or closed: no more volumes can be appended")
        if not isinstance(record, VolumeRecord):
            raise RunFolderError(f"a volume record must be a VolumeRecord, got {type(record).__name__}")
        line = record.to_json()
        self._records.append(VolumeRecord.from_dict(orjson.loads(line)))
        self._backlog.append((record.index, line))
        self._backlog_bytes += len(line)
        self._drain()

    @property
    def pending_writes(self) -> int:
        """Records appended but not yet in ``volumes.jsonl`` (the file system refused them so far)."""
        return len(self._backlog)

    def _drain(self) -> None:
        """Write the backlog in order; on a refusal keep the rest for the next append."""
        assert self._fd is not None
        while self._backlog:
            index, line = self._backlog[0]
            try:
                self._write_whole(line)
            except OSError as exc:
                self._write_refused(index, exc)
                return
            self._backlog.popleft()
            self._backlog_bytes -= len(line)
        if self._failed_appends:
            log.info("run_folder_write_recovered", path=str(self._path), after_appends=self._failed_appends)
            self._failed_appends = 0

    def _write_whole(self, line: bytes) -> None:
        """One line onto ``volumes.jsonl`` or nothing: a partial write is truncated back (raises the OSError)."""
        assert self._fd is not None
        written = 0
        try:
            while written < len(line):
                written += os.write(self._fd, line[written:])
        except OSError:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                log.error("volumes_truncate_failed", path=str(self._path / self.VOLUMES_FILE), size=self._size)
            raise
        self._size += written

    def _write_refused(self, index: int, exc: OSError) -> None:
        if self._failed_appends % WRITE_FAILED_EVERY == 0:
            log.error(
                "run_folder_write_failed", path=str(self._path / self.VOLUMES_FILE), index=index,
                error=f"{exc.strerror or exc}", pending=len(self._backlog),
                detail="records are kept in memory and written when space comes back; feedback goes on",
            )
        self._failed_appends += 1
        while self._backlog_bytes > BACKLOG_MAX_BYTES and len(self._backlog) > 1:
            old_index, old = self._backlog.popleft()
            self._backlog_bytes -= len(old)
            self.dropped.append(old_index)

    def append_event(self, event: Mapping[str, Any]) -> None:
        """Append one marked event (``name``, ``time`` in s since the epoch, ...) to ``events.jsonl``.

        Events are rare (an operator's marks), so the file is opened per event;
        each line is written whole to the OS before this returns.

        Raises
        ------
        RunFolderError
            If the folder is finished or closed, or the event cannot be serialised or written.
        """
        if self._fd is None:
            raise RunFolderError(f"run folder {self._path} is finished or closed: no more events can be appended")
        line = _dumps(event, "event", newline=True)
        try:
            with open(self._path / self.EVENTS_FILE, "ab") as f:
                f.write(line)
        except OSError as exc:
            raise RunFolderError(f"cannot append an event to {self._path / self.EVENTS_FILE}: {exc}") from exc

    async def sync(self) -> None:
        """``os.fsync`` ``volumes.jsonl`` in a worker thread; a no-op once finished or closed.

        Raises
        ------
        RunFolderError
            If the file system reports an error.
        """
        if self._fd is None:
            return
        fd = os.dup(self._fd)  # our own descriptor: a concurrent close() cannot pull it away
        try:
            await asyncio.to_thread(os.fsync, fd)
        except OSError as exc:
            if self._backlog:  # the file system is refusing writes: already logged, retried at the next append
                return
            raise RunFolderError(f"cannot sync {self._path / self.VOLUMES_FILE}: {exc}") from exc
        finally:
            os.close(fd)

    # -- the end ---------------------------------------------------------------
    def finish(
        self,
        summary: Mapping[str, Any],
        raw_volumes: ArrayLike | None = None,
        affine: ArrayLike | None = None,
        tr: float | None = None,
        *,
        feedback_units: str = "arbitrary units",
    ) -> list[str]:
        """Close ``volumes.jsonl`` and write the tables, the summary and (optionally) the raw volumes.

        Idempotent: a second call rewrites the same files from the same records.

        Parameters
        ----------
        summary : mapping
            Written as ``summary.json``.
        raw_volumes : array_like, optional
            4-D [i, j, k, t] raw volumes; written as ``raw.nii.gz`` when given.
        affine : array_like, optional
            4x4 voxel -> mm (RAS+) affine of ``raw_volumes``; required with it.
        tr : float, optional
            Repetition time in seconds, > 0; required with ``raw_volumes``.
        feedback_units : str
            Units of the feedback value, for ``timeseries.json``.

        Returns
        -------
        list of str
            The files that could not be written (a full disk), each logged
            once as ``run_folder_write_failed``; the others are complete.

        Raises
        ------
        RunFolderError
            On a bad argument (naming it).
        """
        if not isinstance(summary, Mapping):
            raise RunFolderError(f"summary must be a mapping (dict), got {type(summary).__name__}")
        raw = self._check_raw(raw_volumes, affine, tr) if raw_volumes is not None else None
        unwritten: list[str] = []
        if self._fd is not None:
            self._drain()
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._log_unwritten(self.VOLUMES_FILE, exc)
            if self._backlog:
                unwritten.append(self.VOLUMES_FILE)
            self.close()
        motion_columns, motion_rows = motion_table(self._records)
        columns, rows = timeseries_table(self._records)
        contents = {  # the summary first: what a person reads, and the smallest
            self.SUMMARY_FILE: lambda: _dumps(summary, "the run summary", indent=True),
            self.MOTION_FILE: lambda: format_tsv(motion_columns, motion_rows).encode("utf-8"),
            self.MOTION_SIDECAR: lambda: _dumps(motion_sidecar(), "motion.json", indent=True),
            self.TIMESERIES_FILE: lambda: format_tsv(columns, rows).encode("utf-8"),
            self.TIMESERIES_SIDECAR: lambda: _dumps(
                timeseries_sidecar(columns, feedback_units), "timeseries.json", indent=True
            ),
        }
        for name, content in contents.items():
            try:
                _write_atomic(self._path / name, content())
            except RunFolderError as exc:
                self._log_unwritten(name, exc)
                unwritten.append(name)
        if raw is not None:
            try:
                self._write_raw(*raw)
            except RunFolderError as exc:
                self._log_unwritten(self.RAW_FILE, exc)
                unwritten.append(self.RAW_FILE)
        with contextlib.suppress(OSError):
            fsync_directory(self._path)
        return unwritten

    def _log_unwritten(self, name: str, exc: BaseException) -> None:
        log.error(
            "run_folder_write_failed", path=str(self._path / name), error=str(exc), detail="at the end of the run"
        )

    def close(self) -> None:
        """Close ``volumes.jsonl`` without writing the tables (e.g. on abort); idempotent."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_raw(
        self, raw_volumes: ArrayLike, affine: ArrayLike | None, tr: float | None
    ) -> tuple[np.ndarray, np.ndarray, float]:
        data = np.asarray(raw_volumes)
        if data.ndim != 4 or 0 in data.shape:
            raise RunFolderError(f"raw_volumes must be a non-empty 4-D array [i, j, k, t], got shape {data.shape}")
        if data.dtype == np.bool_:
            data = data.astype(np.uint8)
        if affine is None:
            raise RunFolderError("affine (4x4 voxel -> mm) is required with raw_volumes")
        aff = np.asarray(affine, dtype=np.float64)
        if aff.shape != (4, 4) or not np.all(np.isfinite(aff)):
            raise RunFolderError(f"affine must be a finite 4x4 voxel -> mm matrix, got shape {aff.shape}")
        seconds = ensure_float(
            tr, "tr (the repetition time in s, with raw_volumes)", positive=True, error=RunFolderError
        )
        return data, aff, seconds

    def _write_raw(self, data: np.ndarray, affine: np.ndarray, tr: float) -> None:
        self._write_nifti(self.RAW_FILE, data, affine, tr)

    def write_map(self, name: str, data: np.ndarray, affine: np.ndarray) -> Path:
        """Write a 3-D map on the EPI grid as ``<name>.nii.gz`` (atomically); returns its path.

        Parameters
        ----------
        name : str
            File stem, e.g. ``tmap`` or ``tsnr`` (letters, digits, ``_`` and ``-``).
        data : ndarray, 3-D
            The map (NaN where undefined).
        affine : ndarray, (4, 4)
            Voxel -> mm affine of the EPI grid.

        Raises
        ------
        RunFolderError
            For a bad name or shape, or when the file cannot be written.
        """
        if not name or not all(c.isalnum() or c in "_-" for c in name):
            raise RunFolderError(f"a map name must be letters, digits, _ and -, got {name!r}")
        data = np.asarray(data)
        if data.ndim != 3:
            raise RunFolderError(f"map {name!r} must be 3-D, got shape {data.shape}")
        filename = f"{name}.nii.gz"
        self._write_nifti(filename, data, np.asarray(affine, dtype=np.float64), None)
        return self._path / filename

    def _write_nifti(self, filename: str, data: np.ndarray, affine: np.ndarray, tr: float | None) -> None:
        final = self._path / filename
        tmp = self._path / f".{filename.split('.')[0]}.{os.getpid()}.tmp.nii.gz"  # nibabel picks gzip from the suffix
        try:
            img = nib.Nifti1Image(data, affine)
            img.set_qform(affine, code=1)
            img.set_sform(affine, code=1)
            img.header.set_xyzt_units("mm", "sec")
            if tr is not None:
                img.header.set_zooms((*img.header.get_zooms()[:3], tr))
            nib.save(img, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except (OSError, nib.filebasedimages.ImageFileError, nib.spatialimages.HeaderDataError) as exc:
            tmp.unlink(missing_ok=True)
            raise RunFolderError(f"cannot write {final}: {exc}") from exc

    # -- reading ---------------------------------------------------------------
    @staticmethod
    def read_volumes(path: str | os.PathLike[str]) -> list[VolumeRecord]:
        """Read the records of a run folder's ``volumes.jsonl`` (``path``: the folder or the file).

        A trailing partial line (a crash mid-write: bytes after the last line
        break) is ignored, with a warning; blank lines are skipped.

        Raises
        ------
        RunFolderError
            If the file is missing or a complete line is not a JSON object.
        """
        file = Path(path)
        if file.is_dir():
            file = file / RunFolder.VOLUMES_FILE
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise RunFolderError(f"cannot read volume records from {file}: {exc}") from exc
        lines = data.split(b"\n")
        partial = lines.pop()  # bytes after the last newline: empty unless a write was cut short
        if partial.strip():
            log.warning("volumes_partial_line_ignored", path=str(file), bytes=len(partial))
        records: list[VolumeRecord] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise RunFolderError(f"{file}: line {number} is not valid JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise RunFolderError(f"{file}: line {number} is not a JSON object")
            try:
                records.append(VolumeRecord.from_dict(record))
            except RunFolderError as exc:
                raise RunFolderError(f"{file}: line {number}: {exc}") from None
        return records


def _check_prefix(prefix: object) -> None:
    """A run folder prefix is a plain file name: no separator, not ``.`` or ``..``."""
    if not isinstance(prefix, str) or not prefix or prefix in {".", ".."} or any(
        c in prefix for c in ("/", "\\", "\0", os.sep)
    ):
        raise RunFolderError(f"run folder prefix must be a plain file name (no path separator), got {prefix!r}")
