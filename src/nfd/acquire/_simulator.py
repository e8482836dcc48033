"""A scanner for rehearsals and tests: a recorded series written into a watch folder at the TR.

:func:`simulate_scanner` copies a recording (see
:func:`nfd.acquire.plan_recording`: a folder of DICOMs in any supported
format, or a 4-D NIfTI split into 3-D NIfTI volumes) into a folder, one
volume per TR, writing each file the way scanners and their exports do:

``"chunks"``
    opened, written in ``chunks`` parts with ``chunk_pause`` seconds between
    them, closed (a slow export, a network share);
``"rename"``
    written whole under a temporary name in the same folder
    (``.<name>.part``), then renamed (Siemens' real-time export);
``"direct"``
    written whole in one call.

The files of a single-slice volume are written one by one over
``slice_spread`` of the TR, in the order the scanner numbered them. A
multi-echo recording (one 4-D NIfTI per echo, or a folder of files of
several echoes; see :func:`nfd.acquire.plan_recording`) is written one file
per echo and volume (a NIfTI preceded by its BIDS sidecar), the echoes of a
volume in random order (``seed``) over ``slice_spread`` of the TR. Faults
of real sessions can be injected: volumes dropped (never written), written
twice (a byte copy, see below), or written in swapped order.

:func:`main` is the ``nfd simulate-scanner`` command line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog

from nfd._checks import check_option, ensure_float, ensure_int
from nfd.acquire._echoes import BIDS_ECHO
from nfd.acquire._errors import RecordingError
from nfd.acquire._naming import FileNaming
from nfd.acquire._recording import RecordedVolume, plan_recording
from nfd.acquire._slices import VOLUME_FROM, VolumeFrom

__all__ = ["SimulationReport", "duplicate_name", "main", "simulate_scanner"]

log = structlog.get_logger(__name__)

WriteMode = Literal["chunks", "rename", "direct"]
WRITE_MODES: tuple[str, ...] = ("chunks", "rename", "direct")


@dataclass
class SimulationReport:
    """What the simulated scanner wrote.

    Attributes
    ----------
    written : list of int
        Indices of the volumes written, in the order written.
    dropped : list of int
        Indices of the volumes left out.
    duplicated : list of int
        Indices of the volumes written a second time.
    files : list of Path
        Every file written, in order (duplicates included).
    duration_s : float
        Seconds from the first write to the last.
    """

    written: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    duration_s: float = 0.0


def duplicate_name(name: str, kind: str) -> str:
    """The name under which a duplicated file is written a second time.

    For a volume file the last run of digits of the name becomes zeros (the
    volume number 0, below any first number): a byte copy under another
    volume's name, as the rt-cloud sample's ``001_000013_000000.dcm``. A
    slice file (whose name does not number volumes) is prefixed with
    ``dup_``.

    Examples
    --------
    >>> duplicate_name("001_000007_000012.dcm", "volume")
    '001_000007_000000.dcm'
    >>> duplicate_name("vol_0005.nii", "nifti4d")
    'vol_0000.nii'
    >>> duplicate_name("image-00016.dcm", "slices")
    'dup_image-00016.dcm'
    """
    if kind != "slices":
        matches = list(re.finditer(r"\d+", name))
        if matches:
            last = matches[-1]
            return name[: last.start()] + "0" * len(last.group()) + name[last.end() :]
    return "dup_" + name


def _echo_duplicate_name(name: str, kind: str) -> str:
    """:func:`duplicate_name` of an echo file, its BIDS ``echo`` entity kept (the digits before it zeroed).

    Examples
    --------
    >>> _echo_duplicate_name("vol_0005_echo-2_bold.nii", "nifti4d")
    'vol_0000_echo-2_bold.nii'
    >>> _echo_duplicate_name("001_000013_200005.dcm", "volume")
    '001_000013_000000.dcm'
    """
    match = BIDS_ECHO.search(name)
    if match is None or not re.search(r"\d", name[: match.start()]):
        return duplicate_name(name, kind)
    return duplicate_name(name[: match.start()], kind) + name[match.start() :]


def _schedule(
    volumes: Sequence[RecordedVolume],
    drop: Iterable[int],
    swap: Iterable[tuple[int, int]],
) -> tuple[list[RecordedVolume | None], list[int]]:
    """The volume written at each TR slot (None: dropped), and the dropped indices."""
    by_index = {v.index: v for v in volumes}
    slots: list[RecordedVolume | None] = list(volumes)
    position = {v.index: k for k, v in enumerate(volumes)}
    for a, b in swap:
        for i in (a, b):
            if i not in by_index:
                raise RecordingError(
                    volumes[0].files[0].parent, f"cannot swap volume {i}: the recording has no such index"
                )
        pa, pb = position[a], position[b]
        slots[pa], slots[pb] = slots[pb], slots[pa]
    dropped = sorted(set(drop))
    for i in dropped:
        if i not in by_index:
            raise RecordingError(
                volumes[0].files[0].parent, f"cannot drop volume {i}: the recording has no such index"
            )
        slots[position[i]] = None
    return slots, dropped


def _write_whole(path: Path, content: bytes, rename: bool) -> None:
    """Write a file in one call, under a temporary name first when ``rename`` (blocking)."""
    if not rename:
        path.write_bytes(content)
        return
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(content)
    os.replace(temporary, path)


async def _write(path: Path, content: bytes, mode: WriteMode, chunks: int, pause: float) -> None:
    """Write one file the way ``mode`` says."""
    if mode != "chunks":
        await asyncio.to_thread(_write_whole, path, content, mode == "rename")
        return
    n = max(1, min(chunks, len(content)))
    bounds = [len(content) * k // n for k in range(n + 1)]
    # Blocking writes on purpose: each part lands at once, between the pauses, as a scanner's write does.
    with open(path, "wb") as handle:  # noqa: ASYNC230 - the parts must land between awaits, not in a thread
        for k in range(n):
            handle.write(content[bounds[k] : bounds[k + 1]])
            handle.flush()
            if k < n - 1:
                await asyncio.sleep(pause)


@dataclass(frozen=True)
class _Writer:
    """How the simulated scanner writes each volume's files into the watch folder."""

    watch: Path
    tr: float
    mode: WriteMode
    chunks: int
    chunk_pause: float | None
    slice_spread: float
    name_pattern: str | None
    first_number: int
    rng: random.Random = field(default_factory=random.Random)

    async def volume(self, volume: RecordedVolume, twice: bool, report: SimulationReport) -> None:
        """Write one volume's files over its TR slot (and their byte copies when ``twice``)."""
        if volume.echoes:
            await self.echoes(volume, twice, report)
            return
        loop = asyncio.get_running_loop()
        files = await asyncio.to_thread(volume.file_bytes, self.name_pattern, self.first_number)
        interval = self.tr * self.slice_spread / len(files) if len(files) > 1 else self.tr
        pause = self.chunk_pause if self.chunk_pause is not None else interval / 10 / self.chunks
        slot_start = loop.time()
        for k, (name, content) in enumerate(files):
            await asyncio.sleep(max(0.0, slot_start + k * interval - loop.time()))
            path = self.watch / name
            await _write(path, content, self.mode, self.chunks, pause)
            report.files.append(path)
        report.written.append(volume.index)
        if twice:
            for name, content in files:
                path = self.watch / duplicate_name(name, volume.kind)
                await _write(path, content, self.mode, self.chunks, pause)
                report.files.append(path)
            report.duplicated.append(volume.index)
        log.debug("volume_written", index=volume.index, files=len(files))

    async def echoes(self, volume: RecordedVolume, twice: bool, report: SimulationReport) -> None:
        """Write a multi-echo volume: its echoes in random order over ``slice_spread`` of the TR slot."""
        loop = asyncio.get_running_loop()
        groups = await asyncio.to_thread(volume.echo_file_bytes, self.name_pattern, self.first_number)
        self.rng.shuffle(groups)
        interval = self.tr * self.slice_spread / len(groups)
        pause = self.chunk_pause if self.chunk_pause is not None else interval / 10 / self.chunks
        slot_start = loop.time()
        for k, files in enumerate(groups):
            await asyncio.sleep(max(0.0, slot_start + k * interval - loop.time()))
            for name, content in files:  # a sidecar (whole, at once) before its NIfTI
                path = self.watch / name
                if name.endswith(".json"):
                    await asyncio.to_thread(_write_whole, path, content, True)
                else:
                    await _write(path, content, self.mode, self.chunks, pause)
                report.files.append(path)
        report.written.append(volume.index)
        if twice:  # a byte copy of every echo file
            for name, content in (item for group in groups for item in group):
                if not name.endswith(".json"):
                    path = self.watch / _echo_duplicate_name(name, volume.kind)
                    await _write(path, content, self.mode, self.chunks, pause)
                    report.files.append(path)
            report.duplicated.append(volume.index)
        log.debug("volume_written", index=volume.index, files=sum(len(g) for g in groups), echoes=len(groups))


