"""Paradigms of :func:`nfd.simulate.make_bold`: drawn (block, slow and fast event-related) or a PyHRF CSV; the
stimulus on the fine grid. Its own reader and writer of PyHRF's format (nothing from :mod:`nfd.design`).

PyHRF's paradigm CSV (Vincent et al. 2014, Front Neurosci 8:67; pyhrf.paradigm): one event per line,
``session "condition" onset duration [amplitude]`` (onset and duration in s from the start of the session's
first volume, the amplitude 1 when absent), separated by whitespace or commas, condition names optionally in
double quotes, numbers possibly ending in a bare ``.`` (``1.``); an optional header line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nfd.simulate._errors import SimulationError

__all__ = ["KINDS", "ParadigmEvent", "contrasts", "draw_paradigm", "paradigm_csv", "read_paradigm", "stimulus"]

#: The drawn paradigms: block length (s), rest length (s) or the interval between event onsets (s), as ranges.
KINDS = {"block": (15.0, 20.0), "slow-er": (12.0, 16.0), "fast-er": (2.0, 6.0)}
#: Onsets and durations of drawn paradigms are multiples of this (s).
ONSET_STEP_S = 0.1
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_TOKEN = re.compile(r'"([^"]*)"|([^\s,"]+)')


class ParadigmEvent(NamedTuple):
    """One event of a paradigm.

    Attributes
    ----------
    session : int
        0-based session.
    condition : str
        Condition name.
    onset : float
        Seconds from the start of the session's first volume.
    duration : float
        Seconds (0: an impulse).
    amplitude : float
        Height (unitless, 1 for a plain event).
    """

    session: int
    condition: str
    onset: float
    duration: float
    amplitude: float = 1.0


def check_condition(name: str, where: str) -> str:
    """`name` if it can appear in a contrast expression (a letter, then letters, digits, ``_``)."""
    if not _NAME.match(name):
        raise SimulationError(f"{where}: condition {name!r}, expected a letter then letters, digits or _")
    return name


def _step(rng: np.random.Generator, low: float, high: float) -> float:
    return round(round(float(rng.uniform(low, high)) / ONSET_STEP_S) * ONSET_STEP_S, 6)


def draw_paradigm(
    kind: str, conditions: Sequence[str], run_s: float, session: int, rng: np.random.Generator
) -> list[ParadigmEvent]:
    """A session's events of the drawn paradigm `kind` over `run_s` seconds.

    ``"block"``: rest and blocks alternate, each 15-20 s (uniform), the conditions in turn, blocks ending within
    the run. ``"slow-er"`` and ``"fast-er"``: impulses (duration 0) with onsets 12-16 s or 2-6 s apart, the first
    one interval after 0, the last before `run_s`; conditions in random permutations one after the other (each
    condition once per round). Times are rounded to :data:`ONSET_STEP_S`.
    """
    low, high = KINDS[kind]
    events: list[ParadigmEvent] = []
    t = _step(rng, low, high)
    if kind == "block":
        while True:
            duration = _step(rng, low, high)
            if t + duration > run_s:
                return events
            events.append(ParadigmEvent(session, conditions[len(events) % len(conditions)], t, duration))
            t = round(t + duration + _step(rng, low, high), 6)
    order: list[str] = []
    while t < run_s:
        if not order:
            order = [conditions[i] for i in rng.permutation(len(conditions))]
        events.append(ParadigmEvent(session, order.pop(0), t, 0.0))
        t = round(t + _step(rng, low, high), 6)
    return events


def paradigm_csv(events: Sequence[ParadigmEvent]) -> bytes:
    """PyHRF's paradigm text: ``session "condition" onset duration amplitude`` per line, numbers as ``%f``."""
    lines = [f'{e.session:d} "{e.condition}" {e.onset:f} {e.duration:f} {e.amplitude:f}\n' for e in events]
    return "".join(lines).encode("utf-8")


def _parse_line(file: Path, number: int, line: str) -> ParadigmEvent | None:
    """One line's event; ``None`` for a header (the first line when its onset is not a number)."""
    tokens = [quoted or bare for quoted, bare in _TOKEN.findall(line)]
    where = f"{file}: line {number}"
    if len(tokens) not in (4, 5):
        raise SimulationError(f"{where}: {len(tokens)} fields, expected session condition onset duration [amplitude]")
    try:
        session, onset, duration = int(tokens[0]), float(tokens[2]), float(tokens[3])
        amplitude = float(tokens[4]) if len(tokens) == 5 else 1.0
    except ValueError as exc:
        if number == 1:
            return None
        raise SimulationError(f"{where}: {line.strip()!r}, expected an int session and numbers") from exc
    if session < 0 or not (np.isfinite([onset, duration, amplitude]).all() and onset >= 0 and duration >= 0):
        raise SimulationError(f"{where}: {line.strip()!r}, expected a session >= 0 and finite times >= 0 s")
    return ParadigmEvent(session, check_condition(tokens[1], where), onset, duration, amplitude)


def read_paradigm(path: str | PathLike[str]) -> list[ParadigmEvent]:
    """Every event of a PyHRF paradigm CSV (see the module docstring), sessions renumbered ``0, 1, ...`` in
    increasing order of the file's session numbers.

    Raises
    ------
    SimulationError
        If the file is unreadable or empty, or a line is malformed (the message names the line).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SimulationError(f"{file}: cannot read the paradigm ({exc.__class__.__name__}), expected a PyHRF "
                              "paradigm CSV") from exc  # fmt: skip
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            event = _parse_line(file, number, line)
            if event is not None:
                events.append(event)
    if not events:
        raise SimulationError(f"{file}: no events, expected lines session condition onset duration [amplitude]")
    index = {s: k for k, s in enumerate(sorted({e.session for e in events}))}
    return [e._replace(session=index[e.session]) for e in events]


def contrasts(conditions: Sequence[str]) -> dict[str, str]:
    """PyHRF's contrasts: ``"a-b": "a - b"`` for every pair ``a`` before ``b``; one condition: ``{"a": "a"}``."""
    if len(conditions) == 1:
        return {conditions[0]: conditions[0]}
    return {f"{a}-{b}": f"{a} - {b}" for i, a in enumerate(conditions) for b in conditions[i + 1 :]}


def stimulus(events: Sequence[ParadigmEvent], n_fine: int, dt: float) -> np.ndarray:
    """The stimulus of `events` on the grid ``k * dt`` (``n_fine`` samples), in 1/s.

    An event of duration ``d > 0`` is a box of height ``amplitude`` over samples ``round(onset / dt)`` to
    ``round((onset + d) / dt)`` (exclusive, at least one sample); an impulse (``d = 0``) has the weight of
    ``amplitude`` x 1 s in one sample (height ``amplitude / dt``). So ``dt * convolve(stimulus, h)`` is
    ``amplitude * h(t - onset)`` for an impulse (peak ``amplitude`` for a peak-normalised ``h``) and
    ``amplitude * integral of h`` over the box for a block. Samples beyond ``n_fine`` are dropped.
    """
    out = np.zeros(n_fine, dtype=np.float64)
    for e in events:
        start = round(e.onset / dt)
        if e.duration == 0:
            if start < n_fine:
                out[start] += e.amplitude / dt
        else:
            out[start : max(round((e.onset + e.duration) / dt), start + 1)] += e.amplitude
    return out
