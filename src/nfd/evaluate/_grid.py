"""The algorithm grid of a study, run by run: the cells table of ``nfd evaluate``.

A study's ``[[variants]]`` blocks expand into :class:`Variant` s (one per combination of their lists) and
target sets (:func:`plan_grid`). The work is one task per recorded run (:func:`evaluate_run`): the run's
volumes go through the daemon's volume engine once per echo handling (:func:`nfd.evaluate.minimal_roi_series`,
every ROI at every radius in the same pass, cached on disk by content), the fully processed level is derived
from that (:func:`nfd.evaluate.full_roi_series`), the gold standard and the "standard" full-series measure are
computed per target set, and every variant runs on the cached series through the daemon's feedback computer
(:func:`nfd.evaluate.feedback_over`). A task returns the run's rows of the ``cells`` table and one line per
problem (an ROI outside the field of view or the brain, a run too short, an echo the run does not have); the
rest of the grid goes on.

This module owns the expansion and the per-run task; it knows nothing of processes or clusters
(:mod:`nfd.evaluate._execute`) nor of statistics (:mod:`nfd.evaluate._stats`).
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nfd.daemon.worker import engine_options
from nfd.design import Design, DesignError, load_protocol
from nfd.evaluate._full import full_roi_series
from nfd.evaluate._minimal import MinimalSeries, minimal_roi_series
from nfd.evaluate._spheres import sphere_masks
from nfd.evaluate._study import TASK_KINDS, Study, StudyRun, VariantsTable
from nfd.evaluate._variants import chain_steps, feedback_over, raw_steps
from nfd.feedback import FeedbackError, composite_measure
from nfd.feedback._connectivity import pearson

__all__ = ["GridPlan", "RunJob", "Variant", "evaluate_run", "plan_grid", "read_centres", "run_tr"]

_SIZES = {"singles": 1, "pairs": 2, "triples": 3, "quads": 4}
#: An ROI with less of its voxels inside the brain is left out of a run.
MIN_IN_BRAIN = 0.5


@dataclass(frozen=True)
class Variant:
    """One combination of a ``[[variants]]`` block's lists, with the target sets it runs on.

    ``points``, ``min_agree``, ``min_change_sd`` and ``direction`` are the proxy's (0 / "" for the other kinds),
    ``window`` the sliding correlation's (0 for the others); ``delay`` (volumes), ``reference``, ``signal`` and
    ``combine`` the task kinds' (``psc``, ``psc_intermittent``, ``correlation_intermittent``; ``reference`` the psc
    kinds' only), which run on the targets of a set alone (not on the control) over the run's protocol.
    """

    kind: str
    points: int
    window: int
    n_targets: int
    min_agree: int
    min_change_sd: float
    radius_mm: float
    echo: str
    level: str
    direction: str
    sets: tuple[tuple[str, ...], ...]
    delay: int = 0
    reference: str = ""
    signal: str = "raw"
    combine: str = "mean"

    @property
    def task(self) -> bool:
        """Whether the kind needs the run's task design (its blocks)."""
        return self.kind in TASK_KINDS

    @property
    def label(self) -> str:
        """A unique name joining the axes."""
        if self.kind == "proxy":
            rule = f"points={self.points}"
            rule += "" if self.min_change_sd == 0 else f" min_change={self.min_change_sd:g}"
        elif self.task:
            others = (("reference", self.reference, "preceding"), ("signal", self.signal, "raw"),
                      ("combine", self.combine, "mean"))  # fmt: skip
            rule = f"delay={self.delay}" + "".join(f" {k}={x}" for k, x, usual in others if x not in ("", usual))
        else:
            rule = f"window={self.window}"
        agree = "" if self.kind != "proxy" or self.min_agree == self.n_targets else f" agree={self.min_agree}"
        same = "" if self.direction in ("any", "") else f" direction={self.direction}"
        return (f"{self.kind} {rule} targets={self.n_targets}{agree} radius={self.radius_mm:g} echo={self.echo} "
                f"level={self.level}{same}")

    def axes(self) -> dict[str, Any]:
        """The axis columns of this variant's rows (None where an axis is not the kind's, e.g. the task kinds'
        ``delay``, ``reference`` and ``signal`` for the proxy)."""
        proxy = self.kind == "proxy"
        return {"kind": self.kind, "points": self.points if proxy else None,
                "window": self.window if self.kind == "correlation" else None, "n_targets": self.n_targets,
                "min_agree": self.min_agree if proxy else None, "min_change_sd": self.min_change_sd if proxy else None,
                "radius_mm": self.radius_mm, "echo": self.echo, "level": self.level, "variant": self.label,
                "delay": self.delay if self.task else None, "reference": self.reference or None,
                "signal": self.signal if self.task else None}  # fmt: skip

    def options(self, targets: Sequence[str], control: str) -> dict[str, Any]:
        """The feedback kind's options for one target set (ROI columns named ``roi@radius``)."""
        if self.kind == "proxy":
            return {"targets": list(targets), "control": control, "signal": "raw", "points": self.points,
                    "min_agree": self.min_agree, "min_change_sd": self.min_change_sd, "direction": self.direction}
        if self.kind in ("psc", "psc_intermittent"):
            return {"signal": self.signal, "delay": self.delay, "combine": self.combine, "reference": self.reference}
        if self.kind == "correlation_intermittent":
            return {"signal": self.signal, "delay": self.delay, "combine": self.combine,
                    "pairs": list(itertools.combinations(targets, 2))}  # fmt: skip
        return {"signal": "raw", "window": self.window, "pairs": list(itertools.combinations(targets, 2))}

    def rois(self, targets: Sequence[str]) -> list[str] | None:
        """The ROI columns the feedback computer is built on: a task kind's targets (None: every column)."""
        return list(targets) if self.task else None

    def output(self, summary: dict[str, Any], measures: npt.NDArray[np.float64]) -> float:
        """A run's output.

        ``proxy``: the number of feedback events; ``correlation``: the mean of the windowed correlations;
        ``psc``: the mean feedback value (%) over the regulation volumes (the summary's ``mean_regulation``);
        ``psc_intermittent`` and ``correlation_intermittent``: the mean of the values given at the regulation
        blocks' ends. NaN when there is none.
        """
        if self.kind == "proxy":
            return float(summary["events"])
        if self.kind == "psc":
            value = summary.get("mean_regulation")
            return float("nan") if value is None else float(value)
        finite = measures[np.isfinite(measures)]
        return float(finite.mean()) if finite.size else float("nan")


