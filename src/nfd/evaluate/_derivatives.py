"""The fully processed level from a user's fMRIPrep derivatives: ``desc-preproc_bold`` and its confounds TSV.

Instead of nfd's own offline cleaning, a study may take its fully processed data from fMRIPrep
(``[full] derivatives = "derivatives/fmriprep"``): per run, the preprocessed BOLD series
(``sub-<s>[_ses-<x>]_task-<t>[_run-<r>][_space-<space>]_desc-preproc_bold.nii.gz``) and its confounds
(``..._desc-confounds_timeseries.tsv``), found with pybids. Each ROI sphere (``[full] centres`` in the
derivatives' space, by default the study's centres) is averaged (the voxels nilearn's ``NiftiSpheresMasker``
takes) and cleaned by nilearn's :func:`~nilearn.signal.clean` (detrending, the confound regression and the
Butterworth band-pass in one step) with the confound columns the strategy names, fMRIPrep's own names:

- ``6P``: ``trans_x, trans_y, trans_z, rot_x, rot_y, rot_z``;
- ``12P``: and their ``_derivative1``; ``24P``: and the ``_power2`` of both (Friston et al. 1996);
- plus ``[full] confound_columns`` as they are (e.g. ``global_signal``, ``a_comp_cor_00`` ...).

fMRIPrep writes the first derivative's first row as ``n/a``; it is set to 0 (nilearn's own loader does the
same). Owns finding and reading the derivatives; the level's use is :mod:`nfd.evaluate._grid`'s.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["derivative_files", "derivative_series", "fmriprep_confounds"]

_MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")


def fmriprep_confounds(path: str | Path, strategy: str, extra: Sequence[str] = ()) -> npt.NDArray[np.float64]:
    """The columns of an fMRIPrep confounds TSV that a strategy names (see the module docstring).

    Parameters
    ----------
    path : path
        ``*_desc-confounds_timeseries.tsv``.
    strategy : {"none", "6P", "12P", "24P"}
    extra : sequence of str
        More columns, by their names in the file.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_volumes, n_columns)``; ``n/a`` as 0.

    Raises
    ------
    LookupError
        A column the strategy needs is not in the file (the message names it).
    """
    names = list(_MOTION) if strategy != "none" else []
    if strategy in ("12P", "24P"):
        names += [f"{m}_derivative1" for m in _MOTION]
    if strategy == "24P":
        names += [f"{m}_power2" for m in _MOTION] + [f"{m}_derivative1_power2" for m in _MOTION]
    names += list(extra)
    with Path(path).open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    missing = [n for n in names if not rows or n not in rows[0]]
    if missing:
        raise LookupError(f"confounds {path} lack column(s) {', '.join(missing)} of strategy {strategy}")

    def number(text: str) -> float:
        return 0.0 if text in ("n/a", "", "nan", "NaN") else float(text)

    return np.array([[number(r[n]) for n in names] for r in rows], dtype=np.float64).reshape(len(rows), len(names))


def derivative_files(root: Path, entities: Mapping[str, str], space: str) -> tuple[Path, Path]:
    """The preprocessed BOLD file and the confounds TSV of one run in an fMRIPrep derivatives folder.

    Raises
    ------
    LookupError
        Not exactly one of each (the message says what was looked for).
    """
    from bids import BIDSLayout
    from bids.layout import Query

    layout = BIDSLayout(root, validate=False, is_derivative=True)
    query: dict[str, Any] = {k: v for k, v in entities.items() if v}
    bolds = layout.get(**query, desc="preproc", suffix="bold", extension=[".nii", ".nii.gz"],
                       space=space or Query.NONE)  # fmt: skip
    tables = layout.get(**query, desc="confounds", suffix="timeseries", extension=".tsv")
    if len(bolds) != 1 or len(tables) != 1:
        wanted = ", ".join(f"{k}-{v}" for k, v in query.items())
        raise LookupError(f"{len(bolds)} desc-preproc_bold (space {space or 'none'}) and {len(tables)} "
                          f"desc-confounds_timeseries files for {wanted} in {root}; expected one of each")
    return Path(bolds[0].path), Path(tables[0].path)


def derivative_series(
    bold: Path, confounds: npt.NDArray[np.float64], centres: Mapping[str, Sequence[float]], radii: Sequence[float],
    tr: float, *, detrend: bool, high_pass_hz: float | None, low_pass_hz: float | None,
) -> tuple[tuple[str, ...], npt.NDArray[np.float64]]:
    """Every ROI at every radius, averaged in float64 and cleaned: (``roi@radius`` names, values).

    The spheres are :func:`nfd.evaluate.sphere_masks`' (the voxels nilearn's ``NiftiSpheresMasker`` takes);
    the cleaning is nilearn's :func:`~nilearn.signal.clean`, as the masker runs it. The masker itself is not
    used: it returns the means in the image's data type, so an int16 series comes back truncated to integers.
    """
    import nibabel as nib
    from nilearn.signal import clean

    from nfd.evaluate._spheres import sphere_masks

    image: Any = nib.load(bold)
    data = np.asarray(image.dataobj, dtype=np.float64)
    names, columns = [], []
    for radius in radii:
        for name, mask in sphere_masks(centres, float(radius), image.shape[:3], image.affine).items():
            names.append(f"{name}@{radius:g}")
            columns.append(data[mask].mean(axis=0) if mask.any() else np.full(data.shape[3], np.nan))
    with warnings.catch_warnings():  # nilearn 0.14 deprecates standardize=False for None, which 0.10 lacks
        warnings.simplefilter("ignore", FutureWarning)
        values = clean(np.column_stack(columns), detrend=detrend, standardize=False,
                       confounds=confounds if confounds.shape[1] else None, standardize_confounds=True,
                       filter="butterworth" if (high_pass_hz or low_pass_hz) else False,
                       high_pass=high_pass_hz, low_pass=low_pass_hz, t_r=tr)  # fmt: skip
    return tuple(names), np.asarray(values, dtype=np.float64)
