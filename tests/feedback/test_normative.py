"""The normative feedback kind: known answers against nfd.normative on the same FC, edges, warm-up, bad options."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from nfd.design import Design
from nfd.feedback import FeedbackError, NormativeFeedback, make_feedback
from nfd.normative import NormativeModel, deviations, edge_labels, fit_normative, save_model
from nfd.timeseries import ChainStep

NETWORKS = ("vis", "som", "dan", "van", "lim", "dmn")
WINDOW = 30
N_VOLUMES = 120
DESIGN = Design.from_blocks(N_VOLUMES, [("UP", 30, 59), ("UP", 90, 119)], skip_volumes=2)


def normative_correlation(flip: bool = False) -> np.ndarray:
    """A two-factor network correlation (positive definite); ``flip`` turns vis's loading on the first factor
    round, flipping the sign of its five edges' main part (the deviant pattern)."""
    loadings = np.array([[0.8, 0.1], [0.7, 0.2], [0.6, -0.3], [0.2, 0.7], [-0.3, 0.6], [0.5, 0.5]])
    if flip:
        loadings[0, 0] *= -1
    cov = loadings @ loadings.T
    cov[np.diag_indices_from(cov)] = 1.0
    return cov


def window_fc(rng: np.random.Generator, corr: np.ndarray, n: int = WINDOW) -> np.ndarray:
    """One window's sample FC (lower triangle) of n draws from N(0, corr)."""
    x = rng.multivariate_normal(np.zeros(len(corr)), corr, size=n)
    r = np.corrcoef(x, rowvar=False)
    return r[np.tril_indices(len(corr), k=-1)]


@functools.cache
def control_model(fisher_z: bool = False) -> NormativeModel:
    """The autoencoder fitted on 300 controls' window FC drawn from :func:`normative_correlation`."""
    rng = np.random.default_rng(16)
    features = np.array([window_fc(rng, normative_correlation()) for _ in range(300)])
    if fisher_z:
        features = np.arctanh(features)
    subjects = [f"sub-{k:03d}" for k in range(len(features))]
    return fit_normative(features, edge_labels(NETWORKS), subjects, sizes=(15, 10, 4, 10, 15), seed=1,
                         max_iter=300, meta={"metric": "pearson", "fisher_z": fisher_z})


def saved(tmp_path: Path, model: NormativeModel) -> tuple[Path, str]:
    folder = tmp_path / "model"
    save_model(model, folder)
    return folder, hashlib.sha256((folder / "model.npz").read_bytes()).hexdigest()


def exact_window(corr: np.ndarray, seed: int, n: int = WINDOW) -> np.ndarray:
    """n x N series whose sample correlation is exactly ``corr``: whitened noise coloured by its Cholesky factor."""
    z = np.random.default_rng(seed).normal(size=(n, len(corr)))
    z -= z.mean(axis=0)
    q, _ = np.linalg.qr(z)  # orthonormal, centred columns: sample covariance exactly I / (n - 1)
    return 5.0 * q @ np.linalg.cholesky(corr).T + 100.0


def steps_of(index: int, row: np.ndarray, extra: float = 0.0) -> dict[str, ChainStep]:
    out = {n: ChainStep(index, 0.0, 0.0, 0.0, float(v), 0.0, 0, 0.0, 1.0, 4) for n, v in zip(NETWORKS, row, strict=True)}
    out["motor"] = ChainStep(index, 0.0, 0.0, 0.0, extra, 0.0, 0, 0.0, 1.0, 4)  # an ROI the model does not read
    return out


def build(tmp_path: Path, model: NormativeModel | None = None, **options: object) -> NormativeFeedback:
    folder, sha = saved(tmp_path, model or control_model())
    computer = make_feedback("normative", DESIGN, [*NETWORKS, "motor"], model=folder, sha256=sha, **options)
    assert isinstance(computer, NormativeFeedback)
    return computer


def feed(computer: NormativeFeedback, rows: np.ndarray, first: int = 2) -> list[float | None]:
    return [computer.update(first + k, steps_of(first + k, row, float(k))) for k, row in enumerate(rows)]


def test_the_measure_is_the_models_reconstruction_error_of_the_windows_fc(tmp_path: Path) -> None:
    corr = normative_correlation(flip=True)
    rows = exact_window(corr, seed=3)
    computer = build(tmp_path)
    values = feed(computer, rows)
    assert values[:-1] == [None] * (WINDOW - 1)  # warm-up: nothing until the window is full
    features = corr[np.tril_indices(len(NETWORKS), k=-1)]
    np.testing.assert_allclose(computer.features(), features, atol=1e-12)
    model = control_model()
    expected = deviations(model, features).mean()
    z = (features - model.mean) / model.sd  # the same by hand: standardised, forward pass, squared error
    assert expected == pytest.approx(np.mean((z - model.reconstruct(z)) ** 2), rel=1e-12)
    assert values[-1] == pytest.approx(expected, rel=1e-9)
    detail = computer.detail
    assert list(detail["edges"]) == list(model.edges)
    np.testing.assert_allclose(list(detail["edges"].values()), deviations(model, features), rtol=1e-9)
    assert detail["fc"]["min"] == pytest.approx(features.min()) and detail["fc"]["mean"] == pytest.approx(
        features.mean())


