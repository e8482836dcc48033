from __future__ import annotations

import pytest

from nfd.acquire._sequencer import Release, Sequencer, Verdict


def offer(seq: Sequencer[str], index: int, now: float, digest: bytes | None = None) -> Verdict:
    digest = digest if digest is not None else f"d{index}".encode()
    return seq.offer(index, digest, f"file{index}", f"v{index}", now).verdict


def released(seq: Sequencer[str], now: float) -> list[tuple[int, str | None]]:
    return [(r.index, r.item) for r in seq.release(now)]


def test_in_order_volumes_are_released_at_once() -> None:
    seq: Sequencer[str] = Sequencer(reorder_timeout=2.0)
    seq.start(0)
    for i in range(3):
        assert offer(seq, i, now=float(i)) is Verdict.ACCEPTED
        assert released(seq, now=float(i)) == [(i, f"v{i}")]
    assert seq.deadline() is None


def test_out_of_order_volumes_are_reordered() -> None:
    seq: Sequencer[str] = Sequencer(reorder_timeout=2.0)
    seq.start(0)
    offer(seq, 2, now=0.0)
    offer(seq, 1, now=0.1)
    assert released(seq, now=0.2) == []
    assert seq.deadline() == pytest.approx(2.0)  # from the earliest held volume
    offer(seq, 0, now=0.3)
    assert released(seq, now=0.3) == [(0, "v0"), (1, "v1"), (2, "v2")]
    assert seq.missing == []


def test_gap_is_declared_missing_after_the_timeout_from_the_first_later_volume() -> None:
    seq: Sequencer[str] = Sequencer(reorder_timeout=2.0)
    seq.start(0)
    offer(seq, 0, now=0.0)
    assert released(seq, now=0.0) == [(0, "v0")]
    offer(seq, 3, now=1.0)
    offer(seq, 5, now=2.5)
    assert released(seq, now=2.99) == []
    # At 3.0 (1.0 + 2.0): 1 and 2 missing, 3 out; 4 waits until 2.5 + 2.0.
    assert released(seq, now=3.0) == [(1, None), (2, None), (3, "v3")]
    assert seq.deadline() == pytest.approx(4.5)
    assert released(seq, now=4.5) == [(4, None), (5, "v5")]
    assert seq.missing == [1, 2, 4]
    assert offer(seq, 2, now=5.0) is Verdict.LATE
    assert offer(seq, 6, now=5.0) is Verdict.ACCEPTED


def test_duplicates_by_index_and_by_bytes_name_the_original() -> None:
    seq: Sequencer[str] = Sequencer(reorder_timeout=1.0)
    seq.start(0)
    offer(seq, 0, now=0.0, digest=b"A")
    dup_index = seq.offer(0, b"other", "again", "x", 0.1)
    assert (dup_index.verdict, dup_index.duplicate_of) == (Verdict.DUPLICATE, "file0")
    dup_bytes = seq.offer(7, b"A", "copy", "x", 0.1)
    assert (dup_bytes.verdict, dup_bytes.duplicate_of) == (Verdict.DUPLICATE, "file0")
    assert released(seq, now=0.2) == [(0, "v0")]
    # A duplicate of a released volume is still a duplicate, not late.
    assert seq.offer(0, b"B", "third", "x", 0.3).verdict is Verdict.DUPLICATE


def test_negative_index_is_before_first_unless_a_byte_copy() -> None:
    seq: Sequencer[str] = Sequencer(reorder_timeout=1.0)
    seq.start(0)
    offer(seq, 9, now=0.0, digest=b"vol10")
    assert seq.offer(-1, b"vol10", "000000", "x", 0.0).verdict is Verdict.DUPLICATE
    assert seq.offer(-1, b"other", "000000b", "x", 0.0).verdict is Verdict.BEFORE_FIRST


def test_start_from_the_smallest_index_held() -> None:
    seq: Sequencer[str] = Sequencer(reorder_timeout=1.0)
    offer(seq, 42, now=0.0)
    offer(seq, 40, now=0.0)
    assert released(seq, now=10.0) == []  # nothing before start
    seq.start(None)
    assert seq.next_index == 40
    assert released(seq, now=0.5) == [(40, "v40")]
    assert released(seq, now=1.0) == [(41, None), (42, "v42")]


