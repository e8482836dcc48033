"""The run's series policy, fed series one file at a time (no folder, no watcher)."""

from __future__ import annotations

import pytest

from nfd.acquire import SeriesId
from nfd.acquire._series_policy import SeriesPolicy, SeriesVerdict, newest_series


def test_the_first_known_series_becomes_the_runs_and_is_completed_later() -> None:
    policy = SeriesPolicy("ignore")
    assert policy.judge(SeriesId(None, None), started=False).verdict is SeriesVerdict.RUN
    assert policy.series is None  # an unidentified file teaches nothing
    assert policy.judge(SeriesId("7", None), started=False).verdict is SeriesVerdict.RUN
    assert policy.judge(SeriesId(None, "1.2.3"), started=True).verdict is SeriesVerdict.RUN
    assert policy.series == SeriesId("7", "1.2.3")
    assert policy.judge(SeriesId("7", "1.2.4"), started=True).verdict is SeriesVerdict.IGNORED


def test_another_series_is_ignored_with_one_warning_per_series() -> None:
    policy = SeriesPolicy("ignore", SeriesId("7", None))
    firsts = [policy.judge(SeriesId(name, None), started=True).first for name in ("8", "8", "9", "8")]
    assert firsts == [True, False, True, False]
    assert policy.new_series is None and policy.series == SeriesId("7", None)


def test_a_new_series_ends_only_a_run_under_way() -> None:
    policy = SeriesPolicy("new_run", SeriesId("7", None))
    before = policy.judge(SeriesId("8", None), started=False)
    assert (before.verdict, policy.new_series) == (SeriesVerdict.IGNORED, None)
    after = policy.judge(SeriesId("8", None), started=True)
    assert (after.verdict, after.series) == (SeriesVerdict.NEW_RUN, SeriesId("8", None))
    assert policy.new_series == SeriesId("8", None) and policy.series == SeriesId("7", None)


def test_by_name_skips_other_series_before_reading_only_in_ignore_mode() -> None:
    ignoring = SeriesPolicy("ignore", SeriesId("7", None))
    assert ignoring.by_name("7") is None and ignoring.by_name(None) is None
    skipped = ignoring.by_name("8")
    assert skipped is not None and skipped.verdict is SeriesVerdict.IGNORED and skipped.first
    assert SeriesPolicy("ignore").by_name("8") is None  # no run series yet
    assert SeriesPolicy("new_run", SeriesId("7", None)).by_name("8") is None  # read, then judged


def test_the_run_series_at_start_is_the_newest_known_one() -> None:
    files = [(30, SeriesId("7")), (50, SeriesId()), (40, SeriesId("8")), (40, SeriesId("9"))]
    assert newest_series(files) == SeriesId("8")
    assert newest_series([(1, SeriesId())]) is None
    policy = SeriesPolicy("ignore", SeriesId("7"))
    policy.settle(newest_series(files))
    assert policy.series == SeriesId("7")  # a series given in advance stays
    fresh = SeriesPolicy("ignore")
    fresh.settle(newest_series(files))
    assert fresh.series == SeriesId("8")


def test_an_unknown_series_given_in_advance_is_none_and_the_mode_is_checked() -> None:
    assert SeriesPolicy("ignore", SeriesId(None, None)).series is None
    with pytest.raises(ValueError, match="on_new_series must be one of 'ignore', 'new_run'; got 'stop'"):
        SeriesPolicy("stop")  # type: ignore[arg-type]