def test_a_sliding_window_against_numpy_corrcoef(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    rows = rng.multivariate_normal(np.zeros(6), normative_correlation(), size=80) * 3.0 + 50.0
    computer = build(tmp_path, error="absolute")
    values = feed(computer, rows)
    model = control_model()
    for k in range(WINDOW - 1, len(rows)):
        r = np.corrcoef(rows[k - WINDOW + 1 : k + 1], rowvar=False)[np.tril_indices(6, k=-1)]
        assert values[k] == pytest.approx(deviations(model, r, kind="absolute").mean(), rel=1e-9), k


def test_edges_subset(tmp_path: Path) -> None:
    corr = normative_correlation(flip=True)
    rows = exact_window(corr, seed=5)
    chosen = ["som--vis", "dmn--vis", "dmn--lim"]
    computer = build(tmp_path, edges=chosen)
    value = feed(computer, rows)[-1]
    model = control_model()
    per_edge = deviations(model, corr[np.tril_indices(6, k=-1)])
    index = [model.edges.index(e) for e in chosen]
    assert value == pytest.approx(per_edge[index].mean(), rel=1e-9)
    assert set(computer.detail["edges"]) == set(chosen) and computer.edges == ("som--vis", "dmn--vis", "dmn--lim")
    assert computer.summary()["edges"] == 3


def test_fisher_z_model(tmp_path: Path) -> None:
    corr = normative_correlation()
    rows = exact_window(corr, seed=6)
    model = control_model(fisher_z=True)
    computer = build(tmp_path, model=model)
    value = feed(computer, rows)[-1]
    z_features = np.arctanh(corr[np.tril_indices(6, k=-1)])
    assert value == pytest.approx(deviations(model, z_features).mean(), rel=1e-9)
    assert computer.summary()["fisher_z"] is True


def test_skipped_volumes_and_missing_values_give_none(tmp_path: Path) -> None:
    rows = exact_window(normative_correlation(), seed=7, n=WINDOW + 1)
    computer = build(tmp_path)
    assert computer.update(0, steps_of(0, rows[0])) is None  # a skipped volume is not in the window
    nan_row = rows[1].copy()
    nan_row[2] = np.nan
    assert computer.update(2, steps_of(2, nan_row)) is None  # a missing value is not either
    values = feed(computer, rows[1:], first=3)
    assert values[-1] is not None and values[:-1] == [None] * (WINDOW - 1)
    flat = np.tile(rows[0], (WINDOW, 1))
    assert feed(build(tmp_path / "b"), flat)[-1] is None  # constant networks: no correlation


def test_closer_to_the_normative_pattern_is_lower(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    computer = build(tmp_path)
    normal = feed(computer, rng.multivariate_normal(np.zeros(6), normative_correlation(), size=WINDOW))[-1]
    deviant = feed(build(tmp_path / "b"), rng.multivariate_normal(np.zeros(6), normative_correlation(True),
                                                                  size=WINDOW))[-1]
    assert normal is not None and deviant is not None and deviant > 3 * normal


def test_bad_options_are_named(tmp_path: Path) -> None:
    folder, sha = saved(tmp_path, control_model())
    rois = [*NETWORKS, "motor"]
    with pytest.raises(FeedbackError, match=r"model\.npz has sha256 [0-9a-f]{64}, but 0{64} was pinned"):
        make_feedback("normative", DESIGN, rois, model=folder, sha256="0" * 64)
    with pytest.raises(FeedbackError, match="normative sha256 must be 64 hexadecimal digits"):
        make_feedback("normative", DESIGN, rois, model=folder, sha256="abc")
    with pytest.raises(FeedbackError, match=r"unknown edge label 'vis--som'; the model's edges are som--vis"):
        make_feedback("normative", DESIGN, rois, model=folder, sha256=sha, edges=["vis--som"])
    with pytest.raises(FeedbackError, match=r"networks \['lim', 'dmn'\] are not among the run's ROIs"):
        make_feedback("normative", DESIGN, ["vis", "som", "dan", "van"], model=folder, sha256=sha)
    with pytest.raises(FeedbackError, match="window must be an integer >= 3"):
        make_feedback("normative", DESIGN, rois, model=folder, sha256=sha, window=2)
    with pytest.raises(FeedbackError, match=r"normative error must be one of \['squared', 'absolute'\]"):
        make_feedback("normative", DESIGN, rois, model=folder, sha256=sha, error="cubic")
    with pytest.raises(FeedbackError, match=r"unknown option\(s\) \['windw'\] for normative feedback"):
        make_feedback("normative", DESIGN, rois, model=folder, sha256=sha, windw=20)
    with pytest.raises(FeedbackError, match=r"nowhere/model\.json: cannot read .*expected a model folder"):
        make_feedback("normative", DESIGN, rois, model=tmp_path / "nowhere", sha256=sha)


def test_another_metric_is_refused(tmp_path: Path) -> None:
    folder, _ = saved(tmp_path, control_model())
    meta = json.loads((folder / "model.json").read_text())
    meta["meta"]["metric"] = "spearman"
    (folder / "model.json").write_text(json.dumps(meta))
    sha = hashlib.sha256((folder / "model.npz").read_bytes()).hexdigest()
    with pytest.raises(FeedbackError, match="fitted on 'spearman' FC; the real-time kind computes Pearson's"):
        make_feedback("normative", DESIGN, [*NETWORKS], model=folder, sha256=sha)