def test_start_index_given_and_later_files_before_it_are_late() -> None:
    seq: Sequencer[str] = Sequencer(reorder_timeout=1.0)
    seq.start(5)
    assert offer(seq, 3, now=0.0) is Verdict.LATE
    assert offer(seq, 5, now=0.0) is Verdict.ACCEPTED
    assert released(seq, now=0.0) == [(5, "v5")]


def test_zero_timeout_declares_gaps_immediately() -> None:
    seq: Sequencer[str] = Sequencer(reorder_timeout=0.0)
    seq.start(0)
    offer(seq, 2, now=0.0)
    assert released(seq, now=0.0) == [(0, None), (1, None), (2, "v2")]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="reorder_timeout"):
        Sequencer(reorder_timeout=-1.0)
    seq: Sequencer[str] = Sequencer(reorder_timeout=1.0)
    seq.start(0)
    with pytest.raises(RuntimeError, match="twice"):
        seq.start(0)


def test_release_type() -> None:
    assert Release(3, None).item is None


def _scanner(seq: Sequencer[str], arrivals: dict[int, float], tr: float, until: float) -> list[tuple[int, str | None]]:
    """Offer each index at its arrival time and release every 10 ms, as the watcher does; all releases in order."""
    out: list[tuple[int, str | None]] = []
    by_time = sorted((t, i) for i, t in arrivals.items())
    now, k = 0.0, 0
    while now <= until:
        while k < len(by_time) and by_time[k][0] <= now:
            offer(seq, by_time[k][1], now=by_time[k][0])
            k += 1
        out += released(seq, now)
        now = round(now + 0.01, 2)
    return out


def test_an_early_file_does_not_make_the_on_time_volumes_missing() -> None:
    """Issue 10, case 1: `--swap 20,60` at TR 0.4 s must lose volume 20 only (it arrives too late), not 20 and 26-59."""
    tr = 0.4
    arrivals = {i: i * tr for i in range(70)}
    arrivals[20], arrivals[60] = arrivals[60], arrivals[20]  # the scanner writes 60 when 20 is due, and 20 at the end
    seq: Sequencer[str] = Sequencer(reorder_timeout=2.0, tr=tr)
    seq.start(0, now=0.0)
    out = _scanner(seq, arrivals, tr, until=30.0)
    assert seq.missing == [20]
    assert [i for i, item in out if item is not None] == [i for i in range(70) if i != 20]
    # 20 is declared missing one TR plus the reorder window after 19 arrived, not later
    assert out.index((20, None)) == out.index((19, "v19")) + 1


def test_a_far_future_file_is_held_and_flagged_early() -> None:
    """Volume 100 copied in while the scanner is at 15 loses nothing; it waits for its turn."""
    tr = 0.4
    seq: Sequencer[str] = Sequencer(reorder_timeout=2.0, tr=tr)
    seq.start(0, now=0.0)
    arrivals = {i: i * tr for i in range(40)}
    for i in range(16):
        assert seq.offer(i, f"d{i}".encode(), f"file{i}", f"v{i}", arrivals[i]).early is False
        released(seq, arrivals[i])
    stray = seq.offer(100, b"d100", "file100", "v100", 6.1)
    assert stray.verdict is Verdict.ACCEPTED and stray.early
    assert seq.offer(17, b"d17", "file17", "v17", 6.5).early is False  # one ahead of the scanner: on time
    out = [(15, "v15")]
    now = 6.1
    for i in range(16, 40):
        if i != 17:
            offer(seq, i, now=arrivals[i])
        now = arrivals[i]
        out += released(seq, now)
    assert seq.missing == []
    assert out[-1] == (39, "v39") and seq.n_pending == 1
    # once the scanner has stopped, the gap up to 100 is declared only when 100 could have been written
    assert released(seq, now=now + 10 * tr) == []
    tail = released(seq, now=100 * tr + 2.0 + 1.0)
    assert tail[-1] == (100, "v100") and seq.missing == list(range(40, 100))


