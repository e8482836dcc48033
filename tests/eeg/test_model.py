"""Model files: round trip, the pinned SHA-256 (refused before unpickling), metadata against the stream."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest

from nfd.eeg import (
    EegConfigError,
    EegPredictor,
    ModelFormatError,
    ModelHashError,
    ModelMismatchError,
    PreprocessSpec,
    StreamSpec,
    file_sha256,
    load_model,
)
from tests.helpers.audit import opens_of

UNPICKLED: list[str] = []


class Tripwire:
    """Records being unpickled: a model file must not be loaded before its hash is checked."""

    def __init__(self) -> None:
        self.armed = True

    def __setstate__(self, state: dict) -> None:
        UNPICKLED.append("unpickled")


def test_round_trip_keeps_predictions_and_writes_metadata(make_model, tmp_path: Path) -> None:
    model = make_model(["Cz", "Pz"], 250.0)
    assert model.path is not None and model.sha256 == file_sha256(model.path)
    sidecar = json.loads(model.path.with_name(model.path.name + ".json").read_text())
    assert sidecar["sha256"] == model.sha256
    assert sidecar["features"]["channels"] == ["Cz", "Pz"] and sidecar["features"]["fs"] == 250.0
    assert sidecar["preprocess"] == {"fs": 250.0, "bandpass": None, "notch": []}
    assert sidecar["nfd_version"] and sidecar["sklearn_version"]
    again = load_model(model.path, model.sha256.upper())
    X = np.random.default_rng(0).normal(1.0, 0.5, (3, model.spec.n_features))
    np.testing.assert_array_equal(again.predict_features(X), model.predict_features(X))


def test_a_model_file_with_a_wrong_hash_is_refused_unopened(make_model, tmp_path: Path) -> None:
    path = tmp_path / "tampered.joblib"
    joblib.dump({"format": "nfd-eeg-model", "tripwire": Tripwire()}, path)
    pinned = "0" * 64
    UNPICKLED.clear()
    with pytest.raises(ModelHashError) as info:
        load_model(path, pinned)
    message = str(info.value)
    assert str(path) in message and file_sha256(path) in message and pinned in message
    assert "eeg.model_sha256" in message and "refusing" in message
    assert UNPICKLED == []
    joblib.load(path)  # the tripwire works
    assert UNPICKLED == ["unpickled"]
    model = make_model(["Cz"], 250.0)
    with pytest.raises(ModelHashError):
        EegPredictor(model.path, "f" * 64, StreamSpec(("Cz",), 250.0, PreprocessSpec(fs=250.0), 250.0))


def test_malformed_hash_missing_file_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(EegConfigError, match="64 hexadecimal"):
        load_model(tmp_path / "x", "abc")
    with pytest.raises(ModelFormatError, match="does not exist"):
        load_model(tmp_path / "x", "0" * 64)
    foreign = tmp_path / "foreign.joblib"
    joblib.dump({"weights": [1, 2, 3]}, foreign)
    with pytest.raises(ModelFormatError, match="not an nfd EEG model"):
        load_model(foreign, file_sha256(foreign))
    future = tmp_path / "future.joblib"
    joblib.dump({"format": "nfd-eeg-model", "format_version": 99}, future)
    with pytest.raises(ModelFormatError, match="version 99"):
        load_model(future, file_sha256(future))


def test_predictor_needs_the_pinned_hash_for_a_path(make_model) -> None:
    model = make_model(["Cz"], 250.0)
    with pytest.raises(EegConfigError, match="sha256"):
        EegPredictor(model.path, None, StreamSpec(("Cz",), 250.0, PreprocessSpec(fs=250.0), 250.0))
    EegPredictor(model.path, model.sha256, StreamSpec(("Cz",), 250.0, PreprocessSpec(fs=250.0), 250.0))


@pytest.mark.parametrize(
    ("stream", "match"),
    [
        (StreamSpec(("Fz", "Pz"), 250.0, PreprocessSpec(fs=250.0), 250.0), r"channels \['Cz'\]"),
        (StreamSpec(("Cz", "Pz"), 500.0, PreprocessSpec(fs=500.0), 1000.0), "trained at 250.0 Hz"),
        (StreamSpec(("Cz", "Pz"), 250.0, PreprocessSpec(fs=250.0, notch=(50.0,)), 1000.0), "notch"),
    ],
)
def test_metadata_must_match_the_stream(make_model, stream: StreamSpec, match: str) -> None:
    model = make_model(["Cz", "Pz"], 250.0)
    with pytest.raises(ModelMismatchError, match=match):
        model.check_stream(stream)


def test_channels_are_found_by_name_in_any_order(make_model) -> None:
    model = make_model(["Cz", "Pz"], 250.0)
    stream = StreamSpec(("Pz", "Fz", "Cz"), 250.0, PreprocessSpec(fs=250.0), 5000.0)
    np.testing.assert_array_equal(model.check_stream(stream), [2, 0])



def test_the_bytes_hashed_are_the_bytes_unpickled(make_model) -> None:
    # hashing, then loading by path again, would let a swap in between run other code: one open of the file
    model = make_model(["Cz"], 250.0)
    with opens_of(model.path) as opened:
        load_model(model.path, model.sha256)
    assert opened == [str(model.path)]
