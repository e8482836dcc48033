"""Planted truth end to end: ComBat + autoencoder + Mann-Whitney/FDR find the 8 deviant edges of the patients."""

from __future__ import annotations

import numpy as np
import pytest

from nfd.normative import (
    Cohort,
    FeatureTable,
    edge_stability,
    fit_cohort,
    mann_whitney_edges,
    score_cohort,
    split_controls,
)

from .conftest import Synthetic


def _cohort(c: Synthetic) -> Cohort:
    table = FeatureTable(c.features, tuple(c.subjects), c.edges, {"atlas": "synthetic", "metric": "pearson"})
    return Cohort(table, tuple(c.groups), tuple(c.sites), {"age": c.age, "sex": c.sex})


@pytest.mark.parametrize("harmonise", [True, False])
def test_planted_edges_found(cohort: Synthetic, harmonise: bool) -> None:
    data = _cohort(cohort)
    train, held_out = split_controls(data, "control", 1 / 3, seed=0)
    assert train.sum() == 200 and held_out.sum() == 100
    fitted = fit_cohort(data, train, harmonise=harmonise, seed=0)
    assert (fitted.combat is not None) == harmonise
    deviation, z, total_z, training = score_cohort(fitted, data)
    np.testing.assert_array_equal(training, train)
    patients = cohort.groups == "patient"
    table = mann_whitney_edges(deviation[held_out], deviation[patients], cohort.edges)
    significant = table["significant"].to_numpy()
    planted = np.zeros(len(cohort.edges), dtype=bool)
    planted[cohort.planted] = True
    sensitivity, false_positive = significant[planted].mean(), significant[~planted].mean()
    print(
        f"harmonise={harmonise}: sensitivity {sensitivity:.3f}, false positives {false_positive:.3f} of the other edges"
    )
    assert sensitivity >= 0.8
    assert false_positive <= 0.05
    # the held-out controls are the reference: their z have mean 0 and SD 1 per edge
    np.testing.assert_allclose(z[held_out].mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(z[held_out].std(axis=0, ddof=1), 1.0, atol=1e-9)
    assert total_z[patients].mean() > 0.2  # 8 of 136 edges deviate: the total moves less than they do
    assert z[np.ix_(patients, cohort.planted)].mean() > 1.0


def test_edge_stability_with_harmonisation(cohort: Synthetic) -> None:
    summary, frequency = edge_stability(_cohort(cohort), bootstrap=2, holdout=1 / 3, harmonise=True, seed=0)
    print(summary)
    assert summary["bootstrap"] == 2.0
    assert frequency[cohort.planted].mean() >= 0.8
    others = np.setdiff1d(np.arange(len(cohort.edges)), cohort.planted)
    assert frequency[others].mean() <= 0.05
    assert 0.6 <= summary["stability"] <= 1.0
