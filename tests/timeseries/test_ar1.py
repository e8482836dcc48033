"""OpenNFT's recursive AR(1) filter against the formula written out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd.timeseries import TimeseriesError, ar1_filter, ar1_step


def direct_ar1(y: list[float], a: float) -> list[float]:
    """y'(1) = (1 - a) y(1); y'(t) = y(t) - a y'(t-1), as the issue writes it."""
    out = [(1 - a) * y[0]]
    for t in range(1, len(y)):
        out.append(y[t] - a * out[t - 1])
    return out


@pytest.mark.parametrize("a", [0.0, 0.2, 0.5, 0.9])
def test_matches_the_formula(a: float) -> None:
    y = list(np.random.default_rng(1).normal(10, 3, 50))
    np.testing.assert_allclose(ar1_filter(y, a), direct_ar1(y, a), rtol=0, atol=1e-12)


def test_known_values() -> None:
    assert ar1_filter([10.0, 10.0, 10.0], 0.2).tolist() == pytest.approx([8.0, 8.4, 8.32])
    assert ar1_step(3.0, None, 0.5) == 1.5
    assert ar1_step(3.0, 2.0, 0.5) == 2.0


def test_a_constant_input_converges_to_y_over_one_plus_a() -> None:
    out = ar1_filter(np.full(60, 12.0), 0.2)
    assert out[-1] == pytest.approx(12.0 / 1.2, rel=1e-9)


@pytest.mark.parametrize("a", [-0.1, 1.0, math.nan, "0.2", True])
def test_rejects_a_outside_zero_one(a: object) -> None:
    with pytest.raises(TimeseriesError, match=r"AR\(1\) coefficient a must be a number in \[0, 1\)"):
        ar1_filter([1.0, 2.0], a)  # type: ignore[arg-type]


def test_rejects_2d_series() -> None:
    with pytest.raises(TimeseriesError, match="1-D"):
        ar1_filter(np.zeros((3, 2)))
