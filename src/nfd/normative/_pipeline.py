"""A cohort's steps on files: fit (ComBat + autoencoder on training controls), score, bootstrap selection.

The rows of a feature table are matched to ``participants.tsv`` by ``participant_id``; ``group`` names the
controls (``control`` by default), ``site`` the harmonisation batch and the covariates (``age``, ``sex``) are
what ComBat keeps. Controls are split once, by a seeded draw within each site, into training controls (the
ComBat fit and the autoencoder) and held-out controls (the reference the deviations are z-scored against and the
control group of the statistics); patients are never used to fit anything.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nfd.normative._combat import ComBatModel, apply_combat, fit_combat
from nfd.normative._errors import NormativeError
from nfd.normative._features import FeatureTable
from nfd.normative._model import NormativeModel, check_edges, fit_normative
from nfd.normative._scores import deviation_reference, deviation_z, deviations
from nfd.normative._stats import mann_whitney_edges

__all__ = ["Cohort", "FitResult", "align_cohort", "edge_stability", "fit_cohort", "score_cohort", "split_controls"]


@dataclasses.dataclass(frozen=True)
class Cohort:
    """A feature table with its participants' columns, row for row.

    Attributes
    ----------
    table : FeatureTable
    groups, sites : tuple of str
        Each subject's group and site (``""`` when the column is absent).
    covariates : dict of str to ndarray
        The requested covariate columns (numbers, or labels for a categorical one).
    """

    table: FeatureTable
    groups: tuple[str, ...]
    sites: tuple[str, ...]
    covariates: dict[str, npt.NDArray[Any]]

    def rows(self, mask: npt.ArrayLike) -> Cohort:
        """The cohort restricted to a boolean mask (or indices) over its subjects."""
        index = np.arange(len(self.groups))[np.asarray(mask)]
        return Cohort(
            self.table.subset(index), tuple(self.groups[i] for i in index), tuple(self.sites[i] for i in index),
            {name: values[index] for name, values in self.covariates.items()},
        )  # fmt: skip


def align_cohort(table: FeatureTable, participants: Any, covariates: Sequence[str] = ()) -> Cohort:
    """Match the feature rows to ``participants`` (from :func:`read_participants`).

    Raises
    ------
    NormativeError
        A subject without a participants row or a missing covariate column (one line naming it).
    """
    missing = [s for s in table.subjects if s not in participants.index]
    if missing:
        raise NormativeError(f"{missing[0]} has features but no participants.tsv row, expected one per subject")
    rows = participants.loc[list(table.subjects)]
    for name in covariates:
        if name not in rows.columns:
            raise NormativeError(
                f"participants.tsv has no column {name!r}, expected the covariates {', '.join(covariates)}"
            )
    sites = tuple(str(s) for s in rows["site"]) if "site" in rows.columns else ("",) * len(rows)
    return Cohort(table, tuple(str(g) for g in rows["group"]), sites, {n: rows[n].to_numpy() for n in covariates})


def split_controls(
    cohort: Cohort, control: str, holdout: float, seed: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Training and held-out controls: ``holdout`` of each site's controls drawn at random (seeded).

    Returns
    -------
    train, held_out : ndarray of bool, (n_subjects,)
    """
    is_control = np.array([g == control for g in cohort.groups])
    if is_control.sum() < 4:
        raise NormativeError(f"{int(is_control.sum())} subjects in group {control!r}, expected >= 4 controls")
    rng = np.random.default_rng(seed)
    held_out = np.zeros(is_control.size, dtype=bool)
    sites = np.array(cohort.sites)
    for site in sorted(set(sites[is_control])):
        index = np.flatnonzero(is_control & (sites == site))
        held_out[rng.permutation(index)[: round(holdout * index.size)]] = True
    return is_control & ~held_out, held_out


@dataclasses.dataclass(frozen=True)
class FitResult:
    """A fitted normative model and its ComBat harmonisation (None without ``harmonise``)."""

    model: NormativeModel
    combat: ComBatModel | None


def fit_cohort(
    cohort: Cohort,
    train: npt.ArrayLike,
    *,
    harmonise: bool = False,
    validation: float = 0.1,
    seed: int = 0,
    init: NormativeModel | None = None,
    activation: str = "relu",
) -> FitResult:
    """ComBat (optional) and the autoencoder, both fitted on the training controls ``train`` (a mask)."""
    mask = np.asarray(train)
    train_rows = cohort.rows(mask)
    x = train_rows.table.features
    combat = None
    if harmonise:
        combat, x = fit_combat(x, train_rows.sites, train_rows.covariates)
    meta = {key: cohort.table.meta.get(key) for key in ("atlas", "metric", "strategy", "fisher_z")}
    meta.update(combat=harmonise, covariates=list(cohort.covariates))
    model = fit_normative(
        x, cohort.table.edges, train_rows.table.subjects, validation=validation, seed=seed, init=init,
        activation=activation, meta=meta,
    )  # fmt: skip
    return FitResult(model, combat)


