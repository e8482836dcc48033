"""Checking a :class:`~nfd.simulate.BoldSpec`: its numbers, its paradigm, HRFs and amplitudes (read or made)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nfd._checks import check_option
from nfd.simulate._bold_hrf import HrfModel, canonical_hrfs, file_hrfs, gamma_hrfs
from nfd.simulate._bold_paradigm import KINDS, ParadigmEvent, check_condition, draw_paradigm, read_paradigm
from nfd.simulate._cohort import _rng
from nfd.simulate._errors import SimulationError
from nfd.simulate._session import _count, _number

if TYPE_CHECKING:
    from nfd.simulate._bold import BoldSpec

__all__ = ["NOISE_KINDS", "checked_numbers", "default_amplitudes", "file_amplitudes", "paradigm", "parcel_hrfs"]

NOISE_KINDS = ("white", "ar1", "none")


def checked_numbers(spec: BoldSpec) -> dict[str, object]:
    shape = spec.shape
    if not (isinstance(shape, tuple | list) and len(shape) == 3):
        raise SimulationError(f"shape must be 3 voxel counts, got {shape!r}")
    parcels = _count("parcels", spec.parcels, 1)
    nx = _count("shape[0]", shape[0], 3)
    if parcels > (nx - 1) // 2:
        raise SimulationError(f"parcels {parcels} do not fit {nx} voxels along x, expected at most {(nx - 1) // 2}")
    snr = _number("snr", spec.snr, positive=True) if spec.snr != math.inf else math.inf
    return {
        "n_volumes": _count("n_volumes", spec.n_volumes, 10), "tr": _number("tr", spec.tr, positive=True),
        "shape": (nx, _count("shape[1]", shape[1], 3), _count("shape[2]", shape[2], 3)),
        "voxel_size_mm": _number("voxel_size_mm", spec.voxel_size_mm, positive=True), "parcels": parcels,
        "hrf_duration": _number("hrf_duration", spec.hrf_duration, positive=True),
        "amplitude": _number("amplitude", spec.amplitude, positive=True),
        "spread": _number("spread", spec.spread, non_negative=True),
        "noise": check_option("noise", spec.noise, NOISE_KINDS, error=SimulationError),
        "ar": _ar(spec.ar), "snr": snr, "drift": _number("drift", spec.drift, non_negative=True),
        "motion": _number("motion", spec.motion, non_negative=True), "seed": _count("seed", spec.seed, 0),
    }  # fmt: skip


def _ar(value: object) -> float:
    ar = _number("ar", value, non_negative=True)
    if not ar < 1:
        raise SimulationError(f"ar must be a number in [0, 1), got {value!r}")
    return ar


def paradigm(spec: BoldSpec, run_s: float) -> tuple[tuple[str, ...], int, list[ParadigmEvent]]:
    """The conditions, sessions and events (drawn, or read from the file)."""
    if spec.paradigm in KINDS:
        conditions = tuple(spec.conditions) if spec.conditions is not None else ("audio", "video")
        if not conditions or len(set(conditions)) != len(conditions):
            raise SimulationError(f"conditions {conditions!r}, expected distinct names")
        for name in conditions:
            check_condition(name, "conditions")
        sessions = 1 if spec.sessions is None else _count("sessions", spec.sessions, 1)
        events = [e for k in range(sessions) for e in draw_paradigm(spec.paradigm, conditions, run_s, k,
                                                                    _rng(spec.seed, 1, k))]  # fmt: skip
        return conditions, sessions, events
    events = sorted(read_paradigm(spec.paradigm), key=lambda e: (e.session, e.onset))
    conditions = tuple(dict.fromkeys(e.condition for e in events))
    sessions = events[-1].session + 1
    if spec.sessions is not None and spec.sessions != sessions:
        raise SimulationError(f"{spec.paradigm}: {sessions} sessions, expected {spec.sessions} as asked")
    late = [e for e in events if e.onset >= run_s]
    if late:
        raise SimulationError(f"{spec.paradigm}: an onset at {late[0].onset:g} s, expected onsets before the run's "
                              f"end ({run_s:g} s)")  # fmt: skip
    return conditions, sessions, events


def parcel_hrfs(spec: BoldSpec, parcels: int, duration: float) -> list[HrfModel]:
    if spec.hrf == "gamma":
        return gamma_hrfs(parcels, duration)
    if spec.hrf == "canonical":
        return canonical_hrfs(parcels, duration)
    if not Path(spec.hrf).suffix.lower() == ".tsv":
        raise SimulationError(f"hrf {spec.hrf!r}, expected gamma, canonical or a .tsv file")
    return file_hrfs(spec.hrf, parcels, duration)


def default_amplitudes(parcels: int, n_conditions: int, amplitude: float) -> np.ndarray:
    table = np.zeros((parcels, n_conditions))
    patterns = ({0: 1.0}, {0: 1.0, 1: -1.0}, {1: 1.0})
    for p in range(parcels - 1 if parcels >= 4 else parcels):
        for c, sign in patterns[p % 3].items():
            if c < n_conditions:
                table[p, c] = sign * amplitude
    return table


def file_amplitudes(path: str, parcels: int, conditions: tuple[str, ...]) -> np.ndarray:
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SimulationError(f"{path}: cannot read the activation ({exc.__class__.__name__}), expected JSON "
                              '{"1": {"<condition>": percent}}') from exc  # fmt: skip
    if not isinstance(payload, dict):
        raise SimulationError(f'{path}: a {type(payload).__name__}, expected {{"<label>": {{"<condition>": percent}}}}')
    table = np.zeros((parcels, len(conditions)))
    labels = {str(p + 1): p for p in range(parcels)}
    for label, row in payload.items():
        if label not in labels or not isinstance(row, dict):
            raise SimulationError(f"{path}: parcel {label!r}, expected labels 1..{parcels} mapping to objects")
        for name, value in row.items():
            if name not in conditions:
                raise SimulationError(f"{path}: condition {name!r}, expected one of {', '.join(conditions)}")
            table[labels[label], conditions.index(name)] = _number(f"{path}: {label}.{name}", value)
    return table
