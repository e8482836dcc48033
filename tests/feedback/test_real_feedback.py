"""Every feedback type end to end on the real OpenNFT run: ROI means -> signal chains -> feedback.

The run (``opennft_psc_run``, 7 regulation blocks of 10 volumes) is realigned
and smoothed by nfd (``tests/timeseries/_opennft_run.py``); each ROI's mean
goes through its :class:`SignalChain` as the daemon does, then through each
feedback type.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nfd.feedback import ExternalFeedback, make_feedback, scale_feedback
from nfd.timeseries import ChainStep, SignalChain
from tests.helpers.opennft_run import SKIP, TR, OpenNFTRun, opennft_run

pytestmark = pytest.mark.shared

Steps = list[dict[str, ChainStep]]


@pytest.fixture(scope="module")
def run(shared_data: Path) -> OpenNFTRun:
    return opennft_run(shared_data)


@pytest.fixture(scope="module")
def control(run: OpenNFTRun) -> np.ndarray:
    """A control region for the proxy: a 7 x 7 x 3 box at the centre of the brain (deep white matter)."""
    centre = np.argwhere(run.mask).mean(axis=0).round().astype(int)
    box = np.zeros(run.shape, dtype=bool)
    box[centre[0] - 3 : centre[0] + 4, centre[1] - 3 : centre[1] + 4, centre[2] - 1 : centre[2] + 2] = True
    return run.masked[:, box[run.mask]].mean(axis=1)


@pytest.fixture(scope="module")
def steps(run: OpenNFTRun, control: np.ndarray) -> Steps:
    names = [*run.rois.names, "control"]
    means = np.column_stack([run.means, control])
    chains = {name: SignalChain(run.design, TR) for name in names}
    return [
        {name: chains[name].update(i, means[i, k], run.params[i]) for k, name in enumerate(names)}
        for i in range(SKIP, run.design.n_volumes)
    ]


def feed(fb: object, steps: Steps, run: OpenNFTRun | None = None) -> np.ndarray:
    values = []
    for offset, step in enumerate(steps):
        i = SKIP + offset
        voxels = None if run is None else {n: run.voxels[n][i] for n in run.rois.names}
        value = fb.update(i, step, voxels)  # type: ignore[attr-defined]
        values.append(np.nan if value is None else value)
    return np.array(values)


def regulation(run: OpenNFTRun) -> np.ndarray:
    return run.design.boxcar()[SKIP:] > 0


@pytest.mark.parametrize(("signal", "margin"), [("raw", 0.2), ("kalman", 0.1), ("scaled", 0.1)])
def test_continuous_psc_is_higher_in_regulation_blocks(run: OpenNFTRun, steps: Steps, signal: str, margin: float) -> None:
    fb = make_feedback("psc", run.design, list(run.rois.names), signal=signal, delay=2, combine="mean")
    values = feed(fb, steps)
    assert np.all(np.isfinite(values))  # feedback for every one of the 150 processed volumes
    reg = regulation(run)
    assert values[reg].mean() - values[~reg].mean() > margin
    shown = [scale_feedback(v, gain=100.0 if signal == "scaled" else 20.0, lo=-100.0, hi=100.0) for v in values]
    assert max(abs(v) for v in shown) <= 100.0
    summary = fb.summary()
    assert summary["mean_regulation"] == pytest.approx(values[reg].mean())


def test_intermittent_psc_gives_seven_block_values_mostly_positive(run: OpenNFTRun, steps: Steps) -> None:
    fb = make_feedback("psc_intermittent", run.design, list(run.rois.names), delay=2, shaping=True)
    values = feed(fb, steps)
    ends = [SKIP + k for k in np.flatnonzero(np.isfinite(values))]
    assert ends == [last for condition, _first, last in run.design.blocks if condition == "NFBREG"]
    block_values = values[np.isfinite(values)]
    assert block_values.mean() > 0.2 and (block_values > 0).sum() >= 4
    summary = fb.summary()
    assert len(summary["blocks"]) == 7 and 1 <= summary["rewards"] <= 7


def test_sliding_correlation_of_the_two_rois_rises_in_regulation(run: OpenNFTRun, steps: Steps) -> None:
    fb = make_feedback("correlation", run.design, list(run.rois.names), window=10)
    values = feed(fb, steps)
    assert np.isnan(values[:9]).all() and np.isfinite(values[9:]).all()
    reg = regulation(run)
    assert np.nanmean(values[reg]) > np.nanmean(values[~reg]) + 0.1


def test_intermittent_correlation_gives_one_value_per_block(run: OpenNFTRun, steps: Steps) -> None:
    fb = make_feedback("correlation_intermittent", run.design, list(run.rois.names), delay=2)
    values = feed(fb, steps)
    finite = values[np.isfinite(values)]
    assert finite.size == 7 and np.all(np.abs(finite) <= 2.0)


def test_two_point_proxy_and_the_composite_measure(run: OpenNFTRun, steps: Steps) -> None:
    names = [*run.rois.names, "control"]
    fb = make_feedback("proxy", run.design, names, targets=list(run.rois.names), control="control")
    values = feed(fb, steps)
    assert np.isnan(values[0]) and set(np.unique(values[1:])) <= {0.0, 1.0}
    summary = fb.summary()
    assert summary["events"] == int(np.nansum(values)) > 10
    # the two ROIs go together more than with deep white matter, more so while regulating
    assert summary["composite"] > 0.2
    assert summary["composite_regulation"] > summary["composite_baseline"]
    strict = make_feedback("proxy", run.design, names, consecutive=2, min_change_sd=0.5)
    feed(strict, steps)
    assert strict.summary()["events"] < summary["events"]


def test_decoder_trained_on_the_first_half_follows_the_second(run: OpenNFTRun, steps: Steps, tmp_path: Path) -> None:
    names = list(run.rois.names)
    features = np.hstack([run.voxels[n] for n in names])
    labels = np.roll(run.design.boxcar(), 2) > 0  # about the haemodynamic delay
    train = np.arange(SKIP, 80)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000)).fit(features[train], labels[train])
    path = tmp_path / "decoder.joblib"
    joblib.dump(model, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    fb = make_feedback("decoder", run.design, names, model_path=path, sha256=sha, input="voxels")
    values = feed(fb, steps, run)
    second = np.arange(SKIP, 155) >= 80
    test_labels = labels[SKIP:][second]
    assert values[second][test_labels].mean() > values[second][~test_labels].mean() + 1.0


def test_external_source_feeds_through(run: OpenNFTRun, steps: Steps) -> None:
    fb = make_feedback("external", run.design, [])
    assert isinstance(fb, ExternalFeedback)
    values = []
    for offset, step in enumerate(steps):
        i = SKIP + offset
        if i % 3 == 0:
            fb.push(float(i), index=i)
        values.append(fb.update(i, step))
    assert [v for v in values if v is not None][:3] == [6.0, 9.0, 12.0]
    assert fb.summary()["feedback_volumes"] == sum(1 for i in range(SKIP, 155) if i % 3 == 0)
