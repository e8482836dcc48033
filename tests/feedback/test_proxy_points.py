"""The proxy's paper variants: the n-point rule (overlapping events), its direction rule, 3 of 4 targets, config."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfd._errors import ConfigError
from nfd.config import parse_config
from nfd.daemon.build import feedback_kind_options
from nfd.design import Design
from nfd.feedback import FeedbackError, ProxyRule, TwoPointProxy, make_feedback, proxy_direction, proxy_events
from nfd.timeseries import ChainStep

GOOD, REVERSE, BAD = (1, 1, -1), (-1, -1, 1), (1, -1, 1)


def series_from_moves(moves: list[tuple[int, ...]], start: float = 10.0) -> np.ndarray:
    """Signals from their volume-to-volume moves (+1 up, -1 down, 0 still), one column per ROI."""
    steps = np.array([[0] * len(moves[0]), *moves], dtype=float)
    return start + np.cumsum(steps, axis=0)


def windows_by_construction(directions: list[int], points: int, same: bool) -> list[int]:
    """Events from the intervals' directions (interval i ends at volume i + 1): the last points - 1 all non-zero."""
    out = [0] * (len(directions) + 1)
    for t in range(points - 1, len(directions) + 1):
        window = directions[t - points + 1:t]
        out[t] = int(all(window) and (not same or len(set(window)) == 1))
    return out


# intervals ending at volumes 1..10: + + + - + 0 + + + +
MOVES = [GOOD, GOOD, GOOD, REVERSE, GOOD, BAD, GOOD, GOOD, GOOD, GOOD]
DIRECTIONS = [1, 1, 1, -1, 1, 0, 1, 1, 1, 1]


@pytest.mark.parametrize(
    ("points", "direction", "expected"),
    [
        (2, "any", [0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1]),
        (2, "same", [0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1]),
        (3, "any", [0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1]),  # overlapping: events at volumes 2, 3, 4, 5 in a row
        (3, "same", [0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1]),  # the reversal at 4 breaks the windows ending at 4 and 5
        (4, "any", [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1]),
        (4, "same", [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1]),
    ],
)
def test_n_point_events_known_by_construction(points: int, direction: str, expected: list[int]) -> None:
    x = series_from_moves(MOVES)
    assert [proxy_direction(c[:2], c[2]) for c in np.diff(x, axis=0)] == DIRECTIONS
    assert windows_by_construction(DIRECTIONS, points, direction == "same") == expected
    events = proxy_events(x[:, :2], x[:, 2], ProxyRule(points=points, direction=direction))
    assert events.tolist() == expected


def test_consecutive_keeps_its_non_overlapping_count_and_takes_the_direction_rule() -> None:
    x = series_from_moves(MOVES)
    # intervals 1-3 make one event at 3, the count restarts; 4-5 break at 6; 7-9 make one at 9
    assert proxy_events(x[:, :2], x[:, 2], ProxyRule(consecutive=3)).tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]
    assert proxy_events(x[:, :2], x[:, 2], ProxyRule(consecutive=2)).tolist() == [0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1]
    # "same": the reversal at 4 starts a new run of 1, so 4-5 make no event
    assert proxy_events(x[:, :2], x[:, 2], ProxyRule(consecutive=2, direction="same")).tolist() == [
        0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1]


def test_three_points_with_k_of_m_applies_the_leniency_per_interval() -> None:
    # 4 targets and a control; interval 1: targets 1-3 up, interval 2: targets 2-4 up, control down both times
    x = series_from_moves([(1, 1, 1, -1, -1), (-1, 1, 1, 1, -1)])
    rule = ProxyRule(min_agree=3, points=3)
    assert proxy_events(x[:, :4], x[:, 4], rule).tolist() == [0, 0, 1]
    # no single triple holds in both intervals: the per-interval leniency is wider than "one triple throughout"
    triples = [proxy_events(x[:, list(c)], x[:, 4], ProxyRule(points=3)) for c in itertools.combinations(range(4), 3)]
    assert np.max(triples, axis=0).tolist() == [0, 0, 0]


def test_three_of_four_is_any_of_the_four_triples_at_every_sign_pattern() -> None:
    # every pattern of signs (and zeros) of 4 target changes and the control's: k = 3 of 4 holds with direction s
    # exactly when some triple of targets holds with all 3 agreeing, with the same s
    for pattern in itertools.product((-1.0, 0.0, 1.0), repeat=5):
        targets, control = np.array(pattern[:4]), pattern[4]
        lenient = proxy_direction(targets, control, min_agree=3)
        by_triples = {proxy_direction(targets[list(c)], control) for c in itertools.combinations(range(4), 3)} - {0}
        assert len(by_triples) <= 1
        assert lenient == (by_triples.pop() if by_triples else 0), pattern


_row = st.lists(st.sampled_from([-2.0, -1.0, -0.25, 0.0, 0.25, 1.0, 2.0]), min_size=5, max_size=5)
_moves = st.lists(_row, min_size=2, max_size=40)


@settings(max_examples=60, deadline=None)
@given(moves=_moves, sd=st.sampled_from([0.0, 0.5]))
def test_three_of_four_series_equal_the_union_of_the_triples(moves: list[list[float]], sd: float) -> None:
    x = series_from_moves([tuple(m) for m in moves])  # type: ignore[misc]
    lenient = proxy_events(x[:, :4], x[:, 4], ProxyRule(min_agree=3, min_change_sd=sd))
    triples = [proxy_events(x[:, list(c)], x[:, 4], ProxyRule(min_change_sd=sd))
               for c in itertools.combinations(range(4), 3)]
    assert lenient.tolist() == np.max(triples, axis=0).tolist()
    # with more points the per-interval leniency contains the union of the triples' events
    wide = proxy_events(x[:, :4], x[:, 4], ProxyRule(min_agree=3, min_change_sd=sd, points=3))
    union = np.max([proxy_events(x[:, list(c)], x[:, 4], ProxyRule(min_change_sd=sd, points=3))
                    for c in itertools.combinations(range(4), 3)], axis=0)
    assert np.all(wide >= union)


