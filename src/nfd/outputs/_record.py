"""One volume's record: the typed line of a run folder's ``volumes.jsonl``.

Owns the record's fields, its status and its JSON form, in one place: the
daemon builds :class:`VolumeRecord` objects, :class:`~nfd.outputs.RunFolder`
writes them with :meth:`VolumeRecord.to_json` and reads them back with
:meth:`VolumeRecord.from_dict`, the live page's ``volume`` message reads
them, and the tests compare them.

A record is also a read-only mapping of its JSON form (``record["fd"]``,
``record.get("psc")``, ``dict(record)``), so code written against the lines of
``volumes.jsonl`` reads a record unchanged, and a record equals the dict it is
written as.

Fields by status (every field is JSON; NaN and infinities are written as null):

``processed``
    every field below (``psc`` only for the activity kinds, ``chain`` when given: the daemon always gives it;
    ``stale``: true for a volume whose file was older than the staleness bound when it was processed, e.g.
    after a restart: processed and recorded, its ``feedback`` null, never sent).
``missing``
    ``index``, ``status``, ``condition``: the index never arrived complete
    (recorded when a later one arrives, or at the end of the run).
``refused``
    ``index``, ``status``, ``file``, ``condition``, ``reason``: the scan was
    read but is not usable (e.g. off the EPI grid).
``failed``
    ``index``, ``status``, ``file``, ``condition``, ``reason``: processing
    raised an unexpected error (logged with its traceback); the run went on.

>>> r = VolumeRecord(index=4, status=VolumeStatus.MISSING, condition="BAS")
>>> dict(r)
{'index': 4, 'status': 'missing', 'condition': 'BAS'}
>>> VolumeRecord.from_dict(dict(r)) == r == {"index": 4, "status": "missing", "condition": "BAS"}
True
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from nfd._checks import ensure_int
from nfd._json import dumps as json_dumps
from nfd.outputs._errors import RunFolderError

__all__ = ["VolumeRecord", "VolumeStatus"]


class VolumeStatus(str, enum.Enum):
    """What became of one acquisition index."""

    #: Realigned, measured, fed back (or not, between intermittent values), recorded.
    PROCESSED = "processed"
    #: Never arrived complete.
    MISSING = "missing"
    #: Read, but not usable (``reason`` says why).
    REFUSED = "refused"
    #: Processing raised an unexpected error (``reason`` names it).
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


#: The keys written for each status, in the order they are written.
_PROCESSED_KEYS = (
    "index", "status", "file", "condition", "t_written", "t_complete", "t_sent", "latency_ms", "durations_ms",
    "motion",
    "iterations", "converged", "fd", "dvars", "roi", "quality", "eeg_prediction", "feedback_measure",
    "feedback_detail", "feedback",
)
#: Keys of processed records written only when given (the daemon always gives ``chain``).
_WHEN_GIVEN = ("chain", "psc", "stale")
_KEYS = {
    VolumeStatus.PROCESSED: _PROCESSED_KEYS,
    VolumeStatus.MISSING: ("index", "status", "condition"),
    VolumeStatus.REFUSED: ("index", "status", "file", "condition", "reason"),
    VolumeStatus.FAILED: ("index", "status", "file", "condition", "reason"),
}


@dataclass(frozen=True, eq=False)
class VolumeRecord(Mapping[str, Any]):
    """One acquisition index's record (see the module docstring for which fields each status has).

    Attributes
    ----------
    index : int
        0-based acquisition index (every file the scanner wrote, skipped volumes included).
    status : VolumeStatus
        What became of it.
    file : str or None
        The scan file's name (the last file of a single-slice volume).
    condition : str or None
        The protocol's condition at this index.
    reason : str or None
        Why a volume was refused or failed.
    t_written, t_complete, t_sent : float or None
        Seconds since the epoch: the scanner wrote the volume's last byte (the
        inode change time of its last file, see :mod:`nfd.acquire._last_byte`;
        None when unknown, as in a replay of a recording); the scan judged
        complete; the feedback sent (None when nothing was sent).
    latency_ms : float or None
        Milliseconds from ``t_written`` (``t_complete`` when it is unknown) to ``t_sent``:
        the delay the subject sees, from the scanner's last byte to the feedback.
    durations_ms : mapping of str to float
        Stage -> milliseconds, in order: ``wait_complete`` (last byte -> the read
        that found the file complete began; with ``t_written``), ``read`` (that
        read and decode), ``queue`` (complete -> the pipeline takes it: stacking
        slices, acquisition order, the previous volume), ``volume``,
        ``volume_worker`` (inside ``volume``), ``roi``, ``feedback``, ``send``,
        ``after_send``.
    motion : sequence of 6 floats or None
        Trans x, y, z (mm), rot x, y, z (rad), SPM's convention, relative to the realignment reference.
    iterations : int or None
        Gauss-Newton iterations of the realignment.
    converged : bool or None
        Whether the realignment converged.
    fd : float or None
        Framewise displacement (mm, Power et al. 2012).
    dvars : float or None
        DVARS (scanner intensity units).
    roi : mapping of str to float
        ROI name -> raw mean (scanner intensity units).
    chain : mapping of str to mapping, or None
        ROI name -> the signal chain's stages (``glm``, ``ar1``, ``kalman``, ``scaled``, ``spike``, ...).
    quality : mapping
        The other quality figures (tSNR, CNR, spikes, ``crossings``).
    eeg_prediction : float or None
        The EEG-predicted value at this volume.
    feedback_measure : float or None
        The feedback kind's measure before scaling.
    feedback_detail : mapping
        The feedback kind's details.
    psc : mapping of str to float or None
        ROI name -> percent signal change (%), for the activity kinds only.
    feedback : float or None
        The value sent (the feedback configuration's units), or None.
    extra : mapping
        Keys this version does not know (a record written by a newer nfd), kept and written back.
    """

    index: int
    status: VolumeStatus
    file: str | None = None
    condition: str | None = None
    reason: str | None = None
    t_written: float | None = None
    t_complete: float | None = None
    t_sent: float | None = None
    latency_ms: float | None = None
    durations_ms: Mapping[str, float] = field(default_factory=dict)
    motion: Any = None
    iterations: int | None = None
    converged: bool | None = None
    fd: float | None = None
    dvars: float | None = None
    roi: Mapping[str, float] = field(default_factory=dict)
    chain: Mapping[str, Any] | None = None
    quality: Mapping[str, Any] = field(default_factory=dict)
    eeg_prediction: float | None = None
    feedback_measure: float | None = None
    feedback_detail: Mapping[str, Any] = field(default_factory=dict)
    psc: Mapping[str, Any] | None = None
    feedback: float | None = None
    stale: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        index = ensure_int(self.index, "a volume record's index", minimum=0, error=RunFolderError)
        object.__setattr__(self, "index", index)
        try:
            object.__setattr__(self, "status", VolumeStatus(self.status))
        except ValueError:
            raise RunFolderError(
                f"volume record {index}: status must be one of {[s.value for s in VolumeStatus]}, got {self.status!r}"
            ) from None

    # -- the JSON form ---------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """The record as written to ``volumes.jsonl`` (numpy values left for the serialiser)."""
        out = {key: getattr(self, key) for key in _KEYS[self.status]}
        out["status"] = self.status.value
        if self.status is VolumeStatus.PROCESSED:
            for key in _WHEN_GIVEN:
                if getattr(self, key) is not None:
                    out[key] = getattr(self, key)
        out.update(self.extra)
        return out

    def to_json(self) -> bytes:
        """One line of ``volumes.jsonl`` (with its newline); NaN and infinities become null.

        Raises
        ------
        RunFolderError
            A field cannot be written as JSON.
        """
        try:
            return json_dumps(self.as_dict(), newline=True)
        except orjson.JSONEncodeError as exc:
            raise RunFolderError(f"volume record {self.index} cannot be written as JSON: {exc}") from exc

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VolumeRecord:
        """The record of one parsed line of ``volumes.jsonl``.

        Raises
        ------
        RunFolderError
            No 0-based ``index`` or no known ``status``.
        """
        if not isinstance(data, Mapping):
            raise RunFolderError(f"a volume record must be a JSON object, got {type(data).__name__}")
        if "status" not in data:
            raise RunFolderError(f"volume record {data.get('index')!r} has no 'status'")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        fields = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        for mapping in ("durations_ms", "roi", "quality", "feedback_detail"):
            if fields.get(mapping) is None:
                fields.pop(mapping, None)
        return cls(**fields, extra=extra)

    # -- a read-only mapping of the JSON form ----------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    @functools.cached_property
    def _dict(self) -> dict[str, Any]:
        return self.as_dict()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return self._dict == dict(other.items())

    __hash__ = None  # type: ignore[assignment]  # a mapping: equal to a dict, so not hashable

    def __repr__(self) -> str:
        return f"VolumeRecord(index={self.index}, status={self.status.value!r}, file={self.file!r})"
