"""Atlas series from fMRIPrep derivatives: find the runs, clean each with nilearn, write TSVs and one npz.

Per run (``sub-<s>[_ses-<x>]_task-<t>[_run-<r>][_space-<S>]``): ``*_desc-preproc_bold.nii.gz``, its
``*_desc-brain_mask.nii.gz`` and ``*_desc-confounds_timeseries.tsv``, found with pybids. The BOLD image is cast
to float32 first (nilearn's maskers return means in the image's data type, so an int16 series would come back
truncated to integers). A label atlas goes through ``NiftiLabelsMasker`` (the atlas resampled onto the EPI grid,
nearest neighbour); coordinates are spheres drawn on the EPI grid as ``NiftiSpheresMasker`` draws them
(:mod:`nfd.connectivity._spheres`: the same voxels and series, without the masker's search over every voxel,
seconds per run for 264 seeds). Both within the brain mask, with the same cleaning in one step (nilearn's
:func:`~nilearn.signal.clean`: linear detrending, the confounds, Butterworth high-/band-pass, the FD-censored
volumes left out through ``sample_mask``). With
``networks`` the regions' cleaned series are averaged per network label. The repetition time (s) is the BOLD
sidecar's ``RepetitionTime``, else the NIfTI header's fourth zoom.

A region with no voxel on the data's grid (an atlas off its space or field of view) gives a NaN column and a
problem line; a run with more than half its regions empty is skipped (one line), as is a run whose confounds
file or a confound column is missing. The rest of the dataset goes on.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from nfd.connectivity._atlas import Atlas
from nfd.connectivity._confounds import confound_columns, read_confounds, scrub_mask
from nfd.connectivity._spheres import sphere_indices, sphere_means

__all__ = ["CleaningOptions", "RunFiles", "RunSeries", "extract_dataset", "extract_run", "find_runs",
           "network_average"]  # fmt: skip


@dataclass(frozen=True)
class RunFiles:
    """One fMRIPrep run: its entities and files (``confounds``/``mask`` None when absent)."""

    subject: str
    session: str
    task: str
    run: str
    bold: Path
    mask: Path | None
    confounds: Path | None

    @property
    def key(self) -> str:
        """``sub-<s>[_ses-<x>]_task-<t>[_run-<r>]``: the run in problem lines and file names."""
        parts = [f"sub-{self.subject}", f"ses-{self.session}" if self.session else "", f"task-{self.task}"
                 if self.task else "", f"run-{self.run}" if self.run else ""]  # fmt: skip
        return "_".join(p for p in parts if p)


@dataclass(frozen=True)
class CleaningOptions:
    """How a run's series are cleaned (see the module docstring).

    Attributes
    ----------
    strategy : tuple of str
        Confound strategies (``6P``, ``12P``, ``24P``, ``aCompCor``, ``GSR``), combined.
    scrub_fd_mm : float or None
        Censor volumes whose framewise displacement exceeds this, mm.
    high_pass_hz, low_pass_hz : float or None
        Butterworth cut-offs, Hz.
    detrend : bool
        Remove a linear trend.
    networks : bool
        Average the regions per network label.
    """

    strategy: tuple[str, ...] = ("24P",)
    scrub_fd_mm: float | None = None
    high_pass_hz: float | None = None
    low_pass_hz: float | None = None
    detrend: bool = True
    networks: bool = False


@dataclass
class RunSeries:
    """One run's cleaned series: ``values`` ``(T_kept, N)`` with ``labels``; ``volumes`` the rows' indices in
    the acquired run (gaps where FD scrubbing censored); ``t_r`` in s."""

    subject: str
    session: str
    task: str
    run: str
    labels: tuple[str, ...]
    values: npt.NDArray[np.float64]
    volumes: npt.NDArray[np.int64]
    t_r: float
    n_volumes: int
    problems: list[str] = field(default_factory=list)


def find_runs(root: str | Path, *, space: str | None = None) -> list[RunFiles]:
    """Every ``desc-preproc_bold`` run of an fMRIPrep derivatives folder (with ``space`` only that space).

    Raises
    ------
    ValueError
        ``root`` is not a folder.
    """
    from bids import BIDSLayout

    path = Path(root)
    if not path.is_dir():
        raise ValueError(f"derivatives {path} is not a folder: expected an fMRIPrep derivatives folder")
    layout = BIDSLayout(path, validate=False, is_derivative=True)
    query: dict[str, Any] = {"space": space} if space else {}
    out = []
    for bold in layout.get(desc="preproc", suffix="bold", extension=[".nii", ".nii.gz"], **query):
        ent = {k: bold.entities[k] for k in ("subject", "session", "task", "run") if k in bold.entities}
        masks = layout.get(**ent, desc="brain", suffix="mask", extension=[".nii", ".nii.gz"],
                           **({"space": bold.entities["space"]} if "space" in bold.entities else {}))
        tables = layout.get(**ent, desc="confounds", suffix="timeseries", extension=".tsv")
        out.append(RunFiles(str(ent.get("subject", "")), str(ent.get("session", "")), str(ent.get("task", "")),
                            str(ent.get("run", "")), Path(bold.path), Path(masks[0].path) if masks else None,
                            Path(tables[0].path) if tables else None))  # fmt: skip
    return sorted(out, key=lambda r: r.key)


def _repetition_time(bold: Path, image: Any) -> float:
    sidecar = Path(str(bold).removesuffix(".gz").removesuffix(".nii") + ".json")
    if sidecar.is_file():
        tr = json.loads(sidecar.read_text(encoding="utf-8")).get("RepetitionTime")
        if tr:
            return float(tr)
    zoom = float(image.header.get_zooms()[3]) if len(image.header.get_zooms()) > 3 else 0.0
    return zoom / 1000.0 if image.header.get_xyzt_units()[1] == "msec" else zoom


def _label_regions(atlas: Atlas, image: Any, mask: npt.NDArray[np.bool_]) -> tuple[Any, list[bool]]:
    """The label atlas on the EPI grid (nearest neighbour) and whether each region has a voxel in the mask."""
    import nibabel as nib
    from nilearn.image import resample_to_img

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_grid = resample_to_img(nib.load(atlas.source), image.slicer[..., 0], interpolation="nearest",
                                  force_resample=True, copy_header=True)  # fmt: skip
    labels = np.asarray(on_grid.dataobj).astype(np.int64)[mask]
    present = set(np.unique(labels).tolist())
    return on_grid, [v in present for v in atlas.values]


def _clean_options(tr: float, options: CleaningOptions) -> dict[str, Any]:
    return {"detrend": options.detrend, "t_r": tr, "high_pass": options.high_pass_hz,
            "low_pass": options.low_pass_hz}  # fmt: skip


def _label_series(atlas: Atlas, on_grid: Any, image: Any, mask_img: Any, confounds: Any, kept: Any,
                  tr: float, options: CleaningOptions) -> npt.NDArray[np.float64]:  # fmt: skip
    """NiftiLabelsMasker's cleaned series, placed in the atlas's region order (NaN for the regions left out)."""
    from nilearn.maskers import NiftiLabelsMasker

    masker = NiftiLabelsMasker(on_grid, resampling_target="data", mask_img=mask_img, standardize=None,
                               **_clean_options(tr, options))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = np.asarray(masker.fit_transform(image, confounds=confounds, sample_mask=kept), dtype=np.float64)
    out = np.full((raw.shape[0], len(atlas.names)), np.nan)
    position = {v: k for k, v in enumerate(atlas.values)}
    for column, value in ((c, v) for c, v in masker.region_ids_.items() if c != "background"):
        if int(value) in position:
            out[:, position[int(value)]] = raw[:, int(column)]
    return out


def _sphere_series(means: npt.NDArray[np.float64], confounds: Any, kept: Any, tr: float,
                   options: CleaningOptions) -> npt.NDArray[np.float64]:  # fmt: skip
    """The spheres' mean series cleaned as NiftiSpheresMasker cleans them (NaN columns stay NaN)."""
    from nilearn.signal import clean

    good = np.flatnonzero(np.isfinite(means).all(axis=0))
    n_rows = means.shape[0] if kept is None else len(kept)
    out = np.full((n_rows, means.shape[1]), np.nan)
    filtering = options.high_pass_hz is not None or options.low_pass_hz is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out[:, good] = clean(means[:, good], standardize=False, confounds=confounds, standardize_confounds=True,
                             sample_mask=kept, filter="butterworth" if filtering else False,
                             **_clean_options(tr, options))  # fmt: skip
    return out


