"""Framewise displacement (Power et al. 2012) on known motion."""

from __future__ import annotations

import numpy as np
import pytest

from nfd.timeseries import TimeseriesError, framewise_displacement, framewise_displacement_series


def test_translation_only_is_the_sum_of_absolute_shifts() -> None:
    assert framewise_displacement([1, 2, 3, 0, 0, 0], [1.5, 1.0, 3.25, 0, 0, 0]) == pytest.approx(1.75)


def test_rotation_is_arc_length_on_a_50_mm_sphere() -> None:
    # 0.02 rad about z moves a point 50 mm from the centre by 1 mm of arc
    assert framewise_displacement(np.zeros(6), [0, 0, 0, 0, 0, 0.02]) == pytest.approx(1.0)
    assert framewise_displacement(np.zeros(6), [0, 0, 0, -0.01, 0.01, 0.0]) == pytest.approx(1.0)
    assert framewise_displacement(np.zeros(6), [0, 0, 0, 0, 0, 0.02], radius=80.0) == pytest.approx(1.6)


def test_mixed_motion_and_symmetry() -> None:
    a = [0.1, -0.2, 0.3, 0.001, -0.002, 0.003]
    b = [-0.1, 0.0, 0.3, 0.003, -0.002, 0.0]
    expected = 0.2 + 0.2 + 0.0 + 50 * (0.002 + 0.0 + 0.003)
    assert framewise_displacement(a, b) == pytest.approx(expected)
    assert framewise_displacement(b, a) == pytest.approx(expected)


def test_series_starts_at_zero_and_matches_pairs() -> None:
    rng = np.random.default_rng(3)
    params = np.cumsum(rng.normal(scale=[0.1, 0.1, 0.1, 0.001, 0.001, 0.001], size=(20, 6)), axis=0)
    fd = framewise_displacement_series(params)
    assert fd.shape == (20,)
    assert fd[0] == 0.0
    for t in range(1, 20):
        assert fd[t] == pytest.approx(framewise_displacement(params[t - 1], params[t]))


def test_series_of_known_steps() -> None:
    params = np.zeros((4, 6))
    params[1:, 0] = 0.5  # a 0.5 mm jump at volume 1
    params[3, 5] = 0.01  # a 0.01 rad yaw at volume 3
    np.testing.assert_allclose(framewise_displacement_series(params), [0.0, 0.5, 0.0, 0.5])


def test_series_of_empty_and_single_runs() -> None:
    assert framewise_displacement_series(np.zeros((0, 6))).shape == (0,)
    assert framewise_displacement_series(np.ones((1, 6))).tolist() == [0.0]


@pytest.mark.parametrize("bad", [[0, 0, 0], np.zeros((2, 6)), "abc"])
def test_bad_parameter_vectors_are_refused(bad: object) -> None:
    with pytest.raises(TimeseriesError, match="6 numbers"):
        framewise_displacement(np.zeros(6), bad)  # type: ignore[arg-type]


def test_bad_series_and_radius_are_refused() -> None:
    with pytest.raises(TimeseriesError, match=r"\(n, 6\)"):
        framewise_displacement_series(np.zeros((5, 3)))
    with pytest.raises(TimeseriesError, match="radius"):
        framewise_displacement(np.zeros(6), np.zeros(6), radius=0.0)


def test_micro_displacement_is_the_change_of_the_translation_length() -> None:
    from nfd.timeseries import micro_displacement

    assert micro_displacement(np.zeros(6), [0.3, 0.4, 0.0, 0.1, 0.1, 0.1]) == pytest.approx(0.5)
    # moving along a sphere around the origin changes no length: no micro-displacement, but FD
    a, b = [3.0, 4.0, 0.0, 0, 0, 0], [0.0, 5.0, 0.0, 0, 0, 0]
    assert micro_displacement(a, b) == pytest.approx(0.0)
    assert framewise_displacement(a, b) == pytest.approx(4.0)
    assert micro_displacement(b, [0.0, 4.0, 0.0, 0, 0, 0]) == pytest.approx(1.0)
    with pytest.raises(TimeseriesError, match="6 numbers"):
        micro_displacement([0.0] * 5, np.zeros(6))
