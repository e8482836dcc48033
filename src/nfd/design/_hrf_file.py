"""A haemodynamic response sampled on a regular grid, read from and written to a TSV file.

The format (one HRF per value column)::

    time_s<TAB>value
    0<TAB>0
    0.1<TAB>0.000213...
    ...

The header's first cell is ``time_s``; the other cells name the value
columns (a parcel's label, a condition, or ``value`` for the single-HRF
form). Times are seconds after the onset of a neural impulse, on a regular
grid from 0, strictly increasing; values are floats (any scale: the kernel
is normalised to sum 1 when used). ``nfd hrf estimate`` writes one column
per parcel.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from nfd.design._errors import DesignError

__all__ = ["HRF_TIME_COLUMN", "HrfColumnError", "HrfFileError", "SampledHrf", "read_hrf_tsv", "write_hrf_tsv"]

#: The header cell of the times column (seconds).
HRF_TIME_COLUMN = "time_s"

#: Tolerance, seconds, on the first time (0) and on the regularity of the grid.
_GRID_TOLERANCE_S = 1e-6

#: Fewest samples an HRF may have.
_MIN_SAMPLES = 3


class HrfFileError(DesignError):
    """An HRF TSV file (or the arrays written to one) is not as expected; the message names the file."""


class HrfColumnError(HrfFileError):
    """The column asked of an HRF TSV file is absent, or one is needed (the file has several)."""


def _grid_problem(times: np.ndarray) -> tuple[int, str] | None:
    """The first sample (0-based) where `times` is not a regular grid from 0 s, and what was expected."""
    if times.size < _MIN_SAMPLES:
        return 0, f"at least {_MIN_SAMPLES} samples, got {times.size}"
    if abs(times[0]) > _GRID_TOLERANCE_S:
        return 0, f"the first time to be 0 s, got {times[0]:.10g}"
    step = float(times[1] - times[0])
    for i in range(1, times.size):
        if times[i] <= times[i - 1]:
            return i, f"strictly increasing times, got {times[i]:.10g} after {times[i - 1]:.10g}"
        if abs(times[i] - i * step) > _GRID_TOLERANCE_S:
            return i, f"a regular grid of step {step:.10g} s (time {i * step:.10g}), got {times[i]:.10g}"
    return None


@dataclass(frozen=True, eq=False)
class SampledHrf:
    """One haemodynamic response sampled on a regular grid (from an HRF TSV file).

    Attributes
    ----------
    times_s : numpy.ndarray
        float64, shape ``(n,)``, n >= 3: seconds after the impulse, a regular
        grid from 0 (read-only).
    values : numpy.ndarray
        float64, shape ``(n,)``: the response at `times_s` (any scale;
        read-only).
    column : str
        The file's column the response came from.
    path : str
        The file it was read from ("" when built from arrays).
    sha256 : str
        Lower-case hex SHA-256 of the bytes parsed ("" when built from
        arrays): the run records which HRF it used.

    Examples
    --------
    >>> from nfd.design import SampledHrf
    >>> h = SampledHrf(np.array([0.0, 1.0, 2.0]), np.array([0.0, 2.0, 0.0]), "value", "")
    >>> h.kernel(0.5).tolist()
    [0.0, 0.25, 0.5, 0.25, 0.0]
    """

    times_s: np.ndarray
    values: np.ndarray
    column: str
    path: str
    sha256: str = ""

    def __post_init__(self) -> None:
        where = self.path or "SampledHrf"
        times = np.array(self.times_s, dtype=np.float64).ravel()
        values = np.array(self.values, dtype=np.float64).ravel()
        if times.shape != values.shape:
            raise HrfFileError(f"{where}: expected as many values as times, got {values.size} and {times.size}")
        problem = _grid_problem(times)
        if problem is not None:
            raise HrfFileError(f"{where}: expected {problem[1]}")
        if not np.all(np.isfinite(values)):
            raise HrfFileError(f"{where}: expected finite HRF values in column {self.column!r}, got NaN or inf")
        times.flags.writeable = False
        values.flags.writeable = False
        object.__setattr__(self, "times_s", times)
        object.__setattr__(self, "values", values)

    @property
    def step_s(self) -> float:
        """The sampling interval of the file's grid, seconds."""
        return float(self.times_s[1] - self.times_s[0])

    @property
    def time_to_peak_s(self) -> float:
        """The time of the largest sample, seconds after the impulse."""
        return float(self.times_s[int(np.argmax(self.values))])

    def kernel(self, dt: float, length_s: float | None = None) -> np.ndarray:
        """The response sampled every `dt` seconds and normalised to sum 1, as :func:`spm_hrf`'s kernel.

        The samples are linearly interpolated at ``0, dt, 2 dt, ...`` up to
        the last time of the file (or `length_s`; zero beyond the file's last
        time) and divided by their sum, so a sustained unit input convolved
        with the kernel converges to 1 (the normalisation of SPM12's
        ``spm_hrf.m``; Friston et al., 1998, NeuroImage 7:30).

        Parameters
        ----------
        dt : float
            Sampling interval, seconds, > 0 (the microtime ``tr / 16`` for
            events, the TR for volume labels).
        length_s : float or None
            Length of the kernel, seconds, > 0; None for the file's last time.

        Returns
        -------
        numpy.ndarray
            float64, shape ``(floor(length / dt) + 1,)``, sum 1.

        Raises
        ------
        HrfFileError
            If `dt` or `length_s` is not a positive finite number, or the
            samples sum to <= 0 (or not a finite number).
        """
        where = self.path or "SampledHrf"
        if not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
            raise HrfFileError(f"{where}: expected a positive kernel step dt in seconds, got {dt!r}")
        end = float(self.times_s[-1]) if length_s is None else length_s
        if not isinstance(end, (int, float)) or not math.isfinite(end) or end <= 0:
            raise HrfFileError(f"{where}: expected a positive kernel length in seconds, got {length_s!r}")
        n = math.floor(end / dt + 1e-9) + 1
        grid = np.arange(n, dtype=np.float64) * float(dt)
        samples = np.interp(grid, self.times_s, self.values, right=0.0)
        total = float(samples.sum())
        if not math.isfinite(total) or total <= 0:
            raise HrfFileError(
                f"{where}: column {self.column!r} sampled every {dt:.10g} s sums to {total:.10g}; "
                "an HRF whose samples sum to <= 0 cannot scale a regressor"
            )
        return samples / total


