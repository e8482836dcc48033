"""Several runs, symmetric detrending, several targets and the penalty's edge, on synthetic sessions with known truth."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from nfd.eeg import EegPredictor, FitError, FitRun, StreamSpec, fit_model, fit_runs, preprocess_recording
from tests.helpers.eeg_synthetic import synthetic_session

DELAYS = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0)


@pytest.fixture(scope="module")
def session():
    """12 minutes, TR 2 s, 4 channels: E2's alpha power drives the BOLD signal (SNR 3)."""
    return synthetic_session(duration=720.0, n_channels=4, driver=1, snr=3.0, seed=0)


def test_leave_one_run_out_over_a_recording_split_into_runs(session) -> None:
    recording, bold, times = session
    result = fit_model(recording, bold, times, delays=DELAYS, split=3, n_surrogates=200)
    r = result.report
    assert r["validation"] == "leave-one-run-out" and r["runs"] == 3 and len(r["outer"]) == 3
    n = r["volumes_used"]
    assert n == 353 and np.unique(result.test_index).size == n  # every usable volume held out once
    assert [f["volumes"] for f in r["outer"]] == [118, 118, 117]  # contiguous thirds
    assert all(f["metrics"]["target"]["r"] > 0.5 for f in r["outer"]), r["outer"]
    assert r["test"]["r"] > 0.6 and r["test"]["r2"] > 0.3 and r["test"]["p_phase"] <= 1 / 201 + 1e-12
    lo, hi = r["test"]["r_ci95"]
    assert lo < r["test"]["r"] < hi and r["test"]["n_eff"] < n
    # pooled metrics are those of the concatenated held-out predictions
    assert r["test"]["rmse"] == pytest.approx(np.sqrt(np.mean((result.test_true - result.test_pred) ** 2)))
    # the model written is ridge on all the volumes at the penalty chosen over all runs
    data, fs = preprocess_recording(recording.data, recording.fs, result.model.preprocess)
    spec = result.model.spec
    stream = StreamSpec(recording.channel_names, fs, result.model.preprocess, recording.fs)
    predictor = EegPredictor(result.model, None, stream)
    e = int(np.floor(times[100] * fs))
    assert np.isfinite(predictor.predict_window(data[e - spec.n_samples + 1 : e + 1].T))
    assert r["volumes_train"] == n


def test_the_holdout_split_keeps_its_numbers_and_the_live_predictor_agrees(session) -> None:
    recording, bold, times = session
    result = fit_model(recording, bold, times, delays=DELAYS, n_surrogates=0)
    assert result.report["validation"] == "holdout" and result.report["volumes_train"] == 282  # 80 % of 353
    data, fs = preprocess_recording(recording.data, recording.fs, result.model.preprocess)
    predictor = EegPredictor(result.model, None, StreamSpec(recording.channel_names, fs, result.model.preprocess, 250.0))
    n = result.model.spec.n_samples
    for k in (0, 10):
        e = int(np.floor(times[result.test_index[k]] * fs))
        assert predictor.predict_window(data[e - n + 1 : e + 1].T) == pytest.approx(result.test_pred[k], rel=1e-12)


def test_a_drift_in_the_target_is_removed_from_features_and_target_alike(session) -> None:
    recording, bold, times = session
    drifting = bold + 20.0 * times / times[-1]  # 20 units over the run: four times the signal's 5
    none = fit_model(recording, drifting, times, delays=DELAYS, n_surrogates=0)
    linear = fit_model(recording, drifting, times, delays=DELAYS, detrend="linear", n_surrogates=0)
    assert linear.report["test"]["r2"] > 0.3, linear.report["test"]
    assert none.report["test"]["r2"] < 0.0, none.report["test"]  # EEG cannot predict the drift
    # the held-out target is the drifting one minus the training part's trend, carried on (planted: the drift)
    resid = linear.test_true - (bold[linear.test_index] - bold[:282].mean())
    assert np.ptp(resid) < 2.0


def test_two_recordings_are_two_runs(session) -> None:
    recording, bold, times = session
    other, bold2, times2 = synthetic_session(duration=360.0, n_channels=4, driver=1, snr=3.0, seed=7)
    runs = [FitRun(recording, bold, times, name="a"), FitRun(other, bold2, times2, name="b")]
    result = fit_runs(runs, target_names=["roi"], delays=DELAYS, n_surrogates=0)
    r = result.report
    assert r["runs"] == 2 and [f["run"] for f in r["outer"]] == [0, 1]
    assert [f["volumes"] for f in r["outer"]] == [353, 173]
    assert r["test"]["r"] > 0.5
    with pytest.raises(FitError, match="at least one"):
        fit_runs([], target_names=["roi"])


def test_several_targets_in_one_model_equal_separate_fits(session) -> None:
    recording, bold, times = session
    rng = np.random.default_rng(5)
    second = 50.0 - 0.5 * bold + rng.standard_normal(bold.size)
    Y = np.column_stack([bold, second])
    both = fit_model(recording, Y, times, delays=DELAYS, alphas=(30.0,), target_names=["a", "b"], split=2,
                     n_surrogates=0)
    assert both.model.target_names == ("a", "b") and both.test_pred.shape == (353, 2)
    for j in range(2):
        one = fit_model(recording, Y[:, j], times, delays=DELAYS, alphas=(30.0,), split=2, n_surrogates=0)
        np.testing.assert_allclose(both.test_pred[:, j], one.test_pred, rtol=1e-9)
    r = both.report
    assert r["test_per_target"]["a"]["r"] > 0.5 and r["test_per_target"]["b"]["r"] > 0.5
    assert -1 <= r["test"]["ssim"] <= 1 and all(f["ssim"] is not None for f in r["outer"])
    assert both.model.predict(np.zeros(both.model.spec.n_features) + 1.0).shape == (2,)


def test_a_penalty_at_the_edge_of_the_grid_is_a_warning(session) -> None:
    recording, bold, times = session
    result = fit_model(recording, bold, times, delays=DELAYS, alphas=(1e4, 1e5, 1e6), n_surrogates=0)
    assert result.report["alpha"] == 1e4
    (warning,) = result.report["warnings"]
    assert "smallest of the grid" in warning and "widen --alphas" in warning
    assert fit_model(recording, bold, times, delays=DELAYS, n_surrogates=0).report["warnings"] == []


def test_an_estimator_is_cloned_and_fitted_for_every_fold(session) -> None:
    recording, bold, times = session
    given = Ridge(alpha=30.0)
    est = fit_model(recording, bold, times, delays=DELAYS, estimator=given, split=2, n_surrogates=0)
    ridge = fit_model(recording, bold, times, delays=DELAYS, alphas=(30.0,), split=2, n_surrogates=0)
    np.testing.assert_allclose(est.test_pred, ridge.test_pred, rtol=1e-9)
    assert not hasattr(given, "coef_") and est.report["alpha"] is None
    assert est.report["estimator"] == "sklearn.linear_model._ridge.Ridge"
