"""Several targets in one model: per-target scaling, predict's shape, old single-target files."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import Ridge

from nfd.eeg import EegModel, FeatureSpec, ModelFormatError, PreprocessSpec, file_sha256, load_model

SPEC = FeatureSpec(channels=("Cz", "Pz"), fs=100.0, window=2.0, delays=(0.0, 0.5), bands=((4.0, 8.0), (8.0, 13.0)))


def _data(n_targets: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.normal(1.0, 0.5, (50, SPEC.n_features))
    return X, rng.standard_normal((50, n_targets))


def test_a_two_target_model_predicts_each_target_in_its_units(tmp_path: Path) -> None:
    X, Y = _data(2)
    mu, sd = X.mean(axis=0), X.std(axis=0)
    est = Ridge(alpha=1.0).fit((X - mu) / sd, Y)
    model = EegModel.create(
        est, SPEC, PreprocessSpec(fs=100.0), feature_mean=mu, feature_std=sd,
        target={"names": ["roi_a", "roi_b"], "mean": [100.0, -5.0], "std": [2.0, 0.5], "detrend": "linear"},
        source_rate=100.0,
    )
    path = tmp_path / "m.joblib"
    again = load_model(path, model.save(path))
    assert again.target_names == ("roi_a", "roi_b") and again.n_targets == 2
    z = est.predict((X[:3] - mu) / sd)  # the estimator's own answer, scaled by hand
    expected = np.array([100.0, -5.0]) + np.array([2.0, 0.5]) * z
    np.testing.assert_allclose(again.predict_rows(X[:3]), expected, rtol=1e-12)
    np.testing.assert_allclose(again.predict(X[0]), expected[0], rtol=1e-12)
    assert again.predict(X[0]).shape == (2,) and again.predict_features(X[:3]).shape == (3, 2)
    meta = json.loads(path.with_name("m.joblib.json").read_text())["target"]
    assert meta == {"names": ["roi_a", "roi_b"], "mean": [100.0, -5.0], "std": [2.0, 0.5], "detrend": "linear"}


def test_an_old_single_target_model_file_loads_as_one_named_target(tmp_path: Path) -> None:
    X, Y = _data(1)
    mu, sd = X.mean(axis=0), X.std(axis=0)
    est = Ridge(alpha=1.0).fit((X - mu) / sd, Y[:, 0])
    metadata = {  # what nfd wrote before several targets: a name and scalars
        "features": SPEC.as_dict(), "preprocess": PreprocessSpec(fs=100.0).as_dict(), "source_rate": 100.0,
        "target": {"name": "roi_deep", "detrend": "linear", "mean": 7.0, "std": 3.0}, "training": {},
        "sklearn_version": "0",
    }
    path = tmp_path / "old.joblib"
    joblib.dump({"format": "nfd-eeg-model", "format_version": 1, "estimator": est, "feature_mean": mu,
                 "feature_std": sd, "metadata": metadata}, path)
    model = load_model(path, file_sha256(path))
    assert model.target_names == ("roi_deep",)
    expected = 7.0 + 3.0 * est.predict((X[:4] - mu) / sd)
    np.testing.assert_allclose(model.predict_features(X[:4]), expected, rtol=1e-12)
    assert model.predict_features(X[:4]).shape == (4,) and model.predict(X[1]).shape == (1,)
    np.testing.assert_allclose(model.predict(X[1]), expected[1:2], rtol=1e-12)


def test_a_new_single_target_model_keeps_the_old_keys(tmp_path: Path) -> None:
    X, Y = _data(1)
    model = EegModel.create(
        Ridge().fit(X, Y[:, 0]), SPEC, PreprocessSpec(fs=100.0), feature_mean=X.mean(axis=0),
        feature_std=X.std(axis=0), target={"name": "roi_x", "mean": 1.5, "std": 2.0}, source_rate=100.0,
    )
    assert model.metadata["target"] == {"names": ["roi_x"], "name": "roi_x", "mean": 1.5, "std": 2.0}


def test_mismatched_target_scaling_is_refused() -> None:
    X, Y = _data(2)
    with pytest.raises(ModelFormatError, match="2 names, 1 means"):
        EegModel(Ridge().fit(X, Y), X.mean(axis=0), X.std(axis=0), {
            "features": SPEC.as_dict(), "preprocess": PreprocessSpec(fs=100.0).as_dict(),
            "target": {"names": ["a", "b"], "mean": [1.0], "std": [1.0, 1.0]},
        })
