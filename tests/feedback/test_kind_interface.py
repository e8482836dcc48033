"""One interface suite over every feedback kind (nibabel's ValidateAPI pattern, issue 12).

Every kind of :data:`nfd.feedback.FEEDBACK_KINDS` has a :class:`Case` here:
how :func:`nfd.feedback.make_feedback` builds it for one run of a
:class:`nfd.design.Design`, at which volumes its documentation says it gives
no value, its values on a deterministic stream of ROI chain steps (and
voxels) computed here by hand, and wrong inputs with the message that must
name them. The same contract tests run on every case; a kind added to
``FEEDBACK_KINDS`` without a case fails :func:`test_cases_cover_every_kind`.
:data:`VARIANTS` runs the same contract on OpenNFT's rules (issue 13):
``reference="opennft"`` of both activity kinds (current and 1.0) and the
decoder with a weight map.

The run: 40 volumes, 2 skipped; baseline 0-9, regulation 10-19, baseline
20-29, regulation 30-39; ROIs a, b, c of 4 voxels each.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import nibabel as nib
import numpy as np
import orjson
import pytest
from sklearn.linear_model import LogisticRegression

from nfd._json import dumps
from nfd.design import Design, VolumeIndexError
from nfd.feedback import (
    FEEDBACK_KINDS,
    ContinuousActivity,
    DecoderError,
    DecoderFeedback,
    ExternalFeedback,
    FeedbackComputer,
    FeedbackError,
    IntermittentActivity,
    IntermittentCorrelation,
    NormativeFeedback,
    SlidingCorrelation,
    TwoPointProxy,
    make_feedback,
)
from nfd.normative import NormativeModel, deviations, edge_labels, fit_normative, save_model
from nfd.timeseries import ChainStep

N_VOLUMES = 40
SKIP = 2
DELAY = 2
WINDOW = 8
ROIS = ("a", "b", "c")
N_VOXELS = 4
DESIGN = Design.from_blocks(N_VOLUMES, [("UP", 10, 19), ("UP", 30, 39)], skip_volumes=SKIP)
REGULATION = [(10, 19), (30, 39)]
BLOCK_ENDS = (19, 39)

#: A push for :class:`ExternalFeedback`: (value, volume index or None for "latest").
Push = tuple[float, int | None]


@dataclass(frozen=True)
class Volume:
    """One volume of the input stream: its index, every ROI's chain step and voxels, values pushed before it."""

    index: int
    steps: Mapping[str, ChainStep]
    voxels: Mapping[str, np.ndarray]
    pushes: tuple[Push, ...] = ()


def in_regulation(i: int) -> bool:
    return any(first <= i <= last for first, last in REGULATION)


def make_stream(pushes: Callable[[int], tuple[Push, ...]] = lambda i: ()) -> list[Volume]:
    """The deterministic stream: raw about 1000 with a task effect per ROI; kalman series whose coupling
    (a and b together, c against them) is stronger in regulation; voxels about the kalman value."""
    rng = np.random.default_rng(20261203)
    shared = rng.normal(size=N_VOLUMES)
    gain = {"a": 30.0, "b": 15.0, "c": -10.0}
    coupling = {"a": 1.0, "b": 0.8, "c": -0.9}
    stream = []
    for i in range(N_VOLUMES):
        task = 1.0 if in_regulation(i) else 0.0
        steps: dict[str, ChainStep] = {}
        voxels: dict[str, np.ndarray] = {}
        for name in ROIS:
            raw = 1000.0 + gain[name] * task + float(rng.normal(0.0, 3.0))
            kalman = coupling[name] * float(shared[i]) * (1.5 if task else 0.5) + float(rng.normal(0.0, 0.5))
            steps[name] = ChainStep(i, raw, raw - 1000.0, raw - 1000.0, kalman, 0.5, 0, -1.0, 1.0, 4)
            voxels[name] = kalman + rng.normal(0.0, 0.2, size=N_VOXELS)
        stream.append(Volume(i, steps, voxels, pushes(i)))
    return stream


