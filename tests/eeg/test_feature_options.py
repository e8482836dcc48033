"""Feature options: averaged Stockwell power, Welch and multitaper band power, in training and live."""

from __future__ import annotations

import pytest

from nfd.eeg import EegConfigError, FeatureSpec


def test_old_specifications_load_as_instantaneous_stockwell() -> None:
    old = {
        "channels": ["a"], "fs": 128.0, "window": 4.0, "bands": [[4.0, 8.0]], "rate": 4.0, "delays": [0.0, 1.0],
        "gamma": 1.0,
    }
    spec = FeatureSpec.from_dict(old)
    assert spec.power == "stockwell" and spec.average_s == 0.0
    assert spec.as_dict() == old
    for power in ("stockwell", "welch", "multitaper"):
        new = FeatureSpec(channels=("a",), fs=128.0, window=6.0, bands=((4.0, 8.0),), power=power, average_s=1.0)
        assert FeatureSpec.from_dict(new.as_dict()) == new


def test_bad_options_are_one_line() -> None:
    with pytest.raises(EegConfigError, match="power must be one of"):
        FeatureSpec(channels=("a",), fs=128.0, power="fft")
    with pytest.raises(EegConfigError, match=r"window \(12 s\) must hold the longest delay \(11.5 s\)"):
        FeatureSpec(channels=("a",), fs=128.0, average_s=1.0, delays=(11.5,))
