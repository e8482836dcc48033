"""Functional connectivity from fMRIPrep derivatives: ``nfd connectivity extract`` and ``nfd connectivity compute``.

The first half of a normative-modelling pipeline (Boldișor, Udrea & Trăscău 2025, issue 16):

- atlas series (:func:`find_runs`, :func:`extract_run`, :func:`extract_dataset`): each run of an fMRIPrep
  derivatives folder through nilearn's maskers (a label image via :func:`load_atlas`, or coordinates with a
  sphere radius), cleaned with fMRIPrep-named confound strategies (:func:`confound_columns`), FD scrubbing
  (:func:`scrub_mask`), detrending and Butterworth filtering; optionally averaged into networks
  (:func:`network_average`); written per run as a TSV and per dataset as ``series.npz``
  (:func:`write_series`, :func:`read_series`);
- FC (:func:`fc_matrix`: Pearson, Spearman, Kendall, covariance, Ledoit-Wolf partial correlation;
  :func:`fisher_z`), the lower-triangle edge convention shared by issue 16 (:func:`edge_labels`,
  :func:`lower_triangle`, :func:`from_lower_triangle`), PRE/POST splits (:func:`prepost_change`) and a
  dataset's features file (:func:`compute_features`, :func:`write_features`, :func:`read_features`);
- figures (:func:`plot_matrix`, :func:`plot_strongest_edges`, on the regions' positions from
  :func:`atlas_coordinates`) and the command line (:func:`main`).

Offline dependencies: nilearn, pandas, pybids, matplotlib, scikit-learn (imported when used).
"""

from nfd.connectivity._atlas import NILEARN_COORDINATES, Atlas, atlas_coordinates, load_atlas
from nfd.connectivity._cli import main
from nfd.connectivity._compute import compute_features, run_matrix
from nfd.connectivity._confounds import STRATEGIES, confound_columns, motion_confounds, read_confounds, scrub_mask
from nfd.connectivity._extract import (
    CleaningOptions,
    RunFiles,
    RunSeries,
    extract_dataset,
    extract_run,
    find_runs,
    network_average,
)
from nfd.connectivity._fc import (
    METRICS,
    edge_labels,
    fc_matrix,
    fisher_z,
    from_lower_triangle,
    kendall,
    lower_triangle,
    partial_correlation,
    pearson,
    prepost_change,
    segment_bounds,
    spearman,
)
from nfd.connectivity._figures import plot_matrix, plot_strongest_edges, strongest_edges
from nfd.connectivity._io import (
    FeatureSet,
    SeriesSet,
    read_features,
    read_series,
    write_features,
    write_run_tsv,
    write_series,
)

__all__ = [
    "METRICS", "NILEARN_COORDINATES", "STRATEGIES", "Atlas", "CleaningOptions", "FeatureSet", "RunFiles",
    "RunSeries", "SeriesSet",
    "atlas_coordinates", "compute_features", "confound_columns", "edge_labels", "extract_dataset", "extract_run",
    "fc_matrix", "find_runs", "fisher_z", "from_lower_triangle", "kendall", "load_atlas", "lower_triangle", "main",
    "motion_confounds",
    "network_average", "partial_correlation", "pearson", "plot_matrix", "plot_strongest_edges", "prepost_change",
    "read_confounds", "read_features", "read_series", "run_matrix", "scrub_mask", "segment_bounds", "spearman",
    "strongest_edges", "write_features", "write_run_tsv", "write_series",
]  # fmt: skip
