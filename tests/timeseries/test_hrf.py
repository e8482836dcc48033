"""spm_hrf against SPM12's values and the double-gamma formula."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nfd.timeseries import TimeseriesError, spm_hrf

#: spm_hrf(2) as printed by SPM12 (4 decimals).
SPM12_HRF_TR2 = [
    0.0, 0.0866, 0.3749, 0.3849, 0.2161, 0.0769, 0.0016, -0.0306, -0.0373,
    -0.0308, -0.0205, -0.0116, -0.0058, -0.0026, -0.0011, -0.0004, -0.0001,
]


def test_matches_spm12_values_at_tr_2() -> None:
    np.testing.assert_allclose(spm_hrf(2.0), SPM12_HRF_TR2, atol=5e-5)


@pytest.mark.parametrize("tr", [0.5, 1.0, 1.97, 2.0, 2.4, 3.0])
def test_sums_to_one_and_has_spm_length(tr: float) -> None:
    h = spm_hrf(tr)
    assert h.dtype == np.float64
    assert h.shape == (int(np.floor(32.0 / tr)) + 1,)
    assert h.sum() == pytest.approx(1.0, abs=1e-12)


def test_peak_at_5_s_and_undershoot_around_15_s() -> None:
    h = spm_hrf(1.0)
    assert h.shape == (33,)
    assert int(np.argmax(h)) == 5
    assert h[0] == 0.0
    assert h[15] < 0
    assert 12 <= int(np.argmin(h)) <= 16


def test_equals_difference_of_gamma_densities_in_seconds() -> None:
    tr = 1.97
    t = np.arange(0, int(32 // tr) + 1) * tr
    expected = stats.gamma.pdf(t, 6.0, scale=1.0) - stats.gamma.pdf(t, 16.0, scale=1.0) / 6.0
    expected /= expected.sum()
    np.testing.assert_allclose(spm_hrf(tr), expected, rtol=1e-10, atol=1e-14)


def test_onset_delays_the_response() -> None:
    base = spm_hrf(1.0)
    shifted = spm_hrf(1.0, p=(6, 16, 1, 1, 6, 2, 32))
    assert int(np.argmax(shifted)) == 7
    assert shifted[:2].tolist() == [0.0, 0.0]
    # same shape up to the normalisation (the tail beyond 32 s is cut)
    np.testing.assert_allclose(shifted[2:] / shifted[2:].sum(), base[:31] / base[:31].sum(), rtol=1e-10)


def test_oversampling_does_not_move_the_samples() -> None:
    np.testing.assert_allclose(spm_hrf(2.0, oversampling=4), spm_hrf(2.0, oversampling=16), rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tr": 0.0}, "tr must be a positive"),
        ({"tr": -2.0}, "tr must be a positive"),
        ({"tr": float("nan")}, "tr must be a positive"),
        ({"tr": 2.0, "p": (6, 16, 1, 1, 6)}, "7 finite numbers"),
        ({"tr": 2.0, "p": (6, 16, 0, 1, 6, 0, 32)}, "must be > 0"),
        ({"tr": 2.0, "oversampling": 0}, "oversampling"),
        ({"tr": 2.0, "oversampling": 2.5}, "oversampling"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(TimeseriesError, match=match):
        spm_hrf(**kwargs)


# -- events convolved with the HRF -------------------------------------------------


def test_regressor_of_a_block_on_volume_boundaries() -> None:
    from nfd.timeseries import hrf_regressor

    tr, n = 2.0, 60
    x = hrf_regressor([20.0], [30.0], None, n, tr)
    # the continuous convolution of a 30 s box with the HRF, sampled at the volume starts
    dt = tr / 16
    t = np.arange(n * 16) * dt
    h = stats.gamma.pdf(t, 6.0) - stats.gamma.pdf(t, 16.0) / 6.0
    h = h[: int(32 / dt) + 1] / h[: int(32 / dt) + 1].sum()
    u = ((t >= 20.0) & (t < 50.0)).astype(float)
    expected = np.convolve(u, h)[: n * 16][::16]
    np.testing.assert_allclose(x, expected, atol=1e-12)
    assert x[:11].max() == 0.0 and 1.0 < x.max() < 1.2  # nothing before the onset; the overshoot of a long block


def test_impulses_have_unit_area_and_amplitudes_scale() -> None:
    from nfd.timeseries import hrf_regressor

    x = hrf_regressor([10.0], [0.0], None, 40, 1.0, oversampling=16)
    assert x.sum() * 1.0 == pytest.approx(1.0, abs=0.01)  # area of the response = area of the impulse (1 s)
    assert int(np.argmax(x)) == 15  # peak 5 s after the onset
    y = hrf_regressor([10.0, 10.0], [0.0, 0.0], [2.0, -0.5], 40, 1.0)
    np.testing.assert_allclose(y, 1.5 * x, atol=1e-12)
    assert not hrf_regressor([100.0], [0.0], None, 40, 1.0).any()  # after the run


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.0], [-1.0], None, 10, 2.0), "durations must be >= 0"),
        (([0.0], [1.0, 2.0], None, 10, 2.0), "durations has 2 entries"),
        (([0.0], [1.0], None, 0, 2.0), "n_volumes"),
        (([0.0], [1.0], None, 10, 0.0), "tr must be"),
        (([float("nan")], [1.0], None, 10, 2.0), "finite"),
    ],
)
def test_regressor_rejects_bad_events(args: tuple, match: str) -> None:
    from nfd.timeseries import hrf_regressor

    with pytest.raises(TimeseriesError, match=match):
        hrf_regressor(*args)