def series(stream: Sequence[Volume], signal: str) -> dict[str, np.ndarray]:
    """Each ROI's `signal` over the stream, shape (n_volumes,)."""
    return {n: np.array([getattr(v.steps[n], signal) for v in stream]) for n in ROIS}


def feed(computer: FeedbackComputer, stream: Sequence[Volume]) -> list[float | None]:
    """Every volume through `computer`, in order; voxels only to a kind that needs them."""
    out = []
    for volume in stream:
        for value, index in volume.pushes:
            computer.push(value, index=index)
        out.append(computer.update(volume.index, volume.steps, volume.voxels if computer.needs_voxels else None))
    return out


# --- the known answers, by hand -------------------------------------------------------------------


def psc_reference_window(i: int) -> tuple[int, int] | None:
    """The baseline volumes (first, last) volume `i` is compared with (ContinuousPSC's rule, delay 2, 2 skipped).

    Baseline 0-9 counts from volume 2 + 2 = 4; baseline 20-29 from 22; a
    baseline volume uses its block so far, or the previous baseline block
    while its own has none yet; a regulation volume the preceding baseline.
    """
    if i < 4:
        return None
    if i <= 19:
        return (4, min(i, 9))
    if i <= 21:
        return (4, 9)
    return (22, min(i, 29))


def psc_known(stream: Sequence[Volume]) -> dict[int, float]:
    raw = series(stream, "raw")
    out = {}
    for i in range(N_VOLUMES):
        window = psc_reference_window(i)
        if i < SKIP or window is None:
            out[i] = 0.0
            continue
        first, last = window
        per_roi = []
        for name in ROIS:
            mean = sum(raw[name][first : last + 1]) / (last - first + 1)
            per_roi.append(100.0 * (raw[name][i] - mean) / mean)
        out[i] = sorted(per_roi)[1]  # combine="median" of three
    return out


#: regulation window and its baseline window (delay 2 from each block's start) at each block end
INTERMITTENT_WINDOWS = {19: ((12, 19), (4, 9)), 39: ((32, 39), (22, 29))}


def mean_of(x: np.ndarray, window: tuple[int, int]) -> float:
    first, last = window
    return float(sum(x[first : last + 1]) / (last - first + 1))


def psc_intermittent_known(stream: Sequence[Volume]) -> dict[int, float]:
    raw = series(stream, "raw")
    out = {}
    for end, (regulation, baseline) in INTERMITTENT_WINDOWS.items():
        per_roi = [
            100.0 * (mean_of(raw[n], regulation) - mean_of(raw[n], baseline)) / mean_of(raw[n], baseline) for n in ROIS
        ]
        out[end] = sum(per_roi) / len(per_roi)
    return out


def r_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    dx, dy = x - x.mean(), y - y.mean()
    return float((dx * dy).sum() / math.sqrt((dx * dx).sum() * (dy * dy).sum()))


CORRELATION_PAIRS = (("a", "b"), ("b", "c"))


def correlation_known(stream: Sequence[Volume]) -> dict[int, float]:
    k = series(stream, "kalman")
    out = {}
    for i in range(SKIP + WINDOW - 1, N_VOLUMES):
        rs = [r_by_hand(k[a][i - WINDOW + 1 : i + 1], k[b][i - WINDOW + 1 : i + 1]) for a, b in CORRELATION_PAIRS]
        out[i] = sum(rs) / len(rs)
    return out


def correlation_intermittent_known(stream: Sequence[Volume]) -> dict[int, float]:
    k = series(stream, "kalman")
    pairs = [("a", "b"), ("a", "c"), ("b", "c")]

    def r(window: tuple[int, int]) -> float:
        first, last = window
        return sum(r_by_hand(k[a][first : last + 1], k[b][first : last + 1]) for a, b in pairs) / len(pairs)

    return {end: r(regulation) - r(baseline) for end, (regulation, baseline) in INTERMITTENT_WINDOWS.items()}