@settings(max_examples=80, deadline=None)
@given(
    moves=st.lists(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]), min_size=3, max_size=3),
                   min_size=2, max_size=50),
    points=st.sampled_from([3, 4]),
    direction=st.sampled_from(["any", "same"]),
    sd=st.sampled_from([0.0, 0.4]),
)
def test_an_event_with_p_points_implies_events_with_p_minus_1_at_t_and_t_minus_1(
    moves: list[list[float]], points: int, direction: str, sd: float
) -> None:
    x = series_from_moves([tuple(m) for m in moves])  # type: ignore[misc]
    more = proxy_events(x[:, :2], x[:, 2], ProxyRule(points=points, direction=direction, min_change_sd=sd))
    fewer = proxy_events(x[:, :2], x[:, 2], ProxyRule(points=points - 1, direction=direction, min_change_sd=sd))
    for t in np.flatnonzero(more):
        assert fewer[t] == 1 and fewer[t - 1] == 1
    # and "same" is the stricter rule
    if direction == "same":
        loose = proxy_events(x[:, :2], x[:, 2], ProxyRule(points=points, min_change_sd=sd))
        assert np.all(loose >= more)


@pytest.mark.parametrize(("points", "direction"), [(2, "any"), (3, "any"), (3, "same"), (4, "any"), (4, "same")])
def test_the_causal_computer_equals_the_batch_function_volume_by_volume(points: int, direction: str) -> None:
    n, skip = 120, 2
    design = Design.from_blocks(n, [("UP", 20, 49), ("UP", 80, 109)], skip_volumes=skip)
    rng = np.random.default_rng(points * 10 + len(direction))
    common = 2.0 * np.sin(np.arange(n) / 3.0) + 0.3 * rng.normal(size=n)  # slow swings: runs of one direction
    a, b, c = (common + 0.2 * rng.normal(size=n), common + 0.2 * rng.normal(size=n),
               -0.5 * common + 0.2 * rng.normal(size=n))
    rule = ProxyRule(min_change_sd=0.2, points=points, direction=direction)
    fb = make_feedback("proxy", design, ["a", "b", "c"], min_change_sd=0.2, points=points, direction=direction)
    assert isinstance(fb, TwoPointProxy) and fb.rule == rule
    signals = {"a": a, "b": b, "c": c}
    values = [fb.update(i, {k: ChainStep(i, 0, 0, 0, float(v[i]), 0, 0, 0, 0, 4) for k, v in signals.items()})
              for i in range(n)]
    expected = proxy_events(np.column_stack([a, b])[skip:], c[skip:], rule)
    assert values[:skip + 1] == [None] * (skip + 1)
    assert [int(v) for v in values[skip + 1:] if v is not None] == expected[1:].tolist()
    if points > 2:
        assert np.any(expected[1:] & expected[:-1]), "no events at consecutive volumes"
    summary = fb.summary()
    assert summary["events"] == int(expected.sum()) > 0
    assert summary["rule"]["points"] == points and summary["rule"]["direction"] == direction


def test_bad_rules_are_refused() -> None:
    with pytest.raises(FeedbackError, match="points must be an integer >= 2"):
        ProxyRule(points=1)
    with pytest.raises(FeedbackError, match=r"consecutive=2 .* points=3"):
        ProxyRule(consecutive=2, points=3)
    with pytest.raises(FeedbackError, match="direction must be one of"):
        ProxyRule(direction="up")
    with pytest.raises(FeedbackError, match="direction"):
        TwoPointProxy(Design.from_blocks(10, []), ["a", "b", "c"], direction="sideways")
    assert ProxyRule(consecutive=3).intervals == 3 and ProxyRule(points=4).intervals == 3
    assert ProxyRule() == ProxyRule(None, 1, 0.0, 2, "any")


CONFIG = """\
[run]
tr = 2.0
n_volumes = 40
[acquire]
watch_dir = "watch"
[feedback]
protocol = "protocol.json"
type = "proxy"
[feedback.proxy]
targets = ["a", "b"]
control = "c"
{extra}
[roi]
a = "a.nii"
b = "b.nii"
c = "c.nii"
"""


def test_config_points_and_direction_reach_the_proxy() -> None:
    cfg = parse_config(CONFIG.format(extra='points = 3\ndirection = "same"'), Path("/base"))
    options = feedback_kind_options(cfg)
    assert options["points"] == 3 and options["direction"] == "same" and options["consecutive"] == 1
    fb = make_feedback("proxy", Design.from_blocks(40, []), list(cfg.roi), **options)
    assert isinstance(fb, TwoPointProxy) and fb.rule.points == 3 and fb.rule.direction == "same"
    default = parse_config(CONFIG.format(extra=""), Path("/base"))
    assert default.feedback.proxy.points == 2 and default.feedback.proxy.direction == "any"


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ("points = 3\nconsecutive = 2", "feedback.proxy.consecutive", "points = 3"),
        ("points = 5", "feedback.proxy.points", "4"),
        ("points = 1", "feedback.proxy.points", "2"),
        ('direction = "up"', "feedback.proxy.direction", "same"),
    ],
)
def test_config_refuses_bad_proxy_rules_naming_the_key(extra: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG.format(extra=extra), Path("/base"), Path("nfd.toml"))
    assert info.value.key == key and words in info.value.reason
    assert str(info.value).count("\n") == 0
