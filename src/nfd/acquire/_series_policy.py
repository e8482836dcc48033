"""Which series a run follows: learn it, keep to it, and say when another one begins.

Pure bookkeeping, no I/O and no clock, like :mod:`nfd.acquire._sequencer`:
the watch folder asks the policy about every file it reads (the series part
of its name and the header's series), and the policy says whether the file
is of the run's series (learning the run's series from the first file that
has one, and completing it from the later ones), of another series to
ignore, or of a new series that ends the run (``on_new_series="new_run"``,
once the run is under way). At start, the run's series is the newest one
present (:func:`newest_series`).

So that a run never flaps between two series written at once (e.g. the
scanner's online motion-corrected series beside the raw one), a series may
start a new run only with its first file, and only if the run's series has
been silent for at least one TR by then; a series whose first file comes
while the run's series is still being written is barred, and so is every
series that had a run: their files are ignored for good. The barred series
are handed from one run's policy to the next (:attr:`SeriesPolicy.barred`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from nfd._checks import check_option, ensure_float
from nfd.acquire._series import SeriesId

__all__ = ["ON_NEW_SERIES", "OnNewSeries", "SeriesDecision", "SeriesPolicy", "SeriesVerdict", "newest_series"]

OnNewSeries = Literal["ignore", "new_run"]
#: What a file of another series than the run's may do.
ON_NEW_SERIES: tuple[OnNewSeries, ...] = ("ignore", "new_run")


class SeriesVerdict(enum.Enum):
    """What a file's series means for the run."""

    #: The run's series (or the first one known, which becomes the run's).
    RUN = "run"
    #: Another series, ignored.
    IGNORED = "ignored"
    #: Another series, which ends the run (``on_new_series="new_run"``).
    NEW_RUN = "new_run"


@dataclass(frozen=True)
class SeriesDecision:
    """The policy's answer about one file.

    Attributes
    ----------
    verdict : SeriesVerdict
        Of the run, ignored, or the start of a new run.
    series : SeriesId
        The file's series.
    first : bool
        For IGNORED, whether it is the first file of that series ignored
        (worth a warning; the later ones are not).
    reason : str
        For IGNORED, why (another series than the run's; barred because it
        was written alongside the run's series, or because its run ended).
    """

    verdict: SeriesVerdict
    series: SeriesId
    first: bool = False
    reason: str = "not the run's series"


def newest_series(files: Iterable[tuple[int, SeriesId]]) -> SeriesId | None:
    """The known series of the most recently modified file, None when no file has one.

    Parameters
    ----------
    files : iterable of (int, SeriesId)
        Each file's mtime (ns) and series, in the order listed (the first
        of equal mtimes wins).

    Examples
    --------
    >>> newest_series([(5, SeriesId("7")), (9, SeriesId()), (6, SeriesId("8"))])
    SeriesId(name='8', uid=None)
    """
    best: tuple[int, SeriesId] | None = None
    for mtime, series in files:
        if series.known and (best is None or mtime > best[0]):
            best = (mtime, series)
    return None if best is None else best[1]


_INTERLEAVED = "written while the run's series was still being written (barred: it never starts a run)"
_PAST = "a series whose run has ended (barred: it never starts a run again)"
_EARLIER = "barred by an earlier run (it had a run, or was written alongside one): it never starts a run"


