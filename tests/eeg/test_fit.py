"""Training: a synthetic session with known truth, the TSV and trigger alignment, and ``nfd eeg fit``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nfd.eeg import (
    EegPredictor,
    FitError,
    PreprocessSpec,
    StreamSpec,
    fit_main,
    fit_model,
    load_model,
    preprocess_recording,
    read_target,
    volume_times_from_onsets,
    volume_times_from_triggers,
)
from tests.helpers.eeg_synthetic import synthetic_session, write_brainvision

#: one delay per second over the 12 s window: 6 channels x 10 bands x 12 delays = 720 features
DELAYS = tuple(float(d) for d in range(12))


@pytest.fixture(scope="module")
def session():
    """12 minutes, TR 2 s: channel E3's alpha power drives the BOLD signal through SPM's HRF (SNR 3)."""
    return synthetic_session(duration=720.0, n_channels=6, driver=2, snr=3.0, seed=0)


def test_band_power_driving_bold_through_an_hrf_is_recovered(session) -> None:
    recording, bold, times = session
    index = np.arange(bold.size)
    result = fit_model(recording, bold, times, index=index, delays=DELAYS, target_name="roi_deep")
    report = result.report
    assert report["volumes_used"] == bold.size - 6  # the first 12 s have no whole window
    assert report["volumes_test"] == report["volumes_used"] - report["volumes_train"]
    assert report["test"]["r"] >= 0.6, report["test"]
    assert report["test"]["r2"] > 0.4
    np.testing.assert_allclose(result.test_index, index[-report["volumes_test"]:])
    # the same numbers come out of the live predictor on the same windows
    spec = result.model.spec
    data, fs = preprocess_recording(recording.data, recording.fs, result.model.preprocess)
    stream = StreamSpec(recording.channel_names, fs, result.model.preprocess, 250.0)
    predictor = EegPredictor(result.model, None, stream)
    e = int(np.floor(times[result.test_index[0]] * fs))
    window = data[e - spec.n_samples + 1 : e + 1].T
    assert predictor.predict_window(window) == pytest.approx(result.test_pred[0], rel=1e-12)


def test_without_the_driving_channel_there_is_nothing_to_learn(session) -> None:
    recording, bold, times = session
    result = fit_model(recording, bold, times, channels=["E1", "E4"], delays=DELAYS)
    assert abs(result.report["test"]["r"]) < 0.4


def test_read_target_from_nfd_timeseries(tmp_path: Path) -> None:
    path = tmp_path / "timeseries.tsv"
    path.write_text("index\tcondition\troi_amy\tfeedback\n5\tBAS\t812.5\t0.0\n6\tBAS\tn/a\t0.1\n7\tUP\t813\t0.2\n")
    index, values, column = read_target(path)
    assert column == "roi_amy" and index.tolist() == [5, 6, 7]
    np.testing.assert_array_equal(values, [812.5, np.nan, 813.0])
    two = tmp_path / "two.tsv"
    two.write_text("roi_a\troi_b\n1\t2\n")
    with pytest.raises(FitError, match="--column"):
        read_target(two)
    assert read_target(two, "roi_b")[1].tolist() == [2.0]
    with pytest.raises(FitError, match="no column 'roi_c'"):
        read_target(two, "roi_c")
    bad = tmp_path / "bad.tsv"
    bad.write_text("roi_a\nabc\n")
    with pytest.raises(FitError, match="line 2"):
        read_target(bad)


def test_volume_times_from_triggers_and_onsets(session) -> None:
    recording, _, times = session
    index = np.array([0, 1, 2, 500])
    got = volume_times_from_triggers(recording, "R128", index)
    np.testing.assert_allclose(got[:3], times[:3])
    assert np.isnan(got[3])
    shifted = volume_times_from_triggers(recording, "R128", np.array([3, 4]), first_trigger_index=3)
    np.testing.assert_allclose(shifted, times[:2])
    with pytest.raises(FitError, match="no marker 'R1'"):
        volume_times_from_triggers(recording, "R1", index)
    np.testing.assert_allclose(volume_times_from_onsets([0.0, 2.0], np.array([1, 2])), [2.0, np.nan])


def test_too_few_volumes(session) -> None:
    recording, bold, times = session
    with pytest.raises(FitError, match="too few"):
        fit_model(recording, bold[:12], times[:12])
    with pytest.raises(FitError, match="not in synthetic"):
        fit_model(recording, bold, times, channels=["Cz"])


def test_nfd_eeg_fit_on_brainvision_and_tsv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("mne", reason="reading BrainVision files needs the 'eeg' extra (mne)")
    recording, bold, _ = synthetic_session(duration=300.0, n_channels=4, driver=1, seed=3)
    vhdr = write_brainvision(tmp_path / "session.vhdr", recording)
    tsv = tmp_path / "timeseries.tsv"
    rows = "".join(f"{i}\tBAS\t{float(v)!r}\t0.0\n" for i, v in enumerate(bold))
    tsv.write_text("index\tcondition\troi_deep\tfeedback\n" + rows)
    out = tmp_path / "model.joblib"
    code = fit_main([
        str(vhdr), str(tsv), "-o", str(out), "--trigger", "R128", "--notch", "50", "--window", "8",
        "--delays", "0,2,4,6",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    meta = json.loads(out.with_name("model.joblib.json").read_text())
    assert meta["sha256"] in printed and "test:  r" in printed
    assert printed.endswith(out.with_name("model.joblib.report.txt").read_text())
    model = load_model(out, meta["sha256"])
    assert model.spec.channels == recording.channel_names and model.spec.window == 8.0
    assert model.preprocess == PreprocessSpec(fs=250.0, notch=(50.0,))
    assert meta["target"]["name"] == "roi_deep" and meta["training"]["test"]["r"] > 0.5


def test_nfd_eeg_fit_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("mne", reason="reading BrainVision files needs the 'eeg' extra (mne)")
    recording, bold, _ = synthetic_session(duration=60.0, n_channels=2, driver=1, seed=1)
    vhdr = write_brainvision(tmp_path / "s.vhdr", recording)
    tsv = tmp_path / "t.tsv"
    tsv.write_text("roi_x\n" + "".join(f"{v}\n" for v in bold))
    code = fit_main([str(vhdr), str(tsv), "-o", str(tmp_path / "m.joblib"), "--trigger", "T1"])
    assert code == 2
    assert "nfd eeg fit: error:" in capsys.readouterr().err
    assert not (tmp_path / "m.joblib").exists()
