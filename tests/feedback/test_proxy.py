"""The two-point connectivity proxy on hand-made series whose events are known; the composite measure."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nfd.design import Design
from nfd.feedback import (
    FeedbackError,
    ProxyRule,
    TwoPointProxy,
    composite_measure,
    make_feedback,
    proxy_direction,
    proxy_events,
)
from nfd.timeseries import ChainStep


def series_from_moves(moves: list[tuple[int, ...]], start: float = 10.0) -> np.ndarray:
    """Signals from their volume-to-volume moves (+1 up, -1 down, 0 still), one column per ROI."""
    steps = np.array([[0] * len(moves[0]), *moves], dtype=float)
    return start + np.cumsum(steps, axis=0)


def test_two_targets_and_a_control() -> None:
    # moves of (target 1, target 2, control); an event needs t1 = t2 = -control != 0
    moves = [(1, 1, -1), (1, 1, 1), (-1, -1, 1), (1, -1, -1), (0, 1, -1), (-1, -1, 1), (1, 1, 0)]
    x = series_from_moves(moves)
    events = proxy_events(x[:, :2], x[:, 2])
    assert events.tolist() == [0, 1, 0, 1, 0, 0, 1, 0]


def test_k_of_m_targets() -> None:
    moves = [(1, 1, -1, -1), (1, -1, 1, -1), (-1, 1, 1, 1), (1, -1, -1, 1), (1, 1, 1, -1)]
    x = series_from_moves(moves)
    targets, control = x[:, :3], x[:, 3]
    assert proxy_events(targets, control).tolist() == [0, 0, 0, 0, 0, 1]  # all 3 must agree
    assert proxy_events(targets, control, ProxyRule(min_agree=2)).tolist() == [0, 1, 1, 0, 1, 1]
    assert proxy_direction([1.0, -1.0, 1.0], -1.0, min_agree=2) == 1
    assert proxy_direction([-1.0, -1.0, 1.0], 1.0, min_agree=2) == -1
    four = series_from_moves([(1, 1, 1, 1, -1), (1, 1, 1, -1, -1)])
    assert proxy_events(four[:, :4], four[:, 4]).tolist() == [0, 1, 0]
    assert proxy_events(four[:, :4], four[:, 4], ProxyRule(min_agree=3)).tolist() == [0, 1, 1]


def test_n_consecutive_points_and_events_do_not_overlap() -> None:
    good, bad = (1, 1, -1), (1, -1, 1)
    moves = [good, good, good, good, good, bad, good, good, bad, good]
    x = series_from_moves(moves)
    assert proxy_events(x[:, :2], x[:, 2], ProxyRule(consecutive=1)).tolist() == [0, 1, 1, 1, 1, 1, 0, 1, 1, 0, 1]
    assert proxy_events(x[:, :2], x[:, 2], ProxyRule(consecutive=2)).tolist() == [0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0]
    assert proxy_events(x[:, :2], x[:, 2], ProxyRule(consecutive=3)).tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]


def test_minimum_change_in_standard_deviations() -> None:
    # every ROI moves by +-1 except a tiny co-fluctuation at move 4 and a large one at move 6
    moves = [(1, 1, -1), (-1, -1, 1), (1, 1, -1), (0.01, 0.01, -0.01), (-1, -1, 1), (3, 3, -3)]
    x = series_from_moves(moves)  # type: ignore[arg-type]
    assert proxy_events(x[:, :2], x[:, 2]).tolist() == [0, 1, 1, 1, 1, 1, 1]
    strict = proxy_events(x[:, :2], x[:, 2], ProxyRule(min_change_sd=0.5))
    # no event before two changes exist (no SD); the tiny move is below half an SD of the changes so far
    assert strict.tolist() == [0, 0, 1, 1, 0, 1, 1]
    changes = np.diff(x, axis=0)
    sd = changes[:4].std(axis=0, ddof=1)
    assert np.all(np.abs(changes[3]) < 0.5 * sd)


def test_the_computer_gives_the_same_events_as_the_batch_function() -> None:
    design = Design.from_blocks(80, [("UP", 20, 39), ("UP", 60, 79)], skip_volumes=3)
    rng = np.random.default_rng(11)
    common = rng.normal(size=80)
    a = common + 0.5 * rng.normal(size=80)
    b = common + 0.5 * rng.normal(size=80)
    c = -0.5 * common + rng.normal(size=80)
    rule = ProxyRule(min_agree=None, consecutive=2, min_change_sd=0.3)
    fb = make_feedback("proxy", design, ["a", "b", "c", "unused"], targets=["a", "b"], control="c",
                       consecutive=2, min_change_sd=0.3)
    assert isinstance(fb, TwoPointProxy) and fb.rois == ("a", "b", "c") and fb.rule == rule
    values = []
    for i in range(80):
        step = {n: ChainStep(i, 0, 0, 0, float(v[i]), 0, 0, 0, 0, 4) for n, v in (("a", a), ("b", b), ("c", c))}
        values.append(fb.update(i, step))
    assert values[:4] == [None, None, None, None]  # skipped volumes, then the first has no change
    expected = proxy_events(np.column_stack([a, b])[3:], c[3:], rule)
    assert [int(v) for v in values[4:]] == expected[1:].tolist()
    summary = fb.summary()
    assert summary["events"] == int(expected.sum()) > 0
    assert summary["events_regulation"] + summary["events_baseline"] == summary["events"]
    assert summary["composite"] == pytest.approx(composite_measure(np.column_stack([a, b])[3:], c[3:]))
    assert summary["composite"] > 0.5


def test_composite_measure_known_values() -> None:
    s = np.sin(np.arange(50) / 3.0)
    assert composite_measure(np.column_stack([s, 3 * s + 1]), -s) == pytest.approx(2.0)
    rng = np.random.default_rng(0)
    t = rng.normal(size=(100, 3))
    c = rng.normal(size=100)
    within = np.mean([np.corrcoef(t[:, i], t[:, j])[0, 1] for i, j in itertools.combinations(range(3), 2)])
    between = np.mean([np.corrcoef(t[:, i], c)[0, 1] for i in range(3)])
    assert composite_measure(t, c) == pytest.approx(within - between)
    with pytest.raises(FeedbackError, match="m >= 2"):
        composite_measure(t[:, :1], c)


def test_bad_proxy_options() -> None:
    design = Design.from_blocks(10, [])
    with pytest.raises(FeedbackError, match="2, 3 or 4 target ROIs"):
        TwoPointProxy(design, list("abcdef"), targets=list("abcde"), control="f")
    with pytest.raises(FeedbackError, match="not among the run's ROIs"):
        TwoPointProxy(design, ["a", "b", "c"], targets=["a", "x"], control="c")
    with pytest.raises(FeedbackError, match="must not be a target"):
        TwoPointProxy(design, ["a", "b", "c"], targets=["a", "b"], control="a")
    with pytest.raises(FeedbackError, match="min_agree=3 exceeds"):
        TwoPointProxy(design, ["a", "b", "c"], min_agree=3)
    with pytest.raises(FeedbackError, match="consecutive"):
        ProxyRule(consecutive=0)
    with pytest.raises(FeedbackError, match="shape"):
        proxy_events(np.zeros((5, 5)), np.zeros(5))
