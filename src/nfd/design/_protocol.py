"""Read a run's stimulation protocol (OpenNFT JSON or BIDS events.tsv) into a Design."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import structlog

from nfd._checks import ensure_float, ensure_int
from nfd.design._design import Design, Event
from nfd.design._errors import DesignError, ProtocolError

__all__ = ["BASELINE_TRIAL_TYPES", "PYHRF_COLUMNS", "load_protocol"]

log = structlog.get_logger(__name__)

#: ``trial_type`` values (case-insensitive) that mark baseline rows of a BIDS events file.
BASELINE_TRIAL_TYPES: frozenset[str] = frozenset({"bas", "baseline", "rest"})

#: Tolerance (seconds) when comparing a volume's acquisition time with event
#: boundaries, so that ``onset = k * tr`` written in decimal selects volume k.
_TIME_TOLERANCE_S = 1e-6


def _check_arguments(n_volumes: object, skip_volumes: object) -> tuple[int, int]:
    n = ensure_int(n_volumes, "n_volumes", minimum=1, error=DesignError)
    skip = ensure_int(skip_volumes, "skip_volumes", minimum=0, error=DesignError)
    if skip >= n:
        raise DesignError(f"skip_volumes={skip} must be smaller than n_volumes={n}")
    return n, skip


def _check_tr(path: Path, tr: object) -> float:
    """The repetition time (seconds) that a protocol with times needs."""
    try:
        return ensure_float(tr, "tr", positive=True, error=DesignError)
    except DesignError:
        raise DesignError(f"tr must be the repetition time in seconds (> 0) to read {path}, got {tr!r}") from None


# -- OpenNFT JSON -------------------------------------------------------------


def _volume_number(path: Path, where: str, value: object) -> int:
    """A 1-based protocol volume number: an int, or a float with an integral value."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    try:
        return ensure_int(value, where, error=ProtocolError)
    except ProtocolError:
        raise ProtocolError(f"{path}: {where} must be an integer volume number, got {value!r}") from None


def _opennft_conditions(path: Path, text: str) -> list[object]:
    """The ``ConditionIndex`` entries of an OpenNFT protocol document."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "expected an OpenNFT protocol object"
        ) from exc
    if not isinstance(document, dict):
        raise ProtocolError(f"{path}: expected a JSON object with key 'ConditionIndex', got {type(document).__name__}")
    if "ConditionIndex" not in document:
        raise ProtocolError(f"{path}: missing key 'ConditionIndex' (the list of conditions and their OnOffsets)")
    entries = document["ConditionIndex"]
    if isinstance(entries, dict):  # MATLAB's jsonencode writes a single struct as an object
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise ProtocolError(f"{path}: 'ConditionIndex' must be a non-empty list of conditions, got {entries!r}")
    return entries


def _opennft_condition(path: Path, number: int, entry: object) -> tuple[str, list[object]]:
    """The name (stripped) and the list of ``[on, off]`` pairs of ``ConditionIndex[number]``."""
    if not isinstance(entry, dict):
        raise ProtocolError(f"{path}: ConditionIndex[{number}] must be an object, got {entry!r}")
    for key in ("ConditionName", "OnOffsets"):
        if key not in entry:
            raise ProtocolError(f"{path}: ConditionIndex[{number}] is missing key {key!r}")
    name = entry["ConditionName"]
    if not isinstance(name, str) or not name.strip():
        raise ProtocolError(
            f"{path}: ConditionIndex[{number}].ConditionName must be a non-empty string, got {name!r}"
        )
    name = name.strip()
    onoffsets = entry["OnOffsets"]
    if not isinstance(onoffsets, list):
        raise ProtocolError(f"{path}: OnOffsets of {name!r} must be a list of [on, off] pairs, got {onoffsets!r}")
    if len(onoffsets) == 2 and all(not isinstance(v, list) for v in onoffsets):
        onoffsets = [onoffsets]  # MATLAB's jsonencode writes a single 1x2 block flat
    return name, onoffsets


def _opennft_block(path: Path, where: str, pair: object, n_volumes: int, skip: int) -> range:
    """Acquisition indices (0-based) of a 1-based, inclusive ``[on, off]`` block counted after `skip`."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise ProtocolError(f"{path}: {where} must be a pair [on, off], got {pair!r}")
    on = _volume_number(path, f"{where} onset", pair[0])
    off = _volume_number(path, f"{where} offset", pair[1])
    n_protocol = n_volumes - skip
    if not 1 <= on <= off <= n_protocol:
        raise ProtocolError(
            f"{path}: {where} is [{on}, {off}]; expected 1 <= on <= off <= {n_protocol} "
            f"(1-based volumes counted after the {skip} skipped, of {n_volumes} in the run)"
        )
    return range(skip + on - 1, skip + off)