def _check_pacing(
    tr: float, mode: str, chunks: int, chunk_pause: float | None, slice_spread: float, n_volumes: int | None
) -> None:
    """Refuse an out-of-range argument of :func:`simulate_scanner` (ValueError naming it)."""
    ensure_float(tr, "tr", positive=True)
    check_option("mode", mode, WRITE_MODES)
    ensure_int(chunks, "chunks", minimum=1)
    if chunk_pause is not None:
        ensure_float(chunk_pause, "chunk_pause", minimum=0)
    if not 0 < ensure_float(slice_spread, "slice_spread") <= 1:
        raise ValueError(f"slice_spread must be in (0, 1], got {slice_spread!r}")
    if n_volumes is not None:
        ensure_int(n_volumes, "n_volumes", minimum=1)


def _volumes_to_write(
    source: str | Path,
    volumes: list[RecordedVolume],
    drop: Iterable[int],
    duplicate: Iterable[int],
    swap: Iterable[tuple[int, int]],
) -> tuple[list[RecordedVolume | None], list[int], set[int]]:
    """The volume of each TR slot (None: dropped), the dropped indices and the duplicated ones."""
    if not volumes:
        raise RecordingError(source, "no volumes to write")
    slots, dropped = _schedule(volumes, drop, swap)
    duplicates = set(duplicate)
    for i in duplicates:
        if not any(v.index == i for v in volumes):
            raise RecordingError(source, f"cannot duplicate volume {i}: the recording has no such index")
    return slots, dropped, duplicates


