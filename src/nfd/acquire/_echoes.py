"""Multi-echo input: which echo a file holds, its echo time, and whether it fits the run.

A multi-echo volume is one file per echo (Siemens mosaic, NIfTI), or one
file per slice and echo (GE, Philips classic: the slices of each echo are
stacked first, then judged as a one-file echo). The echo number and echo
time (TE) come from

* DICOM: EchoNumbers (0018,0086) and EchoTime (0018,0081), ms (the readers);
* NIfTI: the BIDS ``_echo-<n>_`` entity of the file name
  (:func:`bids_echo`), and the ``EchoTime`` (s) of the BIDS JSON sidecar
  beside the file (same name, ``.json``; :func:`sidecar_echo_time_ms`);
* else ``echo_times_ms`` given to the watcher (one TE per echo).

:class:`EchoRun` is the pure judge the watch folder uses: an echo number
out of ``1..echoes`` or missing, an echo on another grid than the run's
first echo file, a TE differing from the one the run first had for that
echo, or no TE at all, is refused with the reason (one log line, written by
the watcher). No I/O besides the sidecar read, no clock.

Some GE exports write EchoNumbers 1 for every echo (dcm2niix issue #359):
a file numbered 1 (or not at all) whose TE is that of another echo in
``echo_times_ms`` is of that echo. Without ``echo_times_ms`` such files
cannot be told apart online (the TEs seen so far need not be all of them),
and :meth:`EchoRun.unnumbered` says so, for the watcher to refuse the run's
slices with one line asking for ``[multiecho] echo_times_ms``.

References
----------
BIDS specification, "Echo" entity and ``EchoTime`` (seconds):
https://bids-specification.readthedocs.io/en/stable/appendices/entities.html#echo
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from nfd.acquire._image import ScanImage

__all__ = [
    "BIDS_ECHO",
    "EchoCheck",
    "EchoRun",
    "Echoed",
    "bids_echo",
    "echo_sibling",
    "sidecar_echo_time_ms",
    "sidecar_path",
    "with_nifti_echo",
]

#: The BIDS echo entity in a file name: ``_echo-<n>_`` (or ``_echo-<n>.`` before the extension).
BIDS_ECHO = re.compile(r"(?:^|_)echo-(?P<echo>\d+)(?=[_.]|$)")

#: Two affines closer than this (mm, every element) are the same grid.
GRID_TOLERANCE_MM = 1e-3
#: Two echo times closer than this (ms) are the same.
TE_TOLERANCE_MS = 1e-3


def bids_echo(name: str) -> int | None:
    """The echo number of a file name's BIDS ``echo`` entity, None when it has none (or 0).

    Examples
    --------
    >>> bids_echo("sub-01_task-nf_echo-2_bold.nii.gz"), bids_echo("vol_0003.nii"), bids_echo("echo-3.nii")
    (2, None, 3)
    """
    match = BIDS_ECHO.search(Path(name).name)
    if match is None:
        return None
    number = int(match.group("echo"))
    return number if number >= 1 else None


def echo_sibling(path: Path, echo: int) -> Path:
    """The file of another echo: the name's ``echo-<n>`` entity replaced.

    Examples
    --------
    >>> echo_sibling(Path("/d/sub-01_echo-1_bold.nii.gz"), 3).name
    'sub-01_echo-3_bold.nii.gz'
    """
    name = BIDS_ECHO.sub(lambda m: m.group(0).replace(f"echo-{m.group('echo')}", f"echo-{echo}"), path.name, count=1)
    return path.with_name(name)


def sidecar_path(path: str | Path) -> Path:
    """The BIDS JSON sidecar of a NIfTI file: the same name with ``.json`` for ``.nii`` / ``.nii.gz``.

    Examples
    --------
    >>> sidecar_path("/d/sub-01_echo-1_bold.nii.gz").name
    'sub-01_echo-1_bold.json'
    """
    path = Path(path)
    name = path.name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)] + ".json")
    return path.with_suffix(".json")


def sidecar_echo_time_ms(path: str | Path) -> float | None:
    """The ``EchoTime`` of a NIfTI's BIDS sidecar, converted from s to ms; None when absent or unusable.

    A sidecar that is missing, unreadable, not JSON, or whose ``EchoTime``
    is not a number > 0 gives None (the caller then looks elsewhere).
    """
    try:
        content = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    value = content.get("EchoTime") if isinstance(content, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    te = float(value) * 1000.0
    return te if math.isfinite(te) and te > 0 else None


def with_nifti_echo(image: ScanImage, name: str) -> ScanImage:
    """A NIfTI volume with its echo number (the name's BIDS entity) and TE (the sidecar), when found.

    ``name`` is the file's path (a sidecar is looked for beside it only when
    the name carries an echo entity, so single-echo files cost no I/O).
    """
    echo = bids_echo(name)
    if echo is None:
        return image
    return dataclasses.replace(image, echo=echo, echo_time_ms=sidecar_echo_time_ms(name))


class Echoed(Protocol):
    """What the echo judge reads of a file: a volume (ScanImage) or one slice (SliceImage)."""

    @property
    def echo(self) -> int | None:
        """EchoNumbers, or the BIDS entity; None when absent."""

    @property
    def echo_time_ms(self) -> float | None:
        """EchoTime, ms; None when absent."""


@dataclass(frozen=True)
class EchoCheck:
    """What :class:`EchoRun` says of one echo file.

    Attributes
    ----------
    echo : int or None
        Its 1-based echo number (None when it has none).
    echo_time_ms : float or None
        Its TE, ms: the header's or sidecar's, else the fallback's.
    reason : str
        Why it is refused; empty when it is not.
    """

    echo: int | None
    echo_time_ms: float | None = None
    reason: str = ""


class EchoRun:
    """The run's echoes: their number, their TEs and the grid, learnt from the first files taken.

    Parameters
    ----------
    echoes : int
        Echoes per volume (>= 1).
    echo_times_ms : sequence of float or None
        Fallback TE per echo, ms, for files whose format lacks them.

    Examples
    --------
    >>> run = EchoRun(2)
    >>> image = ScanImage(np.zeros((2, 2, 2)), np.eye(4), echo=2, echo_time_ms=30.0)
    >>> run.number(image), run.check(image, 2).reason
    (EchoCheck(echo=2, echo_time_ms=None, reason=''), '')
    >>> run.accept(image, 2, 30.0)
    >>> run.check(ScanImage(np.zeros((2, 2, 2)), np.eye(4), echo=2, echo_time_ms=31.0), 2).reason
    'echo time 31.0 ms for echo 2, the run began with 30.0 ms: echo times may not change during a run'
    """

    def __init__(self, echoes: int, echo_times_ms: Sequence[float] | None = None) -> None:
        self.echoes = echoes
        self.fallback = None if echo_times_ms is None else tuple(float(t) for t in echo_times_ms)
        self.echo_times_ms: dict[int, float] = {}
        self._grid: tuple[tuple[int, int, int], np.ndarray] | None = None

    def number(self, image: Echoed) -> EchoCheck:
        """The file's echo number, or why it has none the run can use.

        A file without an echo number whose TE is one of ``echo_times_ms``
        is of that echo (Siemens XA enhanced files, one echo per file); so
        is a file numbered 1 whose TE is another echo's in ``echo_times_ms``
        (GE exports that write EchoNumbers 1 for every echo).
        """
        echo, n = image.echo, self.echoes
        if echo is None or echo == 1:
            echo = self._echo_of_time(image.echo_time_ms) or echo
        if echo is None:
            return EchoCheck(None, reason=(
                f"no echo number: expected EchoNumbers (0018,0086) in the header, '_echo-<n>_' in the "
                f"name, n in 1..{n} (echoes={n}), or an echo time among echo_times_ms"
            ))
        if echo > n:
            return EchoCheck(echo, reason=f"echo {echo}, expected 1..{n} (echoes={n}): the echo count changed")
        return EchoCheck(echo)

    def _echo_of_time(self, te: float | None) -> int | None:
        """The echo whose ``echo_times_ms`` is a file's TE (Siemens XA files give a TE, no echo number)."""
        if te is None or self.fallback is None:
            return None
        matches = [k for k, t in enumerate(self.fallback, start=1) if abs(t - te) <= TE_TOLERANCE_MS]
        return matches[0] if len(matches) == 1 else None

    def unnumbered(self, image: Echoed) -> str:
        """Why the run's echoes cannot be told apart (GE's EchoNumbers 1 for every echo), or "".

        Without ``echo_times_ms``, a file numbered 1 (or not at all) with a
        TE other than the one the run took for echo 1 is of some other echo,
        which only the TEs can tell.
        """
        first, te = self.echo_times_ms.get(1), image.echo_time_ms
        if self.fallback is not None or image.echo not in (None, 1) or first is None or te is None:
            return ""
        if abs(te - first) <= TE_TOLERANCE_MS:
            return ""
        return (
            f"EchoNumbers 1 (or none) with echo time {te} ms, the run's echo 1 has {first} ms: the header does "
            f"not number the echoes (GE exports write EchoNumbers 1 for every echo, dcm2niix issue #359); "
            f"set [multiecho] echo_times_ms (the {self.echoes} echo times, ms) to number them by their echo time"
        )

    def check(self, image: ScanImage, echo: int) -> EchoCheck:
        """The file's TE, or why it is refused: no TE, another grid, a TE that changed."""
        checked = self.check_time(image, echo)
        if checked.reason:
            return checked
        grid = self.grid_refusal(image)
        return dataclasses.replace(checked, reason=grid) if grid else checked

    def check_time(self, image: Echoed, echo: int) -> EchoCheck:
        """The file's (or slice's) TE, or why it is refused: no TE, a TE that changed."""
        te = image.echo_time_ms
        if te is None and self.fallback is not None:
            te = self.fallback[echo - 1]
        if te is None:
            return EchoCheck(echo, reason=(
                f"no echo time for echo {echo}: expected EchoTime (0018,0081) in the header, 'EchoTime' (s) "
                "in a BIDS sidecar beside the file, or echo_times_ms"
            ))
        first = self.echo_times_ms.get(echo)
        if first is not None and abs(te - first) > TE_TOLERANCE_MS:
            return EchoCheck(echo, te, (
                f"echo time {te} ms for echo {echo}, the run began with {first} ms: "
                "echo times may not change during a run"
            ))
        return EchoCheck(echo, te)

    def accept(self, image: ScanImage, echo: int, te: float) -> None:
        """Learn from a file taken: the run's grid (its first file's) and the echo's TE (its first)."""
        self.accept_grid(image)
        self.accept_time(echo, te)

    def accept_time(self, echo: int, te: float) -> None:
        """Learn the echo's TE from a file (or slice) taken, when it is the echo's first."""
        self.echo_times_ms.setdefault(echo, te)

    def accept_grid(self, image: ScanImage) -> None:
        """Learn the run's grid from its first echo volume taken."""
        if self._grid is None:
            self._grid = (image.shape, image.affine.copy())

    def grid_refusal(self, image: ScanImage) -> str:
        """Why an echo volume is not on the run's grid, or "" (also before the run has one)."""
        if self._grid is None:
            return ""
        shape, affine = self._grid
        if image.shape != shape:
            return f"grid of shape {image.shape}, expected the run's {shape}: every echo on the run's grid"
        worst = float(np.max(np.abs(image.affine - affine)))
        if worst > GRID_TOLERANCE_MM:
            return (
                f"affine up to {worst:.4g} mm from the run's (tolerance {GRID_TOLERANCE_MM} mm): "
                "every echo on the run's grid"
            )
        return ""
