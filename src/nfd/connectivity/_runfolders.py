"""ROI series of nfd run folders, cleaned like an fMRIPrep run's atlas series.

A run folder of ``nfd run`` or ``nfd replay`` (:class:`nfd.outputs.RunFolder`) holds, per acquired volume,
each ROI's raw mean (``timeseries.tsv``: ``index``, ``roi_<name>``; ``n/a`` for a missing or refused volume)
and the realignment's parameters with fMRIPrep's column names (``motion.tsv``: ``trans_x`` .. ``rot_z`` in mm
and radians, ``framewise_displacement``); ``config.toml`` gives the TR. :func:`extract_run_folder` cleans the
ROI series the way :func:`nfd.connectivity.extract_run` cleans an atlas's: the motion strategy's regressors
(``6P``, ``12P``, ``24P`` by :func:`nfd.connectivity.motion_confounds`), detrending and filtering by
nilearn's ``signal.clean``, the volumes that are missing or whose framewise displacement exceeds the scrubbing
threshold censored (``sample_mask``).
``aCompCor`` and ``GSR`` need voxels a run folder does not keep and are refused, naming the folder. The ROIs are
the run's (``[roi]`` masks, ``[atlas]`` networks or regions); the subject label is the folder's name.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nfd.connectivity._confounds import motion_confounds
from nfd.connectivity._extract import CleaningOptions, RunSeries, _sphere_series

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["extract_run_folder", "is_run_folder"]

_MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")


def is_run_folder(path: str | Path) -> bool:
    """Whether `path` is an nfd run folder (it holds ``timeseries.tsv`` and ``motion.tsv``)."""
    p = Path(path)
    return (p / "timeseries.tsv").is_file() and (p / "motion.tsv").is_file()


def _table(path: Path) -> tuple[list[str], npt.NDArray[np.float64]]:
    """A TSV's header and its values as floats (``n/a`` and labels such as the condition column as NaN)."""
    import pandas as pd

    table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)
    return [str(c) for c in table.columns], table.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)


def _motion_regressors(
    motion: npt.NDArray[np.float64], strategy: tuple[str, ...], where: str
) -> npt.NDArray[np.float64]:
    """The strategy's motion columns (:func:`nfd.connectivity.motion_confounds`; n/a rows as 0: censored)."""
    unknown = [s for s in strategy if s not in ("6P", "12P", "24P")]
    if unknown:
        raise LookupError(f"{where}: strategy {unknown[0]} needs fMRIPrep's confounds; a run folder has the "
                          "motion only, expected 6P, 12P or 24P")  # fmt: skip
    widest = max(strategy, key=("6P", "12P", "24P").index)  # a combination: the widest motion set holds the rest
    return motion_confounds(np.nan_to_num(motion), widest)  # type: ignore[arg-type]


def extract_run_folder(folder: str | Path, options: CleaningOptions) -> RunSeries:
    """One run folder's cleaned ROI series (see the module docstring).

    Raises
    ------
    LookupError
        A file or column missing, or a strategy a run folder cannot give (the message names the folder).
    ValueError
        No repetition time in the folder's ``config.toml``.
    """
    path = Path(folder)
    where = f"run folder {path.name}"
    header, table = _table(path / "timeseries.tsv")
    rois = [h for h in header if h.startswith("roi_")]
    if "index" not in header or not rois:
        raise LookupError(f"{where}: timeseries.tsv has no index or roi_<name> columns, expected nfd's layout")
    motion_header, motion = _table(path / "motion.tsv")
    missing = [c for c in (*_MOTION, "framewise_displacement") if c not in motion_header]
    if missing or motion.shape[0] != table.shape[0]:
        raise LookupError(f"{where}: motion.tsv lacks {missing or 'rows'}, expected one row per timeseries.tsv row")
    tr = float(tomllib.loads((path / "config.toml").read_text(encoding="utf-8")).get("run", {}).get("tr", 0.0))
    if not tr > 0:
        raise ValueError(f"{where}: no run.tr in config.toml, expected the repetition time in s")
    values = table[:, [header.index(r) for r in rois]]
    fd = motion[:, motion_header.index("framewise_displacement")]
    keep = np.isfinite(values).all(axis=1)
    if options.scrub_fd_mm is not None:
        keep &= ~(np.nan_to_num(fd) > options.scrub_fd_mm)
    kept = np.flatnonzero(keep)
    regressors = _motion_regressors(motion[:, [motion_header.index(c) for c in _MOTION]], options.strategy, where)
    cleaned = _sphere_series(np.nan_to_num(values), regressors if regressors.shape[1] else None, kept, tr, options)
    indices = table[:, header.index("index")].astype(np.int64)
    return RunSeries(path.name, "", "", "", tuple(r[len("roi_"):] for r in rois), cleaned, indices[kept], tr,
                     int(table.shape[0]))  # fmt: skip