def proxy_known(stream: Sequence[Volume]) -> dict[int, float]:
    """1.0 when targets a and b both moved one way since the previous volume and control c the other."""
    k = series(stream, "kalman")
    out = {}
    for i in range(SKIP + 1, N_VOLUMES):
        da, db, dc = (k[n][i] - k[n][i - 1] for n in ROIS)
        event = (da > 0 and db > 0 and dc < 0) or (da < 0 and db < 0 and dc > 0)
        out[i] = 1.0 if event else 0.0
    return out


@functools.cache
def decoder_model() -> LogisticRegression:
    """A logistic regression on the 12 voxel features (a's 4, b's 4, c's 4), fitted on fixed data."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 3 * N_VOXELS))
    y = (x[:, 0] + x[:, 5] - x[:, 10] > 0).astype(int)
    return LogisticRegression().fit(x, y)


def decoder_options(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "decoder.joblib"
    joblib.dump(decoder_model(), path)
    return {"model_path": path, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "input": "voxels"}


def decoder_known(stream: Sequence[Volume]) -> dict[int, float]:
    """The decision value ``x . w + b`` of the concatenated voxels (ROI order), after the skipped volumes."""
    model = decoder_model()
    weights, bias = model.coef_[0].tolist(), float(model.intercept_[0])
    out = {}
    for volume in stream[SKIP:]:
        x = [float(v) for n in ROIS for v in volume.voxels[n]]
        out[volume.index] = sum(w * v for w, v in zip(weights, x, strict=True)) + bias
    return out


def external_pushes(i: int) -> tuple[Push, ...]:
    """A value for every volume i = 1 mod 4 (pushed with its index), and one unindexed value before volume 20."""
    pushes: list[Push] = []
    if i == 20:
        pushes.append((-0.25, None))
    if i % 4 == 1:
        pushes.append((10.0 + i / 8, i))
    return tuple(pushes)


def external_known(stream: Sequence[Volume]) -> dict[int, float]:
    return {i: 10.0 + i / 8 if i % 4 == 1 else -0.25 for i in range(N_VOLUMES) if i % 4 == 1 or i >= 20}


@functools.cache
def normative_model() -> NormativeModel:
    """An autoencoder of the networks a, b, c (edges b--a, c--a, c--b) fitted on controls' 8-volume window FC."""
    rng = np.random.default_rng(11)
    corr = np.array([[1.0, 0.6, -0.5], [0.6, 1.0, -0.4], [-0.5, -0.4, 1.0]])
    rows = [np.corrcoef(rng.multivariate_normal(np.zeros(3), corr, size=WINDOW), rowvar=False)[[1, 2, 2], [0, 0, 1]]
            for _ in range(120)]
    return fit_normative(np.array(rows), edge_labels(ROIS), [f"sub-{k}" for k in range(120)], sizes=(3, 2, 3),
                         seed=0, max_iter=200, meta={"metric": "pearson", "fisher_z": False})


def normative_options(tmp_path: Path) -> dict[str, Any]:
    save_model(normative_model(), tmp_path / "normative")
    sha = hashlib.sha256((tmp_path / "normative" / "model.npz").read_bytes()).hexdigest()
    return {"model": tmp_path / "normative", "sha256": sha, "window": WINDOW}


def normative_known(stream: Sequence[Volume]) -> dict[int, float]:
    """The mean squared reconstruction error (nfd.normative.deviations) of the last WINDOW volumes' kalman r."""
    k = series(stream, "kalman")
    out = {}
    for i in range(SKIP + WINDOW - 1, N_VOLUMES):
        w = {n: k[n][i - WINDOW + 1 : i + 1] for n in ROIS}
        fc = [r_by_hand(w["b"], w["a"]), r_by_hand(w["c"], w["a"]), r_by_hand(w["c"], w["b"])]
        out[i] = float(deviations(normative_model(), fc).mean())
    return out


# --- wrong inputs -----------------------------------------------------------------------------------


def without_b(computer: FeedbackComputer, volume: Volume) -> object:
    steps = {n: s for n, s in volume.steps.items() if n != "b"}
    return computer.update(volume.index, steps, volume.voxels)