def write_hrf_tsv(path: str | PathLike[str], times_s: ArrayLike, columns: Mapping[str, ArrayLike]) -> Path:
    """Write one or more HRFs sampled on a common regular grid as a TSV file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (overwritten).
    times_s : array_like
        Seconds after the impulse, shape ``(n,)``, n >= 3: a regular grid
        from 0, strictly increasing.
    columns : mapping of str to array_like
        Column name (non-empty, no tab or newline, not ``time_s``) to the
        response at `times_s`, shape ``(n,)``, finite. ``{"value": h}`` is
        the single-HRF form.

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    HrfFileError
        If `times_s` is not such a grid, there is no column, a name is
        invalid, or a column's length or values are not as expected.

    Examples
    --------
    >>> import tempfile, os
    >>> from nfd.design import read_hrf_tsv, write_hrf_tsv
    >>> f = write_hrf_tsv(os.path.join(tempfile.mkdtemp(), "h.tsv"), [0, 1, 2], {"value": [0, 1, 0.5]})
    >>> f.read_text().splitlines()[:2]
    ['time_s\\tvalue', '0\\t0']
    >>> read_hrf_tsv(f).values.tolist()
    [0.0, 1.0, 0.5]
    """
    target = Path(path)
    if not columns:
        raise HrfFileError(f"{target}: expected at least one HRF column to write, got none")
    times = np.asarray(times_s, dtype=np.float64).ravel()
    arrays: list[np.ndarray] = []
    for name, column in columns.items():
        if not isinstance(name, str) or not name or name == HRF_TIME_COLUMN or any(c in name for c in "\t\r\n"):
            raise HrfFileError(
                f"{target}: expected a column name that is non-empty, without tabs or newlines "
                f"and not {HRF_TIME_COLUMN!r}, got {name!r}"
            )
        # validates the grid, the length and the values
        arrays.append(SampledHrf(times, np.asarray(column, dtype=np.float64), name, str(target)).values)
    lines = ["\t".join([HRF_TIME_COLUMN, *columns])]
    for i, t in enumerate(times):
        lines.append("\t".join([f"{t:.10g}", *(f"{a[i]:.10g}" for a in arrays)]))
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _parse(where: Path, text: str) -> tuple[list[str], np.ndarray, list[int]]:
    """The header's value columns, the table (rows x cells) and each row's line number (1-based)."""
    lines = text.splitlines()
    header = lines[0].rstrip("\r").split("\t") if lines else []
    if not header or header[0].strip() != HRF_TIME_COLUMN or len(header) < 2:
        got = lines[0][:60] if lines else "an empty file"
        raise HrfFileError(
            f"{where}: line 1: expected a header '{HRF_TIME_COLUMN}<TAB><column>...', got {got!r}"
        )
    names = [cell.strip() for cell in header[1:]]
    rows: list[list[float]] = []
    numbers: list[int] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.rstrip("\r").split("\t")
        if len(cells) != len(header):
            raise HrfFileError(f"{where}: line {number}: expected {len(header)} tab-separated cells, got {len(cells)}")
        row: list[float] = []
        for name, cell in zip([HRF_TIME_COLUMN, *names], cells, strict=True):
            try:
                value = float(cell)
            except ValueError:
                raise HrfFileError(f"{where}: line {number}: expected a number in {name!r}, got {cell!r}") from None
            if not math.isfinite(value):
                raise HrfFileError(f"{where}: line {number}: expected a finite number in {name!r}, got {cell!r}")
            row.append(value)
        rows.append(row)
        numbers.append(number)
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    return names, table, numbers