@dataclass(frozen=True)
class GridPlan:
    """The expanded grid: the variants, the ROIs, and what each run's task must compute."""

    variants: tuple[Variant, ...]
    targets: tuple[str, ...]
    control: str
    echoes: tuple[str, ...]
    radii: tuple[float, ...]
    gold_echo: str


def _target_sets(targets: Sequence[str], size: int, sample: int, seed: int) -> tuple[tuple[str, ...], ...]:
    every = list(itertools.combinations(targets, size))
    if sample and sample < len(every):
        picked = np.random.default_rng([seed, size]).choice(len(every), size=sample, replace=False)
        every = [every[i] for i in sorted(picked.tolist())]
    return tuple(every)


def _rules(block: VariantsTable) -> list[tuple[Any, ...]]:
    """A block's kind options, every combination of their lists: (points, window, min_change_sd, delay,
    reference, signal), the options a kind does not take at their neutral values."""
    if block.kind == "proxy":
        return list(itertools.product(block.points, [0], block.min_change_sd, [0], [""], ["raw"]))
    if block.kind == "correlation":
        return list(itertools.product([0], block.window, [0.0], [0], [""], ["raw"]))
    references = block.reference if block.kind != "correlation_intermittent" else [""]
    return list(itertools.product([0], [0], [0.0], block.delay, references, block.signal))


def plan_grid(study: Study, targets: Sequence[str], multi_echo: bool) -> GridPlan:
    """Expand a study's variants over its targets (see the module docstring).

    Parameters
    ----------
    study : Study
    targets : sequence of str
        The target ROIs (the study's, or every ROI of the centres but the control).
    multi_echo : bool
        Whether the dataset's runs have several echoes (the default echo handling: "optcom", else "1").
    """
    default_echo = "optcom" if multi_echo else "1"
    variants = []
    for block in study.variants:
        size = _SIZES[block.targets]
        sets = _target_sets(targets, size, block.sets, study.statistics.seed)
        proxy = block.kind == "proxy"
        for rule, radius, echo, level in itertools.product(
            _rules(block), block.radius_mm or study.rois.radius_mm, block.echo or (default_echo,), block.level
        ):
            points, window, min_change, delay, reference, signal = rule
            variants.append(Variant(
                block.kind, int(points), int(window), size, (block.min_agree or size) if proxy else 0,
                float(min_change), float(radius), echo, level, block.direction if proxy else "", sets,
                int(delay), str(reference), str(signal), block.combine if block.kind in TASK_KINDS else "mean",
            ))  # fmt: skip
    unique = {v.label: v for v in variants}
    gold_echo = study.gold.echo or default_echo
    echoes = tuple(dict.fromkeys([*(v.echo for v in unique.values()), gold_echo]))
    return GridPlan(
        tuple(unique.values()),
        tuple(targets),
        study.rois.control,
        echoes,
        tuple(float(r) for r in study.rois.radius_mm),
        gold_echo,
    )


