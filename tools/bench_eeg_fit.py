#!/usr/bin/env python3
"""Acceptance of ``nfd eeg fit`` (issue 18) on the real EEGLAB sample with a known constructed target.

The target is built from the recording's own Oz alpha power, as in
tests/eeg/test_hrf_features.py: Oz band-passed at 8-12 Hz (4th-order
Butterworth, zero phase), its Hilbert envelope squared, convolved with SPM's
canonical HRF, sampled every TR = 1 s, z-scored; noise at 0.75 of its
standard deviation, so the noisy target correlates 0.8 with the clean one.

For each noise seed, on the same volumes and the same held-out parts:

``nfd``
    :func:`nfd.eeg.fit_model` with the options given (default: all 32
    channels, log Stockwell power averaged over 2 s (``average_s``) at a delay
    every 2 s over the 12 s window, no detrending);
``peer``
    scikit-learn's ``RidgeCV`` on Welch log band power (``scipy.signal.welch``,
    1 s segments, half overlap) of the six consecutive 2 s spans of the
    12 s window before each volume, the same ten bands, features and target
    standardised on the training part.

Two validations: the 80/20 holdout (one run) and leave-one-run-out over the
recording split into ``--runs`` (default 4) contiguous runs.  Printed: held-out
r and R^2 per seed, the medians, and the difference of the median r's.

Usage::

    python tools/bench_eeg_fit.py                 # 10 seeds, ../shared/data/eeg/eeglab_sample
    python tools/bench_eeg_fit.py --seeds 3 --runs 4
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal

SHARED = Path(os.environ.get("NFD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
EEGLAB = Path("eeg") / "eeglab_sample" / "eeglab_data.set"
WINDOW = 12.0
SPAN = 2.0


def constructed_target(recording: Any, seeds: Sequence[int], tr: float = 1.0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Volume times (s) and one noisy target per seed from the recording's Oz alpha power (module docstring)."""
    from nfd.design import spm_hrf

    fs = recording.fs
    b, a = signal.butter(4, (8.0, 12.0), btype="bandpass", fs=fs)
    oz = signal.filtfilt(b, a, recording.data[:, recording.channel_names.index("Oz")])
    power = np.abs(signal.hilbert(oz)) ** 2
    bold = signal.fftconvolve(power, spm_hrf(1.0 / fs))[: power.size]
    times = np.arange(0.0, recording.data.shape[0] / fs - 0.5, tr)
    clean = bold[np.round(times * fs).astype(int)]
    clean = (clean - clean.mean()) / clean.std()
    targets = [100.0 + 5.0 * (clean + 0.75 * np.random.default_rng(s).standard_normal(clean.size)) for s in seeds]
    return times, targets


def welch_features(
    recording: Any, times: np.ndarray, bands: Sequence[Sequence[float]], channels: Sequence[str] | None = None
) -> np.ndarray:
    """The peer's features: Welch log band power of each 2 s span of the 12 s before each volume, ``(n, p)``.

    Volumes with less than 12 s of EEG before them get NaN rows.
    """
    fs = recording.fs
    n_span = round(SPAN * fs)
    names = list(recording.channel_names) if channels is None else list(channels)
    data = recording.data[:, [recording.channel_names.index(c) for c in names]]
    n_spans = round(WINDOW / SPAN)
    rows = np.full((times.size, n_spans * len(bands) * len(names)), np.nan)
    for i, t in enumerate(times):
        end = int(np.floor(t * fs)) + 1
        if end < n_spans * n_span:
            continue
        feats = []
        for k in range(n_spans):
            seg = data[end - (k + 1) * n_span : end - k * n_span]
            f, pxx = signal.welch(seg, fs=fs, nperseg=round(fs), axis=0)
            feats.append(np.log10(np.stack([pxx[(f >= lo) & (f < hi)].mean(axis=0) for lo, hi in bands])).ravel())
        rows[i] = np.concatenate(feats)
    return rows


def peer_predictions(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """RidgeCV on standardised features and target of ``train``; predictions on ``test`` (target units)."""
    from sklearn.linear_model import RidgeCV

    mu, sd = X[train].mean(axis=0), X[train].std(axis=0)
    sd[sd == 0] = 1.0
    ym, ys = y[train].mean(), y[train].std()
    model = RidgeCV(alphas=np.logspace(-2, 7, 28)).fit((X[train] - mu) / sd, (y[train] - ym) / ys)
    return ym + ys * model.predict((X[test] - mu) / sd)


def _scores(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Pearson r and R^2 of predictions ``p`` of ``y``."""
    return float(np.corrcoef(y, p)[0, 1]), 1.0 - float(np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))


def compare(
    recording: Any, times: np.ndarray, target: np.ndarray, split: int, **options: Any
) -> dict[str, float]:
    """nfd's and the peer's held-out r and R^2 on the same volumes and held-out parts."""
    from nfd.eeg import DEFAULT_BANDS, fit_model

    result = fit_model(recording, target, times, split=split, n_surrogates=0, **options)
    volumes = result.test_index  # acquisition index = position in times
    X = welch_features(recording, times, DEFAULT_BANDS, options.get("channels"))
    pred = np.empty(volumes.size)
    for run in np.unique(result.test_run):
        test = volumes[result.test_run == run]
        train = (np.setdiff1d(result.test_index, test) if split > 1
                 else np.setdiff1d(np.flatnonzero(times >= WINDOW - 1e-9), test)[: result.report["volumes_train"]])
        pred[result.test_run == run] = peer_predictions(X, target, train, test)
    r_peer, r2_peer = _scores(target[volumes], pred)
    return {"r": result.report["test"]["r"], "r2": result.report["test"]["r2"], "r_peer": r_peer, "r2_peer": r2_peer}


def default_options(channels: Sequence[str] | None = ("Oz",)) -> dict[str, Any]:
    """nfd's settings in the acceptance: averaged Stockwell power at a delay every 2 s (Oz)."""
    return {"window": WINDOW, "delays": (0.0, 2.0, 4.0, 6.0, 8.0), "feature_options": {"average_s": 2.0},
            "channels": None if channels is None else list(channels)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_eeg_fit.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--runs", type=int, default=4)
    p.add_argument("--data", type=Path, default=SHARED)
    p.add_argument("--channels", default="Oz", help="comma-separated, or 'all' (default Oz)")
    args = p.parse_args(argv)
    from nfd.eeg import read_recording

    path = args.data / EEGLAB
    if not path.is_file():
        print(f"bench_eeg_fit.py: {path} not found, expected the shared data (NFD_SHARED_DATA)", file=sys.stderr)
        return 2
    recording = read_recording(path)
    times, targets = constructed_target(recording, range(args.seeds))
    for split, label in ((1, "holdout 80/20"), (args.runs, f"leave-one-run-out, {args.runs} runs")):
        t0 = time.perf_counter()
        channels = None if args.channels == "all" else args.channels.split(",")
        rows = [compare(recording, times, y, split, **default_options(channels)) for y in targets]
        print(f"{label}: seed, nfd r, nfd R2, peer r, peer R2")
        for seed, row in enumerate(rows):
            print(f"  {seed}\t{row['r']:.3f}\t{row['r2']:.3f}\t{row['r_peer']:.3f}\t{row['r2_peer']:.3f}")
        med = {k: float(np.median([row[k] for row in rows])) for k in rows[0]}
        print(f"  median r nfd {med['r']:.3f} peer {med['r_peer']:.3f} (difference {med['r'] - med['r_peer']:+.3f}); "
              f"median R2 nfd {med['r2']:.3f} peer {med['r2_peer']:.3f}; {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
