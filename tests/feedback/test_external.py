"""External feedback: values pushed from outside, per volume or latest, with an age limit."""

from __future__ import annotations

import threading

import pytest

from nfd.design import Design, VolumeIndexError
from nfd.feedback import ExternalFeedback, FeedbackError, make_feedback

DESIGN = Design.from_blocks(20, [("UP", 5, 9)])


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_indexed_values_take_precedence_and_latest_values_persist() -> None:
    fb = ExternalFeedback(DESIGN)
    assert fb.update(0, {}) is None
    fb.push(0.5)
    fb.push(2.0, index=3)
    fb.push(9.0, index=1)  # for a volume already past when 3 arrives: dropped
    assert [fb.update(i, {}) for i in (2, 3, 4)] == [0.5, 2.0, 0.5]
    assert fb.detail == {"source": "latest", "age_s": pytest.approx(fb.detail["age_s"])}
    summary = fb.summary()
    assert summary["pushed"] == 3 and summary["feedback_volumes"] == 3 and summary["volumes"] == 4


def test_values_older_than_max_age_are_not_used() -> None:
    clock = Clock()
    fb = ExternalFeedback(DESIGN, max_age_s=1.5, clock=clock)
    fb.push(1.0)
    clock.now += 1.0
    assert fb.update(0, {}) == 1.0
    clock.now += 1.0
    assert fb.update(1, {}) is None
    assert fb.detail["stale"] is True and fb.detail["age_s"] == pytest.approx(2.0)
    fb.push(3.0)
    assert fb.update(2, {}) == 3.0
    assert fb.summary()["stale_volumes"] == 1


def test_pushes_from_other_threads() -> None:
    fb = make_feedback("external", DESIGN, [])
    threads = [threading.Thread(target=fb.push, args=(float(k),), kwargs={"index": k}) for k in range(10)]  # type: ignore[attr-defined]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [fb.update(i, {}) for i in range(10)] == [float(i) for i in range(10)]


def test_bad_values_are_refused() -> None:
    fb = ExternalFeedback(DESIGN)
    with pytest.raises(FeedbackError, match="finite number"):
        fb.push(float("nan"))
    with pytest.raises(VolumeIndexError):
        fb.push(1.0, index=20)
    with pytest.raises(FeedbackError, match="max_age_s"):
        ExternalFeedback(DESIGN, max_age_s=-1.0)


def test_only_the_external_kind_accepts_pushed_values() -> None:
    design = DESIGN
    external = make_feedback("external", design, [])
    assert external.accepts_push
    external.push(1.5, index=3)
    psc = make_feedback("psc", design, ["a"])
    assert not psc.accepts_push
    with pytest.raises(FeedbackError, match="does not accept pushed"):
        psc.push(1.5)