def _pick(where: Path, names: list[str], column: str | None) -> int:
    """The index (among the value columns) of `column`, or of the only one."""
    if column is None or column == "":
        if len(names) == 1:
            return 0
        raise HrfColumnError(f"{where}: expected a column to be named (the file has {len(names)}: {', '.join(names)})")
    if column not in names:
        raise HrfColumnError(f"{where}: expected a column among {', '.join(names)}, got {column!r}")
    return names.index(column)


def read_hrf_tsv(path: str | PathLike[str], column: str | None = None) -> SampledHrf:
    """Read one HRF from a TSV file (``time_s`` then one or more value columns).

    Parameters
    ----------
    path : str or os.PathLike
        The file (UTF-8, tab-separated; see the module's docstring).
    column : str or None
        The value column to read; None or "" when the file has only one.

    Returns
    -------
    SampledHrf
        Its times (s), values, column name and `path`.

    Raises
    ------
    HrfFileError
        One line naming the file (and the line when there is one): the file
        is unreadable, the header does not start with ``time_s``, a cell is
        not a finite number, the times are not a regular grid from 0 s
        (within 1e-6 s) or number fewer than 3.
    HrfColumnError
        `column` is absent, or None when the file has several (the message
        lists the columns).
    """
    where = Path(path)
    try:
        data = where.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HrfFileError(
            f"{where}: expected a readable UTF-8 HRF TSV file, got {exc.__class__.__name__}: {exc}"
        ) from None
    names, table, numbers = _parse(where, text)
    if len(set(names)) != len(names):
        raise HrfFileError(f"{where}: line 1: expected distinct column names, got {', '.join(names)}")
    index = _pick(where, names, column)
    problem = _grid_problem(table[:, 0])
    if problem is not None:
        at = f"line {numbers[problem[0]]}: " if table.shape[0] >= _MIN_SAMPLES else ""
        raise HrfFileError(f"{where}: {at}expected {problem[1]}")
    return SampledHrf(table[:, 0], table[:, 1 + index], names[index], str(where), hashlib.sha256(data).hexdigest())
