"""Which series a run follows: learn it, keep to it, and say when another one begins.

Pure bookkeeping, no I/O and no clock, like :mod:`nfd.acquire._sequencer`:
the watch folder asks the policy about every file it reads (the series part
of its name and the header's series), and the policy says whether the file
is of the run's series (learning the run's series from the first file that
has one, and completing it from the later ones), of another series to
ignore, or of a new series that ends the run (``on_new_series="new_run"``,
once the run is under way). At start, the run's series is the newest one
present (:func:`newest_series`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from nfd._checks import check_option
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
    """

    verdict: SeriesVerdict
    series: SeriesId
    first: bool = False


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


class SeriesPolicy:
    """The run's series, and what files of other series do to the run.

    Parameters
    ----------
    on_new_series : {"ignore", "new_run"}
        Whether a file of another series is ignored, or ends the run once it
        is under way.
    series : SeriesId or None
        The run's series, if known in advance.

    Attributes
    ----------
    series : SeriesId or None
        The run's series, once known.
    new_series : SeriesId or None
        The series that ended the run, once one did.

    Examples
    --------
    >>> policy = SeriesPolicy("new_run")
    >>> policy.judge(SeriesId("7"), started=False).verdict.name   # learnt
    'RUN'
    >>> policy.judge(SeriesId("8"), started=False)                # not under way yet
    SeriesDecision(verdict=<SeriesVerdict.IGNORED: 'ignored'>, series=SeriesId(name='8', uid=None), first=True)
    >>> policy.judge(SeriesId("8"), started=True).verdict.name, policy.new_series
    ('NEW_RUN', SeriesId(name='8', uid=None))
    """

    def __init__(self, on_new_series: OnNewSeries = "ignore", series: SeriesId | None = None) -> None:
        self.on_new_series: OnNewSeries = check_option("on_new_series", on_new_series, ON_NEW_SERIES)
        self.series: SeriesId | None = series if series is not None and series.known else None
        self.new_series: SeriesId | None = None
        self._ignored: set[SeriesId] = set()

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

    def judge(self, series: SeriesId, started: bool) -> SeriesDecision:
        """What a file of ``series`` that read as a scan means for the run.

        Parameters
        ----------
        series : SeriesId
            The file's series (its name's and its header's).
        started : bool
            Whether the run is under way (its first index is settled); a new
            series ends only a run under way.
        """
        if self.series is None or not self.series.known:
            self.series = series if series.known else None
            return SeriesDecision(SeriesVerdict.RUN, series)
        if not self.series.differs(series):
            self.series = self.series.merged(series)
            return SeriesDecision(SeriesVerdict.RUN, series)
        if self.on_new_series == "new_run" and started:
            self.new_series = series
            return SeriesDecision(SeriesVerdict.NEW_RUN, series)
        return self._ignore(series)

    def _ignore(self, series: SeriesId) -> SeriesDecision:
        first = series not in self._ignored
        self._ignored.add(series)
        return SeriesDecision(SeriesVerdict.IGNORED, series, first=first)
