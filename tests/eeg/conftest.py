"""Fixtures of the EEG tests: small models, unique LSL source ids."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from nfd.eeg import EegModel, FeatureSpec, PreprocessSpec, load_model

ModelFactory = Callable[..., EegModel]


@pytest.fixture
def source_id() -> Callable[[str], str]:
    """A source id no other test (or process) uses: LSL streams are visible machine-wide."""
    return lambda stem: f"nfd-test-{stem}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_model(tmp_path: Path) -> ModelFactory:
    """A saved and reloaded model on the given channels (a ridge fitted to random numbers: it only has to run)."""
    counter = iter(range(1000))

    def make(
        channels: Sequence[str],
        fs: float,
        *,
        preprocess: PreprocessSpec | None = None,
        window: float = 2.0,
        delays: Sequence[float] = (0.0, 0.5, 1.0),
        bands: Sequence[Sequence[float]] = ((1.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0)),
    ) -> EegModel:
        spec = FeatureSpec(
            channels=tuple(channels), fs=fs, window=window, delays=tuple(delays), bands=tuple(map(tuple, bands))
        )
        rng = np.random.default_rng(0)
        X = rng.normal(1.0, 0.5, (40, spec.n_features))
        y = rng.standard_normal(40)
        model = EegModel.create(
            Ridge(alpha=1.0).fit(X, y), spec, preprocess if preprocess is not None else PreprocessSpec(fs=fs),
            feature_mean=X.mean(axis=0), feature_std=X.std(axis=0), target={"name": "roi_x", "mean": 100.0, "std": 2.0},
            source_rate=fs,
        )
        path = tmp_path / f"model{next(counter)}.joblib"
        return load_model(path, model.save(path))

    return make
