"""OpenNFT's feedback rules in nfd's kinds against a transcription of nfbCalc.m (issue 13).

The run is the shared one's protocol (``opennft_psc_run/protocol.json``: 155 volumes, 5 skipped, baseline
t = 1-10, 21-30, ..., regulation t = 11-20, ..., 131-140) with synthetic Kalman series, limits and scaled
series for two ROIs; nfd's kinds with the OpenNFT options must give the values and display values of
``tests/helpers/opennft_feedback_reference.py`` on the same series.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.design import Design, load_protocol
from nfd.feedback import (
    DecoderError,
    FeedbackError,
    OpenNFTBlocks,
    make_feedback,
    matlab_round,
    project_voxels,
    scale_feedback,
)
from nfd.timeseries import ChainStep, RoiSet
from tests.helpers.opennft_feedback_reference import (
    continuous_psc,
    intermittent_psc,
    mround,
    prot_cond,
    svm_feedback,
)

N_VOLUMES, SKIP, TR = 155, 5, 1.97
N = N_VOLUMES - SKIP
ROIS = ("left", "right")


@pytest.fixture(scope="module")
def protocol(shared_data: Path) -> Path:
    path = shared_data / "opennft_psc_run" / "protocol.json"
    if not path.exists():
        pytest.skip(f"shared run protocol {path} not found")
    return path


@pytest.fixture(scope="module")
def design(protocol: Path) -> Design:
    return load_protocol(protocol, N_VOLUMES, SKIP, TR)


@pytest.fixture(scope="module")
def series(protocol: Path) -> dict[str, np.ndarray]:
    """Per ROI (rows): a Kalman-like series with a task effect, its running limits, the scaled series."""
    rng = np.random.default_rng(13)
    vect = np.array(prot_cond(protocol, N).vect_enc_cond)
    task = (vect == 2).astype(float)
    kalman = np.vstack([
        np.cumsum(rng.normal(0.0, 0.4, N)) + gain * task + rng.normal(0.0, 0.5, N) for gain in (2.0, 1.2)
    ])
    lo = np.minimum.accumulate(kalman, axis=1) - 0.3
    hi = np.maximum.accumulate(kalman, axis=1) + 0.3
    scaled = (kalman - lo) / (hi - lo)
    return {"kalman": kalman, "lo": lo, "hi": hi, "scaled": scaled}


def steps_at(i: int, s: dict[str, np.ndarray]) -> dict[str, ChainStep]:
    """nfd's 0-based acquisition index i is OpenNFT's t = i - SKIP + 1."""
    c = i - SKIP
    return {
        name: ChainStep(i, 1000.0 + s["kalman"][r, c], 0.0, 0.0, s["kalman"][r, c], s["scaled"][r, c], 0,
                        s["lo"][r, c], s["hi"][r, c], 4)
        for r, name in enumerate(ROIS)
    }


def run(kind: str, design: Design, s: dict[str, np.ndarray], **options: object) -> list[float | None]:
    """Every processed volume through the kind; None for the skipped ones (never given)."""
    fb = make_feedback(kind, design, list(ROIS), **options)
    return [fb.update(i, steps_at(i, s)) if i >= SKIP else None for i in range(N_VOLUMES)]


# --- rounding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "n", "expected"), [(0.125, 2, 0.13), (2.5, 0, 3.0), (-0.5, 0, -1.0), (-2.45, 1, -2.5),
                                                  (0.49999999999999994, 0, 0.0), (1.005, 2, 1.0), (-0.004, 2, 0.0)])
def test_matlab_round(x: float, n: int, expected: float) -> None:
    assert matlab_round(x, n) == expected == mround(x, n)


def test_display_rounding_cases() -> None:
    assert scale_feedback(0.125, decimals=2) == 0.13
    assert scale_feedback(2.5, decimals=0) == 3.0
    assert scale_feedback(-0.5, decimals=0, lo=None) == -1.0
    assert scale_feedback(-0.5, decimals=0, lo=0.0) == 0.0  # rounded, then clipped (NegFeedback false)
    assert scale_feedback(0.00004, gain=100.0, lo=1.0, hi=100.0, decimals=2) == 1.0  # 1.0's floor
    assert scale_feedback(0.3, gain=100.0, lo=1.0, hi=100.0, decimals=2, baseline_value=0.0) == 0.0
    assert scale_feedback(3.0, gain=100.0, lo=None, hi=None, decimals=2) == 300.0  # SVM: not clipped
    assert scale_feedback(math.inf, lo=None, hi=None) == 0.0
    with pytest.raises(FeedbackError, match="decimals must be an integer from 0 to 15"):
        scale_feedback(1.0, decimals=-1)
    with pytest.raises(FeedbackError, match="baseline_value must be a finite number"):
        scale_feedback(1.0, baseline_value=math.nan)


# --- the block sets --------------------------------------------------------------------------------------


def test_block_sets_of_the_shared_protocol(design: Design) -> None:
    blocks = OpenNFTBlocks(design)
    i = lambda ts: [t + SKIP - 1 for t in ts]  # noqa: E731 - OpenNFT's t to nfd's index
    assert blocks.n_regulation == 7
    assert blocks.continuous_baseline(0) == i(range(4, 11))
    assert blocks.continuous_baseline(1) == i([*range(3, 11), *range(23, 31)])
    assert blocks.continuous_baseline(6) == i([v for b in range(7) for v in range(20 * b + 3, 20 * b + 11)])
    assert blocks.intermittent_sets(0) == (i(range(14, 21)), i(range(4, 11)))
    assert blocks.intermittent_sets(2) == (i(range(54, 61)), i([*range(45, 51), 51]))


# --- continuous, intermittent, SVM against the transcription ------------------------------------------------


@pytest.mark.parametrize("neg", [False, True])
def test_continuous_current(design: Design, series: dict[str, np.ndarray], protocol: Path, neg: bool) -> None:
    fb, disp = continuous_psc(series["scaled"], prot_cond(protocol, N), "current", neg=neg)
    got = run("psc", design, series, signal="scaled", combine="median", reference="opennft")
    measures = np.array(got[SKIP:], dtype=float)
    np.testing.assert_allclose(measures, fb, rtol=1e-12, atol=1e-14)
    assert (measures[fb == 0.0] == 0.0).all() and (fb != 0).sum() == 70
    shown = [scale_feedback(m, gain=100.0, lo=-100.0 if neg else 0.0, hi=100.0, decimals=2) for m in measures]
    assert shown == disp.tolist()


def test_continuous_1_0(design: Design, series: dict[str, np.ndarray], protocol: Path) -> None:
    fb, disp = continuous_psc(series["scaled"], prot_cond(protocol, N), "1.0")
    got = run("psc", design, series, signal="scaled", combine="median", reference="opennft")
    measures = np.array(got[SKIP:], dtype=float)
    np.testing.assert_allclose(measures, fb, rtol=1e-12, atol=1e-14)
    shown = [
        scale_feedback(m, gain=100.0, lo=1.0, hi=100.0, decimals=2,
                       baseline_value=0.0 if design.is_baseline(i + SKIP) else None)
        for i, m in enumerate(measures)
    ]
    assert shown == disp.tolist()


@pytest.mark.parametrize(("version", "signal", "combine"), [("current", "scaled", "median"), ("1.0", "kalman", "mean")])
def test_intermittent(
    design: Design, series: dict[str, np.ndarray], protocol: Path, version: str, signal: str, combine: str
) -> None:
    lo, hi = series["lo"].mean(axis=0), series["hi"].mean(axis=0)
    expected = intermittent_psc(series["kalman"], series["scaled"], lo, hi, prot_cond(protocol, N), version)
    got = run("psc_intermittent", design, series, signal=signal, combine=combine, reference="opennft")
    values = {i - SKIP + 1: v for i, v in enumerate(got) if v is not None}
    assert sorted(values) == sorted(expected) == [20, 40, 60, 80, 100, 120, 140]
    for t, (fb, disp) in expected.items():
        assert values[t] == pytest.approx(fb, rel=1e-12, abs=1e-14)
        shown = (scale_feedback(values[t], gain=10.0, lo=1.0, hi=10.0, decimals=1) if version == "1.0"
                 else scale_feedback(values[t], gain=100.0, lo=0.0, hi=100.0, decimals=2))
        assert shown == disp, t


def weight_map(path: Path, shape: tuple[int, int, int], seed: int = 3) -> tuple[np.ndarray, str]:
    weights = np.random.default_rng(seed).normal(size=shape)
    nib.save(nib.Nifti1Image(weights, np.eye(4)), path)
    return weights, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("version", ["current", "1.0"])
def test_svm_weight_map(
    design: Design, series: dict[str, np.ndarray], protocol: Path, tmp_path: Path, version: str
) -> None:
    path = tmp_path / "svm_weights.nii"
    _, sha = weight_map(path, (4, 4, 3))
    stored, fb, disp = svm_feedback(series["scaled"], prot_cond(protocol, N), version)
    computer = make_feedback("decoder", design, list(ROIS), weights=path, sha256=sha)
    assert computer.projects_voxels and not computer.needs_voxels
    got = [computer.update(i, steps_at(i, series)) for i in range(SKIP, N_VOLUMES)]
    np.testing.assert_allclose(np.array(got, dtype=float), fb, rtol=1e-12, atol=1e-14)
    assert computer.detail["roi"] == pytest.approx(dict(zip(ROIS, stored[:, -1], strict=True)), rel=1e-12)
    gain, decimals = (1.0, 4) if version == "1.0" else (100.0, 2)
    assert [scale_feedback(v, gain=gain, lo=None, hi=None, decimals=decimals) for v in got] == disp.tolist()


def test_svm_raw_values_project_the_roi_voxels(tmp_path: Path) -> None:
    design = Design.from_blocks(20, [("UP", 10, 19)], skip_volumes=2)
    path = tmp_path / "w.nii.gz"
    weights, sha = weight_map(path, (4, 4, 3))
    masks = {"left": np.zeros((4, 4, 3), bool), "right": np.zeros((4, 4, 3), bool)}
    masks["left"][0, :2, 0] = True
    masks["right"][3, 1:, 2] = True
    rois = RoiSet(masks, affine=np.eye(4))
    computer = make_feedback("decoder", design, list(ROIS), weights=str(path), sha256=sha)
    with pytest.raises(DecoderError, match="call bind_rois"):
        computer.raw_values({})
    computer.bind_rois(rois)
    volume = np.random.default_rng(1).normal(100.0, 5.0, (4, 4, 3))
    raw = computer.raw_values({n: rois.voxels(volume, n) for n in rois.names})
    assert raw["left"] == pytest.approx(float((volume[masks["left"]] * weights[masks["left"]]).sum()), rel=1e-12)
    assert raw["right"] == pytest.approx(float((volume[masks["right"]] * weights[masks["right"]]).sum()), rel=1e-12)
    with pytest.raises(DecoderError, match="ROI 'left' has 1 voxels but 2 weights"):
        computer.raw_values({"left": np.ones(1), "right": np.ones(3)})
    assert project_voxels({"a": np.array([1.0, 2.0])}, {"a": np.array([0.5, -1.0])}) == {"a": -1.5}
    other = RoiSet({n: np.pad(m, ((0, 1), (0, 0), (0, 0))) for n, m in masks.items()})
    with pytest.raises(DecoderError, match=r"has shape \(4, 4, 3\), the ROIs \(5, 4, 3\)"):
        computer.bind_rois(other)


# --- wrong options and designs ------------------------------------------------------------------------


def test_wrong_options_are_named(tmp_path: Path) -> None:
    design = Design.from_blocks(40, [("UP", 10, 19), ("UP", 30, 39)], skip_volumes=2)
    with pytest.raises(FeedbackError, match=r"reference must be one of \['preceding', 'opennft'\]"):
        make_feedback("psc", design, ["a"], reference="cumulative")
    with pytest.raises(FeedbackError, match=r"reads signal 'kalman' \(OpenNFT 1.0\) or 'scaled'"):
        make_feedback("psc_intermittent", design, ["a"], reference="opennft")
    with pytest.raises(FeedbackError, match=r"exactly one of model_path .* and weights"):
        make_feedback("decoder", design, ["a"], sha256="0" * 64)
    path = tmp_path / "w.nii"
    _, sha = weight_map(path, (2, 2, 2))
    with pytest.raises(FeedbackError, match="apply to a model, not to weights"):
        make_feedback("decoder", design, ["a"], weights=path, sha256=sha, input="voxels")
    with pytest.raises(DecoderError, match="refusing to use it"):
        make_feedback("decoder", design, ["a"], weights=path, sha256="0" * 64)


def test_designs_the_rules_cannot_read_are_refused() -> None:
    short_baseline = Design.from_blocks(30, [("UP", 8, 17)], skip_volumes=2)  # baseline 2-7: 6 volumes
    with pytest.raises(FeedbackError, match="last 7 volumes of the first baseline block, which has 6"):
        make_feedback("psc", short_baseline, ["a"], reference="opennft", signal="scaled")
    starts_with_task = Design.from_blocks(30, [("UP", 0, 9)])
    with pytest.raises(FeedbackError, match="baseline block must come before it"):
        make_feedback("psc", starts_with_task, ["a"], reference="opennft", signal="scaled")
    short_block = Design.from_blocks(30, [("UP", 10, 14)])
    with pytest.raises(FeedbackError, match=r"last 7 volumes of regulation block 1 \(5\)"):
        make_feedback("psc_intermittent", short_block, ["a"], reference="opennft", signal="scaled")
    make_feedback("psc", Design.from_blocks(40, [("UP", 10, 19), ("UP", 30, 39)]), ["a"])  # nfd's rule is unchanged