def read_centres(
    study: Study, subjects: Sequence[str], pattern: str = ""
) -> tuple[dict[str, dict[str, tuple[float, float, float]]], list[str]]:
    """Per subject, ROI name -> centre (world mm), from ``rois.centres`` (or `pattern`); and one line per subject
    lacking them."""
    pattern = pattern or study.rois.centres
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    problems = []
    for subject in subjects:
        path = study.folder / pattern.replace("{subject}", subject)
        rows = _tsv_rows(path)
        if "{subject}" not in pattern:
            rows = [r for r in rows if r.get("subject", "").removeprefix("sub-") == subject]
        try:
            centres = {r["name"]: (float(r["x"]), float(r["y"]), float(r["z"])) for r in rows}
        except (KeyError, ValueError) as exc:
            problems.append(
                f"subject {subject}: unreadable ROI centres in {path} ({exc!r}): expected columns name, x, y, z in mm"
            )
            continue
        if not centres:
            problems.append(f"subject {subject}: no ROI coordinates in {path}; its runs are left out")
            continue
        out[subject] = centres
    return out, problems


def read_scores(study: Study) -> tuple[dict[tuple[str, str], float], list[str]]:
    """``gold.scores``: (subject, run) -> score, and one line per row that is not a number."""
    path = study.folder / study.gold.scores
    rows = _tsv_rows(path)
    if not rows:
        return {}, [f"gold.scores: no rows in {path}: expected a TSV with columns subject, run, score"]
    out, problems = {}, []
    for k, row in enumerate(rows, start=2):
        try:
            subject = row["subject"].removeprefix("sub-")
            out[(subject, row["run"].removeprefix("run-"))] = float(row["score"])
        except (KeyError, ValueError, AttributeError):
            problems.append(f"gold.scores: line {k} of {path} is not subject, run, score: {row}")
    return out, problems


def _tsv_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter="\t"))
    except OSError:
        return []


@dataclass(frozen=True)
class RunJob:
    """Everything one run's task needs (picklable, sent to a worker process or a Dask worker)."""

    run: StudyRun
    centres: dict[str, tuple[float, float, float]]
    plan: GridPlan
    study: Study
    cache_dir: Path
    score: float | None = None
    full_centres: dict[str, tuple[float, float, float]] | None = None


class StageClock:
    """Wall-clock seconds spent per stage of a run's task (``with clock("engine"): ...``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stage = ""

    def __call__(self, stage: str) -> StageClock:
        self._stage = stage
        return self

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.seconds[self._stage] = self.seconds.get(self._stage, 0.0) + time.perf_counter() - self._start


class _TooShort(Exception):
    """A run with fewer volumes than the study's ``dataset.min_volumes``."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.n = n


@dataclass
class _Series:
    """One echo handling's minimally processed series of a run, with its fully processed level."""

    minimal: MinimalSeries
    full: MinimalSeries


def _recording(run: StudyRun, echo: str, study: Study) -> tuple[Path, dict[str, Any] | None]:
    """The file the engine reads for an echo handling, and the multi-echo options (None for one echo)."""
    if echo == "optcom":
        if len(run.echoes) < 2:
            raise LookupError(f"echo handling 'optcom' needs several echoes; the run has {len(run.echoes)}")
        o = study.optcom
        return run.echoes[0], {
            "combine": o.combine,
            "realign_echo": o.realign_echo,
            "t2s_volumes": o.t2s_volumes,
            "t2s_update": o.t2s_update,
        }
    number = int(echo)
    if number > len(run.echoes):
        raise LookupError(f"echo {number} asked for; the run has {len(run.echoes)}")
    return run.echoes[number - 1], None


