"""Running a study's grid: local processes (joblib) or a Dask cluster, resumable, with the same table either way.

:func:`run_grid` turns a :class:`~nfd.evaluate.Study` into one task per recorded run
(:func:`nfd.evaluate._grid.evaluate_run`) and runs the tasks not done yet: in this process (``jobs=1``), in
``jobs`` local processes through joblib, or on a Dask cluster (``scheduler="tcp://HOST:8786"``, or ``"local"``
for a :class:`distributed.LocalCluster` of ``jobs`` single-threaded worker processes). Each finished run is
appended at once, as one JSON line with its content key, to ``cells.jsonl`` in the output folder: a study
interrupted (Ctrl-C, a crash, a full disk) or extended resumes there and computes only the runs whose key is
new; the volume engine's results are cached by content beside it (``cache/``). The rows are put in one order
(variant, target set, subject, run) whatever the order tasks finished in, and each task runs with one BLAS
thread, so joblib, Dask and one process give the same table bit for bit.

Owns the tasks and the resumable log; the executors are :mod:`nfd._execution`'s, the work
:mod:`nfd.evaluate._grid`'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from nfd._execution import map_unordered
from nfd.evaluate._grid import GridPlan, RunJob, evaluate_run, plan_grid, read_centres, read_scores
from nfd.evaluate._study import Study, study_runs

__all__ = ["GridResult", "run_grid"]

#: Bumped when a task's rows change meaning, so old lines of cells.jsonl are not reused.
_ROWS_VERSION = "nfd.evaluate.cells v1"


@dataclass(frozen=True)
class GridResult:
    """What :func:`run_grid` gives.

    Attributes
    ----------
    rows : list of dict
        The cells table's rows, in table order.
    problems : list of str
        One line per problem (a missing run, an ROI outside the brain...), in the order found.
    plan : GridPlan
    runs : int
        Runs in the dataset; ``computed`` of them ran now, the rest came from ``cells.jsonl``.
    computed : int
    seconds : dict of str to float
        Summed over the runs computed now (in whichever process ran them): seconds in the volume engine
        (``engine``: reading, realigning, reslicing, combining, smoothing, ROI means; a cache hit is fast), the
        offline cleaning (``full``), and the variants with the gold and standard measures (``variants``).
    """

    rows: list[dict[str, Any]]
    problems: list[str]
    plan: GridPlan
    runs: int
    computed: int
    seconds: dict[str, float]


def _jobs(study: Study, out_dir: Path) -> tuple[list[RunJob], GridPlan, list[str]]:
    runs, problems = study_runs(study)
    centres, missing = read_centres(study, sorted({r.subject for r in runs}))
    problems += missing
    control = study.rois.control
    targets = list(study.rois.targets)
    if not targets and centres:
        targets = [n for n in next(iter(centres.values())) if n != control]
    usable = []
    for subject, table in centres.items():
        absent = [n for n in [*targets, control] if n not in table]
        if control in absent:
            problems.append(f"subject {subject}: no coordinates for the control ROI {control}; its runs are left out")
            continue
        if absent:
            problems.append(
                f"subject {subject}: no coordinates for ROI(s) {', '.join(absent)}; cells with them are left out"
            )
        usable.append(subject)
    plan = plan_grid(study, targets, multi_echo=any(len(r.echoes) > 1 for r in runs))
    cache = out_dir / "cache"
    scores: dict[tuple[str, str], float] = {}
    if study.gold.measure == "score":
        scores, bad = read_scores(study)
        problems += bad
        problems += [f"subject {r.subject} run {r.run}: no score in gold.scores; its gold standard is n/a"
                     for r in runs if r.subject in usable and (r.subject, r.run) not in scores]
    full_centres: dict[str, dict[str, tuple[float, float, float]]] = {}
    if study.full.derivatives and study.full.centres:
        full_centres, lacking = read_centres(study, usable, study.full.centres)
        problems += [f"[full] centres: {line}" for line in lacking]
        usable = [s for s in usable if s in full_centres]
    jobs = [RunJob(r, centres[r.subject], plan, study, cache, scores.get((r.subject, r.run)),
                   full_centres.get(r.subject)) for r in runs if r.subject in usable]  # fmt: skip
    return jobs, plan, problems


def _stamp(p: Path) -> tuple[Any, ...]:
    """A file's (or a folder's files') size and modification time; a missing path as such."""
    if p.is_file():
        return (str(p), p.stat().st_size, p.stat().st_mtime_ns)
    if p.is_dir():
        return (str(p), sorted((q.name, q.stat().st_size, q.stat().st_mtime_ns) for q in p.iterdir()))
    return (str(p), "missing")


