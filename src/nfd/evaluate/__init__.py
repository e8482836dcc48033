"""Offline evaluation of neurofeedback algorithms on recorded runs: ``nfd evaluate STUDY --out DIR``.

Ramot & Gonzalez-Castillo (2019, NeuroImage 188:322-334) settle a neurofeedback algorithm's parameters
before the scanner session by running each candidate over recorded data, minimally processed (what real time
can do) and fully processed, against a gold standard computed offline. This subpackage is that tool, on the
daemon's own code:

- the study file (:func:`load_study` -> :class:`Study`, validated like the daemon's config) and its runs
  (:func:`study_runs`: a BIDS dataset through pybids, or explicit recordings);
- the minimally processed level (:func:`minimal_roi_series` -> :class:`MinimalSeries`): a run through the
  daemon's volume engine once per echo handling, every ROI at every radius (:func:`sphere_masks`) read in the
  same pass, cached on disk by content;
- the fully processed level (:func:`full_roi_series`): each ROI's whole series despiked (:func:`despike`, AFNI's
  rule) and cleaned offline with nilearn (fMRIPrep's motion confound strategies by :func:`motion_confounds`,
  optionally CompCor's components from the minimal pass, detrending, band-pass), optionally for multi-echo
  runs from ``-R2*`` of the echoes (:func:`r2star_series`: the changes of S0 left out);
- the variants (:func:`feedback_over`, :func:`run_variant`): a feedback kind with its options over those
  series, through the daemon's feedback computer, volume by volume;
- the grid (:func:`plan_grid`, :func:`run_grid`): one task per run, in one process, joblib processes or a
  Dask cluster, resumable from ``cells.jsonl``;
- :func:`evaluate_study`: the whole study to its tables (cells, performance, comparisons, correlations),
  figures and ``report.html``; the statistics are :mod:`nfd.evaluate._stats`'s, the figures
  :mod:`nfd.evaluate._report`'s.

Offline dependencies: ``pip install "nfd[evaluate]"`` (nilearn, pandas, pybids, matplotlib, distributed).
"""

from nfd.evaluate._axes import AXES, CELL_COLUMNS
from nfd.evaluate._evaluation import EvaluationResult, evaluate_study, versions
from nfd.evaluate._execute import GridResult, run_grid
from nfd.evaluate._full import despike, full_roi_series, motion_confounds, r2star_series
from nfd.evaluate._grid import GridPlan, Variant, plan_grid
from nfd.evaluate._minimal import MinimalSeries, minimal_roi_series
from nfd.evaluate._spheres import sphere_masks
from nfd.evaluate._study import Study, StudyRun, load_study, parse_study, study_runs
from nfd.evaluate._variants import VariantRun, feedback_over, raw_steps, run_variant

__all__ = [
    "AXES", "CELL_COLUMNS", "EvaluationResult", "GridPlan", "GridResult", "MinimalSeries", "Study", "StudyRun",
    "Variant", "VariantRun", "despike", "evaluate_study", "feedback_over", "full_roi_series", "load_study",
    "minimal_roi_series", "motion_confounds", "parse_study", "plan_grid", "r2star_series", "raw_steps", "run_grid",
    "run_variant", "sphere_masks", "study_runs", "versions",
]  # fmt: skip
