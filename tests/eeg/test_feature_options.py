"""Feature options: averaged Stockwell power, Welch and multitaper band power, in training and live.

Known answers: averaged Stockwell features are the log of the mean of the
instantaneous band power over the span (the plan's own power, averaged by
hand); Welch features are :func:`scipy.signal.welch` on the same samples;
multitaper features are a direct numpy computation with scipy's DPSS tapers
and, when MNE is installed, :func:`mne.time_frequency.psd_array_multitaper`.
Planted truth: a sine's band power is half its amplitude squared, white
noise's is its variance times the band's share of the spectrum.  The live
predictor fed the real EEGLAB recording through a ring buffer reproduces the
training features' predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal
from sklearn.linear_model import Ridge

from nfd.eeg import (
    EegConfigError,
    EegModel,
    EegPredictor,
    FeatureSpec,
    PreprocessSpec,
    RingBuffer,
    SpanPower,
    StreamSpec,
    feature_matrix,
    load_model,
    read_recording,
    span_ends,
)

BANDS = ((2.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0))


def _noise(n_channels: int, n: int, seed: int = 0) -> np.ndarray:
    """Coloured noise with bursts: its band power changes across the window."""
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.standard_normal((n_channels, n)), axis=1) * 0.2 + rng.standard_normal((n_channels, n))
    return x * (1.0 + 0.8 * np.sin(np.arange(n) / 90.0))[None, :] + 3.0  # and an offset, removed per segment


def _band_integral(freqs: np.ndarray, psd: np.ndarray, band: tuple[float, float]) -> float:
    """The PSD summed over lo <= f < hi, times the bins' spacing (signal units squared)."""
    lo, hi = band
    mask = (freqs >= lo - 1e-9) & (freqs < hi - 1e-9)
    return float(psd[..., mask].sum(axis=-1) * (freqs[1] - freqs[0]))


def test_averaged_stockwell_is_the_log_of_the_mean_power_over_the_span() -> None:
    spec = FeatureSpec(channels=("a", "b"), fs=128.0, window=6.0, bands=BANDS, average_s=1.5, delays=(0.0, 1.0, 4.5))
    instant = FeatureSpec(channels=("a", "b"), fs=128.0, window=6.0, bands=BANDS)
    x = _noise(2, spec.n_samples)
    p = instant.plan.power(x)  # (channel, band, 24 times): time 23 is the window's last sample
    m = 6  # 1.5 s at 4 Hz
    expected = np.empty((2, len(BANDS), 3))
    for j, d in enumerate(spec.delays):
        last = 23 - round(d * 4)
        expected[:, :, j] = np.log10(p[:, :, last - m + 1 : last + 1].mean(axis=2))
    np.testing.assert_allclose(spec.features(x), expected.reshape(-1), rtol=1e-12)
    # the same: log10 of the mean of 10 ** the instantaneous features over the span's delays
    inst = instant.features(x).reshape(2, len(BANDS), 24)  # delay k / 4 s
    again = np.log10((10.0 ** inst[:, :, 4:10]).mean(axis=2))  # delay 1 s: delays 1 .. 2.25 s
    np.testing.assert_allclose(spec.features(x).reshape(2, len(BANDS), 3)[:, :, 1], again, rtol=1e-12)
    # one band-power sample: the instantaneous features
    one = FeatureSpec(channels=("a", "b"), fs=128.0, window=6.0, bands=BANDS, average_s=0.25)
    np.testing.assert_allclose(one.features(x), instant.features(x), rtol=1e-13)


def test_welch_features_are_scipy_welch_on_the_same_samples() -> None:
    fs = 250.0  # 62.5 samples per delay step: spans end at the newest sample at or before each delay
    bands = ((0.5, 2.0), *BANDS)  # 0.5-2 Hz holds bin 1 (1.25 Hz), where a segment's offset would leak
    spec = FeatureSpec(
        channels=("a", "b", "c"), fs=fs, window=8.0, bands=bands, power="welch", average_s=2.0, segment_s=0.8,
        delays=(0.0, 0.25, 1.75, 6.0),
    )
    x = _noise(3, spec.n_samples, seed=1)
    ends = span_ends(spec.n_samples, fs, spec.delays)
    assert ends.tolist() == [1999, 1936, 1561, 499]
    features = spec.features(x).reshape(3, len(bands), 4)
    for c in range(3):
        for j, e in enumerate(ends):
            freqs, psd = signal.welch(x[c, e - 499 : e + 1], fs=fs, nperseg=200)  # Hann, 50 % overlap
            for b, band in enumerate(bands):
                assert features[c, b, j] == pytest.approx(np.log10(_band_integral(freqs, psd, band)), abs=1e-10)


