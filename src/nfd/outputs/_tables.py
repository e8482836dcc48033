"""Tables of a finished run, built from the per-volume records (pure functions).

:func:`motion_table` and :func:`timeseries_table` turn the records appended
to ``volumes.jsonl`` (see :mod:`nfd.outputs._runfolder` for their keys) into
columns and rows; :func:`format_tsv` writes them as tab-separated text with
BIDS's ``n/a`` for missing values.  The sidecar builders describe each column
(units included) in BIDS's JSON sidecar style.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from nfd._checks import ensure_float
from nfd._files import tsv_line
from nfd.outputs._errors import RunFolderError

__all__ = [
    "MOTION_COLUMNS",
    "motion_table",
    "motion_sidecar",
    "timeseries_table",
    "timeseries_sidecar",
    "format_tsv",
]

#: motion.tsv's columns: fMRIPrep's confound names after a leading ``index``.
MOTION_COLUMNS: Final[tuple[str, ...]] = (
    "index",
    "trans_x",
    "trans_y",
    "trans_z",
    "rot_x",
    "rot_y",
    "rot_z",
    "framewise_displacement",
)

_INDEX_DOC: Final[dict[str, str]] = {
    "LongName": "volume index",
    "Description": "0-based acquisition index: counts every file the scanner wrote, skipped initial volumes included",
}

Table = tuple[list[str], list[list[Any]]]


def _number(value: Any, what: str, index: Any) -> float | None:
    """``value`` as a float, ``None`` for missing/NaN; :class:`RunFolderError` if not a number."""
    if value is None:
        return None
    name = f"volume record {index}: {what} (null when missing)"
    number = ensure_float(value, name, finite=False, error=RunFolderError)
    return None if math.isnan(number) else number


def motion_table(records: Sequence[Mapping[str, Any]]) -> Table:
    """motion.tsv's columns and rows: one row per record.

    Parameters
    ----------
    records : sequence of mapping
        Per-volume records with ``index``, ``motion`` (6 numbers: trans x, y,
        z in mm, rot x, y, z in radians, SPM convention, relative to the
        reference) and ``fd`` (framewise displacement, mm).  A missing or
        null ``motion`` or ``fd`` gives ``None`` cells.

    Returns
    -------
    columns : list of str
        :data:`MOTION_COLUMNS`.
    rows : list of list
        ``[index, trans_x, ..., rot_z, framewise_displacement]`` per record.

    Raises
    ------
    RunFolderError
        If a record's ``motion`` is not 6 numbers.

    Examples
    --------
    >>> cols, rows = motion_table([{"index": 5, "motion": [0.1, 0, 0, 0, 0, 0.01], "fd": 0.3}])
    >>> rows
    [[5, 0.1, 0.0, 0.0, 0.0, 0.0, 0.01, 0.3]]
    """
    rows: list[list[Any]] = []
    for record in records:
        index = record.get("index")
        motion = record.get("motion")
        if motion is None:
            params: list[float | None] = [None] * 6
        else:
            if isinstance(motion, (str, bytes)) or not isinstance(motion, Sequence) or len(motion) != 6:
                raise RunFolderError(
                    f"volume record {index}: 'motion' must be 6 numbers (trans x y z mm, rot x y z rad), got {motion!r}"
                )
            params = [_number(v, "'motion'", index) for v in motion]
        rows.append([index, *params, _number(record.get("fd"), "'fd'", index)])
    return list(MOTION_COLUMNS), rows


def motion_sidecar() -> dict[str, Any]:
    """motion.json: each motion.tsv column's description and units, and the convention."""
    axes = {"x": "x (left to right)", "y": "y (posterior to anterior)", "z": "z (inferior to superior)"}
    rot_names = {"x": "pitch", "y": "roll", "z": "yaw"}
    sidecar: dict[str, Any] = {"index": dict(_INDEX_DOC)}
    for axis, text in axes.items():
        sidecar[f"trans_{axis}"] = {
            "LongName": f"translation along {axis}",
            "Description": f"rigid-body translation along {text}, relative to the realignment reference",
            "Units": "mm",
        }
    for axis, text in axes.items():
        sidecar[f"rot_{axis}"] = {
            "LongName": f"rotation about {axis} ({rot_names[axis]})",
            "Description": f"rigid-body rotation about {text}, relative to the realignment reference",
            "Units": "rad",
        }
    sidecar["framewise_displacement"] = {
        "LongName": "framewise displacement",
        "Description": (
            "Power et al. (2012, NeuroImage 59:2142) framewise displacement from nfd.timeseries: sum of the absolute "
            "changes of the six parameters from the previous processed volume, rotations as arc length in mm"
        ),
        "Units": "mm",
    }
    sidecar["MotionConvention"] = {
        "Software": "SPM",
        "Description": (
            "parameters p = (trans_x, trans_y, trans_z, rot_x, rot_y, rot_z) as in SPM's spm_matrix: "
            "M = T(p[0:3]) @ Rx(p[3]) @ Ry(p[4]) @ Rz(p[5]) in scanner (RAS+) mm, relative to the realignment "
            "reference volume"
        ),
        "Reference": "the realignment reference volume of the run",
    }
    return sidecar


