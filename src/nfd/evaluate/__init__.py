"""Offline evaluation of neurofeedback algorithms on recorded runs (``nfd evaluate``, in progress).

Ramot & Gonzalez-Castillo (2019) settle a neurofeedback algorithm's
parameters before the scanner session by running each candidate over
recorded data, minimally processed (what real time can do) and fully
processed, against a gold standard computed offline. This subpackage is
that tool's core; so far it owns

- :func:`minimal_roi_series` -> :class:`MinimalSeries`: a recorded run
  (single- or multi-echo) through the daemon's own volume engine, once, with
  every ROI of a study read in the same pass, cached on disk by content;
- :func:`sphere_masks`: spherical ROIs on a run's EPI grid from centres in
  world millimetres (per subject, per radius);
- :func:`full_roi_series`: the fully processed level, each ROI's whole
  series cleaned offline with nilearn (detrend, fMRIPrep's motion confound
  strategies by :func:`motion_confounds`, band-pass);
- :func:`run_variant` -> :class:`VariantRun`: one feedback kind with its
  options over those cached series, through the daemon's signal chains and
  feedback computer, volume by volume as the daemon's pipeline runs them.

The study file, the fully processed level, the algorithm grid, the
statistics, Dask execution and the report are not built yet (issue 15).
"""

from nfd.evaluate._evaluation import EvaluationResult, evaluate_study, versions
from nfd.evaluate._execute import GridResult, run_grid
from nfd.evaluate._full import full_roi_series, motion_confounds
from nfd.evaluate._grid import AXES, GridPlan, Variant, plan_grid
from nfd.evaluate._minimal import MinimalSeries, minimal_roi_series
from nfd.evaluate._spheres import sphere_masks
from nfd.evaluate._study import Study, StudyRun, load_study, parse_study, study_runs
from nfd.evaluate._variants import VariantRun, feedback_over, raw_steps, run_variant

__all__ = [
    "AXES",
    "EvaluationResult",
    "GridPlan",
    "GridResult",
    "MinimalSeries",
    "Study",
    "StudyRun",
    "Variant",
    "VariantRun",
    "evaluate_study",
    "feedback_over",
    "full_roi_series",
    "load_study",
    "minimal_roi_series",
    "motion_confounds",
    "parse_study",
    "plan_grid",
    "raw_steps",
    "run_grid",
    "run_variant",
    "sphere_masks",
    "study_runs",
    "versions",
]
