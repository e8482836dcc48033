"""Synthetic MR artifacts added to a clean EEG: gradient artifacts and a ballistocardiogram with its ECG.

Independent of :mod:`nfd.eeg` (shares no code with the remover).

Gradient artifact: each slice plays a slice-select trapezoid (z), its
rephaser, and an EPI readout of alternating trapezoids (x) with phase blips
(y), as piecewise-linear gradient waveforms G(t).  The EEG picks up the
induced voltage dG/dt; an amplifier that integrates over each sampling
interval records ``(G(t_i) - G(t_i - 1/fs)) * fs``, exact at any position of
the scanner's timing between samples.  Volume onsets are ``v * tr`` plus a
random offset below one sample (the scanner's clock is not the EEG's), and
the triggers are those onsets.  Each channel couples to the three axes with
its own weights; the whole is scaled to ``amplitude`` times the EEG's RMS.

BCG: a smooth pulse (sum of Gaussians, ending 0.6 s after each R peak, a
different shape per channel), scaled per beat by 1 + N(0, ``variation``);
beats at 60-70 bpm with heart-rate variability.  The ECG channel has a
QRS-like spike at each R peak on a little noise.
"""

from __future__ import annotations

import numpy as np


def _trapezoid(t0: float, ramp: float, flat: float, amp: float) -> list[tuple[float, float]]:
    return [(t0, 0.0), (t0 + ramp, amp), (t0 + ramp + flat, amp), (t0 + 2 * ramp + flat, 0.0)]


def slice_waveforms(slice_dur: float) -> tuple[np.ndarray, ...]:
    """Breakpoints (times in s from the slice start, values in mT/m) of one slice's x, y, z gradients."""
    z = _trapezoid(0.0005, 0.0002, 0.0026, 10.0) + _trapezoid(0.0036, 0.0002, 0.0008, -15.0)
    x: list[tuple[float, float]] = []
    y: list[tuple[float, float]] = []
    t = 0.006
    ramp, flat = 0.0001, 0.00042
    for k in range(48):
        x += _trapezoid(t, ramp, flat, 20.0 if k % 2 == 0 else -20.0)
        y += _trapezoid(t + 2 * ramp + flat - 0.00004, 0.00004, 0.0, 3.0)
        t += 2 * ramp + flat + 0.00002
    assert t < slice_dur, "the slice's waveform must fit in tr / n_slices"
    return tuple(np.array(w).T for w in (x, y, z))


def gradient_artifact(
    n: int, fs: float, n_channels: int, rng: np.random.Generator, *, tr: float = 2.0, n_slices: int = 30,
    start: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """The induced voltage ``(n, n_channels)`` (unit RMS overall) and the volume triggers' times (s)."""
    slice_dur = tr / n_slices
    axes = slice_waveforms(slice_dur)
    t = np.arange(n) / fs
    onsets = np.arange(start, n / fs - tr, tr)
    onsets = onsets + rng.uniform(0.0, 1.0 / fs, onsets.size)
    g = np.zeros((3, n))
    g_prev = np.zeros((3, n))
    for onset in onsets:
        for s in range(n_slices):
            t0 = onset + s * slice_dur
            lo, hi = np.searchsorted(t, [t0, t0 + slice_dur + 2.0 / fs])
            for a, (bt, bv) in enumerate(axes):
                g[a, lo:hi] += np.interp(t[lo:hi] - t0, bt, bv, left=0.0, right=0.0)
                g_prev[a, lo:hi] += np.interp(t[lo:hi] - 1.0 / fs - t0, bt, bv, left=0.0, right=0.0)
    dgdt = (g - g_prev) * fs
    coupling = rng.normal(0.0, 1.0, (3, n_channels)) + np.array([[1.0], [0.3], [0.6]])
    art = dgdt.T @ coupling
    return art / np.sqrt(np.mean(art**2)), onsets


def heartbeats(duration: float, rng: np.random.Generator, *, bpm: float = 65.0, start: float = 0.3) -> np.ndarray:
    """R-peak times (s): mean ``bpm``, a 0.1 Hz respiratory-like modulation and 3 % random variability."""
    times = []
    t = start
    rr0 = 60.0 / bpm
    while t < duration:
        times.append(t)
        t += rr0 * (1.0 + 0.04 * np.sin(2 * np.pi * 0.1 * t) + 0.03 * rng.standard_normal())
    return np.array(times)


def bcg_artifact(
    n: int, fs: float, n_channels: int, r_peaks: np.ndarray, rng: np.random.Generator, *, variation: float = 0.05,
) -> np.ndarray:
    """The BCG ``(n, n_channels)`` (unit RMS overall): a per-channel pulse after each R peak, amplitude varied."""
    lags = np.arange(round(0.6 * fs)) / fs
    centres = np.array([0.12, 0.22, 0.33, 0.45])
    weights = rng.normal(0.0, 1.0, (n_channels, centres.size))
    widths = np.array([0.02, 0.03, 0.04, 0.04])
    shapes = (weights[:, :, None] * np.exp(-0.5 * ((lags[None, None, :] - centres[None, :, None]) / widths[None, :, None]) ** 2)).sum(1)
    out = np.zeros((n, n_channels))
    for r in r_peaks:
        i0 = round(r * fs)
        m = min(lags.size, n - i0)
        if m <= 0:
            continue
        out[i0 : i0 + m] += (1.0 + variation * rng.standard_normal()) * shapes[:, :m].T
    return out / np.sqrt(np.mean(out**2))


def ecg(n: int, fs: float, r_peaks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An ECG-like trace (mV): a QRS spike (Q, R, S Gaussians) and a T wave per beat, plus noise."""
    t = np.arange(n) / fs
    out = 0.02 * rng.standard_normal(n)
    for r in r_peaks:
        lo, hi = np.searchsorted(t, [r - 0.1, r + 0.45])
        u = t[lo:hi] - r
        out[lo:hi] += (
            -0.1 * np.exp(-0.5 * ((u + 0.02) / 0.006) ** 2) + 1.0 * np.exp(-0.5 * (u / 0.008) ** 2)
            - 0.2 * np.exp(-0.5 * ((u - 0.025) / 0.008) ** 2) + 0.25 * np.exp(-0.5 * ((u - 0.28) / 0.04) ** 2)
        )
    return out


def upsampled_eeg(data: np.ndarray, fs: float, fs_out: float, n_channels: int) -> np.ndarray:
    """The first ``n_channels`` of ``data`` ``(n, c)`` at ``fs`` resampled to ``fs_out`` (polyphase)."""
    from fractions import Fraction

    from scipy import signal

    ratio = Fraction(fs_out / fs).limit_denominator(1000)
    return np.asarray(signal.resample_poly(data[:, :n_channels], ratio.numerator, ratio.denominator, axis=0))
