"""Confound strategies named by fMRIPrep's columns, and FD scrubbing as nilearn's ``sample_mask``.

The strategies (fMRIPrep's ``*_desc-confounds_timeseries.tsv`` column names):

- ``6P``: ``trans_x, trans_y, trans_z, rot_x, rot_y, rot_z``; ``12P``: and their ``_derivative1``;
- ``24P``: and the ``_power2`` of both, ``..._derivative1_power2`` (Friston et al. 1996, Magn Reson Med
  35:346-355; Satterthwaite et al. 2013, NeuroImage 64:240-256);
- ``aCompCor``: ``a_comp_cor_00`` ... ``a_comp_cor_04`` (Behzadi et al. 2007, NeuroImage 37:90-101);
- ``GSR``: ``global_signal``;
- a combination: a list of these, columns in order, each once.

fMRIPrep writes a derivative's first row as ``n/a``; it is read as 0 (nilearn's own loader does the same). FD
scrubbing (Power et al. 2012, NeuroImage 59:2142-2154): the volumes whose ``framewise_displacement`` (mm)
exceeds the threshold are censored, i.e. left out of nilearn's masker through its ``sample_mask`` (the indices
of the volumes kept); nilearn cleans with them interpolated away and returns only the kept rows. nilearn's
:func:`~nilearn.interfaces.fmriprep.load_confounds` wants fMRIPrep's file naming and JSON sidecar and names
strategies differently, so the TSV is read here with pandas.

:func:`motion_confounds` builds the same motion columns from the six parameters alone, for series that come
without fMRIPrep's TSV (nfd run folders, ``nfd evaluate``'s own fully processed level).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["STRATEGIES", "Confounds", "confound_columns", "motion_confounds", "read_confounds", "scrub_mask"]

_MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
#: Strategy name -> the fMRIPrep columns it regresses out.
STRATEGIES: dict[str, tuple[str, ...]] = {
    "6P": _MOTION,
    "12P": _MOTION + tuple(f"{m}_derivative1" for m in _MOTION),
    "24P": _MOTION + tuple(f"{m}_derivative1" for m in _MOTION) + tuple(f"{m}_power2" for m in _MOTION)
    + tuple(f"{m}_derivative1_power2" for m in _MOTION),
    "aCompCor": tuple(f"a_comp_cor_{k:02d}" for k in range(5)),
    "GSR": ("global_signal",),
}


def confound_columns(strategy: str | Sequence[str]) -> list[str]:
    """The columns of a strategy or a combination of strategies (see the module docstring), each once.

    Examples
    --------
    >>> confound_columns(["6P", "GSR"])[-2:]
    ['rot_z', 'global_signal']
    """
    names = [strategy] if isinstance(strategy, str) else list(strategy)
    out: list[str] = []
    for name in names:
        if name not in STRATEGIES:
            raise ValueError(f"confound strategy {name!r}: expected one of {', '.join(STRATEGIES)}")
        out += [c for c in STRATEGIES[name] if c not in out]
    return out


def read_confounds(path: str | Path, columns: Sequence[str]) -> npt.NDArray[np.float64]:
    """The named columns of an fMRIPrep confounds TSV: float64 ``(T, len(columns))``, ``n/a`` as 0.

    Raises
    ------
    LookupError
        A column is not in the file (the message names them).
    """
    import pandas as pd

    table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=True)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise LookupError(f"confound column(s) {', '.join(missing)} missing from {Path(path).name}")
    return np.asarray(table[list(columns)].fillna(0.0), dtype=np.float64).reshape(len(table), len(columns))


def scrub_mask(path: str | Path, threshold_mm: float) -> npt.NDArray[np.int64]:
    """Indices of the volumes kept by FD scrubbing: ``framewise_displacement <= threshold_mm`` (the first row,
    ``n/a``, counts as 0 mm). nilearn's ``sample_mask``.

    Raises
    ------
    LookupError
        No ``framewise_displacement`` column.
    """
    fd = read_confounds(path, ["framewise_displacement"])[:, 0]
    return np.flatnonzero(fd <= float(threshold_mm)).astype(np.int64)


#: Motion confound strategies, by fMRIPrep's names: none, the 6 parameters, 24 (Friston et al. 1996).
Confounds = Literal["none", "6P", "12P", "24P"]


def motion_confounds(motion: npt.ArrayLike, strategy: Confounds = "24P") -> npt.NDArray[np.float64]:
    """The motion regressors of a run, as fMRIPrep's confound strategies define them.

    ``6P``: the 6 rigid parameters; ``12P``: with their backward
    differences (0 at the first volume, fMRIPrep's ``_derivative1``);
    ``24P``: with the squares of both (Friston et al. 1996, Magn Reson Med
    35:346-355); ``none``: no column.

    Parameters
    ----------
    motion : array_like, (n_volumes, 6)
        Translations (mm) and rotations (radians).
    strategy : {"none", "6P", "12P", "24P"}

    Returns
    -------
    numpy.ndarray
        float64 ``(n_volumes, 0 | 6 | 12 | 24)``.

    Examples
    --------
    >>> motion_confounds([[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]], "24P")[1, [0, 6, 12, 18]].tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    m = np.asarray(motion, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != 6:
        raise ValueError(f"motion must have shape (n_volumes, 6), got {m.shape}")
    if strategy == "none":
        return np.zeros((m.shape[0], 0))
    if strategy not in ("6P", "12P", "24P"):
        raise ValueError(f"strategy must be 'none', '6P', '12P' or '24P', got {strategy!r}")
    derivative = np.vstack([np.zeros((1, 6)), np.diff(m, axis=0)])
    columns = [m] if strategy == "6P" else [m, derivative]
    if strategy == "24P":
        columns += [m**2, derivative**2]
    return np.hstack(columns)
