"""The settings of a watch folder, validated once: :class:`WatchOptions`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nfd._checks import check_bool, check_option, ensure_float, ensure_int
from nfd.acquire._naming import FileNaming
from nfd.acquire._series import SeriesId
from nfd.acquire._series_policy import ON_NEW_SERIES, OnNewSeries
from nfd.acquire._slices import SliceOptions

__all__ = ["INDEX_FROM", "IndexFrom", "WatchOptions"]

IndexFrom = Literal["name", "header"]
#: Where a volume's number comes from.
INDEX_FROM: tuple[IndexFrom, ...] = ("name", "header")


@dataclass(frozen=True)
class WatchOptions:
    """How a :class:`~nfd.acquire.ScanWatcher` follows its folder (see its parameters).

    Attributes
    ----------
    naming : FileNaming
        Which file names are volumes and their numbers.
    first_number : int
        The number the scanner gives the first volume.
    index_from : {"name", "header"}
        Where a volume's number comes from.
    poll : bool
        Poll the folder instead of using file-system events.
    poll_interval : float
        Seconds between polls (> 0 when ``poll``).
    complete_timeout : float
        Seconds (>= 0) a file may stay incomplete after its last change.
    reorder_timeout : float
        Seconds (>= 0) an overdue index is waited for.
    tr : float or None
        Repetition time, s (> 0), which times the gaps; None: unknown.
    slices : SliceOptions
        How single-slice files are grouped into volumes.
    on_new_series : {"ignore", "new_run"}
        What a file of another series does.
    series : SeriesId or None
        The run's series, if known in advance.
    barred : frozenset of SeriesId
        Series that never start a run (``"new_run"``: the earlier runs'
        series, and the series written alongside them).
    max_file_mb : float
        Size cap, MB (1 MB = 10^6 bytes, > 0): a larger file is refused
        without being read, and gzipped content may not inflate beyond it.
    echoes : int
        Echoes per volume (>= 1): with more than one, a volume is released
        once a file of each echo of its index is there.
    echo_times_ms : tuple of float or None
        Echo times, ms (> 0, one per echo), for files whose format lacks them
        (NIfTI without a BIDS sidecar); None: the files must give them.

    Raises
    ------
    ValueError
        When an option is not of its type or out of its range.

    Examples
    --------
    >>> WatchOptions(reorder_timeout=1).reorder_timeout
    1.0
    >>> WatchOptions(poll=True, poll_interval=0)
    Traceback (most recent call last):
    ...
    ValueError: poll_interval must be a number > 0, got 0.0
    """

    naming: FileNaming = field(default_factory=FileNaming)
    first_number: int = 1
    index_from: IndexFrom = "name"
    poll: bool = False
    poll_interval: float = 0.1
    complete_timeout: float = 10.0
    reorder_timeout: float = 2.0
    tr: float | None = None
    slices: SliceOptions = field(default_factory=SliceOptions)
    on_new_series: OnNewSeries = "ignore"
    series: SeriesId | None = None
    barred: frozenset[SeriesId] = frozenset()
    max_file_mb: float = 512.0
    echoes: int = 1
    echo_times_ms: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        check_option("index_from", self.index_from, INDEX_FROM)
        check_option("on_new_series", self.on_new_series, ON_NEW_SERIES)
        if self.series is not None and not isinstance(self.series, SeriesId):
            raise ValueError(f"series must be a SeriesId or None, got {self.series!r}")
        if not all(isinstance(b, SeriesId) for b in self.barred):
            raise ValueError(f"barred must hold SeriesId values, got {self.barred!r}")
        set_ = object.__setattr__  # frozen: the canonical values replace the given ones
        set_(self, "barred", frozenset(self.barred))
        set_(self, "first_number", ensure_int(self.first_number, "first_number"))
        set_(self, "poll", check_bool(self.poll, "poll"))
        for name in ("poll_interval", "complete_timeout", "reorder_timeout"):
            set_(self, name, ensure_float(getattr(self, name), name, minimum=0))
        set_(self, "max_file_mb", ensure_float(self.max_file_mb, "max_file_mb", positive=True))
        if self.tr is not None:
            set_(self, "tr", ensure_float(self.tr, "tr", positive=True))
        if self.poll:
            ensure_float(self.poll_interval, "poll_interval", positive=True)
        set_(self, "echoes", ensure_int(self.echoes, "echoes", minimum=1))
        if self.echo_times_ms is not None:
            times = tuple(ensure_float(t, "echo_times_ms", positive=True) for t in self.echo_times_ms)
            if len(times) != self.echoes:
                raise ValueError(
                    f"echo_times_ms must give one time per echo ({self.echoes}), got {len(times)}: {times!r}"
                )
            set_(self, "echo_times_ms", times)

    @property
    def max_file_bytes(self) -> int:
        """``max_file_mb`` in bytes (1 MB = 10^6 bytes).

        Examples
        --------
        >>> WatchOptions(max_file_mb=1.5).max_file_bytes
        1500000
        """
        return round(self.max_file_mb * 10**6)
