"""Connectivity feedback: Pearson correlation, sliding-window and per block, on known series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd.design import Design
from nfd.feedback import FeedbackError, IntermittentCorrelation, SlidingCorrelation, pearson
from nfd.timeseries import ChainStep


def steps(index: int, values: dict[str, float], field: str = "kalman") -> dict[str, ChainStep]:
    out = {}
    for name, v in values.items():
        fields = {"raw": 100.0, "glm": 0.0, "ar1": 0.0, "kalman": 0.0, "scaled": 0.5, field: v}
        out[name] = ChainStep(index, fields["raw"], fields["glm"], fields["ar1"], fields["kalman"], fields["scaled"],
                              0, -1.0, 1.0, 4)
    return out


def test_pearson_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, y = rng.normal(size=(2, 30))
        assert pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    assert math.isnan(pearson([1.0], [2.0])) and math.isnan(pearson([1.0, 1.0], [1.0, 2.0]))
    with pytest.raises(FeedbackError, match="lengths 2 and 3"):
        pearson([1, 2], [1, 2, 3])


def test_sliding_window_correlation_matches_numpy_on_the_last_window() -> None:
    design = Design.from_blocks(60, [("UP", 20, 39)], skip_volumes=2)
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(size=(3, 60))
    b = b + (design.boxcar() * 2) * a  # coupled during regulation
    fb = SlidingCorrelation(design, ["a", "b", "c"], window=8, pairs=[("a", "b"), ("a", "c")], combine="mean")
    values = []
    for i in range(60):
        values.append(fb.update(i, steps(i, {"a": a[i], "b": b[i], "c": c[i]})))
    first = 2 + 8 - 1
    assert all(v is None for v in values[:first])
    for i in range(first, 60):
        window = slice(i - 7, i + 1)
        expected = (np.corrcoef(a[window], b[window])[0, 1] + np.corrcoef(a[window], c[window])[0, 1]) / 2
        assert values[i] == pytest.approx(expected, abs=1e-12)
    summary = fb.summary()
    assert summary["mean_regulation"] > summary["mean_baseline"]


def test_sliding_window_skips_missing_values() -> None:
    design = Design.from_blocks(10, [])
    fb = SlidingCorrelation(design, ["a", "b"], window=3, signal="raw")
    got = [fb.update(i, steps(i, {"a": float(i), "b": v}, "raw")) for i, v in enumerate([1, 2, math.nan, 4, 3])]
    # the NaN volume does not enter the window: at volume 4 the window is volumes 1, 3, 4
    assert got[:3] == [None, None, None]
    assert got[3] == pytest.approx(pearson([0, 1, 3], [1, 2, 4]))
    assert got[4] == pytest.approx(pearson([1, 3, 4], [2, 4, 3]))


def test_intermittent_correlation_is_regulation_minus_baseline() -> None:
    design = Design.from_blocks(30, [("UP", 10, 19)])
    rng = np.random.default_rng(3)
    a = rng.normal(size=30)
    b = np.where(design.boxcar() > 0, a + 0.1 * rng.normal(size=30), rng.normal(size=30))
    fb = IntermittentCorrelation(design, ["a", "b"], delay=2)
    values = [fb.update(i, steps(i, {"a": a[i], "b": b[i]})) for i in range(30)]
    assert [i for i, v in enumerate(values) if v is not None] == [19]
    expected = pearson(a[12:20], b[12:20]) - pearson(a[2:10], b[2:10])
    assert values[19] == pytest.approx(expected)
    assert values[19] > 0.5
    assert fb.summary()["blocks"][0]["value"] == pytest.approx(expected)


def test_options_are_checked() -> None:
    design = Design.from_blocks(10, [])
    with pytest.raises(FeedbackError, match="at least 2 ROIs"):
        SlidingCorrelation(design, ["a"])
    with pytest.raises(FeedbackError, match="window must be an integer >= 3"):
        SlidingCorrelation(design, ["a", "b"], window=2)
    with pytest.raises(FeedbackError, match="names ROI 'z'"):
        SlidingCorrelation(design, ["a", "b"], pairs=[("a", "z")])
    with pytest.raises(FeedbackError, match="with itself"):
        IntermittentCorrelation(design, ["a", "b"], pairs=[("a", "a")])