def _read_opennft_json(
    path: Path, text: str, n_volumes: int, skip: int, baseline: str, tr: float | None, session: int | None
) -> Design:
    del tr, session  # volume numbers, not times: the TR is not needed; one run per file
    labels: list[str | None] = [None] * n_volumes
    declared: list[str] = []
    for number, entry in enumerate(_opennft_conditions(path, text)):
        name, onoffsets = _opennft_condition(path, number, entry)
        if name in declared:
            raise ProtocolError(f"{path}: condition {name!r} appears twice in ConditionIndex")
        declared.append(name)
        if not onoffsets:
            log.warning("protocol_condition_without_blocks", path=str(path), condition=name)
        for block_number, pair in enumerate(onoffsets):
            where = f"OnOffsets[{block_number}] of {name!r}"
            for index in _opennft_block(path, where, pair, n_volumes, skip):
                previous = labels[index]
                if previous is not None and previous != name:
                    raise ProtocolError(
                        f"{path}: {where} overlaps condition {previous!r} at protocol volume "
                        f"{index - skip + 1}; a volume belongs to one condition"
                    )
                labels[index] = name
    return Design(
        [baseline if label is None else label for label in labels],
        baseline=baseline,
        conditions=[name for name in declared if name != baseline],
        skip_volumes=skip,
    )


# -- timed events (BIDS and PyHRF) ------------------------------------------------


