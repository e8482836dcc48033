"""The modified Kalman filter against a direct transcription of OpenNFT's modifKalman.m."""

from __future__ import annotations

import numpy as np
import pytest

from nfd.timeseries import KalmanSettings, KalmanState, TimeseriesError, kalman_despike, kalman_step
from tests.helpers.opennft_reference import opennft_chain


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_opennft_on_noisy_signals_with_spikes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = np.sin(np.arange(150) / 6.0) + rng.normal(0, 0.3, 150)
    y[[30, 31, 70, 110]] += [6.0, 6.0, -5.0, 4.0]  # a step-like double spike, single spikes
    expected, expected_spikes = opennft_chain(y, zero_sd="pass")  # nfd's default rule for sd = 0
    filtered, spikes = kalman_despike(y)
    np.testing.assert_allclose(filtered, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(spikes, expected_spikes)
    assert spikes[30] == 1 and spikes[70] == -1 and spikes[110] == 1
    assert spikes[31] == 0  # a second spike in a row in the same direction is accepted


def test_single_spike_is_held_back_and_the_output_stays_at_the_prediction() -> None:
    y = np.zeros(40)
    y[1::2] = 0.1
    y[25] = 30.0
    filtered, spikes = kalman_despike(y)
    assert spikes[25] == 1
    assert filtered[25] == filtered[24]
    assert np.count_nonzero(spikes) == 1


def test_one_step_with_known_numbers() -> None:
    # sd = 1: P = 0 + 0.25, K = 0.25 / 1.25 = 0.2, step = 0.2 * (1 - 0) = 0.2 < 0.9: accepted
    out, state, spike = kalman_step(KalmanState(), 1.0, 1.0)
    assert (out, spike) == (pytest.approx(0.2), 0)
    assert state.p == pytest.approx(0.8 * 0.25)
    # a big jump: step = 0.2 * 10 = 2 >= 0.9: held back, the state keeps the predicted P
    out, state, spike = kalman_step(KalmanState(), 10.0, 1.0)
    assert (out, spike, state.x, state.p, state.positive_held) == (0.0, 1, 0.0, 0.25, 1)
    # the same way again: accepted (a change of level), counter reset
    out, state, spike = kalman_step(state, 10.0, 1.0)
    assert spike == 0 and state.positive_held == 0 and out == pytest.approx(10.0 / 3.0)


def test_directions_are_counted_separately() -> None:
    state = KalmanState(x=0.0, p=0.0, positive_held=1, negative_held=0)
    _, state, spike = kalman_step(state, -10.0, 1.0)
    assert spike == -1 and state.positive_held == 1 and state.negative_held == 1


def test_zero_sd_passes_without_spikes() -> None:
    out, state, spike = kalman_step(KalmanState(), 5.0, 0.0)
    assert (out, spike, state) == (0.0, 0, KalmanState(0.0, 0.0, 0, 0))


def test_settings_are_checked() -> None:
    with pytest.raises(TimeseriesError, match="Kalman setting q"):
        kalman_despike([1.0, 2.0], KalmanSettings(q=-1.0))
    with pytest.raises(TimeseriesError, match="1-D"):
        kalman_despike(np.zeros((2, 2)))