def voxels_without_b(computer: FeedbackComputer, volume: Volume) -> object:
    voxels = {n: v for n, v in volume.voxels.items() if n != "b"}
    return computer.update(volume.index, volume.steps, voxels)


def voxels_short(computer: FeedbackComputer, volume: Volume) -> object:
    voxels = {**volume.voxels, "c": volume.voxels["c"][:-1]}
    return computer.update(volume.index, volume.steps, voxels)


def no_voxels(computer: FeedbackComputer, volume: Volume) -> object:
    return computer.update(volume.index, volume.steps, None)


def push_text(computer: FeedbackComputer, volume: Volume) -> object:
    computer.push("high", index=volume.index)  # type: ignore[arg-type]
    return None


def push_nan(computer: FeedbackComputer, volume: Volume) -> object:
    computer.push(math.nan)
    return None


MISSING_STEP = (without_b, r"no chain step for ROI 'b'")

# --- the cases ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One kind: its class, options, the volumes it promises no value at, its known answers, wrong inputs."""

    kind: str
    cls: type[FeedbackComputer]
    options: Callable[[Path], dict[str, Any]]
    silent: Callable[[int], bool]
    known: Callable[[Sequence[Volume]], dict[int, float]]
    wrong: tuple[tuple[Callable[[FeedbackComputer, Volume], object], str], ...]
    pushes: Callable[[int], tuple[Push, ...]] = field(default=lambda i: ())
    needs_voxels: bool = False
    stream_of: Callable[[Callable[[int], tuple[Push, ...]]], list[Volume]] = field(default=make_stream)

    def build(self, tmp_path: Path) -> FeedbackComputer:
        return make_feedback(self.kind, DESIGN, list(ROIS), **self.options(tmp_path))

    def stream(self) -> list[Volume]:
        return self.stream_of(self.pushes)


CASES = {
    case.kind: case
    for case in (
        Case(
            "psc",
            ContinuousActivity,
            lambda _: {"signal": "raw", "delay": DELAY, "combine": "median"},
            silent=lambda i: False,  # 0.0 at skipped volumes and before a baseline value, never None
            known=psc_known,
            wrong=(MISSING_STEP,),
        ),
        Case(
            "psc_intermittent",
            IntermittentActivity,
            lambda _: {"delay": DELAY, "shaping": {"margin": 0.2}},
            silent=lambda i: i not in BLOCK_ENDS,  # a value at the end of each regulation block only
            known=psc_intermittent_known,
            wrong=(MISSING_STEP,),
        ),
        Case(
            "correlation",
            SlidingCorrelation,
            lambda _: {"window": WINDOW, "pairs": [list(p) for p in CORRELATION_PAIRS]},
            silent=lambda i: i < SKIP + WINDOW - 1,  # None until the window holds WINDOW unskipped volumes
            known=correlation_known,
            wrong=(MISSING_STEP,),
        ),
        Case(
            "correlation_intermittent",
            IntermittentCorrelation,
            lambda _: {"delay": DELAY},
            silent=lambda i: i not in BLOCK_ENDS,
            known=correlation_intermittent_known,
            wrong=(MISSING_STEP,),
        ),
        Case(
            "proxy",
            TwoPointProxy,
            lambda _: {"targets": ["a", "b"], "control": "c", "min_agree": 2},
            silent=lambda i: i <= SKIP,  # skipped volumes, and the first one after them (no change yet)
            known=proxy_known,
            wrong=(MISSING_STEP,),
        ),
        Case(
            "decoder",
            DecoderFeedback,
            decoder_options,
            silent=lambda i: i < SKIP,
            known=decoder_known,
            needs_voxels=True,
            wrong=(
                (voxels_without_b, r"no voxels for ROI 'b'"),
                (voxels_short, r"expects 12 features, but voxels of the ROIs \['a', 'b', 'c'\] give 11"),
                (no_voxels, r"input='voxels' needs the ROI voxels"),
            ),
        ),
        Case(
            "external",
            ExternalFeedback,
            lambda _: {},
            silent=lambda i: i % 4 != 1 and i < 20,  # nothing pushed for the volume and no latest value yet
            known=external_known,
            wrong=(
                (push_text, r"external feedback value must be a number, got 'high'"),
                (push_nan, r"external feedback value must be a finite number, got nan"),
            ),
            pushes=external_pushes,
        ),
        Case(
            "normative",
            NormativeFeedback,
            normative_options,
            silent=lambda i: i < SKIP + WINDOW - 1,  # None until the window holds WINDOW unskipped volumes
            known=normative_known,
            wrong=(MISSING_STEP,),
        ),
    )
}

