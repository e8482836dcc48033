"""The normative autoencoder: sizes, the numpy forward pass against MLPRegressor.predict, the saved model
(round trip, hash and edge refusals) and fine-tuning from given weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.neural_network import MLPRegressor

from nfd.normative import (
    NormativeError,
    NormativeModel,
    check_edges,
    default_sizes,
    deviations,
    fit_normative,
    forward,
    load_model,
    save_model,
)  # fmt: skip

from .conftest import Synthetic


@pytest.fixture(scope="module")
def fitted(cohort: Synthetic) -> NormativeModel:
    controls = np.flatnonzero(cohort.groups == "control")[:200]
    return fit_normative(cohort.features[controls], cohort.edges, [cohort.subjects[i] for i in controls], seed=0)


def test_default_sizes() -> None:
    assert default_sizes(136) == (136, 68, 23, 68, 136)
    assert default_sizes(21) == (21, 10, 4, 10, 21)
    assert default_sizes(3) == (3, 2, 1, 2, 3)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_forward_equals_mlpregressor_predict(activation: str) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(120, 15))
    regressor = MLPRegressor(hidden_layer_sizes=(8, 3, 8), activation=activation, max_iter=30, random_state=0)
    with pytest.warns(Warning):
        regressor.fit(x, x)
    np.testing.assert_allclose(forward(regressor.coefs_, regressor.intercepts_, activation, x), regressor.predict(x),
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    single = forward(regressor.coefs_, regressor.intercepts_, activation, x[7])
    assert single.shape == (15,)
    np.testing.assert_allclose(single, regressor.predict(x[7:8])[0], rtol=1e-12, atol=1e-12)


def test_fit_learns_the_structure(fitted: NormativeModel, cohort: Synthetic) -> None:
    assert fitted.sizes == (136, 68, 23, 68, 136)
    assert fitted.meta["best_validation_r2"] > 0.7
    held = np.flatnonzero(cohort.groups == "control")[200:]
    # the reconstruction explains most of held-out controls' variance (squared error < 0.3 of z's unit variance)
    assert float(deviations(fitted, cohort.features[held]).mean()) < 0.3
    absolute = deviations(fitted, cohort.features[held], "absolute")
    np.testing.assert_allclose(absolute**2, deviations(fitted, cohort.features[held]))
    np.testing.assert_allclose(
        fitted.mean, cohort.features[np.flatnonzero(cohort.groups == "control")[:200]].mean(axis=0)
    )


def test_save_load_round_trip(fitted: NormativeModel, cohort: Synthetic, tmp_path) -> None:  # type: ignore[no-untyped-def]
    save_model(fitted, tmp_path)
    loaded = load_model(tmp_path)
    np.testing.assert_array_equal(loaded.reconstruct(cohort.features[:5]), fitted.reconstruct(cohort.features[:5]))
    assert loaded.edges == fitted.edges and loaded.training_subjects == fitted.training_subjects
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["sizes"] == [136, 68, 23, 68, 136]
    assert set(meta["versions"]) == {"nfd", "sklearn", "numpy"}
    assert len(meta["sha256"]) == 64


def test_hash_mismatch_refused(fitted: NormativeModel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    save_model(fitted, tmp_path)
    with np.load(tmp_path / "model.npz") as data:
        arrays = dict(data)
    arrays["coef_0"][0, 0] += 1e-6
    np.savez(tmp_path / "model.npz", **arrays)
    with pytest.raises(NormativeError, match=r"model\.npz: SHA-256 differs") as error:
        load_model(tmp_path)
    assert "\n" not in str(error.value)


def test_edge_mismatch_refused(fitted: NormativeModel) -> None:
    edges = list(fitted.edges)
    edges[5], edges[6] = edges[6], edges[5]
    with pytest.raises(NormativeError, match=f"edge 5 is '{edges[5]}' in the data but '{fitted.edges[5]}'"):
        check_edges(fitted, edges)
    with pytest.raises(NormativeError, match="135 edges, the model 136"):
        check_edges(fitted, fitted.edges[:-1])
    check_edges(fitted, fitted.edges)


def test_fine_tuning_starts_from_the_given_weights(fitted: NormativeModel, cohort: Synthetic) -> None:
    # a "new site": held-out controls, scaled and shifted a little
    new = np.flatnonzero(cohort.groups == "control")[200:]
    x = cohort.features[new] * 1.05 + 0.01
    subjects = [cohort.subjects[i] for i in new]
    tuned = fit_normative(x, cohort.edges, subjects, init=fitted, seed=1)
    fresh = fit_normative(x, cohort.edges, subjects, seed=1)
    assert tuned.meta["fine_tuned"] and not fresh.meta["fine_tuned"]
    assert tuned.meta["loss_curve"][0] < 0.5 * fresh.meta["loss_curve"][0]
    np.testing.assert_array_equal(tuned.mean, fitted.mean)
    # the weights stay near the given ones: far closer than a fresh model's
    distance = np.linalg.norm(tuned.coefs[0] - fitted.coefs[0])
    assert distance < 0.5 * np.linalg.norm(fresh.coefs[0] - fitted.coefs[0])
    assert fitted.coefs[0] is not tuned.coefs[0]


def test_bad_input_is_one_line(cohort: Synthetic) -> None:
    with pytest.raises(NormativeError, match="activation 'softplus'"):
        fit_normative(cohort.features[:50], cohort.edges, cohort.subjects[:50], activation="softplus")
    with pytest.raises(NormativeError, match="expected a fraction giving >= 2"):
        fit_normative(cohort.features[:10], cohort.edges, cohort.subjects[:10], validation=0.05)
    constant = cohort.features[:50].copy()
    constant[:, 3] = 1.0
    with pytest.raises(NormativeError, match=f"edge {cohort.edges[3]} is constant"):
        fit_normative(constant, cohort.edges, cohort.subjects[:50])
