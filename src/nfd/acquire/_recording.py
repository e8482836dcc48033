"""A recorded series, volume by volume: for replays, the scanner simulator and benchmarks.

A recording is a folder of scan files as a scanner wrote them (Siemens
mosaics, enhanced multi-frame DICOMs, 3-D NIfTIs: one file per volume;
GE or Philips classic DICOM: one file per slice), or one 4-D NIfTI.
:func:`plan_recording` works out, from the names and headers only, which
files make which volume and in what order; each :class:`RecordedVolume`
then reads its volume (:meth:`RecordedVolume.read`) or gives the bytes of
its files as a scanner would write them (:meth:`RecordedVolume.file_bytes`).

Order and index of the volumes, as in the watch folder:

* files whose names match the naming pattern: by the number in the name
  (``index = number - first_number``); other files are left out;
* else DICOM volumes by the header's InstanceNumber (``index = number -
  first_number``), and slices by their volume number (see
  :mod:`nfd.acquire._slices`);
* else (NIfTI volumes with unmatched names) in natural name order, the index
  being the position.

A multi-echo recording is one 4-D NIfTI per echo (the echo-1 file is given,
``..._echo-1_bold.nii[.gz]``; the other echoes are the files whose BIDS
``echo`` entity differs), or a folder whose volume files carry an echo
(EchoNumbers in a DICOM header, ``_echo-<n>_`` in a NIfTI's name): each
:class:`RecordedVolume` then has ``echoes``, one single-echo volume per
echo, and :meth:`RecordedVolume.read_echoes` reads them all, each with its
echo number and TE (the header's, else the BIDS sidecar's, else
``echo_times_ms``). A folder of single-slice files of several echoes (GE,
Philips classic: one file per slice and echo) is planned the same way, each
echo a ``"slices"`` volume; a slice's echo is its EchoNumbers, else (GE
exports that write EchoNumbers 1 for every echo) the echo whose TE in
``echo_times_ms`` is the slice's, else the rank of its TE among the TEs of
the folder's slices (offline every file is there to see, unlike online).

A file whose index is already taken (a byte copy, as the rt-cloud sample's
``001_000013_000000.dcm``, numbered below ``first_number``, has a negative
index) is left out.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
import pydicom

from nfd.acquire import _slices
from nfd.acquire._dicom_header import DICOM_DECODE_ERRORS, echo_number, echo_time_ms, nibabel_wrapper
from nfd.acquire._echoes import TE_TOLERANCE_MS, bids_echo, echo_sibling, sidecar_echo_time_ms, sidecar_path
from nfd.acquire._errors import NotAScanError, RecordingError
from nfd.acquire._image import ScanImage
from nfd.acquire._naming import FileNaming
from nfd.acquire._reader import read_scan, read_slice
from nfd.acquire._slices import SliceOptions, VolumeFrom, assemble_volume

__all__ = ["RecordedVolume", "plan_recording"]

Kind = Literal["volume", "slices", "nifti4d"]


@dataclass(frozen=True)
class RecordedVolume:
    """One volume of a recording.

    Attributes
    ----------
    index : int
        0-based acquisition index.
    files : tuple of Path
        The files that hold it, in the order a scanner writes them (slice
        files by InstanceNumber); the 4-D NIfTI for ``kind="nifti4d"``.
    kind : {"volume", "slices", "nifti4d"}
        One file per volume, one file per slice, or a time point of a 4-D
        NIfTI.
    slices_per_volume : int or None
        Slices per volume of a ``"slices"`` volume (None: from the header).
    volume_from : str
        Header field grouping its slices (see :func:`nfd.acquire.read_slice`).
    echoes : tuple of RecordedVolume
        A multi-echo volume: one single-echo volume per echo, by echo
        number (``files`` then holds every echo's files, echo 1's first);
        empty for a single-echo volume.
    echo_times_ms : tuple of float or None
        Per echo, its TE in ms when known before reading (a 4-D NIfTI's
        sidecar, or ``echo_times_ms``), else None (the file gives it).
    slice_echoes : int
        Echoes per volume of the series a ``"slices"`` volume belongs to
        (the ``"instance_number"`` rule counts slices x echoes files).
    """

    index: int
    files: tuple[Path, ...]
    kind: Kind = "volume"
    slices_per_volume: int | None = None
    volume_from: VolumeFrom = "auto"
    _nifti: nib.Nifti1Image | None = field(default=None, repr=False, compare=False)
    echoes: tuple[RecordedVolume, ...] = ()
    echo_times_ms: tuple[float | None, ...] = ()
    slice_echoes: int = 1

    def read_echoes(self) -> tuple[ScanImage, ...]:
        """Every echo of the volume, by echo number, each with ``echo`` and ``echo_time_ms`` (blocking).

        A single-echo volume gives ``(read(),)``, or every echo of a file
        holding several (Siemens XA frames of several echoes, :attr:`ScanImage.file_echoes`).

        Raises
        ------
        ScanFileError
            An echo's file cannot be read.
        RecordingError
            An echo has no echo time (no header, sidecar nor ``echo_times_ms``).
        """
        if not self.echoes:
            return self.read().file_echoes
        images = []
        for echo, (part, known) in enumerate(zip(self.echoes, self.echo_times_ms, strict=True), start=1):
            image = part.read()
            te = image.echo_time_ms if image.echo_time_ms is not None else known
            if te is None:
                raise RecordingError(part.files[0], (
                    f"no echo time for echo {echo}: expected EchoTime in the header, a BIDS sidecar "
                    f"{sidecar_path(part.files[0]).name} with 'EchoTime' (s), or echo_times_ms"
                ))
            images.append(dataclasses.replace(image, echo=echo, echo_time_ms=te))
        return tuple(images)

    def echo_file_bytes(self, name_pattern: str | None = None, first_number: int = 1) -> list[list[tuple[str, bytes]]]:
        """Per echo, its files as a scanner writes them (see :meth:`file_bytes`): a multi-echo volume's.

        The files of a 4-D NIfTI's time point are named
        ``vol_{volume:04d}_echo-{echo}_bold.nii`` by default (the field
        ``echo`` is also known to ``name_pattern``), each preceded by its BIDS
        sidecar (``.json``, ``EchoTime`` in s) when the echo time is known.
        A single-echo volume gives ``[file_bytes(...)]``.
        """
        if not self.echoes:
            return [self.file_bytes(name_pattern, first_number)]
        groups = []
        for echo, (part, te) in enumerate(zip(self.echoes, self.echo_times_ms, strict=True), start=1):
            pattern = name_pattern or ("vol_{volume:04d}_echo-{echo}_bold.nii" if part.kind == "nifti4d" else "{name}")
            files = part.file_bytes(pattern.replace("{echo}", str(echo)), first_number)
            recorded_sidecar = sidecar_path(part.files[0])
            if part.kind == "nifti4d" and te is not None:
                files = [(str(sidecar_path(files[0][0])), json.dumps({"EchoTime": te / 1000.0}).encode()), *files]
            elif part.kind == "volume" and bids_echo(part.files[0].name) and recorded_sidecar.is_file():
                files = [(str(sidecar_path(files[0][0])), recorded_sidecar.read_bytes()), *files]
            groups.append(files)
        return groups

    def read(self) -> ScanImage:
        """The volume (blocking: file I/O and decoding).

        Raises
        ------
        ScanFileError
            A file of the volume cannot be read, or its slices do not make
            a volume.
        """
        if self.echoes:
            return self.read_echoes()[0]
        if self.kind == "volume":
            return read_scan(self.files[0])
        if self.kind == "slices":
            parts = [
                read_slice(path, slices_per_volume=self.slices_per_volume, volume_from=self.volume_from,
                           echoes=self.slice_echoes)
                for path in self.files
            ]
            expected = parts[0].slices_per_volume
            if len(parts) != expected:
                raise NotAScanError(
                    self.files[-1],
                    f"volume {self.index} has {len(parts)} slice files, its header says {expected}",
                )
            return assemble_volume(parts, str(self.files[-1]))
        assert self._nifti is not None
        data = np.asarray(self._nifti.dataobj[..., self.index], dtype=np.float32)
        return ScanImage(
            data=data, affine=np.asarray(self._nifti.affine, dtype=np.float64), format="nifti1"
        )

    def file_bytes(self, name_pattern: str | None = None, first_number: int = 1) -> list[tuple[str, bytes]]:
        """The files of the volume as a scanner writes them: ``(file name, content)``.

        Parameters
        ----------
        name_pattern : str, optional
            A :meth:`str.format` template for the names, with the fields
            ``volume`` (the scanner's number, ``index + first_number``),
            ``index``, ``slice`` (1-based file number within the volume) and
            ``name`` (the recorded name). Default: the recorded names, and
            ``vol_{volume:04d}.nii`` for a 4-D NIfTI's time points (written
            as 3-D NIfTI-1 files).
        first_number : int
            The scanner's number of index 0.

        Raises
        ------
        RecordingError
            When the template has an unknown field or is malformed.
        """
        if self.echoes:
            return [item for group in self.echo_file_bytes(name_pattern, first_number) for item in group]
        if self.kind == "nifti4d":
            assert self._nifti is not None
            volume = np.asanyarray(self._nifti.dataobj[..., self.index])
            if volume.dtype.kind == "f":
                volume = volume.astype(np.float32)
            image = nib.Nifti1Image(volume, self._nifti.affine)
            image.header.set_xyzt_units(*self._nifti.header.get_xyzt_units())
            contents = [image.to_bytes()]
            names = [self.files[0].name]
            pattern = name_pattern or "vol_{volume:04d}.nii"
        else:
            contents = [path.read_bytes() for path in self.files]
            names = [path.name for path in self.files]
            pattern = name_pattern or "{name}"
        out = []
        for number, (name, content) in enumerate(zip(names, contents, strict=True), start=1):
            try:
                out_name = pattern.format(
                    volume=self.index + first_number, index=self.index, slice=number, name=name
                )
            except (KeyError, IndexError, ValueError) as err:
                raise RecordingError(
                    self.files[0],
                    f"file-name template {pattern!r} does not format ({err!r}): expected fields "
                    "among {volume}, {index}, {slice}, {name}",
                ) from err
            out.append((out_name, content))
        return out


def plan_recording(
    source: str | Path,
    *,
    naming: FileNaming | None = None,
    first_number: int = 1,
    slices_per_volume: int | None = None,
    volume_from: VolumeFrom = "auto",
    echo_times_ms: Sequence[float] | None = None,
) -> list[RecordedVolume]:
    """The volumes of a recorded series, in acquisition order, from names and headers only.

    Blocking (lists the folder, reads the headers): call it from a thread
    in an event loop.

    Parameters
    ----------
    source : str or Path
        A folder of scan files, or a 4-D NIfTI file.
    naming : FileNaming, optional
        The file-name pattern giving the volume number (the watch folder's);
        when no file matches it (or it is None), the headers or the natural
        name order give the order (see the module documentation).
    first_number : int
        The scanner's number of index 0.
    slices_per_volume : int, optional
        Single-slice series: slices per volume (default from the header).
    volume_from : {"auto", "temporal_position", "acquisition_number", "instance_number"}
        Single-slice series: the header field grouping slices into volumes.
    echo_times_ms : sequence of float, optional
        Multi-echo recordings: the TE of each echo, ms, where neither the
        header nor a BIDS sidecar gives it.

    Returns
    -------
    list of RecordedVolume
        By increasing index (gaps possible); multi-echo volumes (a 4-D
        NIfTI named ``..._echo-1_...`` with its sibling echoes, or a folder
        of files of several echoes) with ``echoes`` (only the indices every
        echo has).

    Raises
    ------
    RecordingError
        ``source`` does not exist, is neither a folder nor a 3-D/4-D NIfTI,
        or holds no volume.
    ValueError
        ``slices_per_volume`` or ``volume_from`` is invalid.

    Examples
    --------
    >>> import tempfile, pathlib, nibabel as nib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.nii"
    >>> nib.save(nib.Nifti1Image(np.zeros((4, 4, 3, 5), np.int16), np.eye(4)), path)
    >>> volumes = plan_recording(path)
    >>> [v.index for v in volumes], volumes[0].read().shape
    ([0, 1, 2, 3, 4], (4, 4, 3))
    >>> [name for name, _ in volumes[2].file_bytes()]
    ['vol_0003.nii']
    """
    source = Path(source)
    options = SliceOptions(slices_per_volume=slices_per_volume, volume_from=volume_from)
    times = None if echo_times_ms is None else tuple(float(t) for t in echo_times_ms)
    if source.is_dir():
        return _plan_folder(source, naming, first_number, options, times)
    if source.is_file():
        if bids_echo(source.name) == 1 and echo_sibling(source, 2).is_file():
            return _plan_nifti_echoes(source, times)
        return _plan_nifti(source)
    raise RecordingError(source, "no such folder or file: expected a folder of scan files or a 4-D NIfTI")


def _natural_key(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _plan_nifti(path: Path) -> list[RecordedVolume]:
    try:
        image = nib.load(path)
    except Exception as err:  # nibabel raises many types for unreadable files
        raise RecordingError(path, f"not a readable NIfTI ({err!r}): expected a 4-D NIfTI") from err
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image) or len(image.shape) not in (3, 4):
        shape = getattr(image, "shape", None)
        raise RecordingError(path, f"image of shape {shape}: expected a 4-D NIfTI")
    if len(image.shape) == 3:
        image = image.__class__(np.asanyarray(image.dataobj)[..., None], image.affine, image.header)
    elif path.name.endswith(".gz"):
        # Slicing a gzipped file's proxy decompresses it from the start each
        # time: read it once.
        image = image.__class__(np.asanyarray(image.dataobj), image.affine, image.header)
    return [
        RecordedVolume(index=t, files=(path,), kind="nifti4d", _nifti=image)
        for t in range(image.shape[3])
    ]


def _plan_nifti_echoes(first: Path, echo_times_ms: tuple[float, ...] | None) -> list[RecordedVolume]:
    """One 4-D NIfTI per echo: the echo-1 file and its siblings ``echo-2``, ``echo-3``... while they exist."""
    paths = [first]
    while echo_sibling(first, len(paths) + 1).is_file():
        paths.append(echo_sibling(first, len(paths) + 1))
    if echo_times_ms is not None and len(echo_times_ms) != len(paths):
        raise RecordingError(first, f"{len(paths)} echo files, but {len(echo_times_ms)} echo_times_ms")
    per_echo = [_plan_nifti(path) for path in paths]
    grids = [(p[0]._nifti.shape, p[0]._nifti.affine.tobytes()) for p in per_echo if p[0]._nifti is not None]
    for path, grid in zip(paths[1:], grids[1:], strict=True):
        if grid != grids[0]:
            raise RecordingError(path, f"image of shape {grid[0]} or affine unlike echo 1's {grids[0][0]}: "
                                 "expected every echo on one grid, with as many volumes")
    times = tuple(
        sidecar_echo_time_ms(path) or (None if echo_times_ms is None else echo_times_ms[k])
        for k, path in enumerate(paths)
    )
    return [
        _echo_volume(volumes[0].index, volumes, times)
        for volumes in zip(*per_echo, strict=True)
    ]


def _echo_volume(
    index: int, echoes: Sequence[RecordedVolume], times: Sequence[float | None]
) -> RecordedVolume:
    """A multi-echo volume of its echoes' single-echo volumes."""
    files = tuple(path for echo in echoes for path in echo.files)
    return RecordedVolume(index, files, echoes[0].kind, echoes=tuple(echoes), echo_times_ms=tuple(times))


#: What reading a file's header raises when the file is not a volume or slice of a series.
_HEADER_ERRORS: tuple[type[BaseException], ...] = (NotAScanError, *DICOM_DECODE_ERRORS)


@dataclass
class _Header:
    path: Path
    kind: Literal["volume", "slices"]
    number: int | None  # header volume number (1-based)
    order: int | None  # InstanceNumber, for the order of slice files
    echo: int | None = None  # EchoNumbers, or the NIfTI name's BIDS echo
    te: float | None = None  # a slice's EchoTime, ms
    n: int | None = None  # a slice's slices per volume
    fields: dict[str, object] = field(default_factory=dict)  # a slice's volume-number fields


#: The header fields a slice's volume number comes from (:func:`nfd.acquire._slices.header_volume_number`).
_VOLUME_FIELDS = ("InstanceNumber", "TemporalPositionIdentifier", "AcquisitionNumber", "Manufacturer")


def _read_header(path: Path, options: SliceOptions) -> _Header | None:
    """What a file is, from its header only (None: not a DICOM image nor a NIfTI)."""
    with open(path, "rb") as handle:
        head = handle.read(132)
    if len(head) < 132 or head[128:132] != b"DICM":
        nifti = len(head) >= 4 and int.from_bytes(head[:4], "little") in (348, 540)
        if nifti or head[:2] == b"\x1f\x8b":  # .nii, .nii.gz
            return _Header(path, "volume", None, None, bids_echo(path.name)) if _is_3d_nifti(path) else None
        return None
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wrapper = nibabel_wrapper(ds, str(path))
        order = _int_or_none(ds.get("InstanceNumber"))
        if not _slices.accepts(wrapper):
            return _Header(path, "volume", order, order, echo_number(ds))
        n = options.slices_per_volume or _slices.slice_count(ds)
        if n is None:
            raise RecordingError(
                path, "single-slice DICOM without a slice count in the header: set slices_per_volume"
            )
        number = _slices.header_volume_number(ds, n, options.volume_from, str(path))
        fields = {keyword: ds.get(keyword) for keyword in _VOLUME_FIELDS}
    except _HEADER_ERRORS:
        return None
    return _Header(path, "slices", number, order, echo_number(ds), echo_time_ms(ds), n, fields)


def _is_3d_nifti(path: Path) -> bool:
    """Whether a file is a NIfTI of one 3-D volume (a 4-D reference beside the files is not)."""
    try:
        shape: tuple[int, ...] = getattr(nib.load(path), "shape", ())
    except Exception:  # noqa: BLE001 - nibabel raises many types for unreadable files
        return False
    return len(shape) == 3 or (len(shape) == 4 and shape[3] == 1)


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _plan_folder(
    folder: Path,
    naming: FileNaming | None,
    first_number: int,
    options: SliceOptions,
    echo_times_ms: tuple[float, ...] | None = None,
) -> list[RecordedVolume]:
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: _natural_key(p.name),
    )
    if naming is not None:
        matched = [p for p in files if naming.volume_number(p.name) is not None]
        if matched:
            files = matched
    headers = [h for h in (_read_header(p, options) for p in files) if h is not None]
    if not headers:
        raise RecordingError(folder, "no scan files in the folder: expected DICOM or NIfTI volumes")
    volume_headers = [h for h in headers if h.kind == "volume"]
    echoes = sorted({h.echo for h in volume_headers if h.echo is not None})
    if len(echoes) > 1:
        return _plan_folder_echoes(folder, volume_headers, echoes, naming, first_number, echo_times_ms)
    slice_headers = [h for h in headers if h.kind == "slices"]
    slice_echoes = _slice_echoes(slice_headers, echo_times_ms)
    if len(set(slice_echoes)) > 1:
        return _plan_slice_echoes(folder, slice_headers, slice_echoes, first_number, options, echo_times_ms)
    volumes = _plan_volumes(volume_headers, naming, first_number)
    slice_files: dict[int, list[_Header]] = {}
    for header in headers:
        if header.kind == "slices":
            assert header.number is not None
            slice_files.setdefault(header.number - first_number, []).append(header)
    for index, group in slice_files.items():
        if index < 0 or index in volumes:
            continue
        group.sort(key=lambda h: (h.order if h.order is not None else 0, _natural_key(h.path.name)))
        volumes[index] = RecordedVolume(
            index, tuple(h.path for h in group), "slices", options.slices_per_volume, options.volume_from
        )
    return [volumes[i] for i in sorted(volumes)]