async def simulate_scanner(
    source: str | Path,
    watch: str | Path,
    tr: float,
    *,
    mode: WriteMode = "chunks",
    chunks: int = 3,
    chunk_pause: float | None = None,
    drop: Iterable[int] = (),
    duplicate: Iterable[int] = (),
    swap: Iterable[tuple[int, int]] = (),
    n_volumes: int | None = None,
    name_pattern: str | None = None,
    naming: FileNaming | None = None,
    first_number: int = 1,
    slices_per_volume: int | None = None,
    volume_from: VolumeFrom = "auto",
    slice_spread: float = 0.5,
    echo_times_ms: Sequence[float] | None = None,
    seed: int | None = None,
) -> SimulationReport:
    """Write a recorded series into a watch folder at the TR, as a scanner does.

    Parameters
    ----------
    source : str or Path
        A folder of scan files (Siemens mosaic, enhanced DICOM, single-slice
        GE/Philips DICOM, 3-D NIfTI) or a 4-D NIfTI.
    watch : str or Path
        The folder written to (created if absent).
    tr : float
        Seconds between the starts of consecutive volumes (> 0).
    mode : {"chunks", "rename", "direct"}
        How each file is written (see the module documentation).
    chunks : int
        Parts of each file in ``"chunks"`` mode (>= 1).
    chunk_pause : float, optional
        Seconds between the parts; default a tenth of the time between two
        files (the TR, or the slice interval for slice files) divided by
        ``chunks``.
    drop : iterable of int
        0-based indices of volumes never written.
    duplicate : iterable of int
        0-based indices of volumes written twice: right after the original, a
        byte copy of each of its files under :func:`duplicate_name`.
    swap : iterable of (int, int)
        Pairs of indices whose TR slots are exchanged (the later volume is
        written first).
    n_volumes : int, optional
        Write only the first ``n_volumes`` volumes of the recording.
    name_pattern : str, optional
        Template of the written names (see
        :meth:`nfd.acquire.RecordedVolume.file_bytes`); default the recorded
        names (``vol_{volume:04d}.nii`` for a 4-D NIfTI).
    naming : FileNaming, optional
        Pattern giving volume numbers in the recorded names (see
        :func:`nfd.acquire.plan_recording`).
    first_number : int
        The scanner's number of index 0.
    slices_per_volume : int, optional
        Slices per volume of a single-slice series (default from the header).
    volume_from : {"auto", "temporal_position", "acquisition_number", "instance_number"}
        Header field grouping slices into volumes.
    slice_spread : float
        Fraction of the TR over which the files of a single-slice volume are
        written (0 < slice_spread <= 1); also the echo files of a multi-echo volume.
    echo_times_ms : sequence of float, optional
        Multi-echo recordings: TE per echo, ms, where no header or sidecar
        gives it (written into the sidecars of 4-D NIfTI echoes).
    seed : int, optional
        Seed of the order in which a multi-echo volume's echoes are written.

    Returns
    -------
    SimulationReport

    Raises
    ------
    RecordingError
        The source holds no volumes, or an index to drop, duplicate or swap
        is not in it.
    ValueError
        An argument is out of range (the message names it).

    Examples
    --------
    >>> import asyncio, tempfile, pathlib, nibabel as nib, numpy as np
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> nib.save(nib.Nifti1Image(np.zeros((4, 4, 3, 4), np.int16), np.eye(4)), root / "run.nii")
    >>> report = asyncio.run(simulate_scanner(root / "run.nii", root / "watch", tr=0.01,
    ...                                       drop=[1], swap=[(2, 3)], duplicate=[0]))
    >>> report.written, report.dropped, sorted(p.name for p in (root / "watch").iterdir())
    ([0, 3, 2], [1], ['vol_0000.nii', 'vol_0001.nii', 'vol_0003.nii', 'vol_0004.nii'])
    """
    _check_pacing(tr, mode, chunks, chunk_pause, slice_spread, n_volumes)
    tr, watch = float(tr), Path(watch)
    volumes = await asyncio.to_thread(
        plan_recording,
        source,
        naming=naming,
        first_number=first_number,
        slices_per_volume=slices_per_volume,
        volume_from=volume_from,
        echo_times_ms=echo_times_ms,
    )
    volumes = volumes[:n_volumes]
    slots, dropped, duplicates = _volumes_to_write(source, volumes, drop, duplicate, swap)
    await asyncio.to_thread(watch.mkdir, parents=True, exist_ok=True)
    writer = _Writer(watch, tr, mode, chunks, chunk_pause, slice_spread, name_pattern, first_number,
                     random.Random(seed))
    report = SimulationReport(dropped=dropped)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    log.info("simulation_started", source=str(source), watch=str(watch), volumes=len(volumes), tr=tr)
    for slot, volume in enumerate(slots):
        await asyncio.sleep(max(0.0, t0 + slot * tr - loop.time()))
        if volume is not None:
            await writer.volume(volume, volume.index in duplicates, report)
    report.duration_s = loop.time() - t0
    log.info(
        "simulation_finished",
        written=len(report.written),
        dropped=report.dropped,
        duplicated=report.duplicated,
        duration_s=round(report.duration_s, 3),
    )
    return report


