"""Decoder feedback: real scikit-learn pipelines saved with joblib, refused unless the sha256 matches."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nfd.design import Design
from nfd.feedback import DecoderError, DecoderFeedback, FeedbackError, file_sha256, load_decoder, make_feedback
from nfd.timeseries import ChainStep
from tests.helpers.audit import opens_of

DESIGN = Design.from_blocks(40, [("UP", 10, 19), ("UP", 30, 39)], skip_volumes=2)


class Opens:
    """Unpickling it calls open(path, "w"): proof that loading ran code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def save(model: object, path: Path) -> str:
    joblib.dump(model, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def step(i: int, raw: float) -> ChainStep:
    return ChainStep(i, raw, 0.0, 0.0, 0.0, 0.5, 0, -1.0, 1.0, 4)


@pytest.fixture
def classifier(tmp_path: Path) -> tuple[Any, Path, str]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2)) + 500.0
    y = (x[:, 0] - x[:, 1] > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    path = tmp_path / "model.joblib"
    return model, path, save(model, path)


def test_decision_values_of_roi_means(classifier: tuple[Any, Path, str]) -> None:
    model, path, sha = classifier
    fb = make_feedback("decoder", DESIGN, ["a", "b"], model_path=path, sha256=sha.upper())
    assert isinstance(fb, DecoderFeedback) and not fb.needs_voxels
    rng = np.random.default_rng(1)
    for i in range(2, 40):
        a, b = 500 + rng.normal(size=2)
        value = fb.update(i, {"a": step(i, a), "b": step(i, b)})
        assert value == pytest.approx(float(model.decision_function([[a, b]])[0]))
    assert fb.summary()["output"] == "decision"
    assert fb.update(1, {"a": step(1, 500.0), "b": step(1, 500.0)}) is None  # a skipped volume


def test_probability_of_a_chosen_class(classifier: tuple[Any, Path, str]) -> None:
    model, path, sha = classifier
    fb = DecoderFeedback(DESIGN, ["a", "b"], model_path=path, sha256=sha, output="probability", positive_class=0)
    value = fb.update(5, {"a": step(5, 501.0), "b": step(5, 499.0)})
    assert value == pytest.approx(float(model.predict_proba([[501.0, 499.0]])[0, 0]))
    negated = DecoderFeedback(DESIGN, ["a", "b"], model_path=path, sha256=sha, output="decision", positive_class=0)
    assert negated.update(5, {"a": step(5, 501.0), "b": step(5, 499.0)}) == pytest.approx(
        -float(model.decision_function([[501.0, 499.0]])[0])
    )
    with pytest.raises(DecoderError, match="positive_class 7 is not a class"):
        DecoderFeedback(DESIGN, ["a", "b"], model_path=path, sha256=sha, positive_class=7)


def test_regressor_fed_roi_voxels(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 5))
    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x, x @ [1.0, -1.0, 0.5, 0.0, 2.0])
    path = tmp_path / "ridge.joblib"
    sha = save(model, path)
    fb = make_feedback("decoder", DESIGN, ["a", "b"], model_path=path, sha256=sha, input="voxels")
    assert fb.needs_voxels
    voxels = {"a": np.array([0.1, 0.2, 0.3]), "b": np.array([-1.0, 0.5])}
    value = fb.update(3, {"a": step(3, 0.0), "b": step(3, 0.0)}, voxels)
    assert value == pytest.approx(float(model.predict([[0.1, 0.2, 0.3, -1.0, 0.5]])[0]))
    with pytest.raises(FeedbackError, match="needs the ROI voxels"):
        fb.update(4, {"a": step(4, 0.0), "b": step(4, 0.0)})
    with pytest.raises(DecoderError, match="expects 5 features"):
        fb.update(4, {"a": step(4, 0.0), "b": step(4, 0.0)}, {"a": np.zeros(3), "b": np.zeros(3)})


def test_a_file_whose_sha256_differs_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.joblib"
    sha = save(Opens(marker), path)
    wrong = "0" * 64
    with pytest.raises(DecoderError, match=f"has sha256 {sha}, but the configuration expects {wrong}"):
        make_feedback("decoder", DESIGN, ["a"], model_path=path, sha256=wrong)
    assert not marker.exists()
    # with the right sha256 it is loaded (and runs), then refused for having no predict()
    with pytest.raises(DecoderError, match="no predict\\(\\) method"):
        load_decoder(path, sha)
    assert marker.exists()


def test_the_bytes_hashed_are_the_bytes_unpickled(classifier: tuple[Any, Path, str]) -> None:
    # hashing, then loading by path again, would let a swap in between run other code: one open of the file
    _, path, sha = classifier
    with opens_of(path) as opened:
        load_decoder(path, sha)
    assert opened == [str(path)]


def test_bad_model_files_and_hashes(tmp_path: Path) -> None:
    with pytest.raises(DecoderError, match="64 hexadecimal digits"):
        load_decoder(tmp_path / "x.joblib", "abc")
    with pytest.raises(DecoderError, match="cannot read decoder model"):
        load_decoder(tmp_path / "missing.joblib", "0" * 64)
    junk = tmp_path / "junk.joblib"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(DecoderError, match="cannot load decoder model"):
        load_decoder(junk, file_sha256(junk))
    assert file_sha256(junk) == hashlib.sha256(b"not a pickle").hexdigest()


def test_bad_options(classifier: tuple[Any, Path, str]) -> None:
    _, path, sha = classifier
    with pytest.raises(FeedbackError, match="decoder input must be one of"):
        DecoderFeedback(DESIGN, ["a", "b"], model_path=path, sha256=sha, input="pixels")
    with pytest.raises(FeedbackError, match="decoder output must be one of"):
        DecoderFeedback(DESIGN, ["a", "b"], model_path=path, sha256=sha, output="score")
    ridge_path = path.with_name("r.joblib")
    ridge_sha = save(Ridge().fit(np.eye(2), [0.0, 1.0]), ridge_path)
    with pytest.raises(DecoderError, match="has no probability output"):
        DecoderFeedback(DESIGN, ["a", "b"], model_path=ridge_path, sha256=ridge_sha, output="probability")
