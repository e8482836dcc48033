"""EEG band power convolved with an HRF (``nfd eeg fit --hrf``): known answers, a real recording, the CLI.

The features are checked against an independent ``np.convolve`` of the delay
features' log power; a fit on the real EEGLAB sample with a target built
from its own Oz alpha power through SPM's canonical HRF is compared with the
delay model on the same volumes; the live predictor and the model file must
reproduce the fit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from nfd._files import file_sha256
from nfd.design import read_hrf_tsv, spm_hrf, write_hrf_tsv
from nfd.eeg import (
    EegConfigError,
    EegPredictor,
    FeatureSpec,
    HrfKernel,
    RingBuffer,
    StreamSpec,
    feature_matrix,
    fit_main,
    fit_model,
    load_model,
    preprocess_recording,
    read_recording,
)
from tests.helpers.eeg_synthetic import synthetic_session, write_brainvision

BANDS = ((4.0, 8.0), (8.0, 13.0), (13.0, 30.0))


def test_features_are_the_log_power_convolved_with_the_hrf_at_every_volume() -> None:
    fs, rate = 64.0, 4.0
    hrf = HrfKernel.canonical(rate)
    window = hrf.covering_window(fs)
    assert window == 32.25 and hrf.n_taps == 129
    with_hrf = FeatureSpec(channels=("a", "b"), fs=fs, window=window, bands=BANDS, rate=rate, hrf=hrf)
    delays = FeatureSpec(channels=("a", "b"), fs=fs, window=window, bands=BANDS, rate=rate)
    assert with_hrf.delays == delays.delays[: hrf.n_taps] and with_hrf.n_features == 2 * 3
    assert with_hrf.feature_names() == [f"{c}_{b}_hrf" for c in "ab" for b in ("4-8Hz", "8-13Hz", "13-30Hz")]
    rng = np.random.default_rng(4)
    n = round(120 * fs)
    data = rng.standard_normal((n, 2)) * (1.0 + np.sin(np.arange(n) / fs / 7.0))[:, None]
    times = np.arange(n) / fs
    ends = np.arange(20.0, 120.0, 2.0)
    X, valid = feature_matrix(data, times, ends, with_hrf)
    D, valid_d = feature_matrix(data, times, ends, delays)
    np.testing.assert_array_equal(valid, valid_d)
    assert valid.sum() == 43  # windows ending from 34 s to 118 s are whole (32.25 s of data)
    h = spm_hrf(1.0 / rate)
    for row in np.flatnonzero(valid):
        logp = D[row].reshape(2, 3, delays.n_features // 6)  # delay k = k / rate s before the window's end
        for c in range(2):
            for b in range(3):
                series = logp[c, b, ::-1]  # oldest first: the window's log power time course
                expected = np.convolve(series, h)[series.size - 1]  # the convolution at the window's last sample
                assert X[row, c * 3 + b] == pytest.approx(expected, rel=1e-12)
    assert np.isnan(X[~valid]).all()


def test_an_impulse_response_picks_one_delay(tmp_path: Path) -> None:
    path = write_hrf_tsv(tmp_path / "impulse.tsv", np.arange(9) * 0.5, {"late": np.eye(9)[6], "v1": np.ones(9)})
    hrf = HrfKernel.from_file(path, 2.0, "late")
    assert hrf.weights == (0, 0, 0, 0, 0, 0, 1, 0, 0) and hrf.column == "late" and hrf.sha256 == file_sha256(path)
    spec = FeatureSpec(channels=("a",), fs=64.0, window=6.0, bands=BANDS, rate=2.0, hrf=hrf)
    plain = FeatureSpec(channels=("a",), fs=64.0, window=6.0, bands=BANDS, rate=2.0, delays=(3.0,))
    x = np.random.default_rng(2).standard_normal((1, spec.n_samples))
    np.testing.assert_allclose(spec.features(x), plain.features(x), rtol=1e-13)


def test_the_window_must_hold_the_hrf_and_delays_are_exclusive(tmp_path: Path) -> None:
    hrf = HrfKernel.canonical(4.0)
    with pytest.raises(EegConfigError, match=r"window \(12 s, 48 band-power samples .* at least 32.25 s"):
        FeatureSpec(channels=("a",), fs=128.0, hrf=hrf)
    with pytest.raises(EegConfigError, match="exclusive"):
        FeatureSpec(channels=("a",), fs=128.0, window=40.0, delays=(0.0, 1.0), hrf=hrf)
    with pytest.raises(EegConfigError, match="expected the features' rate 2 Hz"):
        FeatureSpec(channels=("a",), fs=128.0, window=40.0, rate=2.0, hrf=hrf)
    with pytest.raises(EegConfigError, match="not all zero"):
        HrfKernel(weights=(0.0, 0.0), rate=4.0)
    bad = tmp_path / "bad.tsv"
    bad.write_text("time_s\tvalue\n0\t0\n0.5\tx\n")
    with pytest.raises(EegConfigError, match="line 3"):
        HrfKernel.from_file(bad, 4.0)


def test_the_specification_round_trips_and_old_ones_have_no_hrf(tmp_path: Path) -> None:
    path = write_hrf_tsv(tmp_path / "h.tsv", np.arange(41) * 0.5, {"value": spm_hrf(0.5, (5, 15, 1, 1, 4, 0, 20))})
    hrf = HrfKernel.from_file(path, 4.0)
    np.testing.assert_allclose(hrf.weights, read_hrf_tsv(path).kernel(0.25), rtol=1e-15)
    spec = FeatureSpec(channels=("a",), fs=128.0, window=hrf.covering_window(128.0), hrf=hrf)
    d = json.loads(json.dumps(spec.as_dict()))
    assert d["hrf"]["source"] == str(path) and d["hrf"]["sha256"] == file_sha256(path)
    assert FeatureSpec.from_dict(d) == spec
    old = FeatureSpec(channels=("a",), fs=128.0).as_dict()
    assert "hrf" not in old and FeatureSpec.from_dict(old).hrf is None


@pytest.fixture(scope="module")
def eeglab_target(shared_data: Path):
    """The real EEGLAB sample (32 ch, 128 Hz, 238 s), and fMRI-like targets from its own Oz alpha power.

    Oz band-passed at 8-12 Hz, its Hilbert envelope squared, convolved with
    SPM's canonical HRF, sampled every TR = 1 s, z-scored; noise at 0.75 of
    its standard deviation, so the noisy target correlates 0.8 with the clean one.
    """
    pytest.importorskip("mne", reason="reading EEGLAB files needs the 'eeg' extra (mne)")
    recording = read_recording(shared_data / "eeg" / "eeglab_sample" / "eeglab_data.set")
    fs = recording.fs
    b, a = signal.butter(4, (8.0, 12.0), btype="bandpass", fs=fs)
    oz = signal.filtfilt(b, a, recording.data[:, recording.channel_names.index("Oz")])
    power = np.abs(signal.hilbert(oz)) ** 2
    bold = signal.fftconvolve(power, spm_hrf(1.0 / fs))[: power.size]
    times = np.arange(0.0, recording.data.shape[0] / fs - 0.5, 1.0)
    clean = bold[np.round(times * fs).astype(int)]
    clean = (clean - clean.mean()) / clean.std()
    targets = [100.0 + 5.0 * (clean + 0.75 * np.random.default_rng(seed).standard_normal(clean.size))
               for seed in range(10)]
    return recording, times, targets


def test_a_real_recording_fits_at_least_as_well_as_the_delays(eeglab_target) -> None:
    recording, times, targets = eeglab_target
    hrf = HrfKernel.canonical(4.0)
    r_hrf, r_delays = [], []
    for target in targets:
        result = fit_model(recording, target, times, channels=["Oz"], hrf=hrf, target_name="roi_oz_alpha")
        # the delay model (12 s window, 48 delays) on exactly the same volumes, train and test parts
        same = np.where(times >= result.model.spec.window, target, np.nan)
        delayed = fit_model(recording, same, times, channels=["Oz"])
        np.testing.assert_array_equal(delayed.test_index, result.test_index)
        r_hrf.append(result.report["test"]["r"])
        r_delays.append(delayed.report["test"]["r"])
    assert result.report["n_features"] == 10 and delayed.report["n_features"] == 480
    assert result.report["volumes_used"] == times.size - 33  # volumes from 33 s hold a 32.25 s window
    # 10 noise seeds, TR 1 s, 164 training and 41 test volumes each: medians 0.439 (HRF) and 0.250 (delays)
    assert np.median(r_hrf) >= np.median(r_delays), (r_hrf, r_delays)
    assert np.median(r_hrf) > 0.3


def test_the_live_predictor_and_the_model_file_reproduce_the_fit(eeglab_target, tmp_path: Path) -> None:
    recording, times, targets = eeglab_target
    channels = ["O1", "Oz", "O2"]
    result = fit_model(recording, targets[0], times, channels=channels, hrf=HrfKernel.canonical(4.0))
    path = tmp_path / "hrf_model.joblib"
    model = load_model(path, result.model.save(path))
    assert model.spec == result.model.spec and model.spec.hrf == HrfKernel.canonical(4.0)
    assert json.loads(path.with_name(path.name + ".json").read_text())["features"]["hrf"]["source"] == "canonical"
    # the recording through a live buffer, predicting at each test volume's time (epoch-like clock)
    data, fs = preprocess_recording(recording.data, recording.fs, model.preprocess)
    t0 = 1.7e9
    ring = RingBuffer(data.shape[0], recording.channel_names, fs)
    ring.write(data, t0 + np.arange(data.shape[0]) / fs)
    predictor = EegPredictor(model, None, StreamSpec(recording.channel_names, fs, model.preprocess, recording.fs))
    for k, index in enumerate(result.test_index):
        p = predictor.predict(ring.view(), t_now=t0 + times[index])
        assert p is not None and predictor.status == "ok"
        assert p.value == pytest.approx(result.test_pred[k], rel=1e-9)


def _session_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    recording, bold, _ = synthetic_session(duration=240.0, n_channels=3, driver=1, seed=5)
    vhdr = write_brainvision(tmp_path / "session.vhdr", recording)
    tsv = tmp_path / "timeseries.tsv"
    tsv.write_text("index\troi_deep\n" + "".join(f"{i}\t{float(v)!r}\n" for i, v in enumerate(bold)))
    grid = np.arange(0, 16.5, 0.5)
    hrf = write_hrf_tsv(tmp_path / "hrf.tsv", grid, {
        "parcel_1": spm_hrf(0.5, (6, 16, 1, 1, 6, 0, 16)), "parcel_2": spm_hrf(0.5, (4, 12, 1, 1, 6, 0, 16)),
    })
    return vhdr, tsv, hrf


def test_nfd_eeg_fit_with_an_hrf_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("mne", reason="reading BrainVision files needs the 'eeg' extra (mne)")
    vhdr, tsv, hrf = _session_files(tmp_path)
    out = tmp_path / "model.joblib"
    code = fit_main([str(vhdr), str(tsv), "-o", str(out), "--trigger", "R128", "--hrf", str(hrf),
                     "--hrf-column", "parcel_2"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert f"HRF {hrf} column parcel_2 (65 taps over 16 s)" in printed and "30 features" in printed
    meta = json.loads(out.with_name("model.joblib.json").read_text())
    stored = meta["features"]["hrf"]
    assert stored["column"] == "parcel_2" and stored["sha256"] == file_sha256(hrf) and stored["rate"] == 4.0
    np.testing.assert_allclose(stored["weights"], read_hrf_tsv(hrf, "parcel_2").kernel(0.25), rtol=1e-15)
    assert meta["features"]["window"] == 16.5  # the shortest window holding 65 taps in whole samples at 250 Hz
    model = load_model(out, meta["sha256"])
    assert model.spec.feature_names()[:2] == ["E1_0.5-2Hz_hrf", "E1_2-4Hz_hrf"]
    assert meta["training"]["test"]["r"] > 0.5  # the driving channel's alpha power through an HRF


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--hrf", "canonical", "--delays", "0,2"], "nfd eeg fit: --hrf and --delays are exclusive"),
        (["--hrf-column", "parcel_1"], "nfd eeg fit: --hrf-column parcel_1 without an HRF file"),
        (["--hrf", "HRF"], "expected a column to be named (the file has 2: parcel_1, parcel_2)"),
        (["--hrf", "HRF", "--hrf-column", "parcel_9"], "expected a column among parcel_1, parcel_2, got 'parcel_9'"),
        (["--hrf", "canonical", "--window", "20"], "window (20 s, 80 band-power samples at 4 Hz) is shorter"),
        (["--hrf", "missing.tsv"], "missing.tsv: expected a readable UTF-8 HRF TSV file"),
    ],
)
def test_nfd_eeg_fit_hrf_bad_input(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mne", reason="reading BrainVision files needs the 'eeg' extra (mne)")
    vhdr, tsv, hrf = _session_files(tmp_path)
    args = [str(hrf) if a == "HRF" else a for a in extra]
    code = fit_main([str(vhdr), str(tsv), "-o", str(tmp_path / "m.joblib"), "--trigger", "R128", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "m.joblib").exists()