def score_cohort(
    fitted: FitResult, cohort: Cohort, kind: str = "squared"
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Deviations of every subject and their z against the held-out controls.

    The held-out controls are the subjects of the model's control group (``cohort`` groups equal to the
    training subjects' group) not among the model's training subjects.

    Returns
    -------
    deviation : ndarray, (n_subjects, n_edges)
        Reconstruction error (:func:`deviations`, ``kind``).
    z : ndarray, (n_subjects, n_edges)
        Its z against the held-out controls.
    total_z : ndarray, (n_subjects,)
        The total deviation's z.
    training : ndarray of bool, (n_subjects,)
        Rows that were training subjects.
    """
    check_edges(fitted.model, cohort.table.edges)
    x = cohort.table.features
    if fitted.combat is not None:
        x = apply_combat(fitted.combat, x, cohort.sites, cohort.covariates)
    deviation = deviations(fitted.model, x, kind)
    trained = set(fitted.model.training_subjects)
    training = np.array([s in trained for s in cohort.table.subjects])
    control_groups = {g for s, g in zip(cohort.table.subjects, cohort.groups, strict=True) if s in trained}
    reference = np.array([g in control_groups for g in cohort.groups]) & ~training
    if reference.sum() < 3:
        raise NormativeError(
            f"{int(reference.sum())} held-out controls in the data, expected >= 3 not used for training"
        )
    z, total_z = deviation_z(deviation, deviation_reference(deviation[reference]))
    return deviation, z, total_z, training


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def edge_stability(
    cohort: Cohort,
    *,
    control: str = "control",
    patient: str = "patient",
    bootstrap: int = 20,
    holdout: float = 0.3,
    harmonise: bool = False,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[dict[str, float], npt.NDArray[np.float64]]:
    """The stability of the significant edges across bootstrap resamples of the training controls.

    The controls are split once (:func:`split_controls`); each of ``bootstrap`` resamples draws the training
    controls with replacement, fits ComBat (optional) and the autoencoder, scores the held-out controls and
    the patients and takes the edges with Mann-Whitney q < ``alpha``. Stability is the mean pairwise Jaccard
    index of those sets (two empty sets count 0: finding nothing is not stable evidence); the fraction of
    resamples each edge is significant is returned too.

    Returns
    -------
    summary : dict
        ``stability`` (mean pairwise Jaccard, 0-1), ``mean_significant`` (edges per resample),
        ``n_stable`` (edges significant in at least 80 % of resamples), ``bootstrap``.
    frequency : ndarray, (n_edges,)
        Fraction of resamples in which each edge is significant.
    """
    train, held_out = split_controls(cohort, control, holdout, seed)
    patients = np.array([g == patient for g in cohort.groups])
    if patients.sum() < 2:
        raise NormativeError(f"{int(patients.sum())} subjects in group {patient!r}, expected >= 2 patients")
    evaluation = cohort.rows(held_out | patients)
    is_patient = np.array([g == patient for g in evaluation.groups])
    rng = np.random.default_rng(seed)
    sets: list[frozenset[str]] = []
    for b in range(bootstrap):
        draw = rng.choice(np.flatnonzero(train), size=int(train.sum()), replace=True)
        resample = cohort.rows(draw)
        unique = dataclasses.replace(
            resample, table=dataclasses.replace(resample.table, subjects=tuple(f"boot{k}" for k in range(draw.size)))
        )
        fitted = fit_cohort(unique, np.ones(draw.size, dtype=bool), harmonise=harmonise, seed=seed + b)
        x = evaluation.table.features
        if fitted.combat is not None:
            x = apply_combat(fitted.combat, x, evaluation.sites, evaluation.covariates)
        d = deviations(fitted.model, x)
        table = mann_whitney_edges(d[~is_patient], d[is_patient], cohort.table.edges, alpha=alpha)
        sets.append(frozenset(table["edge"][table["significant"]]))
    pairs = [_jaccard(a, b) for a, b in itertools.combinations(sets, 2)]
    frequency = np.array([sum(edge in s for s in sets) / len(sets) for edge in cohort.table.edges])
    summary = {
        "stability": float(np.mean(pairs)) if pairs else float("nan"),
        "mean_significant": float(np.mean([len(s) for s in sets])),
        "n_stable": float(np.sum(frequency >= 0.8)),
        "bootstrap": float(bootstrap),
    }
    return summary, frequency