def _roi_names(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """ROI names in order of first appearance across the records' ``roi`` dicts."""
    names: dict[str, None] = {}
    for record in records:
        roi = record.get("roi")
        if roi is None:
            continue
        if not isinstance(roi, Mapping):
            raise RunFolderError(
                f"volume record {record.get('index')}: 'roi' must map ROI names to raw means, got {roi!r}"
            )
        for name in roi:
            names.setdefault(str(name), None)
    return list(names)


def timeseries_table(records: Sequence[Mapping[str, Any]]) -> Table:
    """timeseries.tsv's columns and rows: ``index``, ``condition``, ``roi_<name>``..., ``feedback``.

    Parameters
    ----------
    records : sequence of mapping
        Per-volume records with ``index``, ``condition``, ``roi`` (ROI name
        -> raw mean, scanner intensity units) and ``feedback`` (the value
        sent).  ROIs are the union over the records, in order of first
        appearance; an ROI missing from a record gives a ``None`` cell.

    Returns
    -------
    columns : list of str
    rows : list of list

    Raises
    ------
    RunFolderError
        If a record's ``roi`` is not a mapping or holds a non-number.

    Examples
    --------
    >>> cols, rows = timeseries_table([{"index": 5, "condition": "BAS", "roi": {"v1": 812.5}, "feedback": 0.0}])
    >>> cols, rows
    (['index', 'condition', 'roi_v1', 'feedback'], [[5, 'BAS', 812.5, 0.0]])
    """
    names = _roi_names(records)
    with_chain = any(isinstance(r.get("chain"), Mapping) for r in records)
    stages = CHAIN_STAGES if with_chain else ()
    columns = [
        "index", "condition", *(f"roi_{name}" for name in names),
        *(f"{name}_{stage}" for name in names for stage in stages), "feedback",
    ]
    rows: list[list[Any]] = []
    for record in records:
        index = record.get("index")
        roi = record.get("roi") or {}
        chain = record.get("chain") or {}
        condition = record.get("condition")
        rows.append(
            [
                index,
                None if condition is None else str(condition),
                *(_number(roi.get(name), f"ROI {name!r}", index) for name in names),
                *(_number((chain.get(name) or {}).get(stage), f"ROI {name!r} {stage}", index)
                  for name in names for stage in stages),
                _number(record.get("feedback"), "'feedback'", index),
            ]
        )
    return columns, rows


#: The signal chain's stages written per ROI when records carry ``chain``
#: (:meth:`nfd.timeseries.ChainStep.as_record`), and what they are.
CHAIN_STAGES: tuple[str, ...] = ("glm", "ar1", "kalman", "scaled", "spike")
_CHAIN_DOCS: dict[str, tuple[str, str]] = {
    "glm": ("cumulative GLM residual with the task kept (nuisance fit removed)", "scanner intensity units"),
    "ar1": ("after AR(1) filtering", "scanner intensity units"),
    "kalman": ("after modified Kalman despiking (Koush et al. 2012)", "scanner intensity units"),
    "scaled": ("dynamically scaled to [0, 1]", "fraction"),
    "spike": ("Kalman step flagged a spike: +1 up, -1 down, 0 none", "sign"),
}


def timeseries_sidecar(columns: Sequence[str], feedback_units: str) -> dict[str, Any]:
    """timeseries.json: each timeseries.tsv column's description and units."""
    sidecar: dict[str, Any] = {}
    for column in columns:
        if column == "index":
            sidecar[column] = dict(_INDEX_DOC)
        elif column == "condition":
            sidecar[column] = {
                "LongName": "protocol condition",
                "Description": "the protocol's condition name for this volume (the baseline's name in baseline blocks)",
            }
        elif column == "feedback":
            sidecar[column] = {
                "LongName": "feedback value",
                "Description": "the scaled, clipped feedback value sent for this volume",
                "Units": feedback_units,
            }
        elif any(column.endswith(f"_{stage}") for stage in CHAIN_STAGES) and not column.startswith("roi_"):
            roi, stage = column.rsplit("_", 1)
            what, units = _CHAIN_DOCS[stage]
            sidecar[column] = {"LongName": f"ROI {roi} {stage}", "Description": f"ROI {roi}'s mean {what}",
                               "Units": units}
        elif column.startswith("roi_"):
            sidecar[column] = {
                "LongName": f"ROI {column[4:]} raw mean",
                "Description": f"mean over ROI {column[4:]}'s voxels of the processed volume, before any temporal "
                "processing",
                "Units": "scanner intensity units (arbitrary)",
            }
    return sidecar


def format_tsv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Tab-separated text with a header line; ``None``/NaN -> ``n/a``, floats shortest round-trip.

    Examples
    --------
    >>> format_tsv(["index", "fd"], [[0, None], [1, 0.25]])
    'index\\tfd\\n0\\tn/a\\n1\\t0.25\\n'
    """
    lines = ["\t".join(columns)]
    lines += [tsv_line(row) for row in rows]
    return "\n".join(lines) + "\n"