def _key(job: RunJob) -> str:
    """What decides a run's rows: the run, its files (size, mtime; also of its protocol and CompCor mask), its
    centres, the plan and the processing."""
    s = job.study
    stats = [_stamp(p) for p in job.run.echoes]
    if job.run.protocol is not None:
        stats.append(_stamp(job.run.protocol))
    if s.full.compcor == "anatomical" and s.full.compcor_mask:
        stats.append(_stamp(s.folder / s.full.compcor_mask.format(subject=job.run.subject)))
    text = repr(
        (
            _ROWS_VERSION,
            job.run,
            stats,
            sorted(job.centres.items()),
            job.plan,
            s.volume,
            s.optcom,
            s.full,
            s.gold,
            s.dataset.skip_volumes,
            s.dataset.min_volumes,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _done(log: Path) -> dict[str, dict[str, Any]]:
    """The runs finished before, by key; a torn last line (an interrupted write) is ignored."""
    out: dict[str, dict[str, Any]] = {}
    if not log.is_file():
        return out
    for line in log.read_bytes().splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        out[entry["key"]] = entry
    return out


def run_grid(
    study: Study,
    out_dir: str | Path,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GridResult:
    """Run every run's task of a study not finished before (see the module docstring).

    Parameters
    ----------
    study : Study
    out_dir : path
        The study's output folder (``cells.jsonl`` and ``cache/`` in it; created if missing).
    jobs : int
        Local worker processes (joblib), or the workers of a ``"local"`` Dask cluster.
    scheduler : str, optional
        A Dask scheduler's address, or ``"local"``.
    progress : callable, optional
        ``progress(done, total)`` after each run (runs resumed from the log count as done at the start).

    Returns
    -------
    GridResult
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    all_jobs, plan, problems = _jobs(study, out)
    log = out / "cells.jsonl"
    done = _done(log)
    keys = [_key(job) for job in all_jobs]
    pending = [job for job, key in zip(all_jobs, keys, strict=True) if key not in done]
    pending_keys = [key for key in keys if key not in done]
    finished = len(all_jobs) - len(pending)
    if progress is not None:
        progress(finished, len(all_jobs))
    timings: dict[str, float] = {}
    with log.open("ab") as f:
        for k, (rows, run_problems, seconds) in map_unordered(evaluate_run, pending, jobs=jobs, scheduler=scheduler):
            for stage, value in seconds.items():
                timings[stage] = timings.get(stage, 0.0) + value
            entry = {"key": pending_keys[k], "rows": rows, "problems": run_problems, "seconds": seconds}
            line = orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY)
            f.write(line + b"\n")
            f.flush()
            done[pending_keys[k]] = orjson.loads(line)  # as a resumed study reads it (NaN as null)
            finished += 1
            if progress is not None:
                progress(finished, len(all_jobs))
    rows = [row for key in keys for row in done[key]["rows"]]
    for key in keys:
        problems += done[key]["problems"]
    order = {v.label: i for i, v in enumerate(plan.variants)}
    sets = {v.label: {"+".join(t): i for i, t in enumerate(v.sets)} for v in plan.variants}
    rows.sort(key=lambda r: (order[r["variant"]], sets[r["variant"]][r["target_set"]], r["subject"], r["run"]))
    return GridResult(rows, problems, plan, len(all_jobs), len(pending), timings)
