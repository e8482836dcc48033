"""Ballistocardiogram (BCG) removal: streaming R-peak detection on an ECG channel, then AAS on the beats.

The detector is Pan & Tompkins' (1985, IEEE Trans. Biomed. Eng. 32:230),
streaming at the input rate: band-pass 5-15 Hz (Butterworth, order 2, as
second-order sections), first difference, squaring, a 150 ms moving-window
integration, and an adaptive threshold ``NPKI + 0.25 (SPKI - NPKI)`` whose
signal and noise levels are learnt over the first 3 s (a third of the
median of each second's maximum, half the median: robust to an artifact
not yet removed) and then follow each beat (1/8 of the new peak),
with a 250 ms refractory period.  The R peak is the largest absolute value
of the band-passed ECG from 150 ms before the integrated signal crosses the
threshold to where it falls back below it.  The search-back for missed
beats is replaced by a simpler rule: after 2 s without a beat the signal
level is halved (a missed beat is passed through uncorrected).

The BCG is then removed by average artifact subtraction on the R peaks
(Allen et al. 1998, NeuroImage 8:229): epochs from 0.2 s before to 0.6 s
after each R peak, cut short where the next beat's epoch starts (so a fast
heart rate shortens them), template = the mean of the previous
``template_beats`` epochs.  The ECG channel itself is not corrected.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from nfd.eeg._aas import AasStream

__all__ = ["BcgRemover", "RPeakDetector"]

#: Longest time from an R peak to its detection that the BCG delay allows, s.
DETECTION_LATENCY = 0.35


class RPeakDetector:
    """Streaming R-peak detection (Pan & Tompkins 1985) on one ECG channel at ``fs`` Hz.

    Parameters
    ----------
    fs : float
        Sampling rate, Hz (>= 40 Hz).
    refractory : float
        Shortest interval between two beats, s (default 0.25 s).
    learn : float
        The initial span over which the thresholds are learnt, s (default 3 s).

    Examples
    --------
    >>> fs = 500.0
    >>> t = np.arange(int(10 * fs)) / fs
    >>> ecg = sum(np.exp(-0.5 * ((t - r) / 0.01) ** 2) for r in np.arange(0.5, 10, 0.8))
    >>> peaks = RPeakDetector(fs).process(ecg)
    >>> [round(p / fs, 2) for p in peaks][:3]
    [2.9, 3.7, 4.5]
    """

    def __init__(self, fs: float, refractory: float = 0.25, learn: float = 3.0) -> None:
        self.fs = float(fs)
        self._sos = signal.butter(2, [5.0, 15.0], btype="bandpass", fs=self.fs, output="sos")
        self._w = max(1, round(0.150 * self.fs))
        self._lag = round(0.1 * self.fs)  # the band-pass's delay: the R peak may precede the segment by it
        self._refractory = round(refractory * self.fs)
        self._learn = max(self._w, round(learn * self.fs))
        self.reset()

    def reset(self) -> None:
        """Start again (thresholds learnt anew)."""
        self._zi: np.ndarray | None = None
        self._prev = 0.0
        self._sq_tail = np.zeros(self._w)
        self._hist = np.zeros(0)  # the ECG, absolute samples [pos - hist.size, pos)
        self._pos = 0
        self._learnt: list[np.ndarray] = []
        self._thr: float | None = None
        self._spki = self._npki = 0.0
        self._noise = 0.0
        self._seg: tuple[int, float, int] | None = None  # (start, max, argmax), absolute
        self._last_r = -(10**12)
        self._silent_from = 0

    def _integrated(self, ecg: np.ndarray) -> np.ndarray:
        if self._zi is None:
            self._zi = signal.sosfilt_zi(self._sos) * float(ecg[0])
        bp, self._zi = signal.sosfilt(self._sos, ecg, zi=self._zi)
        d = np.diff(bp, prepend=self._prev)
        self._prev = float(bp[-1])
        ext = np.concatenate([self._sq_tail, d * d])
        c = np.concatenate([[0.0], np.cumsum(ext)])
        n, w = ecg.size, self._w
        mwi = (c[w + 1 : w + 1 + n] - c[1 : 1 + n]) / w
        self._sq_tail = ext[-w:]
        keep = round(1.0 * self.fs)
        self._hist = np.concatenate([self._hist, ecg])[-(keep + n) :]
        return np.asarray(mwi)

    def _learn_from(self, mwi: np.ndarray, i: int) -> int:
        need = self._learn - sum(a.size for a in self._learnt)
        self._learnt.append(mwi[i : i + need])
        if sum(a.size for a in self._learnt) >= self._learn:
            seen = np.concatenate(self._learnt)
            second = max(1, round(self.fs))
            maxima = [float(seen[k : k + second].max()) for k in range(0, seen.size, second)]
            self._spki, self._npki = float(np.median(maxima)) / 3.0, float(np.median(seen)) / 2.0
            self._thr = self._npki + 0.25 * (self._spki - self._npki)
            self._learnt = []
        return i + need

    def _beat(self, end: int) -> int:
        """Close the current segment (absolute end): the R peak's absolute index; thresholds updated."""
        assert self._seg is not None and self._thr is not None
        start, peak, _ = self._seg
        lo = max(start - self._w - self._lag, self._pos - self._hist.size)
        hi = min(end + 1, self._pos)
        seg = self._hist[lo - (self._pos - self._hist.size) : hi - (self._pos - self._hist.size)]
        r = lo + int(np.argmax(np.abs(seg - np.median(seg))))
        self._spki = 0.125 * peak + 0.875 * self._spki
        self._npki = 0.125 * self._noise + 0.875 * self._npki
        self._thr = self._npki + 0.25 * (self._spki - self._npki)
        self._noise = 0.0
        self._seg = None
        self._last_r = r
        return r

    def _lower_if_silent(self) -> None:
        """No beat for 2 s: halve the signal level (a simplified search-back), so a high threshold recovers."""
        if self._thr is not None and self._pos - max(self._last_r, self._silent_from) > 2.0 * self.fs:
            self._spki *= 0.5
            self._thr = self._npki + 0.25 * (self._spki - self._npki)
            self._silent_from = self._pos

    def process(self, ecg: np.ndarray) -> list[int]:
        """Feed the next chunk ``(n,)``; return the R peaks confirmed in it (absolute sample indices)."""
        ecg = np.asarray(ecg, dtype=np.float64)
        n = ecg.size
        if n == 0:
            return []
        pos0 = self._pos
        self._pos += n
        mwi = self._integrated(ecg)
        peaks: list[int] = []
        i = 0
        while i < n:
            if self._thr is None:
                i = self._learn_from(mwi, i)
                continue
            if self._seg is None:
                s = max(i, self._last_r + self._refractory - pos0)
                above = np.flatnonzero(mwi[s:] > self._thr) + s if s < n else np.zeros(0, dtype=int)
                j = int(above[0]) if above.size else n
                quiet = j - self._w if above.size else j  # not the rising edge of the beat that crossed
                if quiet > s:  # noise: after the refractory span (not the last beat's falling tail), before that
                    self._noise = max(self._noise, float(mwi[s:quiet].max()))
                if not above.size:
                    self._lower_if_silent()
                    break
                self._seg = (pos0 + j, -math.inf, pos0 + j)
                i = j
            below = np.flatnonzero(mwi[i:] < self._thr)
            j = int(below[0]) + i if below.size else n
            if j > i:
                k = i + int(np.argmax(mwi[i:j]))
                if mwi[k] > self._seg[1]:
                    self._seg = (self._seg[0], float(mwi[k]), pos0 + k)
            if not below.size:
                break
            peaks.append(self._beat(pos0 + j))
            i = j
        return peaks