def _parse_seconds(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ProtocolError(f"{path}: line {line}: {column} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ProtocolError(f"{path}: line {line}: {column} must be a finite number of seconds >= 0, got {text!r}")
    return value


def _check_onset_in_run(path: Path, line: int, onset: float, n_volumes: int, tr: float) -> None:
    run_end = n_volumes * tr
    if onset >= run_end - _TIME_TOLERANCE_S:
        raise ProtocolError(
            f"{path}: line {line}: onset {onset:g} s is beyond the run "
            f"({n_volumes} volumes x TR {tr:g} s = {run_end:g} s)"
        )


def _volumes_touched(onset: float, duration: float, n_volumes: int, tr: float) -> range:
    """Volumes (0-based) whose acquisition window ``[i * tr, (i + 1) * tr)`` (s) an event overlaps.

    An event of duration ``d > 0`` covers ``[onset, onset + d)`` and touches
    the windows it overlaps by more than 1 µs; an impulse (``d = 0``, or an
    event shorter than that) touches the window it falls in. An event whose
    onset lies in the run touches at least one volume.

    >>> list(_volumes_touched(2.0, 4.0, 5, 2.0)), list(_volumes_touched(2.5, 0.9, 5, 2.0))
    ([1, 2], [1])
    >>> list(_volumes_touched(3.0, 6.0, 8, 2.0)), list(_volumes_touched(5.0, 0.0, 8, 2.0))
    ([1, 2, 3, 4], [2])
    """
    first = min(n_volumes - 1, max(0, math.floor((onset + _TIME_TOLERANCE_S) / tr)))
    last = min(n_volumes - 1, math.ceil((onset + duration - _TIME_TOLERANCE_S) / tr) - 1)
    return range(first, max(first, last) + 1)


def _baseline_or(name: str, baseline: str) -> str:
    """The label of an event named `name`: the baseline for its synonyms, else the name."""
    return baseline if name.lower() in BASELINE_TRIAL_TYPES or name == baseline else name


class _Share(NamedTuple):
    """The part of one volume's acquisition window that one event covers (times in seconds)."""

    label: str
    start: float
    end: float
    onset: float
    line: int


def _covered_seconds(shares: list[_Share]) -> float:
    """Length (s) of the union of the shares' intervals.

    >>> _covered_seconds([_Share("A", 0.0, 1.0, 0.0, 2), _Share("A", 0.5, 1.5, 0.5, 3)])
    1.5
    """
    total, reach = 0.0, -math.inf
    for share in sorted(shares, key=lambda s: s.start):
        if share.end > reach:
            total += share.end - max(share.start, reach)
            reach = share.end
    return total


def _winner(shares: list[_Share]) -> str:
    """The label covering the larger part of a window; a tie goes to the label of the earliest event.

    >>> _winner([_Share("A", 0.0, 0.9, 0.0, 2), _Share("B", 1.0, 2.0, 1.0, 3)])
    'B'
    >>> _winner([_Share("A", 0.0, 1.0, 0.0, 2), _Share("B", 1.0, 2.0, 1.0, 3)])
    'A'
    """
    by_label: dict[str, list[_Share]] = {}
    for share in shares:
        by_label.setdefault(share.label, []).append(share)
    return min(
        by_label,
        key=lambda label: (
            -round(_covered_seconds(by_label[label]) / _TIME_TOLERANCE_S),  # equal within 1 µs: a tie
            min((s.onset, s.line) for s in by_label[label]),
        ),
    )


class _VolumeLabels:
    """The labels being given to a run's volumes by the events of a timed protocol file.

    Every event labels the volumes whose acquisition window it touches
    (:func:`_volumes_touched`). A volume touched by events of different
    labels (the baseline's rows included; volumes no event touches do not
    compete) takes the label whose events cover the larger part of its
    window, a tie going to the label of the earliest event.
    """

    def __init__(self, path: Path, n_volumes: int, tr: float) -> None:
        self.path = path
        self.tr = tr
        self.shares: list[list[_Share]] = [[] for _ in range(n_volumes)]

    def assign(self, volumes: list[int], label: str, line: int, onset: float, duration: float) -> None:
        """Let the event of file line `line` (`onset`, `duration` in s) take part in labelling `volumes`."""
        for index in volumes:
            window_start, window_end = index * self.tr, (index + 1) * self.tr
            start = min(max(onset, window_start), window_end)
            self.shares[index].append(_Share(label, start, max(start, min(onset + duration, window_end)), onset, line))

    def completed(self, baseline: str) -> list[str]:
        """Every volume's label, the baseline where no event gave one; logs the volumes events shared."""
        labels: list[str] = []
        shared: list[int] = []
        for index, shares in enumerate(self.shares):
            if not shares:
                labels.append(baseline)
                continue
            if len({share.label for share in shares}) > 1:
                shared.append(index)
            labels.append(_winner(shares))
        if shared:
            log.info(
                "protocol_volumes_shared", path=str(self.path), volumes=len(shared), first_volumes=shared[:10],
                rule="the label covering the larger part of the volume's window",
            )
        return labels


# -- BIDS events.tsv ------------------------------------------------------------


def _bids_columns(path: Path, lines: list[str]) -> tuple[int, int, int, int]:
    """Positions of ``onset``, ``duration`` and ``trial_type`` in the header line, and its number of columns."""
    if not lines:
        raise ProtocolError(f"{path}: empty file; expected a tab-separated header with onset, duration, trial_type")
    header = [column.strip() for column in lines[0].split("\t")]
    missing = [column for column in ("onset", "duration", "trial_type") if column not in header]
    if missing:
        hint = " (the file looks comma-separated; BIDS events files are tab-separated)" if "," in lines[0] else ""
        raise ProtocolError(
            f"{path}: header {header} is missing column(s) {missing}; expected tab-separated columns "
            f"onset, duration, trial_type{hint}"
        )
    return header.index("onset"), header.index("duration"), header.index("trial_type"), len(header)


def _bids_event(
    path: Path, line_number: int, line: str, columns: tuple[int, int, int, int]
) -> tuple[float, float, str]:
    """``(onset s, duration s, trial_type)`` of one line of a BIDS events file."""
    col_onset, col_duration, col_type, n_columns = columns
    if not line.strip():
        raise ProtocolError(f"{path}: line {line_number} is blank; expected one event per line")
    fields = line.split("\t")
    if len(fields) != n_columns:
        raise ProtocolError(
            f"{path}: line {line_number} has {len(fields)} tab-separated fields, the header has {n_columns}"
        )
    onset = _parse_seconds(path, line_number, "onset", fields[col_onset].strip())
    duration = _parse_seconds(path, line_number, "duration", fields[col_duration].strip())
    trial_type = fields[col_type].strip()
    if not trial_type or trial_type == "n/a":
        raise ProtocolError(f"{path}: line {line_number}: trial_type is empty; expected a condition name")
    return onset, duration, trial_type


def _read_bids_events(
    path: Path, text: str, n_volumes: int, skip: int, baseline: str, tr: float | None, session: int | None
) -> Design:
    del session  # a BIDS events file belongs to one run
    seconds = _check_tr(path, tr)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    columns = _bids_columns(path, lines)
    volumes = _VolumeLabels(path, n_volumes, seconds)
    declared: list[str] = []
    events: list[Event] = []
    for line_number, line in enumerate(lines[1:], start=2):
        onset, duration, trial_type = _bids_event(path, line_number, line, columns)
        _check_onset_in_run(path, line_number, onset, n_volumes, seconds)
        label = _baseline_or(trial_type, baseline)
        if label != baseline:
            if label not in declared:
                declared.append(label)
            events.append(Event(label, onset, duration, 1.0))
        covered = _volumes_touched(onset, duration, n_volumes, seconds)
        in_skipped = [index for index in covered if index < skip]
        if in_skipped and label != baseline:
            log.warning(
                "protocol_event_in_skipped_volumes",
                path=str(path), line=line_number, trial_type=trial_type, volumes=in_skipped,
            )
        volumes.assign([index for index in covered if index >= skip], label, line_number, onset, duration)
    return Design(
        volumes.completed(baseline), baseline=baseline, conditions=declared, skip_volumes=skip, events=events
    )


# -- PyHRF paradigm CSV -----------------------------------------------------------

#: Columns of a PyHRF paradigm file, in order; the amplitude may be absent.
PYHRF_COLUMNS: tuple[str, ...] = ("session", "condition", "onset", "duration", "amplitude")


class _ParadigmRow(NamedTuple):
    """One event line of a PyHRF paradigm (times in seconds)."""

    line: int
    session: int
    condition: str
    onset: float
    duration: float
    amplitude: float


def _split_paradigm_line(line: str) -> list[str]:
    """Fields of a PyHRF paradigm line: comma-separated, else whitespace-separated; quotes removed."""
    fields = line.split(",") if "," in line else line.split()
    return [field.strip().strip('"').strip("'").strip() for field in fields]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _paradigm_session(path: Path, line_number: int, text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ProtocolError(f"{path}: line {line_number}: session must be an integer, got {text!r}") from None
    if not (math.isfinite(value) and value.is_integer()):
        raise ProtocolError(f"{path}: line {line_number}: session must be an integer, got {text!r}")
    return int(value)


def _paradigm_amplitude(path: Path, line_number: int, fields: list[str]) -> float:
    if len(fields) < 5:
        return 1.0
    try:
        amplitude = float(fields[4])
    except ValueError:
        raise ProtocolError(f"{path}: line {line_number}: amplitude must be a number, got {fields[4]!r}") from None
    if not math.isfinite(amplitude):
        raise ProtocolError(f"{path}: line {line_number}: amplitude must be finite, got {fields[4]!r}")
    return amplitude


def _paradigm_row(path: Path, line_number: int, fields: list[str]) -> _ParadigmRow:
    if len(fields) not in (4, 5):
        raise ProtocolError(
            f"{path}: line {line_number} has {len(fields)} fields; expected "
            f"{', '.join(PYHRF_COLUMNS)} (PyHRF paradigm; the amplitude may be omitted)"
        )
    session = _paradigm_session(path, line_number, fields[0])
    condition = fields[1]
    if not condition:
        raise ProtocolError(f"{path}: line {line_number}: condition is empty; expected a condition name")
    onset = _parse_seconds(path, line_number, "onset", fields[2])
    duration = _parse_seconds(path, line_number, "duration", fields[3])
    amplitude = _paradigm_amplitude(path, line_number, fields)
    return _ParadigmRow(line_number, session, condition, onset, duration, amplitude)


def _paradigm_rows(path: Path, text: str) -> list[_ParadigmRow]:
    """The event lines of a PyHRF paradigm; blank lines, ``#`` comments and a header line skipped."""
    rows: list[_ParadigmRow] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _split_paradigm_line(line)
        if line_number == 1 and len(fields) >= 3 and not _is_number(fields[0]) and not _is_number(fields[2]):
            continue  # a header row: session,condition,onset,duration[,amplitude]
        rows.append(_paradigm_row(path, line_number, fields))
    if not rows:
        raise ProtocolError(f"{path}: no events; expected lines of {', '.join(PYHRF_COLUMNS)}")
    return rows


def _chosen_session(path: Path, rows: list[_ParadigmRow], session: int | None) -> int:
    sessions = sorted({row.session for row in rows})
    if session is None:
        if len(sessions) > 1:
            raise ProtocolError(
                f"{path}: the paradigm has sessions {sessions}; pass session= to choose the run's one"
            )
        return sessions[0]
    if session not in sessions:
        raise ProtocolError(f"{path}: no event of session {session}; the paradigm has sessions {sessions}")
    return session


def _read_pyhrf_csv(
    path: Path, text: str, n_volumes: int, skip: int, baseline: str, tr: float | None, session: int | None
) -> Design:
    seconds = _check_tr(path, tr)
    rows = _paradigm_rows(path, text)
    chosen = _chosen_session(path, rows, session)
    volumes = _VolumeLabels(path, n_volumes, seconds)
    declared: list[str] = []
    events: list[Event] = []
    for row in rows:
        if row.session != chosen:
            continue
        _check_onset_in_run(path, row.line, row.onset, n_volumes, seconds)
        label = _baseline_or(row.condition, baseline)
        if label == baseline:
            continue
        if label not in declared:
            declared.append(label)
        events.append(Event(label, row.onset, row.duration, row.amplitude))
        covered = _volumes_touched(row.onset, row.duration, n_volumes, seconds)
        in_skipped = [index for index in covered if index < skip]
        if in_skipped:
            log.warning(
                "protocol_event_in_skipped_volumes",
                path=str(path), line=row.line, trial_type=row.condition, volumes=in_skipped,
            )
        volumes.assign([index for index in covered if index >= skip], label, row.line, row.onset, row.duration)
    if not declared:
        raise ProtocolError(f"{path}: session {chosen} has no non-baseline event")
    return Design(
        volumes.completed(baseline), baseline=baseline, conditions=declared, skip_volumes=skip, events=events
    )


#: Protocol readers by file extension (lower case).
_READERS: dict[str, Callable[[Path, str, int, int, str, float | None, int | None], Design]] = {
    ".json": _read_opennft_json,
    ".tsv": _read_bids_events,
    ".csv": _read_pyhrf_csv,
}


def load_protocol(
    path: str | PathLike[str],
    n_volumes: int,
    skip_volumes: int = 0,
    tr: float | None = None,
    *,
    baseline: str = "BAS",
    session: int | None = None,
) -> Design:
    """Read a stimulation protocol into a :class:`Design` over all acquired volumes.

    The format follows the extension:

    ``.json``
        OpenNFT's protocol: ``ConditionIndex`` is a list of
        ``{"ConditionName": str, "OnOffsets": [[on, off], ...]}`` with 1-based
        volume numbers counted after the skipped volumes, both ends
        inclusive; protocol volume ``v`` is acquisition index
        ``skip_volumes + v - 1``. Volumes in no condition are baseline; a
        condition named like the baseline is baseline. Other keys
        (``ContrastActivation``, ...) are ignored.
    ``.tsv``
        A BIDS events file: tab-separated, with columns ``onset`` and
        ``duration`` (seconds; onset 0 is the start of the first acquired
        volume, skipped ones included) and ``trial_type``. Volume ``i``
        belongs to an event when its acquisition window
        ``[i * tr, (i + 1) * tr)`` overlaps ``[onset, onset + duration)`` by
        more than 1 µs; an event of duration 0 belongs to the window it falls
        in. So every event labels at least one volume, however short. A
        volume that events of different trial types share takes the one
        covering the larger part of its window (a tie: the earliest event's;
        logged once per file as ``protocol_volumes_shared``). Rows whose
        trial_type is ``BAS``, ``baseline`` or ``rest`` (any case) are
        baseline, and take part in that choice; volumes no event touches are
        baseline. Events over skipped volumes leave them baseline (logged as
        ``protocol_event_in_skipped_volumes``). The events' exact times are
        kept in :attr:`Design.events` for the task regressors.
    ``.csv``
        A PyHRF paradigm: one event per line, fields ``session condition
        onset duration [amplitude]`` (onset and duration in seconds from the
        start of the first acquired volume; amplitude 1 when absent),
        comma- or whitespace-separated, names optionally in double quotes,
        an optional header line. Only the events of `session` are read.
        Volumes are labelled as in BIDS (an impulse, duration 0, labels
        the volume whose window ``[i * tr, (i + 1) * tr)`` holds its
        onset). Conditions named like the baseline are baseline and label
        nothing. The times and amplitudes are kept in :attr:`Design.events`.

    Parameters
    ----------
    path : path
        The protocol file.
    n_volumes : int
        Number of volumes of the run, skipped ones included.
    skip_volumes : int
        Number of initial volumes discarded.
    tr : float, optional
        Repetition time, seconds; required for ``.tsv`` and ``.csv``.
    baseline : str
        Name given to baseline volumes.
    session : int, optional
        The session (PyHRF's first column) to read from a ``.csv`` paradigm;
        may be omitted when the file holds one session. Ignored otherwise.

    Returns
    -------
    Design

    Raises
    ------
    ProtocolError
        If the file is missing, unreadable or malformed (bad JSON, missing
        key or column, a non-numeric or negative time, a block outside the
        run, an onset beyond the run, overlapping OpenNFT conditions,
        several sessions and none chosen); the message names the file and
        what was expected.
    DesignError
        If `n_volumes`, `skip_volumes` or `tr` is invalid.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> from nfd.design import load_protocol
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "protocol.json"
    >>> _ = path.write_text(json.dumps(
    ...     {"ConditionIndex": [{"ConditionName": "NFBREG", "OnOffsets": [[3, 4]]}]}))
    >>> design = load_protocol(path, n_volumes=8, skip_volumes=2)
    >>> design.labels.tolist()
    ['BAS', 'BAS', 'BAS', 'BAS', 'NFBREG', 'NFBREG', 'BAS', 'BAS']
    """
    n, skip = _check_arguments(n_volumes, skip_volumes)
    if not isinstance(baseline, str) or not baseline:
        raise DesignError(f"baseline must be a non-empty condition name, got {baseline!r}")
    file = Path(path)
    reader = _READERS.get(file.suffix.lower())
    if reader is None:
        raise ProtocolError(
            f"{file}: unsupported protocol extension {file.suffix!r}; expected .json (OpenNFT), "
            ".tsv (BIDS events) or .csv (PyHRF paradigm)"
        )
    if session is not None:
        session = ensure_int(session, "session", error=DesignError)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ProtocolError(f"{file}: protocol file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{file}: cannot read the protocol as UTF-8 text ({exc})") from exc
    return reader(file, text, n, skip, baseline, tr, session)
