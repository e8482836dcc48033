"""Synthetic EEG with known truth (shared by the EEG training, live and daemon tests), and a small BrainVision writer.

:func:`synthetic_session` makes EEG whose alpha-band (10 Hz) power on one
channel follows a slow random envelope, and a BOLD signal made from that
power through SPM's canonical HRF, sampled at each volume, plus noise --
the known relation an EEG-fingerprint model must recover.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import signal

from nfd.eeg import RecordedMarker, Recording
from nfd.timeseries import spm_hrf


def synthetic_session(
    duration: float = 480.0,
    fs: float = 250.0,
    n_channels: int = 8,
    tr: float = 2.0,
    driver: int = 2,
    f0: float = 10.0,
    snr: float = 2.0,
    first_volume: float = 0.5,
    block: float = 15.0,
    seed: int = 0,
) -> tuple[Recording, np.ndarray, np.ndarray]:
    """EEG (microvolts), BOLD per volume (1000 +- 5 units), volume times (s).

    The alpha amplitude of channel ``driver`` takes a new log-normal level
    every ``block`` seconds (smoothed over ~2 s).
    The EEG's markers hold one ``Response/R128`` trigger per volume.
    BOLD = 1000 + 5 * (z-scored HRF-convolved alpha power of channel
    ``driver`` + noise / ``snr``).
    """
    rng = np.random.default_rng(seed)
    n = round(duration * fs)
    t = np.arange(n) / fs
    white = rng.standard_normal((n, n_channels))
    b, a = signal.butter(1, 1.0, fs=fs)
    data = signal.lfilter(b, a, white, axis=0) * 3.0 + white * 2.0  # 1/f-ish background
    # alpha amplitude: a new random level every `block` seconds, smoothed over ~2 s (as in a block design)
    levels = rng.standard_normal(int(np.ceil(duration / block)) + 1)
    envelope = levels[(t // block).astype(int)]
    b2, a2 = signal.butter(2, 0.25, fs=fs)
    envelope = signal.filtfilt(b2, a2, envelope)
    envelope = (envelope - envelope.mean()) / envelope.std()
    amplitude = np.exp(0.6 * envelope)
    data[:, driver] += 4.0 * amplitude * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi))
    n_vol = int((duration - first_volume) // tr)
    volume_times = first_volume + np.arange(n_vol) * tr
    dt = 0.1
    step = round(dt * fs)
    power = amplitude[::step] ** 2
    bold_fine = np.convolve(power, spm_hrf(dt))[: power.size]
    bold = np.interp(volume_times, np.arange(power.size) * dt, bold_fine)
    bold = (bold - bold.mean()) / bold.std()
    bold = 1000.0 + 5.0 * (bold + rng.standard_normal(n_vol) / snr)
    markers = tuple(RecordedMarker(float(v), "Response/R128") for v in volume_times)
    recording = Recording(
        data=data, fs=fs, channel_names=tuple(f"E{i + 1}" for i in range(n_channels)), markers=markers,
        units=("uV",) * n_channels, source="synthetic",
    )
    return recording, bold, volume_times


def write_brainvision(path: Path, recording: Recording) -> Path:
    """Write ``recording`` as BrainVision (``.vhdr``, ``.vmrk``, ``.eeg`` float32, microvolts); returns the header."""
    stem = path.with_suffix("")
    vhdr, vmrk, eeg = stem.with_suffix(".vhdr"), stem.with_suffix(".vmrk"), stem.with_suffix(".eeg")
    recording.data.astype("<f4").tofile(eeg)
    channels = "\n".join(f"Ch{i + 1}={name},,1,µV" for i, name in enumerate(recording.channel_names))
    vhdr.write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
        f"DataFile={eeg.name}\nMarkerFile={vmrk.name}\nDataFormat=BINARY\nDataOrientation=MULTIPLEXED\n"
        f"NumberOfChannels={len(recording.channel_names)}\nSamplingInterval={1e6 / recording.fs:g}\n\n"
        f"[Binary Infos]\nBinaryFormat=IEEE_FLOAT_32\n\n[Channel Infos]\n{channels}\n",
        encoding="utf-8",
    )
    marks = ["Mk1=New Segment,,1,1,0"]
    for k, m in enumerate(recording.markers, start=2):
        kind, _, desc = m.label.partition("/")
        marks.append(f"Mk{k}={kind},{desc},{round(m.onset * recording.fs) + 1},1,0")
    vmrk.write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
        f"DataFile={eeg.name}\n\n[Marker Infos]\n" + "\n".join(marks) + "\n",
        encoding="utf-8",
    )
    return vhdr