def _grid_of(path: Path) -> tuple[tuple[int, int, int], npt.NDArray[np.float64]]:
    from nfd.acquire import plan_recording

    first = plan_recording(path)[0]
    image = first.read_echoes()[0] if first.echoes else first.read()
    return image.shape, image.affine


def _masks(job: RunJob, problems: list[str], where: str) -> dict[str, npt.NDArray[np.bool_]]:
    """Every ROI at every radius on the run's grid; an ROI outside the field of view is reported and left out."""
    path, _ = _recording(job.run, job.plan.echoes[0], job.study)
    shape, affine = _grid_of(path)
    masks = {}
    for radius in job.plan.radii:
        for name, mask in sphere_masks(job.centres, radius, shape, affine).items():
            if mask.any():
                masks[f"{name}@{radius:g}"] = mask
            elif radius == job.plan.radii[0]:
                problems.append(
                    f"{where}: ROI {name} centre {tuple(round(c, 1) for c in job.centres[name])} mm is "
                    "outside the field of view; cells with it are left out"
                )
    return masks


def _series(
    job: RunJob,
    masks: dict[str, npt.NDArray[np.bool_]],
    tr: float,
    problems: list[str],
    where: str,
    clock: StageClock,
) -> dict[str, _Series]:
    out = {}
    full = job.study.full
    for echo in job.plan.echoes:
        try:
            path, multiecho = _recording(job.run, echo, job.study)
        except LookupError as exc:
            problems.append(f"{where}: {exc}; its cells are left out")
            continue
        with clock("engine"):
            minimal = minimal_roi_series(
                path,
                masks,
                engine=engine_options(job.study.volume),
                multiecho=multiecho,
                echo_times_ms=job.run.echo_times_ms or None,
                skip_volumes=job.study.dataset.skip_volumes,
                cache_dir=job.cache_dir,
                compcor=full.compcor if not full.derivatives else "none",
                compcor_mask=_compcor_mask(job, path) if full.compcor == "anatomical" else None,
                compcor_components=full.compcor_components,
            )
        if minimal.indices.size < job.study.dataset.min_volumes:
            raise _TooShort(minimal.indices.size)
        with clock("full"):
            cleaned = full_roi_series(
                minimal,
                tr,
                multiecho=full.multiecho,
                despike_first=full.despike,
                confounds=full.confounds,
                detrend=full.detrend,
                high_pass_hz=full.high_pass_hz or None,
                low_pass_hz=full.low_pass_hz or None,
            )
        out[echo] = _Series(
            minimal,
            MinimalSeries(minimal.names, cleaned, minimal.indices, minimal.motion, minimal.tsnr, minimal.in_brain),
        )
    if full.derivatives and out:
        with clock("full"):
            derived = _derived(job, next(iter(out.values())).minimal, tr)
        out = {echo: _Series(s.minimal, derived) for echo, s in out.items()}
    return out


def _compcor_mask(job: RunJob, path: Path) -> npt.NDArray[np.bool_]:
    """``[full] compcor_mask`` of the run's subject, on the run's EPI grid (nearest neighbour)."""
    import nibabel as nib
    from nilearn.image import resample_img

    mask_path = job.study.folder / job.study.full.compcor_mask.format(subject=job.run.subject)
    if not mask_path.is_file():
        raise LookupError(f"no CompCor mask {mask_path} (full.compcor_mask): expected a NIfTI noise mask")
    image: Any = nib.load(mask_path)
    shape, affine = _grid_of(path)
    if image.shape[:3] != tuple(shape) or not np.allclose(image.affine, affine, atol=1e-3):
        image = resample_img(image, target_affine=affine, target_shape=shape, interpolation="nearest",
                             force_resample=True, copy_header=True)  # fmt: skip
    return np.asarray(image.get_fdata()[..., 0] if image.ndim == 4 else image.get_fdata()) > 0.5


