"""Dynamic scaling limits: OpenNFT's rules, with the port's two bugs fixed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd.timeseries import ScalingSettings, TimeseriesError, scale_value, scaling_limits
from tests.helpers.opennft_reference import matlab_limits


@pytest.mark.parametrize("n", [1, 5, 20, 21, 30, 49, 50, 51, 150])
def test_matches_opennft_matlab_without_window(n: int) -> None:
    x = np.random.default_rng(n).normal(0, 3, n)
    assert scaling_limits(x, floor_value=0.5) == pytest.approx(matlab_limits(x, 0.5))


def test_first_twenty_volumes_use_min_and_max() -> None:
    x = np.linspace(-2, 7, 20)
    assert scaling_limits(x, floor_value=0.1) == (-2.0, 7.0)


def test_robust_limits_include_the_maximum_in_the_top_slice() -> None:
    # 40 values: m = round(0.05 * 40) = 2, top slice = 3 largest values including the maximum
    x = np.arange(40, dtype=float) - 20.0
    lo, hi = scaling_limits(x, floor_value=0.0)
    assert hi == 18.0  # median of 17, 18, 19; pyOpenNFT's s[-4:-1] = 16, 17, 18 would give 17
    assert lo == -19.0  # median of -20, -19, -18
    # a single outlier does not set the range
    x[5] = 1000.0
    assert scaling_limits(x, floor_value=0.0)[1] == 19.0


def test_floor_widens_a_flat_signal() -> None:
    x = np.full(30, 0.01)
    assert scaling_limits(x, floor_value=2.0) == (-2.0, 2.0)


def test_sliding_window_widens_between_changes_in_both_directions() -> None:
    settings = ScalingSettings(window=5)
    history = np.array([0.0, 1.0, -1.0, 0.5, 0.2, 0.1])
    # no condition change: the limits widen to include the current value, and only widen
    assert scaling_limits(history, floor_value=0.0, settings=settings, previous=(-1.0, 1.0)) == (-1.0, 1.0)
    lower = np.append(history, -3.0)
    # the fixed comparison: a value below the lower limit moves it down (the port moved it up to any value above)
    assert scaling_limits(lower, floor_value=0.0, settings=settings, previous=(-1.0, 1.0)) == (-3.0, 1.0)
    higher = np.append(history, 4.0)
    assert scaling_limits(higher, floor_value=0.0, settings=settings, previous=(-1.0, 1.0)) == (-1.0, 4.0)


def test_sliding_window_narrows_to_the_window_at_a_condition_change() -> None:
    settings = ScalingSettings(window=4)
    history = np.array([-5.0, 5.0, 0.0, 0.3, -0.2, 0.4, 0.1])
    lo, hi = scaling_limits(history, floor_value=0.0, settings=settings, previous=(-5.0, 5.0), condition_changed=True)
    # the window holds the last 4 values, the current one included: -0.2 .. 0.4
    assert (lo, hi) == (-0.2, 0.4)


def test_scale_value() -> None:
    assert scale_value(0.0, -1.0, 1.0) == 0.5
    assert scale_value(3.0, -1.0, 1.0) == 2.0  # beyond the robust limits: outside [0, 1], as OpenNFT
    assert scale_value(1.0, 1.0, 1.0) == 0.0
    assert scale_value(1.0, math.nan, 1.0) == 0.0


@pytest.mark.parametrize(
    "settings",
    [ScalingSettings(warmup=0), ScalingSettings(fraction=0.5), ScalingSettings(floor=-1.0), ScalingSettings(window=1)],
)
def test_settings_are_checked(settings: ScalingSettings) -> None:
    with pytest.raises(TimeseriesError, match="scaling"):
        settings.checked()


def test_empty_history_is_refused() -> None:
    with pytest.raises(TimeseriesError, match="non-empty"):
        scaling_limits([], floor_value=1.0)
