"""Normative modelling of functional connectivity: ``nfd normative fit | score | stats | select``.

Boldisor, Udrea & Trascau (2025, "Normative Modeling of Functional Connectivity Alterations in Psychiatric
Disorders and Chronic Pain") model healthy subjects' FC with an autoencoder and score patients by how badly it
reconstructs their connectivity. This subpackage is that method on the feature files of ``nfd connectivity
compute`` (issue 16):

- the feature and participants tables (:func:`read_features` -> :class:`FeatureTable`,
  :func:`read_participants`, :func:`align_cohort` -> :class:`Cohort`);
- ComBat harmonisation through neuroHarmonize, fitted on training controls only (:func:`fit_combat`,
  :func:`apply_combat` -> :class:`ComBatModel`, saved as arrays and JSON);
- the autoencoder (:func:`fit_normative` -> :class:`NormativeModel`, :func:`forward` in numpy alone,
  :func:`save_model` / :func:`load_model` pinned by SHA-256, fine-tuning with ``init=``);
- deviations (:func:`deviations`, :func:`deviation_z` against held-out controls);
- statistics (:func:`mann_whitney_edges`, :func:`crawford_howell_edges`, Benjamini-Hochberg :func:`fdr`);
- model selection by the stability of the significant edges across bootstrap resamples
  (:func:`edge_stability`);
- the command (:func:`main`) and its figures.

Offline dependencies: scikit-learn, pandas, matplotlib, neuroHarmonize (``pip install "nfd[normative]"``).
"""

from nfd.normative._cli import main
from nfd.normative._combat import ComBatModel, apply_combat, fit_combat, load_combat, save_combat
from nfd.normative._errors import NormativeError
from nfd.normative._features import (
    FeatureTable,
    edge_labels,
    edges_to_matrix,
    network_names,
    read_features,
    read_participants,
    write_features,
)  # fmt: skip
from nfd.normative._model import (
    ACTIVATIONS,
    NormativeModel,
    check_edges,
    default_sizes,
    fit_normative,
    forward,
    load_model,
    save_model,
)  # fmt: skip
from nfd.normative._pipeline import (
    Cohort,
    FitResult,
    align_cohort,
    edge_stability,
    fit_cohort,
    score_cohort,
    split_controls,
)
from nfd.normative._scores import DEVIATION_KINDS, DeviationReference, deviation_reference, deviation_z, deviations
from nfd.normative._stats import TABLE_COLUMNS, crawford_howell, crawford_howell_edges, fdr, mann_whitney_edges

__all__ = [
    "ACTIVATIONS", "DEVIATION_KINDS", "TABLE_COLUMNS", "Cohort", "ComBatModel", "DeviationReference", "FeatureTable",
    "FitResult", "NormativeError", "NormativeModel", "align_cohort", "apply_combat", "check_edges",
    "crawford_howell", "crawford_howell_edges", "default_sizes", "deviation_reference", "deviation_z", "deviations",
    "edge_labels", "edge_stability", "edges_to_matrix", "fdr", "fit_cohort", "fit_combat", "fit_normative",
    "forward", "load_combat", "load_model", "main", "mann_whitney_edges", "network_names", "read_features",
    "read_participants", "save_combat", "save_model", "score_cohort", "split_controls", "write_features",
]  # fmt: skip
