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