def extract_run(files: RunFiles, atlas: Atlas, options: CleaningOptions) -> RunSeries:
    """One run's cleaned atlas series (see the module docstring).

    Raises
    ------
    LookupError
        No confounds file, or a confound column missing (the message names the run).
    ValueError
        More than half the atlas's regions empty on the data's grid, or no repetition time.
    """
    import nibabel as nib

    if files.confounds is None:
        raise LookupError(f"{files.key}: no desc-confounds_timeseries.tsv beside {files.bold.name}")
    try:
        confounds = read_confounds(files.confounds, confound_columns(list(options.strategy)))
        kept = scrub_mask(files.confounds, options.scrub_fd_mm) if options.scrub_fd_mm is not None else None
    except LookupError as err:
        raise LookupError(f"{files.key}: {err}") from None
    source: Any = nib.load(files.bold)
    tr = _repetition_time(files.bold, source)
    if not tr > 0:
        raise ValueError(f"{files.key}: no repetition time (sidecar RepetitionTime or header zoom), expected > 0 s")
    data = np.asarray(source.dataobj, dtype=np.float32)
    image = nib.Nifti1Image(data, source.affine, source.header)
    image.set_data_dtype(np.float32)
    mask = (np.asarray(nib.load(files.mask).dataobj) > 0 if files.mask else  # type: ignore[attr-defined]
            np.ones(image.shape[:3], dtype=bool))  # fmt: skip
    if atlas.coords_mm is not None:
        indices = sphere_indices(atlas.coords_mm, atlas.radius_mm, (data.shape[0], data.shape[1], data.shape[2]),
                                 image.affine, mask)  # fmt: skip
        present = [idx.size > 0 for idx in indices]
    else:
        on_grid, present = _label_regions(atlas, image, mask)
    empty = [name for name, p in zip(atlas.names, present, strict=True) if not p]
    if len(empty) * 2 > len(present):
        raise ValueError(f"{files.key}: {len(empty)} of {len(present)} atlas regions have no voxel in the data's "
                         "brain mask: expected an atlas in the data's space and field of view")
    regressors = confounds if confounds.shape[1] else None
    if atlas.coords_mm is not None:
        values = _sphere_series(sphere_means(data, indices), regressors, kept, tr, options)
    else:
        mask_img = nib.Nifti1Image(mask.astype(np.uint8), image.affine)
        values = _label_series(atlas, on_grid, image, mask_img, regressors, kept, tr, options)
    problems = [f"{files.key}: atlas region(s) {', '.join(empty)} have no voxel in the data: NaN"] if empty else []
    volumes = np.arange(image.shape[3], dtype=np.int64) if kept is None else kept
    labels = atlas.names
    if options.networks:
        labels, values = network_average(atlas, values)
    return RunSeries(files.subject, files.session, files.task, files.run, tuple(labels), values, volumes, tr,
                     image.shape[3], problems)  # fmt: skip