def test_a_gap_is_due_one_tr_after_its_predecessor() -> None:
    seq: Sequencer[str] = Sequencer(reorder_timeout=1.0, tr=2.0)
    seq.start(0, now=0.0)
    offer(seq, 0, now=0.0)
    assert released(seq, 0.0) == [(0, "v0")]
    offer(seq, 2, now=3.9)  # 1 was due at 2.0: missing at 2.0 + 1.0, i.e. as soon as 2 is here and ...
    assert seq.deadline() == pytest.approx(3.9)  # ... not before a later volume is here to time it
    assert released(seq, 3.9) == [(1, None), (2, "v2")]
    offer(seq, 4, now=4.5)  # 3 due at 3.9 + 2.0 = 5.9, but 4 is here already: due from 4.5
    assert seq.deadline() == pytest.approx(5.5)
    assert released(seq, 5.49) == []
    assert released(seq, 5.5) == [(3, None), (4, "v4")]


def test_without_a_tr_gaps_are_timed_from_the_earliest_later_volume() -> None:
    seq: Sequencer[str] = Sequencer(reorder_timeout=1.0)
    seq.start(0, now=0.0)
    offer(seq, 50, now=0.5)
    assert seq.offer(51, b"d51", "f", "v51", 0.6).early is False
    assert seq.deadline() == pytest.approx(1.5)


def test_a_long_real_gap_does_not_stall_the_run() -> None:
    """Six volumes lost in a row at TR 0.4 s: the seventh is not early for long, and the run goes on."""
    tr = 0.4
    arrivals = {i: i * tr for i in range(30) if not 10 <= i < 16}
    seq: Sequencer[str] = Sequencer(reorder_timeout=1.0, tr=tr)
    seq.start(0, now=0.0)
    out = _scanner(seq, arrivals, tr, until=14.0)
    assert seq.missing == list(range(10, 16))
    assert [i for i, item in out if item is not None] == sorted(arrivals)


def test_files_written_faster_than_the_tr_are_not_early() -> None:
    """A simulator writing every 0.1 s for a TR of 2 s, one volume dropped: nothing early, the gap timed from 13."""
    seq: Sequencer[str] = Sequencer(reorder_timeout=2.0, tr=2.0)
    seq.start(0, now=0.0)
    flags = []
    for i in (i for i in range(30) if i != 12):
        flags.append(seq.offer(i, f"d{i}".encode(), f"file{i}", f"v{i}", 0.1 * i).early)
        released(seq, 0.1 * i)
    assert not any(flags)
    assert seq.deadline() == pytest.approx(1.3 + 2.0)


def test_a_given_up_index_is_missing_at_once_unless_its_volume_comes_first() -> None:
    seq: Sequencer[str] = Sequencer(reorder_timeout=60.0, tr=1.0)
    seq.start(0, now=0.0)
    assert seq.give_up(1, "its file was rejected")
    assert seq.give_up(2, "its file was rejected")
    assert seq.offer(2, b"c", "vol2", "C", now=0.5).verdict is Verdict.ACCEPTED  # rewritten good in time: taken
    assert seq.deadline() == 60.5  # index 0 is not given up: it is waited for, the reorder window from 2
    assert seq.offer(0, b"a", "vol0", "A", now=1.0).verdict is Verdict.ACCEPTED
    released = seq.release(now=1.0)
    assert [(r.index, r.item, r.reason) for r in released] == [(0, "A", ""), (1, None, "its file was rejected"),
                                                               (2, "C", "")]
    assert not seq.give_up(1, "again") and not seq.give_up(-1, "negative")  # passed, or before the first
    assert seq.give_up(3, "its file is a directory") and seq.deadline() == float("-inf")
    assert [(r.index, r.reason) for r in seq.release(now=1.1)] == [(3, "its file is a directory")]
    seq.offer(6, b"g", "vol6", "G", now=2.0)
    assert seq.give_up(5, "its file was rejected")
    assert [(r.index, r.reason) for r in seq.finish()] == [
        (4, "the series ended before it came"), (5, "its file was rejected"), (6, "")]