def _multitaper_reference(x: np.ndarray, fs: float, nw: float) -> tuple[np.ndarray, np.ndarray]:
    """Thomson's estimate written out: one-sided PSD with the tapers' concentrations as weights."""
    n = x.size
    k = round(2 * nw) - 1
    tapers, ratios = signal.windows.dpss(n, nw, Kmax=k, sym=False, return_ratios=True)
    y = x - x.mean()
    eigen = np.array([np.abs(np.fft.fft(t * y)) ** 2 for t in tapers]) / fs  # two-sided, signal units^2 / Hz
    two_sided = (ratios[:, None] * eigen).sum(axis=0) / ratios.sum()
    freqs = np.arange(n // 2 + 1) * fs / n
    one_sided = two_sided[: n // 2 + 1].copy()
    one_sided[1 : (n + 1) // 2] += two_sided[n - 1 : n // 2 : -1]  # the negative frequencies folded on
    return freqs, one_sided


@pytest.mark.parametrize("nw", [2.0, 3.0, 4.0])
def test_multitaper_features_are_thomsons_estimate(nw: float) -> None:
    fs = 128.0
    spec = FeatureSpec(
        channels=("a", "b"), fs=fs, window=10.0, bands=BANDS, power="multitaper", average_s=3.0, nw=nw,
        delays=(0.0, 2.5, 7.0),
    )
    x = _noise(2, spec.n_samples, seed=2)
    ends = span_ends(spec.n_samples, fs, spec.delays)
    features = spec.features(x).reshape(2, len(BANDS), 3)
    n_span = 384
    for c in range(2):
        for j, e in enumerate(ends):
            freqs, psd = _multitaper_reference(x[c, e - n_span + 1 : e + 1], fs, nw)
            for b, band in enumerate(BANDS):
                assert features[c, b, j] == pytest.approx(np.log10(_band_integral(freqs, psd, band)), abs=1e-10)


def test_multitaper_features_equal_mne() -> None:
    mne = pytest.importorskip("mne")
    fs, nw, n_span = 128.0, 2.0, 384
    spec = FeatureSpec(channels=("a",), fs=fs, window=4.0, bands=BANDS, power="multitaper", average_s=3.0, nw=nw,
                       delays=(0.0, 0.5))
    x = _noise(1, spec.n_samples, seed=3)
    features = spec.features(x).reshape(len(BANDS), 2)
    for j, e in enumerate(span_ends(spec.n_samples, fs, spec.delays)):
        # bandwidth 2 W = 2 NW / T; low_bias keeps the 2 NW - 1 = 3 tapers concentrated above 90 %
        psd, freqs = mne.time_frequency.psd_array_multitaper(
            x[0, e - n_span + 1 : e + 1], fs, bandwidth=2 * nw / (n_span / fs), adaptive=False, low_bias=True,
            normalization="full", verbose=False,
        )
        for b, band in enumerate(BANDS):
            assert features[b, j] == pytest.approx(np.log10(_band_integral(freqs, psd, band)), abs=1e-9)


@pytest.mark.parametrize("power", ["welch", "multitaper"])
def test_planted_band_power(power: str) -> None:
    fs, n = 256.0, 1024  # 4 s spans
    t = np.arange(n) / fs
    sine = SpanPower(n, fs, BANDS, [n - 1], n, power, n_segment=256, nw=2.0)  # type: ignore[arg-type]
    p = sine.power((3.0 * np.sin(2 * np.pi * 10.0 * t + 0.3))[None, :])[0, :, 0]
    assert p[2] == pytest.approx(4.5, rel=0.02)  # amplitude 3: power 9 / 2, in 8-13 Hz
    assert p[[0, 1, 3]].max() < 1e-3 * p[2]
    # white noise of variance 4: 4 x (band width) / (fs / 2) per band, averaged over 200 draws
    rng = np.random.default_rng(5)
    noise = sine.power(2.0 * rng.standard_normal((200, n)))[:, :, 0].mean(axis=0)
    widths = np.array([hi - lo for lo, hi in BANDS])
    np.testing.assert_allclose(noise, 4.0 * widths / (fs / 2), rtol=0.05)


def test_default_spans_delays_and_options() -> None:
    welch = FeatureSpec(channels=("a",), fs=128.0, power="welch")
    assert welch.average_s == 2.0 and welch.segment_s == 1.0 and welch.nw == 0.0
    assert welch.delays[-1] == 10.0 and len(welch.delays) == 41  # the 2 s before 10 s still fit in 12 s
    odd = FeatureSpec(channels=("a",), fs=125.0, bands=BANDS, power="welch", average_s=1.0)  # half: 62.5 samples
    assert odd.segment_s == 0.496 and odd.estimator.n_fft == 62
    multitaper = FeatureSpec(channels=("a",), fs=128.0, power="multitaper")
    assert multitaper.average_s == 2.0 and multitaper.nw == 2.0 and multitaper.estimator.tapers.shape == (3, 256)
    averaged = FeatureSpec(channels=("a",), fs=128.0, average_s=2.0)
    assert averaged.delays[-1] == 10.0 and len(averaged.delays) == 41 and averaged.n_features == 410
    assert FeatureSpec(channels=("a",), fs=128.0, window=14.0, average_s=2.0).delays[-1] == 12.0
    assert FeatureSpec(channels=("a",), fs=128.0, window=14.0, average_s=2.0, delays=(0.0, 11.75)).n_features == 20


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
        d = new.as_dict()
        assert d["power"] == power and d["average_s"] == 1.0
        assert FeatureSpec.from_dict(d) == new


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"power": "fft"}, "power must be one of 'stockwell', 'welch', 'multitaper'; got 'fft'"),
        ({"average_s": 1.0, "delays": (11.5,)},
         ("window (12 s) must hold the longest delay (11.5 s) plus the averaging span (1 s), expected a window of at "
          "least 12.5 s")),
        ({"power": "welch", "delays": (10.25,)}, "window (12 s) must hold the longest delay (10.25 s)"),
        ({"power": "multitaper", "window": 2.0, "average_s": 3.0}, "window (2 s) is shorter than the averaging span"),
        ({"average_s": 0.3}, "average_s (0.3 s) must be a multiple of 1 / rate = 0.25 s"),
        ({"average_s": -1.0}, "average_s must be a number >= 0"),
        ({"power": "welch", "average_s": 1.001}, "average_s (1.001 s) times fs (128 Hz) must be a whole number"),
        ({"nw": 3.0}, "nw is the multitaper's bandwidth, expected 0 with power 'stockwell'"),
        ({"segment_s": 1.0, "power": "multitaper"}, "segment_s is Welch's sub-segment length"),
        ({"power": "multitaper", "nw": 2.2}, "nw must be a multiple of 0.5"),
        ({"power": "welch", "segment_s": 3.0}, "welch segment (samples) must be"),
        ({"power": "welch", "average_s": 0.5}, "band 2-4 Hz holds no frequency of the Welch segment (0.25 s"),
    ],
)
def test_bad_options_are_one_line(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(EegConfigError) as info:
        FeatureSpec(channels=("a",), fs=128.0, bands=BANDS, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.fixture(scope="module")
def eeglab(shared_data: Path):
    """The real EEGLAB sample (32 channels, 128 Hz, 238 s)."""
    pytest.importorskip("mne", reason="reading EEGLAB files needs the 'eeg' extra (mne)")
    return read_recording(shared_data / "eeg" / "eeglab_sample" / "eeglab_data.set")


@pytest.mark.parametrize(
    "options",
    [{"average_s": 2.0}, {"power": "welch"}, {"power": "multitaper", "average_s": 4.0, "nw": 3.0}],
    ids=["stockwell-averaged", "welch", "multitaper"],
)
def test_the_live_predictor_computes_the_training_features(eeglab, options, tmp_path: Path) -> None:
    recording = eeglab
    fs = recording.fs
    spec = FeatureSpec(channels=("O1", "Oz", "Pz"), fs=fs, window=14.0, **options)
    data = recording.data[:, [recording.channel_names.index(c) for c in spec.channels]]
    times = np.arange(data.shape[0]) / fs
    ends = np.arange(15.0, 200.0, 2.0)
    X, valid = feature_matrix(data, times, ends, spec)
    assert valid.all() and np.isfinite(X).all()
    y = X[:, 0] - X[:, -1] + 0.1 * np.random.default_rng(0).standard_normal(X.shape[0])
    mean, std = X.mean(axis=0), X.std(axis=0)
    created = EegModel.create(
        Ridge(alpha=1.0).fit((X - mean) / std, y), spec, PreprocessSpec(fs=fs), feature_mean=mean, feature_std=std,
        target={"name": "roi", "mean": 0.0, "std": 1.0}, source_rate=fs,
    )
    path = tmp_path / "model.joblib"
    model = load_model(path, created.save(path))
    assert model.spec == spec
    expected = model.predict_features(X)
    t0 = 1.7e9
    ring = RingBuffer(data.shape[0], recording.channel_names, fs)
    ring.write(recording.data, t0 + times)
    predictor = EegPredictor(model, None, StreamSpec(recording.channel_names, fs, PreprocessSpec(fs=fs), fs))
    for k, end in enumerate(ends):
        p = predictor.predict(ring.view(), t_now=t0 + end)
        assert p is not None and predictor.status == "ok"
        assert p.value == pytest.approx(float(expected[k]), rel=1e-9, abs=1e-9)
