"""EEG-fingerprint features: specification, order, and strictly causal windows."""

from __future__ import annotations

import numpy as np
import pytest

from nfd.eeg import DEFAULT_BANDS, EegConfigError, FeatureSpec, feature_matrix, window_end_indices


def test_defaults_are_the_papers_layout() -> None:
    spec = FeatureSpec(channels=("Fz", "Cz"), fs=250.0)
    assert spec.window == 12.0 and spec.rate == 4.0 and spec.bands == DEFAULT_BANDS
    assert len(spec.delays) == 48 and spec.delays[:3] == (0.0, 0.25, 0.5) and spec.delays[-1] == 11.75
    assert spec.n_samples == 3000 and spec.n_features == 2 * 10 * 48
    names = spec.feature_names()
    assert names[0] == "Fz_0.5-2Hz_0s" and names[47] == "Fz_0.5-2Hz_11.75s" and names[48] == "Fz_2-4Hz_0s"
    assert names[480] == "Cz_0.5-2Hz_0s"


def test_features_are_log_band_power_at_the_delays() -> None:
    spec = FeatureSpec(channels=("a", "b"), fs=128.0, window=4.0, delays=(0.0, 1.0, 2.5))
    rng = np.random.default_rng(0)
    window = rng.standard_normal((2, spec.n_samples))
    logp = spec.plan.log_power(window)  # (channel, band, time), the last time = the window's last sample
    expected = logp[:, :, [15, 11, 5]].reshape(-1)
    np.testing.assert_allclose(spec.features(window), expected)
    np.testing.assert_allclose(spec.features(np.stack([window, window]))[1], expected)


def test_round_trip_through_a_dict() -> None:
    spec = FeatureSpec(
        channels=("a",), fs=250.0, window=6.0, bands=((1.0, 4.0),), rate=2.0, delays=(0.0, 3.0), gamma=2.0
    )
    assert FeatureSpec.from_dict(spec.as_dict()) == spec


def test_window_ends_at_the_newest_sample_at_or_before_the_time() -> None:
    times = np.arange(10) * 0.5
    np.testing.assert_array_equal(window_end_indices(times, np.array([0.0, 0.49, 0.5, 4.6, -1.0])), [0, 0, 1, 9, -1])


def test_feature_matrix_is_strictly_causal() -> None:
    fs = 64.0
    spec = FeatureSpec(channels=("a",), fs=fs, window=2.0, delays=(0.0, 1.0), bands=((2.0, 8.0), (8.0, 30.0)))
    rng = np.random.default_rng(1)
    data = rng.standard_normal((640, 1))
    times = np.arange(640) / fs
    ends = np.array([1.0, 2.0, 5.0, 9.99, 10.0, 10.2])  # the data end at 639 / 64 = 9.984 s
    X, valid = feature_matrix(data, times, ends, spec)
    # 1 s: no whole window yet; 10.2 s: more than a sample after the data, the window would not end there
    np.testing.assert_array_equal(valid, [False, True, True, True, True, False])
    assert np.isnan(X[0]).all() and np.isnan(X[-1]).all()
    later = data.copy()
    later[int(5.0 * fs) + 1 :] = 1e3  # everything after 5 s changes
    X2, _ = feature_matrix(later, times, ends, spec)
    np.testing.assert_array_equal(X2[1:3], X[1:3])
    assert not np.allclose(X2[3], X[3])
    e = int(5.0 * fs)
    np.testing.assert_allclose(X[2], spec.features(data[e - 127 : e + 1].T))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 12.003}, "whole number of samples"),
        ({"rate": 3.3}, "whole number"),
        ({"delays": (0.1,)}, "multiple of 1 / rate"),
        ({"delays": (12.0,)}, r"\[0, window"),
        ({"delays": (1.0, 1.0)}, "distinct"),
        ({"channels": ("a", "a")}, "unique"),
        ({"channels": ()}, "non-empty"),
        ({"bands": ((8.0, 200.0),)}, "fs / 2"),
        ({"fs": -1.0}, "fs"),
    ],
)
def test_bad_specifications_are_named(kwargs: dict, match: str) -> None:
    args = {"channels": ("a",), "fs": 250.0, **kwargs}
    with pytest.raises(EegConfigError, match=match):
        FeatureSpec(**args)


def test_wrong_window_shape() -> None:
    spec = FeatureSpec(channels=("a", "b"), fs=64.0, window=2.0, delays=(0.0,), bands=((2.0, 8.0),))
    with pytest.raises(EegConfigError, match="2 channels, 128 samples"):
        spec.features(np.zeros((3, 128)))