def network_average(atlas: Atlas, values: npt.NDArray[np.float64]) -> tuple[tuple[str, ...], npt.NDArray[np.float64]]:
    """Regions' series averaged per network (in order of first appearance), NaN regions left out: (networks,
    ``(T, n_networks)``).

    Raises
    ------
    ValueError
        The atlas gives no network for some region.
    """
    if any(not n for n in atlas.networks):
        raise ValueError(f"atlas {Path(atlas.source).name} gives no network for some regions: expected a network "
                         "column for --networks")
    names = tuple(dict.fromkeys(atlas.networks))
    nets = np.asarray(atlas.networks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a network whose regions are all empty: NaN
        out = np.column_stack([np.nanmean(values[:, nets == name], axis=1) for name in names])
    return names, np.asarray(out, dtype=np.float64)


def _task(files: RunFiles, atlas: Atlas, options: CleaningOptions) -> RunSeries | str:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one core per task, and the same sums whichever worker runs it
        try:
            return extract_run(files, atlas, options)
        except (LookupError, ValueError, OSError) as err:
            return str(err)


def extract_dataset(
    runs: Sequence[RunFiles], atlas: Atlas, options: CleaningOptions, *, jobs: int = 1, log: bool = True,
    scheduler: str | None = None,
) -> tuple[list[RunSeries], list[str]]:
    """Every run's series and the problems, one line each (with ``log`` each also logged as
    ``connectivity_problem``; the command line prints them instead).

    The runs are tasks of :func:`nfd._execution.map_unordered`, as ``nfd evaluate``'s are: in this process,
    ``jobs`` joblib processes, or a Dask cluster (``scheduler``: ``"local"`` for a ``LocalCluster`` of ``jobs``
    workers, or a scheduler's address); each on one BLAS thread, so the series are the same every way.
    """
    from functools import partial

    from nfd._execution import map_unordered

    task = partial(_task, atlas=atlas, options=options)
    done = dict(map_unordered(task, list(runs), jobs=jobs, scheduler=scheduler))
    results = [done[k] for k in range(len(runs))]
    series: list[RunSeries] = []
    problems: list[str] = []
    for result in results:
        if isinstance(result, str):
            problems.append(result)
        else:
            series.append(result)
            problems += result.problems
    for line in problems if log else []:
        structlog.get_logger("nfd.connectivity").warning("connectivity_problem", problem=line)
    return series, problems
