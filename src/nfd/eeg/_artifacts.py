"""Online MR artifact removal: gradient artifacts on the scanner's triggers, then the ballistocardiogram.

Gradient artifacts are removed by average artifact subtraction (AAS;
Allen, Josephs & Turner 2000, NeuroImage 12:230): the EEG is cut into
epochs locked to the scanner's volume triggers (markers such as ``R128``
in the LSL marker stream), or to the slices within each volume, and each
epoch has the mean of the previous ``template_epochs`` epochs subtracted.
The epochs are aligned with sub-sample precision from the triggers' time
stamps (the trigger's position between two samples, not a
cross-correlation): each epoch is resampled onto the template's grid, and
the template read back at the next epoch's position, by Keys' cubic
convolution (1981).  The time stamps must therefore be as precise as the
scanner's trigger (e.g. recorded by the amplifier or a sync box); a
trigger missing from the markers is put one TR after the previous one (at
most 3 in a row: then the scanner is taken to have stopped).

The ballistocardiogram (BCG) is then removed by AAS on R peaks detected in
an ECG channel (:mod:`nfd.eeg._bcg`).  Both run at the input rate, before
the low-pass and decimation of :class:`nfd.eeg.Preprocessor`.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nfd.eeg._aas import MARGIN, AasStream
from nfd.eeg._bcg import BcgRemover
from nfd.eeg._errors import EegConfigError

__all__ = ["ArtifactRemover", "ArtifactSpec", "GradientRemover"]

#: Missing triggers put in one after the other at most (then the scanner is taken to have stopped).
MAX_FILLED = 3
#: Shortest gradient delay, s: the latency a trigger marker may have behind the EEG.
MARKER_LATENCY = 0.25
#: Whether the gradient template loses its offset and slope over each epoch before it corrects (see AasStream).
DETREND_TEMPLATE = True


@dataclass(frozen=True)
class ArtifactSpec:
    """What the MR artifact removal does (``[eeg.artifacts]``).

    Attributes
    ----------
    gradient : bool
        Remove gradient artifacts (needs the trigger markers).
    trigger : str
        The marker value of a volume trigger (compared after stripping
        white space), e.g. ``"R128"``.
    tr : float
        Time between two volume triggers, s (> 0 when ``gradient``).
    slices : int
        Epochs per volume: 1 (volume epochs) or the number of slices
        (epochs of ``tr / slices`` starting at the trigger, for evenly
        spaced slices).
    template_epochs : int
        Epochs averaged into the gradient template.
    bcg : bool
        Remove the ballistocardiogram (needs an ECG channel).
    ecg_channel : str
        The ECG channel's name in the stream.
    template_beats : int
        Heartbeats averaged into the BCG template.
    """

    gradient: bool = False
    trigger: str = "R128"
    tr: float = 0.0
    slices: int = 1
    template_epochs: int = 30
    bcg: bool = False
    ecg_channel: str = "ECG"
    template_beats: int = 30

    def __post_init__(self) -> None:
        if self.gradient and not (math.isfinite(self.tr) and self.tr > 0):
            raise EegConfigError(f"eeg.artifacts.tr: expected the volume period > 0 s, got {self.tr!r}")
        if self.gradient and not self.trigger.strip():
            raise EegConfigError("eeg.artifacts.trigger: expected the volume trigger's marker, got an empty string")
        for key in ("slices", "template_epochs", "template_beats"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EegConfigError(f"eeg.artifacts.{key}: expected an integer >= 1, got {value!r}")
        if self.bcg and not self.ecg_channel:
            raise EegConfigError("eeg.artifacts.ecg_channel: expected the ECG channel's name, got an empty string")

    @property
    def enabled(self) -> bool:
        """Whether anything is removed."""
        return self.gradient or self.bcg

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "gradient": self.gradient, "trigger": self.trigger, "tr": self.tr, "slices": self.slices,
            "template_epochs": self.template_epochs, "bcg": self.bcg, "ecg_channel": self.ecg_channel,
            "template_beats": self.template_beats,
        }


class GradientRemover:
    """Streaming gradient artifact removal by AAS on volume triggers (Allen et al. 2000).

    Parameters
    ----------
    fs : float
        Sampling rate, Hz.
    n_channels : int
    tr : float
        Volume period, s.
    slices : int
        Epochs per volume (1: volume epochs).
    template_epochs : int
        Epochs in the sliding template (default 30).

    Attributes
    ----------
    length : int
        Epoch length, samples: ``floor(tr / slices * fs)``.
    delay : int
        Samples held back: one epoch, at least 0.25 s (the markers'
        allowed latency) and at most one TR.
    triggers, filled, late : int
        Triggers used, triggers put in for missing markers, triggers that
        came after their samples were output (ignored).

    Notes
    -----
    Nothing is corrected before the first trigger.  The first epoch is
    passed through; epoch ``k`` (``k < template_epochs``) is corrected with
    the mean of the ``k`` before it.  With volume epochs the template's EEG
    (uncorrelated across epochs) adds about ``1 / template_epochs`` of the
    EEG's power; with slice epochs it removes instead the EEG at multiples
    of the slice rate (a comb of teeth ``slice rate / template_epochs`` wide).
    """

    def __init__(self, fs: float, n_channels: int, tr: float, slices: int = 1, template_epochs: int = 30) -> None:
        self.fs = float(fs)
        self.period = float(tr) * self.fs
        self._step = self.period / slices
        self.slices = int(slices)
        self.length = math.floor(self._step)
        if self.length < 2 * MARGIN + 4:
            raise EegConfigError(
                f"eeg.artifacts.slices: an epoch of tr / slices = {tr / slices:.4g} s is under 8 samples at {fs} Hz"
            )
        self.delay = min(math.ceil(self.period), max(self.length + MARGIN + 3, math.ceil(MARKER_LATENCY * self.fs)))
        self._aas = AasStream(n_channels, self.length, template_epochs, self.delay, detrend=DETREND_TEMPLATE)
        self._pending: collections.deque[float] = collections.deque()
        self._last: float | None = None
        self._run_filled = 0
        self.triggers = 0
        self.filled = 0

    @property
    def late(self) -> int:
        """Epochs registered after all their samples were output."""
        return self._aas.late

    @property
    def template_count(self) -> int:
        """Epochs in the template (at most ``template_epochs``)."""
        return self._aas.template.count

    def add_trigger(self, t: float) -> None:
        """A volume trigger at time ``t`` (the samples' clock, s); thread-safe."""
        self._pending.append(float(t))

    def reset(self) -> None:
        """A new segment of the stream: held samples and trigger positions dropped, template kept."""
        self._aas.reset()
        self._last = None

    def _add_volume(self, pos: float) -> bool:
        if self._last is not None and pos < self._last + 0.5 * self.period:
            return False  # a repeat, or the marker of a trigger already put in
        self._last = pos
        for s in range(self.slices):
            self._aas.add_epoch(pos + s * self._step)
        return True

    def _register(self) -> None:
        waiting: list[float] = []
        while self._pending:
            t = self._pending.popleft()
            pos = self._aas.time_to_position(t, self.fs)
            if pos is None:
                waiting.append(t)
            elif self._add_volume(pos):
                self.triggers += 1
                self._run_filled = 0
        self._pending.extendleft(reversed(waiting))
        while (
            self._last is not None and self._run_filled < MAX_FILLED
            and self._aas.total >= self._last + self.period + self.delay // 2
        ):
            self._add_volume(self._last + self.period)
            self.filled += 1
            self._run_filled += 1

    def process(self, x: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct one chunk ``(n, n_channels)`` at ``times`` (s); returns the samples ``delay`` old, their times."""
        self._aas.append(x, times)
        self._register()
        return self._aas.emit()


class ArtifactRemover:
    """Gradient then BCG removal, as :class:`ArtifactSpec` says, on chunks ``(n, n_channels)``.

    Parameters
    ----------
    spec : ArtifactSpec
    fs : float
        Input sampling rate, Hz.
    channel_names : sequence of str
        The stream's channels (the ECG channel is looked up in them).

    Attributes
    ----------
    delay : int
        Samples held back in all (gradient's plus BCG's).

    Raises
    ------
    EegConfigError
        The ECG channel is not among ``channel_names`` (checked when the
        stream is found, since the stream's channels are known only then).
    """

    def __init__(self, spec: ArtifactSpec, fs: float, channel_names: Sequence[str]) -> None:
        names = list(channel_names)
        self.spec = spec
        self.gradient = (
            GradientRemover(fs, len(names), spec.tr, spec.slices, spec.template_epochs) if spec.gradient else None
        )
        self.bcg: BcgRemover | None = None
        if spec.bcg:
            if spec.ecg_channel not in names:
                raise EegConfigError(
                    f"eeg.artifacts.ecg_channel: expected one of the stream's channels {names}, "
                    f"got {spec.ecg_channel!r}"
                )
            self.bcg = BcgRemover(fs, len(names), names.index(spec.ecg_channel), spec.template_beats)
        self.delay = (self.gradient.delay if self.gradient else 0) + (self.bcg.delay if self.bcg else 0)

    def add_marker(self, value: str, time: float) -> None:
        """A marker from the marker stream (``time`` on the samples' clock, s); thread-safe."""
        if self.gradient is not None and value.strip() == self.spec.trigger.strip():
            self.gradient.add_trigger(time)

    def reset(self) -> None:
        """A new segment of the stream (the held samples are dropped, the templates kept)."""
        for part in (self.gradient, self.bcg):
            if part is not None:
                part.reset()

    def process(self, x: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct one chunk; returns the samples ``delay`` old (float64) and their times.

        :class:`~nfd.eeg.Preprocessor` calls the two stages itself, with its
        anti-alias low-pass between them.
        """
        if self.gradient is not None:
            x, times = self.gradient.process(x, times)
        if self.bcg is not None:
            x, times = self.bcg.process(x, times)
        return np.asarray(x, dtype=np.float64), times

    def stats(self) -> dict[str, int]:
        """Counters: triggers used, filled in and late; epochs and beats in the templates; beats detected."""
        g, b = self.gradient, self.bcg
        return {
            "triggers": 0 if g is None else g.triggers,
            "triggers_filled": 0 if g is None else g.filled,
            "triggers_late": 0 if g is None else g.late,
            "gradient_template": 0 if g is None else g.template_count,
            "beats": 0 if b is None else b.beats,
            "bcg_template": 0 if b is None else b.template_count,
        }
