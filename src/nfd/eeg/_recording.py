"""EEG recordings from files: BrainVision, EDF/BDF/GDF, EEGLAB, FIF (via MNE) and XDF (via pyxdf).

Both readers are optional dependencies (``pip install 'nfd[eeg]'``), imported
only when a file is read.  Every format comes out as one :class:`Recording`:
samples ``(n_samples, n_channels)`` float64, the sampling rate, the channel
names and the markers with onsets in seconds from the first sample.  MNE
gives volts; nfd converts channels measured in volts to microvolts, the unit
amplifiers stream over LSL.  XDF keeps the stream's own units.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from nfd.eeg._errors import EegDependencyError, EegRecordingError
from nfd.eeg._lsl import default_channel_names

__all__ = ["MNE_SUFFIXES", "RecordedMarker", "Recording", "read_recording"]

log = structlog.get_logger(__name__)

#: File suffixes read with MNE, and the reader used for each.
MNE_SUFFIXES: dict[str, str] = {
    ".vhdr": "read_raw_brainvision",
    ".edf": "read_raw_edf",
    ".bdf": "read_raw_bdf",
    ".gdf": "read_raw_gdf",
    ".set": "read_raw_eeglab",
    ".fif": "read_raw_fif",
}


@dataclass(frozen=True)
class RecordedMarker:
    """A marker in a recording: ``onset`` seconds from the first sample, and its label."""

    onset: float
    label: str


@dataclass(frozen=True)
class Recording:
    """An EEG recording in memory.

    Attributes
    ----------
    data : ndarray
        float64 ``(n_samples, n_channels)``; microvolts for channels the
        file records in volts (see :attr:`units`).
    fs : float
        Sampling rate, Hz.
    channel_names : tuple of str
    markers : tuple of RecordedMarker
        In onset order.
    units : tuple of str
        Per channel: ``"uV"`` or the file's own unit label (``""`` if none).
    source : str
        Where it came from (file path or a description).
    """

    data: np.ndarray
    fs: float
    channel_names: tuple[str, ...]
    markers: tuple[RecordedMarker, ...] = ()
    units: tuple[str, ...] = field(default=())
    source: str = ""

    def __post_init__(self) -> None:
        if self.data.ndim != 2 or self.data.shape[0] < 1 or self.data.shape[1] < 1:
            raise EegRecordingError(
                f"{self.source or 'recording'}: data must be (n_samples, n_channels), got {self.data.shape}"
            )
        if len(self.channel_names) != self.data.shape[1]:
            raise EegRecordingError(
                f"{self.source or 'recording'}: {len(self.channel_names)} channel names "
                f"for {self.data.shape[1]} channels"
            )
        if not (math.isfinite(self.fs) and self.fs > 0):
            raise EegRecordingError(f"{self.source or 'recording'}: sampling rate must be > 0 Hz, got {self.fs}")
        if len(set(self.channel_names)) != len(self.channel_names):
            raise EegRecordingError(f"{self.source or 'recording'}: channel names are not unique: {self.channel_names}")

    @property
    def n_samples(self) -> int:
        """Samples per channel."""
        return int(self.data.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.fs

    def marker_onsets(self, label: str) -> np.ndarray:
        """Onsets (s from the first sample) of the markers whose label is ``label`` or ends with ``/label``.

        BrainVision labels read by MNE look like ``Response/R128``: ``R128``
        matches them.
        """
        return np.array(
            [m.onset for m in self.markers if m.label == label or m.label.endswith("/" + label)], dtype=np.float64
        )


def _import(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise EegDependencyError(
            f"reading this EEG file needs the optional package {module!r}: pip install 'nfd[eeg]' ({exc})"
        ) from exc


def _read_mne(path: Path, reader: str) -> Recording:
    mne = _import("mne")
    try:
        raw = getattr(mne.io, reader)(str(path), preload=True, verbose="error")
    except (OSError, ValueError, RuntimeError, KeyError, IndexError) as exc:
        raise EegRecordingError(f"{path}: MNE cannot read it: {exc}") from exc
    picks = [i for i, kind in enumerate(raw.get_channel_types()) if kind != "stim"]
    if not picks:
        raise EegRecordingError(f"{path}: no data channels (only stimulus channels)")
    data = raw.get_data(picks=picks).T.astype(np.float64)
    volts = mne.io.constants.FIFF.FIFF_UNIT_V
    units = []
    for column, i in enumerate(picks):
        if raw.info["chs"][i]["unit"] == volts:
            data[:, column] *= 1e6
            units.append("uV")
        else:
            units.append("")
    ann = raw.annotations
    start = raw.first_time if ann.orig_time is not None else 0.0
    markers = tuple(
        sorted(
            (
                RecordedMarker(float(onset - start), str(desc))
                for onset, desc in zip(ann.onset, ann.description, strict=True)
            ),
            key=lambda m: m.onset,
        )
    )
    return Recording(
        data=np.ascontiguousarray(data), fs=float(raw.info["sfreq"]),
        channel_names=tuple(raw.ch_names[i] for i in picks), markers=markers, units=tuple(units), source=str(path),
    )


def _xdf_labels(stream: dict[str, Any], n: int) -> tuple[list[str], list[str]]:
    try:
        channels = stream["info"]["desc"][0]["channels"][0]["channel"]
        labels = [str(ch["label"][0]) for ch in channels]
        units = [str(ch.get("unit", [""])[0] or "") for ch in channels]
    except (KeyError, IndexError, TypeError):
        return default_channel_names(n), [""] * n
    if len(labels) != n or any(not label for label in labels):
        return default_channel_names(n), [""] * n
    return labels, units


def _read_xdf(path: Path, stream_name: str | None) -> Recording:
    pyxdf = _import("pyxdf")
    try:
        streams, _ = pyxdf.load_xdf(str(path))
    except Exception as exc:  # pyxdf raises bare Exceptions for malformed files
        raise EegRecordingError(f"{path}: pyxdf cannot read it: {exc}") from exc

    def info(s: dict[str, Any], key: str) -> str:
        return str(s["info"][key][0])

    numeric = [
        s for s in streams
        if info(s, "channel_format") != "string" and float(info(s, "nominal_srate")) > 0 and len(s["time_stamps"])
    ]
    if stream_name is not None:
        chosen = [s for s in numeric if info(s, "name") == stream_name]
        if not chosen:
            names = [info(s, "name") for s in numeric]
            raise EegRecordingError(f"{path}: no continuous stream named {stream_name!r}; it has {names}")
    else:
        chosen = [s for s in numeric if info(s, "type").lower() == "eeg"] or sorted(
            numeric, key=lambda s: -np.asarray(s["time_series"]).size
        )
    if not chosen:
        raise EegRecordingError(f"{path}: no continuous numeric stream (EEG) in this XDF file")
    eeg = chosen[0]
    data = np.asarray(eeg["time_series"], dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    fs = float(info(eeg, "nominal_srate"))
    stamps = np.asarray(eeg["time_stamps"], dtype=np.float64)
    t0 = float(stamps[0])
    if stamps.size > 1:
        drift = float(np.max(np.abs((stamps - t0) - np.arange(stamps.size) / fs)))
        if drift > 2.0 / fs:
            log.warning(
                "xdf_stream_irregular", file=str(path), stream=info(eeg, "name"), max_deviation_s=round(drift, 6),
                reason="sample times deviate from the nominal rate; markers are placed by time stamp",
            )
    labels, units = _xdf_labels(eeg, data.shape[1])
    markers: list[RecordedMarker] = []
    for s in streams:
        if info(s, "channel_format") != "string":
            continue
        for value, stamp in zip(s["time_series"], s["time_stamps"], strict=True):
            label = "|".join(str(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
            markers.append(RecordedMarker(float(stamp) - t0, label))
    markers.sort(key=lambda m: m.onset)
    return Recording(
        data=np.ascontiguousarray(data), fs=fs, channel_names=tuple(labels), markers=tuple(markers),
        units=tuple(units), source=str(path),
    )


def read_recording(path: str | os.PathLike[str], *, stream: str | None = None) -> Recording:
    """Read an EEG recording: BrainVision, EDF, BDF, GDF, EEGLAB, FIF or XDF.

    Suffixes: ``.vhdr``, ``.edf``, ``.bdf``, ``.gdf``, ``.set``, ``.fif``, ``.xdf``.

    Parameters
    ----------
    path : path
        The file (for BrainVision the ``.vhdr`` header; for EEGLAB the ``.set``).
    stream : str, optional
        XDF only: the name of the EEG stream (default: the first of type
        ``EEG``, else the largest continuous stream).

    Returns
    -------
    Recording

    Raises
    ------
    EegRecordingError
        Missing, unreadable or unsupported file, or no EEG in it.
    EegDependencyError
        ``mne`` or ``pyxdf`` is not installed.

    Examples
    --------
    >>> rec = read_recording("eeglab_data.set")  # doctest: +SKIP
    >>> rec.fs, rec.data.shape  # doctest: +SKIP
    (128.0, (30504, 32))
    """
    p = Path(path)
    if not p.is_file():
        raise EegRecordingError(f"EEG recording {p} does not exist or is not a file")
    suffix = p.suffix.lower()
    if suffix == ".xdf":
        return _read_xdf(p, stream)
    if suffix in MNE_SUFFIXES:
        if stream is not None:
            raise EegRecordingError(f"{p}: 'stream' selects a stream in XDF files only")
        return _read_mne(p, MNE_SUFFIXES[suffix])
    raise EegRecordingError(
        f"{p}: unsupported EEG file type {suffix!r}; expected one of {sorted([*MNE_SUFFIXES, '.xdf'])}"
    )