class SeriesPolicy:
    """The run's series, and what files of other series do to the run.

    Parameters
    ----------
    on_new_series : {"ignore", "new_run"}
        Whether a file of another series is ignored, or ends the run once it
        is under way.
    series : SeriesId or None
        The run's series, if known in advance.
    tr : float or None
        Repetition time, s: with ``"new_run"``, a new series' first file
        ends the run only if no file of the run's series came in the last
        TR (None: always).
    barred : iterable of SeriesId
        Series that never start a run (from the previous runs' policies).

    Attributes
    ----------
    series : SeriesId or None
        The run's series, once known.
    new_series : SeriesId or None
        The series that ended the run, once one did.

    Examples
    --------
    >>> policy = SeriesPolicy("new_run", tr=2.0)
    >>> policy.judge(SeriesId("7"), started=False, now=0.0).verdict.name   # learnt
    'RUN'
    >>> policy.judge(SeriesId("8"), started=False, now=0.5).verdict.name   # not under way yet
    'IGNORED'
    >>> policy.judge(SeriesId("7"), started=True, now=2.0).verdict.name
    'RUN'
    >>> policy.judge(SeriesId("9"), started=True, now=2.5).reason          # series 7 is still written
    "written while the run's series was still being written (barred: it never starts a run)"
    >>> policy.judge(SeriesId("10"), started=True, now=9.0).verdict.name, policy.new_series
    ('NEW_RUN', SeriesId(name='10', uid=None))
    >>> sorted(b.name for b in policy.barred)
    ['7', '9']
    """

    def __init__(
        self,
        on_new_series: OnNewSeries = "ignore",
        series: SeriesId | None = None,
        tr: float | None = None,
        barred: Iterable[SeriesId] = (),
    ) -> None:
        self.on_new_series: OnNewSeries = check_option("on_new_series", on_new_series, ON_NEW_SERIES)
        self.series: SeriesId | None = series if series is not None and series.known else None
        self.tr = None if tr is None else ensure_float(tr, "tr (s)", positive=True)
        self.new_series: SeriesId | None = None
        self._ignored: set[tuple[SeriesId, str]] = set()
        self._barred: dict[SeriesId, str] = {b: _EARLIER for b in barred if b.known}
        self._last_run_file: float | None = None  # when the run's series last wrote a file

    @property
    def barred(self) -> frozenset[SeriesId]:
        """Series that never start a run: the ones already barred, and, once a new series began, the run's."""
        return frozenset(self._barred)

    def settle(self, newest: SeriesId | None) -> None:
        """At start: the run's series is ``newest`` (see :func:`newest_series`) unless already known."""
        if self.series is None:
            self.series = newest

    def by_name(self, series_name: str | None) -> SeriesDecision | None:
        """Before reading a file: IGNORED when its name alone shows another series (ignore mode), else None."""
        if self.on_new_series != "ignore" or self.series is None or series_name is None:
            return None
        series = SeriesId(series_name, None)
        if not self.series.differs(series):
            return None
        return self._ignore(series)

    def judge(self, series: SeriesId, started: bool, now: float | None = None) -> SeriesDecision:
        """What a file of ``series`` that read as a scan means for the run.

        Parameters
        ----------
        series : SeriesId
            The file's series (its name's and its header's).
        started : bool
            Whether the run is under way (its first index is settled); a new
            series ends only a run under way.
        now : float or None
            Time, s, when the file was written, on one clock for every file
            (None: unknown; a file of the run's series then does not count as recent).
        """
        if self.series is None or not self.series.known:
            self.series = series if series.known else None
            return self._of_run(series, now)
        if not self.series.differs(series):
            self.series = self.series.merged(series)
            return self._of_run(series, now)
        reason = self._bar_reason(series)
        if reason is not None:
            return self._ignore(series, reason)
        if self.on_new_series == "new_run" and started:
            if self._run_series_recent(now):
                self._barred[series] = _INTERLEAVED
                return self._ignore(series, _INTERLEAVED)
            self.new_series = series
            self._barred[self.series] = _PAST
            return SeriesDecision(SeriesVerdict.NEW_RUN, series)
        return self._ignore(series)

    def _of_run(self, series: SeriesId, now: float | None) -> SeriesDecision:
        if now is not None and (self._last_run_file is None or now > self._last_run_file):
            self._last_run_file = now
        return SeriesDecision(SeriesVerdict.RUN, series)

    def _run_series_recent(self, now: float | None) -> bool:
        """Whether the run's series wrote a file less than one TR before ``now``."""
        if self.tr is None or now is None or self._last_run_file is None:
            return False
        return now - self._last_run_file < self.tr

    def _bar_reason(self, series: SeriesId) -> str | None:
        for barred, reason in self._barred.items():
            if not barred.differs(series):
                return reason
        return None

    def _ignore(self, series: SeriesId, reason: str = "not the run's series") -> SeriesDecision:
        first = (series, reason) not in self._ignored
        self._ignored.add((series, reason))
        return SeriesDecision(SeriesVerdict.IGNORED, series, first=first, reason=reason)
