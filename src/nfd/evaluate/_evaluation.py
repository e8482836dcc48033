"""``nfd evaluate STUDY --out DIR``: a study from its file to its tables, figures and report.

:func:`evaluate_study` reads the study file (:func:`nfd.evaluate.load_study`), runs the grid
(:func:`nfd.evaluate.run_grid`: resumable, local processes or Dask), and writes into the output folder

- ``cells.tsv``: one row per variant, target set, subject and run (output, gold standard, target-target r,
  tSNR, the "standard" full-series measure);
- ``performance.tsv``: one row per variant and target set (Pearson r of output against gold across runs);
- ``comparisons.tsv``: paired permutation tests between variants differing in one axis, over target sets,
  with Benjamini-Hochberg FDR; ``correlations.tsv``: performance against target-target r and tSNR, the
  partial correlation controlling tSNR, and against the standard measure's performance;
- ``problems.txt`` (one line per problem, also logged), ``figures/*.png`` and ``report.html`` (the figures,
  the tables, the problems, the study file and the software versions).

Owns the sequence and the files; the numbers are :mod:`nfd.evaluate._grid`'s and :mod:`nfd.evaluate._stats`'s.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from nfd._files import write_atomic
from nfd.evaluate._axes import CELL_COLUMNS
from nfd.evaluate._execute import run_grid
from nfd.evaluate._study import load_study

__all__ = ["EvaluationResult", "evaluate_study"]

#: The packages whose versions the report lists.
_PACKAGES = (
    "nfd",
    "numpy",
    "scipy",
    "nibabel",
    "nilearn",
    "pandas",
    "pybids",
    "matplotlib",
    "joblib",
    "dask",
    "distributed",
)


@dataclass(frozen=True)
class EvaluationResult:
    """The tables of a study (pandas DataFrames), its problems and where the report is."""

    cells: Any
    performance: Any
    comparisons: Any
    correlations: Any
    problems: list[str]
    report: Path
    computed: int
    runs: int
    seconds: dict[str, float]


def versions() -> dict[str, str]:
    """The installed versions of the packages a study's numbers depend on (Python's too)."""
    out = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _tsv(frame: Any, path: Path) -> None:
    write_atomic(path, frame.to_csv(sep="\t", index=False, na_rep="n/a", float_format="%.10g").encode("utf-8"))


def evaluate_study(
    study_file: str | Path,
    out_dir: str | Path,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Run a study and write its tables, figures and report (see the module docstring).

    Parameters
    ----------
    study_file : path
        The study's TOML file.
    out_dir : path
        The output folder (created if missing; a folder of an interrupted run of the same study resumes).
    jobs : int
        Local worker processes (or the workers of ``scheduler="local"``).
    scheduler : str, optional
        A Dask scheduler's address, or ``"local"`` for a LocalCluster.
    progress : callable, optional
        ``progress(done, total)`` in runs.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    nfd.config.ConfigError
        An invalid study file (nothing is run).
    """
    import pandas as pd

    from nfd.evaluate._report import write_figures, write_report
    from nfd.evaluate._stats import comparison_table, correlation_table, performance_table

    log = structlog.get_logger("nfd.evaluate")
    study = load_study(study_file)
    out = Path(out_dir)
    grid = run_grid(study, out, jobs=jobs, scheduler=scheduler, progress=progress)
    for line in grid.problems:
        log.warning("evaluate_problem", problem=line)
    cells = pd.DataFrame(grid.rows, columns=list(CELL_COLUMNS)).astype({"output": float, "gold": float})
    performance = performance_table(cells)
    comparisons = comparison_table(performance, n_resamples=study.statistics.iterations, seed=study.statistics.seed)
    correlations = correlation_table(performance)
    tables = {"cells": cells, "performance": performance, "comparisons": comparisons, "correlations": correlations}
    for name, frame in tables.items():
        _tsv(frame, out / f"{name}.tsv")
    write_atomic(out / "problems.txt", "".join(f"{line}\n" for line in grid.problems).encode("utf-8"))
    figures = write_figures(cells, performance, comparisons, correlations, out) if len(cells) else []
    report = write_report(
        out,
        study_text=Path(study_file).read_text(encoding="utf-8"),
        versions=versions(),
        tables=tables,
        figures=figures,
        problems=grid.problems,
    )
    log.info("evaluate_done", runs=grid.runs, computed=grid.computed, cells=len(cells), report=str(report))
    return EvaluationResult(
        cells, performance, comparisons, correlations, grid.problems, report, grid.computed, grid.runs,
        grid.seconds,
    )
