"""The per-file state machine of the watch folder, fed observations at explicit times (no folder, no sleep)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nfd.acquire._file_state import RECHECK_DELAYS, FileState, Outcome, Step, WatchedFile, WatchedFiles

TIMEOUT = 1.0


def seen(name: str = "vol_0001.nii", number: int | None = 1, at: float = 0.0) -> WatchedFile:
    return WatchedFile(Path(name), number, changed_at=at)


def test_a_complete_read_is_offered_with_the_time_and_mtime_of_its_last_change() -> None:
    f = seen(at=0.0)
    assert f.observe((100, 111), now=0.5)
    decision = f.judge(Outcome.COMPLETE, "", now=0.6, complete_timeout=TIMEOUT)
    assert decision.step is Step.OFFER
    assert (decision.changed_at, decision.mtime_ns, decision.reason) == (0.5, 111, "")


def test_a_growing_file_is_checked_on_the_schedule_counted_from_its_last_change() -> None:
    f = seen(at=0.0)
    f.observe((10, 1), now=0.0)
    assert f.judge(Outcome.INCOMPLETE, "10 of 352 bytes", now=0.0, complete_timeout=TIMEOUT).step is Step.RECHECK
    assert f.recheck_at == pytest.approx(RECHECK_DELAYS[0])
    f.judge(Outcome.UNCHANGED, "", now=0.002, complete_timeout=TIMEOUT)
    assert f.recheck_at == pytest.approx(0.002 + RECHECK_DELAYS[1])
    assert f.reason == "10 of 352 bytes"  # an unchanged stat keeps the reader's reason
    # It grows: the schedule and the timeout start again from the change.
    assert f.observe((20, 2), now=0.9)
    assert f.recheck_step == 0
    decision = f.judge(Outcome.INCOMPLETE, "20 of 352 bytes", now=1.5, complete_timeout=TIMEOUT)
    assert decision.step is Step.RECHECK and decision.changed_at == 0.9
    assert f.recheck_at == pytest.approx(1.5 + RECHECK_DELAYS[0])


def test_the_back_off_ends_on_its_last_delay_and_never_passes_the_timeout() -> None:
    f = seen(at=0.0)
    now = 0.0
    for _ in range(len(RECHECK_DELAYS) + 5):
        assert f.judge(Outcome.UNCHANGED, "", now=now, complete_timeout=TIMEOUT).step is Step.RECHECK
        assert f.recheck_at is not None and f.recheck_at <= TIMEOUT
        now = f.recheck_at
        if now >= TIMEOUT:
            break
    assert now == TIMEOUT
    delays = [RECHECK_DELAYS[min(i, len(RECHECK_DELAYS) - 1)] for i in range(len(RECHECK_DELAYS) + 3)]
    assert delays[-1] == delays[-2] == RECHECK_DELAYS[-1] == 0.2


def test_a_file_still_incomplete_after_the_timeout_expires_with_its_reason_and_wait() -> None:
    f = seen(at=0.0)
    f.observe((10, 1), now=0.25)
    f.judge(Outcome.INCOMPLETE, "10 of 352 bytes", now=0.25, complete_timeout=TIMEOUT)
    early = f.judge(Outcome.UNCHANGED, "", now=1.2, complete_timeout=TIMEOUT)
    assert early.step is Step.RECHECK
    decision = f.judge(Outcome.UNCHANGED, "", now=1.25, complete_timeout=TIMEOUT)
    assert decision.step is Step.EXPIRE
    assert decision.reason == "10 of 352 bytes (no change for 1.0 s)"
    assert (decision.changed_at, decision.mtime_ns) == (0.25, 1)


def test_an_unreadable_file_waits_like_an_incomplete_one() -> None:
    f = seen(at=0.0)
    f.observe(None, now=0.0)
    decision = f.judge(Outcome.UNREADABLE, "unreadable: PermissionError(13)", now=0.0, complete_timeout=TIMEOUT)
    assert decision.step is Step.RECHECK and decision.mtime_ns is None
    expired = f.judge(Outcome.UNREADABLE, "unreadable: PermissionError(13)", now=2.0, complete_timeout=TIMEOUT)
    assert expired.step is Step.EXPIRE and expired.reason.startswith("unreadable: PermissionError(13) (no change")


def test_not_a_scan_is_rejected_at_once_with_the_readers_reason() -> None:
    f = seen(at=0.0)
    f.observe((5, 1), now=0.0)
    decision = f.judge(Outcome.NOT_A_SCAN, "not a DICOM or NIfTI file", now=0.0, complete_timeout=TIMEOUT)
    assert (decision.step, decision.reason) == (Step.REJECT, "not a DICOM or NIfTI file")


def test_observing_the_same_signature_is_no_change() -> None:
    f = seen(at=0.0)
    assert f.observe((5, 1), now=0.1)
    f.recheck_step = 4
    assert not f.observe((5, 1), now=0.7)
    assert (f.changed_at, f.recheck_step) == (0.1, 4)
    assert f.observe((5, 2), now=0.8)  # the mtime alone changed
    assert (f.changed_at, f.recheck_step) == (0.8, 0)


def test_the_table_hands_out_due_files_by_number_then_name() -> None:
    table = WatchedFiles()
    late = table.add(seen("vol_0003.nii", 3))
    early = table.add(seen("vol_0001.nii", 1))
    unnumbered = table.add(seen("scan.nii", None))
    assert table.due(now=0.0) == [unnumbered, early, late]
    assert table.next_check() == 0.0  # a changed file is to be read now
    for f in (late, early, unnumbered):
        f.dirty = False
    late.recheck_at, early.recheck_at = 0.5, 0.2
    assert table.next_check() == 0.2
    assert table.due(now=0.3) == [early]
    assert table.due(now=0.5) == [early, late]


def test_settling_a_file_takes_it_out_of_the_waiting_ones_and_an_event_brings_it_back() -> None:
    table = WatchedFiles()
    f = table.add(seen())
    f.dirty, f.recheck_at = False, 0.4
    table.settle(f, FileState.REJECTED)
    assert not table.waits(f) and table.follows(f) and f.recheck_at is None
    assert table.next_check() is None and table.due(now=9.0) == []
    assert table.changed(f.path)  # it changed again: read it again
    assert table.waits(f) and f.dirty and f.state is FileState.WAITING
    table.settle(f, FileState.DONE)
    assert table.changed(f.path) and f.state is FileState.DONE and not table.waits(f)
    assert not table.changed(Path("other.nii"))  # not followed: the caller registers it


def test_a_deleted_file_is_forgotten_unless_done() -> None:
    table = WatchedFiles()
    waiting, done = table.add(seen("vol_0001.nii", 1)), table.add(seen("vol_0002.nii", 2))
    table.settle(done, FileState.DONE)
    assert table.removed(waiting.path) and not table.follows(waiting)
    assert not table.removed(done.path) and table.follows(done)
    assert not table.removed(Path("never_seen.nii"))
    assert list(table) == [done]