# --- OpenNFT's rules (issue 13): the same contract, on a stream whose scaled series and limits vary ---------


def make_opennft_stream(pushes: Callable[[int], tuple[Push, ...]] = lambda i: ()) -> list[Volume]:
    """:func:`make_stream` with per-ROI limits that widen over the run and the kalman series scaled by them."""
    out = []
    for volume in make_stream(pushes):
        steps = {}
        for r, (name, step) in enumerate(volume.steps.items()):
            lo, hi = -2.0 - 0.01 * volume.index - 0.1 * r, 2.0 + 0.02 * volume.index + 0.2 * r
            steps[name] = step._replace(scaled=(step.kalman - lo) / (hi - lo), scale_lo=lo, scale_hi=hi)
        out.append(Volume(volume.index, steps, volume.voxels, volume.pushes))
    return out


def median_of(x: np.ndarray, indices: Sequence[int]) -> float:
    values = sorted(float(x[i]) for i in indices)
    m = len(values) // 2
    return values[m] if len(values) % 2 else (values[m - 1] + values[m]) / 2


#: OpenNFT's continuous baseline per regulation block: the last 7 of baseline 1 (2-9); then 1 and 2 from
#: their 3rd volume
OPENNFT_CONTINUOUS_BASELINE = {0: range(3, 10), 1: [*range(4, 10), *range(22, 30)]}
#: OpenNFT's intermittent sets at each block end: the last 7 regulation volumes; the last 7 of baseline 1,
#: then the last 6 of baseline 2 and the volume after it
OPENNFT_INTERMITTENT = {19: (range(13, 20), range(3, 10)), 39: (range(33, 40), [*range(24, 30), 30])}


def psc_opennft_known(stream: Sequence[Volume]) -> dict[int, float]:
    sc = series(stream, "scaled")
    out = {}
    for i in range(N_VOLUMES):
        block = 0 if 10 <= i <= 19 else 1 if 30 <= i <= 39 else None
        if block is None:
            out[i] = 0.0
            continue
        base = OPENNFT_CONTINUOUS_BASELINE[block]
        out[i] = sorted(sc[n][i] - median_of(sc[n], base) for n in ROIS)[1]  # combine="median" of three
    return out


def psc_intermittent_opennft_known(signal: str) -> Callable[[Sequence[Volume]], dict[int, float]]:
    def known(stream: Sequence[Volume]) -> dict[int, float]:
        x = series(stream, signal)
        out = {}
        for end, (regulation, baseline) in OPENNFT_INTERMITTENT.items():
            lo = sum(stream[end].steps[n].scale_lo for n in ROIS) / len(ROIS)
            hi = sum(stream[end].steps[n].scale_hi for n in ROIS) / len(ROIS)
            per_roi = [
                (median_of(x[n], regulation) - lo) / (hi - lo) - (median_of(x[n], baseline) - lo) / (hi - lo)
                for n in ROIS
            ]
            out[end] = sum(per_roi) / len(per_roi)
        return out

    return known