def _index_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected volume indices like 12 or 3,7, got {text!r}") from None


def _times(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected echo times in ms like 14.5,38.5,62.5, got {text!r}") from None


def _pair(text: str) -> tuple[int, int]:
    values = _index_list(text)
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected two volume indices like 7,8, got {text!r}")
    return values[0], values[1]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nfd simulate-scanner",
        description="Write a recorded series into a watch folder at the TR, as a scanner does.",
    )
    p.add_argument("--source", required=True, type=Path, metavar="PATH",
                   help="a folder of DICOM/NIfTI scan files, or a 4-D NIfTI")
    p.add_argument("--watch", required=True, type=Path, metavar="DIR", help="the folder to write to")
    p.add_argument("--tr", required=True, type=float, metavar="SECONDS", help="seconds between volumes")
    p.add_argument("--mode", choices=WRITE_MODES, default="chunks",
                   help="chunks (pauses inside each file), rename (temporary name, then rename), "
                   "direct (one write); default chunks")
    p.add_argument("--chunks", type=int, default=3, help="parts per file in chunks mode (default 3)")
    p.add_argument("--chunk-pause", type=float, default=None, metavar="SECONDS",
                   help="pause between parts (default a tenth of the time between files / chunks)")
    p.add_argument("--drop", type=_index_list, action="append", default=[], metavar="I[,J...]",
                   help="0-based indices of volumes never written")
    p.add_argument("--duplicate", type=_index_list, action="append", default=[], metavar="I[,J...]",
                   help="0-based indices of volumes written twice (a byte copy)")
    p.add_argument("--swap", type=_pair, action="append", default=[], metavar="I,J",
                   help="two volumes written in each other's TR slot")
    p.add_argument("--volumes", type=int, default=None, metavar="N", help="write only the first N volumes")
    p.add_argument("--name-pattern", default=None, metavar="TEMPLATE",
                   help="names of the files written, e.g. 'vol_{volume:04d}.nii' (fields volume, "
                   "index, slice, name); default the recorded names")
    p.add_argument("--pattern", default=None, metavar="REGEX",
                   help="regular expression with a (?P<volume>...) group numbering the recorded files")
    p.add_argument("--first-number", type=int, default=1, help="the scanner's number of the first volume")
    p.add_argument("--slices-per-volume", type=int, default=None,
                   help="single-slice series: slices per volume (default from the header)")
    p.add_argument("--volume-from", choices=VOLUME_FROM, default="auto",
                   help="single-slice series: header field giving each slice's volume")
    p.add_argument("--slice-spread", type=float, default=0.5,
                   help="fraction of the TR over which a volume's slice (or echo) files are written")
    p.add_argument("--echo-times", type=_times, default=None, metavar="MS[,MS...]",
                   help="multi-echo source: echo times in ms where no header or sidecar gives them")
    p.add_argument("--seed", type=int, default=None, help="seed of the order of a volume's echo files")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``nfd simulate-scanner``: returns 0, or 2 on a bad source or option (one line on stderr).

    Usage errors of the options themselves exit through argparse (status 2).
    """
    args = _parser().parse_args(argv)
    try:
        naming = FileNaming(args.pattern) if args.pattern is not None else None
        report = asyncio.run(
            simulate_scanner(
                args.source,
                args.watch,
                args.tr,
                mode=args.mode,
                chunks=args.chunks,
                chunk_pause=args.chunk_pause,
                drop=[i for group in args.drop for i in group],
                duplicate=[i for group in args.duplicate for i in group],
                swap=args.swap,
                n_volumes=args.volumes,
                name_pattern=args.name_pattern,
                naming=naming,
                first_number=args.first_number,
                slices_per_volume=args.slices_per_volume,
                volume_from=args.volume_from,
                slice_spread=args.slice_spread,
                echo_times_ms=args.echo_times,
                seed=args.seed,
            )
        )
    except (RecordingError, ValueError) as err:
        print(f"nfd simulate-scanner: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(
        f"nfd simulate-scanner: wrote {len(report.written)} volumes ({len(report.files)} files) "
        f"into {args.watch} in {report.duration_s:.1f} s; dropped {report.dropped or 'none'}, "
        f"duplicated {report.duplicated or 'none'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":  # pragma: no cover - python -m nfd.acquire._simulator
    raise SystemExit(main())
