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


def test_a_series_written_alongside_the_runs_is_barred_for_good() -> None:
    # series 7 every TR (2 s), series 8 half a TR after each of its volumes: the scanner's MoCo series beside the raw one
    policy = SeriesPolicy("new_run", tr=2.0)
    verdicts = []
    for volume in range(5):
        t = 2.0 * volume
        verdicts.append(policy.judge(SeriesId("7"), started=True, now=t).verdict)
        verdicts.append(policy.judge(SeriesId("8"), started=True, now=t + 1.0).verdict)
    assert verdicts == [SeriesVerdict.RUN, SeriesVerdict.IGNORED] * 5
    assert policy.new_series is None and policy.barred == {SeriesId("8")}
    # series 7 falls silent; series 8 goes on alone: still barred, it never starts a run
    decision = policy.judge(SeriesId("8"), started=True, now=30.0)
    assert decision.verdict is SeriesVerdict.IGNORED and "barred" in decision.reason
    # a series that begins once series 7 has been silent for a TR starts the next run
    assert policy.judge(SeriesId("9"), started=True, now=30.5).verdict is SeriesVerdict.NEW_RUN
    assert policy.barred == {SeriesId("7"), SeriesId("8")}


def test_the_silence_is_one_tr_from_the_runs_last_file() -> None:
    for gap, verdict in ((1.99, SeriesVerdict.IGNORED), (2.0, SeriesVerdict.NEW_RUN)):
        policy = SeriesPolicy("new_run", tr=2.0)
        policy.judge(SeriesId("7"), started=True, now=10.0)
        assert policy.judge(SeriesId("8"), started=True, now=10.0 + gap).verdict is verdict, gap


def test_barred_series_are_handed_to_the_next_runs_policy() -> None:
    first = SeriesPolicy("new_run", SeriesId("7"), tr=1.0)
    first.judge(SeriesId("7"), started=True, now=0.0)
    assert first.judge(SeriesId("8"), started=True, now=5.0).verdict is SeriesVerdict.NEW_RUN
    second = SeriesPolicy("new_run", first.new_series, tr=1.0, barred=first.barred)
    second.judge(SeriesId("8"), started=True, now=6.0)
    back = second.judge(SeriesId("7"), started=True, now=20.0)  # a late file of the ended series: no flapping
    assert back.verdict is SeriesVerdict.IGNORED and back.first and "earlier run" in back.reason
    assert second.judge(SeriesId("7"), started=True, now=21.0).first is False  # one warning
    assert second.new_series is None


def test_without_a_tr_or_a_time_a_new_series_ends_the_run_as_before() -> None:
    untimed = SeriesPolicy("new_run", tr=2.0)
    untimed.judge(SeriesId("7"), started=True, now=None)  # a file of unknown time does not count as recent
    assert untimed.judge(SeriesId("8"), started=True, now=0.1).verdict is SeriesVerdict.NEW_RUN
    no_tr = SeriesPolicy("new_run")
    no_tr.judge(SeriesId("7"), started=True, now=0.0)
    assert no_tr.judge(SeriesId("8"), started=True, now=0.1).verdict is SeriesVerdict.NEW_RUN
    ignoring = SeriesPolicy("ignore", tr=2.0)
    ignoring.judge(SeriesId("7"), started=True, now=0.0)
    assert ignoring.judge(SeriesId("8"), started=True, now=0.1).reason == "not the run's series"
    assert ignoring.barred == frozenset()