def weights_options(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "svm_weights.nii"
    nib.save(nib.Nifti1Image(np.random.default_rng(5).normal(size=(4, 4, 3)), np.eye(4)), path)
    return {"weights": path, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def svm_known(stream: Sequence[Volume]) -> dict[int, float]:
    """Per ROI the stored series: each new scaled value z-scored with the stored ones (n - 1), replaced by
    its logistic; the mean over the ROIs in regulation, 0.0 in baseline, nothing for the skipped volumes."""
    sc = series(stream, "scaled")
    stored: dict[str, list[float]] = {n: [] for n in ROIS}
    out = {}
    for i in range(SKIP, N_VOLUMES):
        for n in ROIS:
            h = [*stored[n], float(sc[n][i])]
            mean = sum(h) / len(h)
            sd = math.sqrt(sum((v - mean) ** 2 for v in h) / (len(h) - 1)) if len(h) > 1 else 0.0
            stored[n] = [*h[:-1], 1.0 / (1.0 + math.exp(-(h[-1] - mean) / (sd or 1.0)))]
        out[i] = sum(stored[n][-1] for n in ROIS) / len(ROIS) if in_regulation(i) else 0.0
    return out


VARIANTS = {
    "psc[opennft]": Case(
        "psc",
        ContinuousActivity,
        lambda _: {"signal": "scaled", "combine": "median", "reference": "opennft"},
        silent=lambda i: False,  # 0.0 at skipped and baseline volumes
        known=psc_opennft_known,
        wrong=(MISSING_STEP,),
        stream_of=make_opennft_stream,
    ),
    "psc_intermittent[opennft-current]": Case(
        "psc_intermittent",
        IntermittentActivity,
        lambda _: {"signal": "scaled", "reference": "opennft", "shaping": True},
        silent=lambda i: i not in BLOCK_ENDS,
        known=psc_intermittent_opennft_known("scaled"),
        wrong=(MISSING_STEP,),
        stream_of=make_opennft_stream,
    ),
    "psc_intermittent[opennft-1.0]": Case(
        "psc_intermittent",
        IntermittentActivity,
        lambda _: {"signal": "kalman", "reference": "opennft", "combine": "mean"},
        silent=lambda i: i not in BLOCK_ENDS,
        known=psc_intermittent_opennft_known("kalman"),
        wrong=(MISSING_STEP,),
        stream_of=make_opennft_stream,
    ),
    "decoder[weights]": Case(
        "decoder",
        DecoderFeedback,
        weights_options,
        silent=lambda i: i < SKIP,
        known=svm_known,
        wrong=(MISSING_STEP,),
        stream_of=make_opennft_stream,
    ),
}

ALL_CASES = {**CASES, **VARIANTS}
KINDS = pytest.mark.parametrize("kind", list(ALL_CASES))


def test_cases_cover_every_kind() -> None:
    assert list(CASES) == list(FEEDBACK_KINDS)
    assert {case.kind for case in VARIANTS.values()} <= set(FEEDBACK_KINDS)


@KINDS
def test_built_by_make_feedback(kind: str, tmp_path: Path) -> None:
    case = ALL_CASES[kind]
    computer = case.build(tmp_path)
    assert type(computer) is case.cls and isinstance(computer, FeedbackComputer)
    assert computer.kind == case.kind == case.cls.kind
    assert computer.rois == ROIS and len(computer.rois) >= computer.min_rois
    assert computer.needs_voxels is case.needs_voxels
    assert computer.accepts_push is (case.kind == "external")
    assert computer.projects_voxels is (kind == "decoder[weights]")


@KINDS
def test_summary_is_plain_json(kind: str, tmp_path: Path) -> None:
    case = ALL_CASES[kind]
    computer = case.build(tmp_path)
    fresh = computer.summary()
    assert fresh["kind"] == case.kind and fresh["volumes"] == 0 and fresh["feedback_volumes"] == 0
    assert orjson.loads(orjson.dumps(fresh)) == fresh  # plain JSON values: no numpy, no NaN
    outputs = feed(computer, case.stream())
    summary = computer.summary()
    assert summary["kind"] == case.kind and summary["rois"] == list(ROIS) and summary["volumes"] == N_VOLUMES
    assert summary["feedback_volumes"] == sum(v is not None for v in outputs)
    assert orjson.loads(orjson.dumps(summary)) == summary


@KINDS
def test_every_volume_gives_none_or_a_finite_float(kind: str, tmp_path: Path) -> None:
    case = ALL_CASES[kind]
    computer = case.build(tmp_path)
    for volume, value in zip(case.stream(), feed(computer, case.stream()), strict=True):
        assert value is None or (type(value) is float and math.isfinite(value)), (volume.index, value)
    assert isinstance(computer.detail, dict)
    dumps(computer.detail)  # the volume's record is written with nfd._json


@KINDS
def test_no_value_where_the_kind_says_none(kind: str, tmp_path: Path) -> None:
    case = ALL_CASES[kind]
    outputs = feed(case.build(tmp_path), case.stream())
    silent = [i for i, value in enumerate(outputs) if value is None]
    assert silent == [i for i in range(N_VOLUMES) if case.silent(i)]


@KINDS
def test_known_answers(kind: str, tmp_path: Path) -> None:
    case = ALL_CASES[kind]
    stream = case.stream()
    expected = case.known(stream)
    outputs = feed(case.build(tmp_path), stream)
    got = {i: value for i, value in enumerate(outputs) if value is not None}
    assert set(got) == set(expected)
    for i, value in expected.items():
        assert got[i] == pytest.approx(value, rel=1e-9, abs=1e-12), i


@KINDS
def test_two_fresh_computers_agree(kind: str, tmp_path: Path) -> None:
    case = ALL_CASES[kind]
    first, second = case.build(tmp_path), case.build(tmp_path)
    assert feed(first, case.stream()) == feed(second, case.stream())
    assert orjson.dumps(first.summary()) == orjson.dumps(second.summary())


@KINDS
def test_volume_outside_the_run(kind: str, tmp_path: Path) -> None:
    case = ALL_CASES[kind]
    computer = case.build(tmp_path)
    last = case.stream()[-1]
    for index in (-1, N_VOLUMES, N_VOLUMES + 100):
        with pytest.raises(VolumeIndexError, match=f"volume index {index} is outside"):
            computer.update(index, last.steps, last.voxels)
    assert computer.summary()["volumes"] == 0  # a refused volume is not counted
    if computer.accepts_push:
        with pytest.raises(VolumeIndexError, match=f"volume index {N_VOLUMES} is outside"):
            computer.push(1.0, index=N_VOLUMES)


@KINDS
def test_wrong_input_is_named(kind: str, tmp_path: Path) -> None:
    case = ALL_CASES[kind]
    stream = case.stream()
    for wrong, message in case.wrong:
        computer = case.build(tmp_path)
        feed(computer, stream[:12])
        with pytest.raises(FeedbackError, match=message):
            wrong(computer, stream[12])
    if not case.cls.accepts_push:
        with pytest.raises(FeedbackError, match=f"feedback type '{case.kind}' computes its own values"):
            case.build(tmp_path).push(1.0)


def test_decoder_wrong_shape_is_a_decoder_error(tmp_path: Path) -> None:
    computer = CASES["decoder"].build(tmp_path)
    with pytest.raises(DecoderError, match="expects 12 features"):
        voxels_short(computer, make_stream()[5])


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_external_latest_value_goes_stale_after_max_age() -> None:
    clock = Clock()
    fb = ExternalFeedback(DESIGN, ROIS, max_age_s=1.5, clock=clock)
    volume = make_stream()[0]
    fb.push(0.75)
    clock.now = 101.5  # exactly max_age_s old: still used
    assert fb.update(3, volume.steps) == 0.75
    clock.now = 101.6
    assert fb.update(4, volume.steps) is None
    fb.push(-0.5, index=5)  # a value for its own volume does not age
    assert fb.update(5, volume.steps) == -0.5
    assert fb.summary()["stale_volumes"] == 1


def test_external_from_make_feedback_goes_stale_on_the_real_clock() -> None:
    fb = make_feedback("external", DESIGN, list(ROIS), max_age_s=0.01)
    volume = make_stream()[0]
    fb.push(0.75)
    time.sleep(0.05)
    assert fb.update(3, volume.steps) is None
    assert fb.detail["stale"] is True and fb.detail["age_s"] >= 0.05
    assert fb.summary()["stale_volumes"] == 1 and fb.summary()["max_age_s"] == 0.01