def _derived(job: RunJob, minimal: MinimalSeries, tr: float) -> MinimalSeries:
    """The fully processed level from the run's fMRIPrep derivatives, on the minimal series' rows."""
    from nfd.evaluate._derivatives import derivative_files, derivative_series, fmriprep_confounds

    full = job.study.full
    if not job.run.entities:
        raise LookupError("[full] derivatives needs BIDS runs ([[dataset.runs]] name no BIDS entities)")
    bold, table = derivative_files(job.study.folder / full.derivatives, dict(job.run.entities), full.space)
    confounds = fmriprep_confounds(table, full.confounds, full.confound_columns)
    names, values = derivative_series(bold, confounds, job.full_centres or job.centres, job.plan.radii, tr,
                                      detrend=full.detrend, high_pass_hz=full.high_pass_hz or None,
                                      low_pass_hz=full.low_pass_hz or None)  # fmt: skip
    if values.shape[0] <= int(minimal.indices.max()):
        raise LookupError(f"{bold.name} has {values.shape[0]} volumes; the run has {int(minimal.indices.max()) + 1}")
    nan = np.full(len(names), np.nan)
    return MinimalSeries(names, values[minimal.indices], minimal.indices, minimal.motion, nan, nan)


def _outside_brain(series: dict[str, _Series], problems: list[str], where: str) -> set[str]:
    """ROI@radius columns with too little of them in the brain (one line per ROI, its radii listed)."""
    first = next(iter(series.values())).minimal
    bad: dict[str, list[str]] = {}
    for name, fraction in zip(first.names, first.in_brain.tolist(), strict=True):
        if not fraction >= MIN_IN_BRAIN:
            roi, radius = name.split("@")
            bad.setdefault(roi, []).append(f"{fraction:.0%} at {radius} mm")
    for roi, parts in bad.items():
        problems.append(
            f"{where}: ROI {roi} is outside the brain ({', '.join(parts)} of its voxels in the brain, "
            f"at least {MIN_IN_BRAIN:.0%} expected); cells with it are left out"
        )
    return {
        name
        for name in first.names
        if name.split("@")[0] in bad and not first.in_brain[first.names.index(name)] >= MIN_IN_BRAIN
    }


def _columns(s: MinimalSeries, names: Sequence[str]) -> npt.NDArray[np.float64]:
    return np.column_stack([s.column(n) for n in names])


def _measures(s: MinimalSeries, targets: Sequence[str], control: str, window: int = 0) -> tuple[float, float]:
    """(composite measure, mean target-target r) of a series; with `window`, the composite is the mean over the
    run of the composite in each window of that many volumes (a sliding-window gold standard)."""
    t = _columns(s, targets)
    c = s.column(control)
    within = [pearson(t[:, a], t[:, b]) for a, b in itertools.combinations(range(t.shape[1]), 2)]
    if window:
        values = [composite_measure(t[i - window:i], c[i - window:i]) for i in range(window, c.size + 1)]
        finite = [v for v in values if np.isfinite(v)]
        return (float(np.mean(finite)) if finite else float("nan")), float(np.mean(within))
    return composite_measure(t, c), float(np.mean(within))


def run_tr(run: StudyRun) -> float:
    """A run's TR, s: the study's or BIDS sidecar's, else the NIfTI header's or the DICOM's RepetitionTime."""
    if run.tr > 0:
        return run.tr
    path = run.echoes[0]
    if path.is_file():
        import nibabel as nib

        header: Any = nib.load(path).header
        zooms = header.get_zooms()
        units = header.get_xyzt_units()[1] if hasattr(header, "get_xyzt_units") else "sec"
        if len(zooms) > 3 and zooms[3] > 0:
            return float(zooms[3]) / (1000.0 if units == "msec" else 1.0)
    else:
        import pydicom

        for file in sorted(p for p in path.iterdir() if p.is_file()):
            try:
                ds = pydicom.dcmread(file, stop_before_pixels=True)
            except Exception:  # noqa: BLE001  pydicom raises many kinds for a file that is not DICOM: the next
                continue
            if "RepetitionTime" in ds:
                return float(ds.RepetitionTime) / 1000.0
    raise LookupError("no repetition time in the files: give it as [[dataset.runs]] tr")


def evaluate_run(job: RunJob) -> tuple[list[dict[str, Any]], list[str], dict[str, float]]:
    """One run's rows of the cells table, its problems and the seconds per stage (see the module docstring)."""
    from threadpoolctl import threadpool_limits

    where = f"subject {job.run.subject} run {job.run.run}"
    problems: list[str] = []
    clock = StageClock()
    with threadpool_limits(1):  # one core per task, and the same sums whatever the worker
        try:
            tr = run_tr(job.run)
            masks = _masks(job, problems, where)
            series = _series(job, masks, tr, problems, where, clock) if masks else {}
        except _TooShort as exc:
            need = job.study.dataset.min_volumes
            short = f"{where}: too short: {exc.n} volumes after the skipped ones, at least {need} expected"
            return [], [*problems, f"{short} (dataset.min_volumes); left out"], clock.seconds
        except Exception as exc:  # noqa: BLE001  a broken recording fails its run only; the message names it
            return [], [*problems, f"{where}: left out: {exc}"], clock.seconds
        if not series:
            return [], problems, clock.seconds
        n = next(iter(series.values())).minimal.indices.size
        bad = _outside_brain(series, problems, where)
        with clock("variants"):
            rows = _rows(job, series, bad, n, problems, where, tr)
        return rows, problems, clock.seconds