def _plan_folder_echoes(
    folder: Path,
    headers: list[_Header],
    echoes: list[int],
    naming: FileNaming | None,
    first_number: int,
    echo_times_ms: tuple[float, ...] | None,
) -> list[RecordedVolume]:
    """A folder of volume files of several echoes: each echo planned alone, the indices every echo has kept."""
    if echoes != list(range(1, len(echoes) + 1)):
        raise RecordingError(folder, f"files of echoes {echoes}: expected echoes 1..{len(echoes)}")
    if echo_times_ms is not None and len(echo_times_ms) != len(echoes):
        raise RecordingError(folder, f"{len(echoes)} echoes, but {len(echo_times_ms)} echo_times_ms")
    per_echo = [_plan_volumes([h for h in headers if h.echo == e], naming, first_number) for e in echoes]
    common = sorted(set.intersection(*(set(volumes) for volumes in per_echo)))
    times = tuple(None if echo_times_ms is None else echo_times_ms[e - 1] for e in echoes)
    return [_echo_volume(i, [volumes[i] for volumes in per_echo], times) for i in common]


def _slice_echoes(headers: list[_Header], echo_times_ms: tuple[float, ...] | None) -> list[int]:
    """Each slice's echo: EchoNumbers; for slices numbered 1 (or none), the TE's in ``echo_times_ms``, or its rank.

    The rank of a slice's TE among the folder's is used only when no slice
    is numbered above 1 (GE's EchoNumbers 1 for every echo) and no
    ``echo_times_ms`` is given.
    """
    def matched(te: float | None) -> int | None:
        if te is None or echo_times_ms is None:
            return None
        hits = [k for k, t in enumerate(echo_times_ms, start=1) if abs(t - te) <= TE_TOLERANCE_MS]
        return hits[0] if len(hits) == 1 else None

    echoes = [(h.echo if h.echo not in (None, 1) else matched(h.te) or h.echo or 1) for h in headers]
    if echo_times_ms is None and set(echoes) == {1}:
        times = sorted({round(h.te / TE_TOLERANCE_MS) for h in headers if h.te is not None})
        if len(times) > 1 and all(h.te is not None for h in headers):
            echoes = [times.index(round(h.te / TE_TOLERANCE_MS)) + 1 for h in headers if h.te is not None]
    return echoes


