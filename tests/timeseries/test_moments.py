"""Welford's running moments against numpy on the whole sample."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfd.timeseries import RunningMoments, TimeseriesError


def test_scalar_stream_matches_numpy_at_every_step() -> None:
    x = np.random.default_rng(0).normal(1000.0, 3.0, 200)  # a large mean: the naive formula loses digits
    m = RunningMoments()
    for k, value in enumerate(x, start=1):
        m.add(value)
        assert float(m.mean) == pytest.approx(x[:k].mean(), rel=1e-12)
        if k > 1:
            assert float(m.variance) == pytest.approx(x[:k].var(ddof=1), rel=1e-9)
    assert float(m.snr) == pytest.approx(x.mean() / x.std(ddof=1), rel=1e-9)
    assert m.n == 200


def test_array_stream_matches_numpy() -> None:
    x = np.random.default_rng(1).normal(5.0, 2.0, (30, 4, 3))
    m = RunningMoments((4, 3))
    for sample in x:
        m.add(sample)
    np.testing.assert_allclose(m.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(m.std, x.std(axis=0, ddof=1), rtol=1e-10)


def test_undefined_before_two_samples_and_for_constants() -> None:
    m = RunningMoments()
    assert math.isnan(float(m.variance))
    m.add(3.0)
    assert math.isnan(float(m.snr))
    m.add(3.0)
    assert float(m.variance) == 0.0 and math.isnan(float(m.snr))
    with pytest.raises(TimeseriesError, match="shape"):
        m.add([1.0, 2.0])