class BcgRemover:
    """Streaming BCG removal by AAS on the R peaks of an ECG channel.

    Parameters
    ----------
    fs : float
        Sampling rate, Hz.
    n_channels : int
    ecg_index : int
        The ECG channel's column (detected on, never corrected).
    template_beats : int
        Beats averaged into the template (default 30).
    pre, post : float
        Epoch from ``pre`` s before to ``post`` s after each R peak (0.2, 0.6).

    Attributes
    ----------
    delay : int
        Samples held back: ``pre`` + 0.35 s (the detection's latency), i.e.
        0.55 s by default.
    beats : int
        R peaks detected.

    Notes
    -----
    The first beat is passed through; the next ones are corrected with
    the mean of the beats so far, a full template after ``template_beats``.
    The template's EEG (uncorrelated across beats) adds about
    ``1 / template_beats`` of the EEG's power to the output.
    """

    def __init__(
        self, fs: float, n_channels: int, ecg_index: int, template_beats: int = 30, pre: float = 0.2,
        post: float = 0.6,
    ) -> None:
        self.fs = float(fs)
        self.ecg_index = int(ecg_index)
        self._pre = round(pre * self.fs)
        length = self._pre + round(post * self.fs)
        self.delay = self._pre + round(DETECTION_LATENCY * self.fs)
        self._aas = AasStream(n_channels, length, template_beats, self.delay, skip=(self.ecg_index,))
        self.detector = RPeakDetector(self.fs)
        self.beats = 0

    def reset(self) -> None:
        """A new segment of the stream: held samples dropped, detector restarted, template kept."""
        self._aas.reset()
        self.detector.reset()

    def process(self, x: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct one chunk ``(n, n_channels)``; returns the samples ``delay`` old and their times."""
        self._aas.append(x, times)
        for r in self.detector.process(x[:, self.ecg_index]):
            self._aas.add_epoch(float(r - self._pre))
            self.beats += 1
        return self._aas.emit()

    @property
    def template_count(self) -> int:
        """Beats in the template (at most ``template_beats``)."""
        return self._aas.template.count