def _plan_slice_echoes(
    folder: Path,
    headers: list[_Header],
    echoes: list[int],
    first_number: int,
    options: SliceOptions,
    echo_times_ms: tuple[float, ...] | None,
) -> list[RecordedVolume]:
    """A folder of single-slice files of several echoes: per (volume, echo) its slices, the indices every echo has."""
    n_echoes = max(echoes)
    if sorted(set(echoes)) != list(range(1, n_echoes + 1)):
        raise RecordingError(folder, f"slice files of echoes {sorted(set(echoes))}: expected echoes 1..{n_echoes}")
    if echo_times_ms is not None and len(echo_times_ms) != n_echoes:
        raise RecordingError(folder, f"{n_echoes} echoes, but {len(echo_times_ms)} echo_times_ms")
    groups: dict[tuple[int, int], list[_Header]] = {}
    times: dict[int, float | None] = {e: None if echo_times_ms is None else echo_times_ms[e - 1]
                                      for e in range(1, n_echoes + 1)}
    for header, echo in zip(headers, echoes, strict=True):
        assert header.n is not None
        try:
            number = _slices.header_volume_number(header.fields, header.n, options.volume_from, str(header.path),
                                                  n_echoes)
        except NotAScanError:
            continue
        if number - first_number >= 0:
            groups.setdefault((number - first_number, echo), []).append(header)
    volumes = []
    for index in sorted({i for i, _ in groups if all((i, e) in groups for e in range(1, n_echoes + 1))}):
        parts = []
        for echo in range(1, n_echoes + 1):
            group = sorted(groups[(index, echo)], key=lambda h: (h.order or 0, _natural_key(h.path.name)))
            parts.append(RecordedVolume(index, tuple(h.path for h in group), "slices", options.slices_per_volume,
                                        options.volume_from, slice_echoes=n_echoes))
        volumes.append(_echo_volume(index, parts, [times[e] for e in range(1, n_echoes + 1)]))
    return volumes


def _plan_volumes(
    volume_headers: list[_Header], naming: FileNaming | None, first_number: int
) -> dict[int, RecordedVolume]:
    """One-file volumes by index: from the names, else the headers, else the position (see the module documentation)."""
    volumes: dict[int, RecordedVolume] = {}
    by_name = naming is not None and all(
        naming.volume_number(h.path.name) is not None for h in volume_headers
    )
    by_header = all(h.number is not None for h in volume_headers)
    for position, header in enumerate(volume_headers):
        if by_name:
            assert naming is not None
            number = naming.volume_number(header.path.name)
            assert number is not None
            index = number - first_number
        elif by_header:
            assert header.number is not None
            index = header.number - first_number
        else:
            index = position
        if index >= 0 and index not in volumes:
            volumes[index] = RecordedVolume(index, (header.path,), "volume")
    return volumes