def design_matrix(design: Design, tr: float, indices: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The GLM of the activation gold standard on a run's rows.

    Columns: the design's conditions convolved with SPM's canonical HRF (:meth:`nfd.design.Design.task_regressors`,
    sampled at the rows' acquisition indices), a constant and a linear trend (centred, -0.5 to 0.5 over the rows).

    Parameters
    ----------
    design : Design
    tr : float
        Repetition time, s.
    indices : array_like of int
        The rows' 0-based acquisition indices.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_rows, n_conditions + 2)``.
    """
    rows = np.asarray(indices, dtype=np.int64)
    trend = np.linspace(-0.5, 0.5, rows.size) if rows.size > 1 else np.zeros(rows.size)
    return np.column_stack([design.task_regressors(tr)[rows], np.ones(rows.size), trend])


def activation(
    values: npt.ArrayLike, design: Design, tr: float, indices: npt.ArrayLike, means: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Each series' task effect by ordinary least squares on :func:`design_matrix`, percent of `means`.

    The effect is the mean of the conditions' coefficients (every condition against baseline), ``100 * effect /
    mean``: the percent signal change a sustained condition gives. `means` is each series' mean signal; for the
    fully processed level (centred by its cleaning) the minimally processed series' mean.

    Parameters
    ----------
    values : array_like, (n_rows, n_series)
        The series, signal units.
    design : Design
    tr : float
        Repetition time, s.
    indices : array_like of int
        The rows' acquisition indices.
    means : array_like, (n_series,)
        The reference signal level of each series.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_series,)``, percent; NaN for a design without conditions.
    """
    y = np.asarray(values, dtype=np.float64)
    reference = np.asarray(means, dtype=np.float64)
    if not design.conditions:
        return np.full(y.shape[1], np.nan)
    x = design_matrix(design, tr, indices)
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    contrast = design.contrast_vector() / len(design.conditions)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(100.0 * (contrast @ beta[: len(design.conditions)]) / reference, dtype=np.float64)


def _design(job: RunJob, n_volumes: int, tr: float) -> tuple[Design | None, str]:
    """The run's task design from its protocol, as the daemon's ``load_design`` builds it (over every acquired
    volume, the skipped ones baseline); or None and one line saying why, when a task kind or the activation gold
    needs it."""
    study = job.study
    needs = any(v.task for v in job.plan.variants) or study.gold.measure == "activation"
    if not needs:
        return None, ""
    left = "; the cells of its task kinds are left out" + (
        ", its activation gold standard is n/a" if study.gold.measure == "activation" else "")  # fmt: skip
    path = job.run.protocol
    if path is None:
        found = "pybids found no *_events.tsv for it" if study.dataset.protocol == "events" else "none given"
        return None, f"no protocol ({found}; dataset.protocol){left}"
    if not path.is_file():
        return None, f"no protocol: {path} does not exist (dataset.protocol){left}"
    try:
        design = load_protocol(path, n_volumes=n_volumes, skip_volumes=study.dataset.skip_volumes, tr=tr,
                               baseline=study.dataset.baseline, session=study.dataset.session or None)  # fmt: skip
    except DesignError as exc:
        return None, f"bad protocol (dataset.protocol): {exc}{left}"
    return design, ""


def _activation_of(
    s: MinimalSeries, minimal: MinimalSeries, names: list[str], design: Design | None, tr: float
) -> float:
    """The targets' mean task effect on `s`, percent of their minimally processed mean signal (NaN: no design)."""
    if design is None:
        return float("nan")
    means = _columns(minimal, names).mean(axis=0)
    return float(np.mean(activation(_columns(s, names), design, tr, s.indices, means)))


def _gold(
    job: RunJob, pair: _Series, names: list[str], control: str, design: Design | None, tr: float
) -> tuple[float, float]:
    """(gold standard, mean target-target r: NaN for one target) of a target set on the gold level's series."""
    gold = job.study.gold
    g = pair.full if gold.level == "full" else pair.minimal
    r_targets = float("nan")
    if len(names) > 1:
        t = _columns(g, names)
        r_targets = float(np.mean([pearson(t[:, a], t[:, b]) for a, b in itertools.combinations(range(len(names)), 2)]))
    if gold.measure == "score":
        return (float("nan") if job.score is None else job.score), r_targets
    if gold.measure == "activation":
        return _activation_of(g, pair.minimal, names, design, tr), r_targets
    return _measures(g, names, control, gold.window if gold.measure == "sliding" else 0)[0], r_targets


def _level(pair: _Series, level: str, task: bool) -> MinimalSeries:
    """A variant's series; for a task kind the fully processed one with each ROI's minimally processed mean added
    back (its cleaning centred it), so that a percent signal change has the signal level to divide by."""
    if level != "full":
        return pair.minimal
    if not task:
        return pair.full
    return replace(pair.full, values=pair.full.values + pair.minimal.values.mean(axis=0))


def _standard(job: RunJob, m: MinimalSeries, names: list[str], control: str, design: Design | None, tr: float) -> float:
    """The "standard" full-series measure on the minimally processed series: the task effect for the activation
    gold, else the composite (NaN for one target)."""
    if job.study.gold.measure == "activation":
        return _activation_of(m, m, names, design, tr)
    return _measures(m, names, control)[0] if len(names) > 1 else float("nan")


def _rows(
    job: RunJob, series: dict[str, _Series], bad: set[str], n: int, problems: list[str], where: str, tr: float
) -> list[dict[str, Any]]:
    plan, study = job.plan, job.study
    indices = next(iter(series.values())).minimal.indices
    rest = Design.from_blocks(int(indices.max()) + 1, [], skip_volumes=study.dataset.skip_volumes)
    design, missing = _design(job, int(indices.max()) + 1, tr)
    if missing:
        problems.append(f"{where}: {missing}")
    steps: dict[tuple[str, str, str], Any] = {}
    gold_cache: dict[tuple[str, float], tuple[float, float]] = {}
    rows = []
    short = sorted({v.label for v in plan.variants if max(v.points, v.window) >= n})
    if short:
        problems.append(f"{where}: too short for {len(short)} variant(s) ({short[0]}...): {n} volumes; their "
                        "cells are left out")
    gold_level = series.get(plan.gold_echo)
    for v in plan.variants:
        if v.echo not in series or max(v.points, v.window) >= n or gold_level is None or (v.task and design is None):
            continue
        s = _level(series[v.echo], v.level, v.task)
        own = design if v.task and design is not None else rest
        key = (v.echo, v.level, v.signal)
        if key not in steps:
            steps[key] = raw_steps(s) if v.signal == "raw" else chain_steps(s, own, tr)
        gold_radius = study.gold.radius_mm or v.radius_mm
        for targets in v.sets:
            names = [f"{t}@{v.radius_mm:g}" for t in targets]
            control = f"{plan.control}@{v.radius_mm:g}"
            gold_names = [f"{t}@{gold_radius:g}" for t in targets]
            gold_control = f"{plan.control}@{gold_radius:g}"
            if any(c in bad or c not in s.names for c in [*names, control, *gold_names, gold_control]):
                continue
            gold_key = ("+".join(targets), gold_radius)
            if gold_key not in gold_cache:
                gold_cache[gold_key] = _gold(job, gold_level, gold_names, gold_control, design, tr)
            gold, r_targets = gold_cache[gold_key]
            try:
                result = feedback_over(steps[key], s, own, v.kind, rois=v.rois(names), **v.options(names, control))
            except FeedbackError as exc:  # e.g. OpenNFT's rule refusing the run's blocks: the variant's cells only
                problems.append(f"{where}: {v.label}: {exc}; its cells are left out")
                break
            m = series[v.echo].minimal
            rows.append({
                **v.axes(), "target_set": "+".join(targets), "subject": job.run.subject, "run": job.run.run,
                "output": v.output(result.summary, result.measures), "gold": gold, "r_targets": r_targets,
                "tsnr": float(np.mean([m.tsnr[m.names.index(c)] for c in names])),
                "standard": _standard(job, m, names, control, design, tr),
            })  # fmt: skip
    return rows
