"""The signal chain and the whole-brain GLM with an HRF read from a file in place of SPM's canonical one.

Planted truth: a response made with numpy (a gamma density peaking at 3 s, no
undershoot, at 0.1 s), convolved in continuous time with the blocks; nothing of
nfd.design makes the data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nfd.design import Design, Event, SampledHrf, read_hrf_tsv, spm_hrf, write_hrf_tsv
from nfd.timeseries import ChainOptions, SignalChain, TimeseriesError, WholeBrainGLM

TR = 2.0
N = 80
BLOCK = 3  # volumes on, then off
DT = 0.1
TIMES = np.arange(0.0, 25.0 + DT / 2, DT)
#: Gamma density of shape 4, scale 1 s: peak at 3 s (SPM's canonical peaks at 5 s), no undershoot.
EARLY = TIMES**3 * np.exp(-TIMES) / 6.0


def _onsets() -> list[float]:
    return [TR * i for i in range(BLOCK, N, 2 * BLOCK)]


def _design() -> Design:
    events = [Event("UP", onset, BLOCK * TR) for onset in _onsets()]
    return Design(["BAS"] * N, events=events, conditions=["UP"])


def _planted(amplitude: float) -> np.ndarray:
    """The blocks (on from onset for BLOCK * TR s) convolved with EARLY at 0.1 s, sampled at every volume start."""
    per_volume = round(TR / DT)
    stimulus = np.zeros(N * per_volume)
    for onset in _onsets():
        start = round(onset / DT)
        stimulus[start:start + BLOCK * per_volume] = 1.0
    kernel = EARLY / EARLY.sum()
    return amplitude * np.convolve(stimulus, kernel)[: stimulus.size][::per_volume]


@pytest.fixture
def files(tmp_path: Path) -> tuple[SampledHrf, SampledHrf]:
    path = write_hrf_tsv(tmp_path / "hrf.tsv", TIMES, {"early": EARLY})
    canonical = write_hrf_tsv(tmp_path / "canonical.tsv", np.arange(0.0, 32.05, DT), {"value": spm_hrf(DT, oversampling=1)})
    return read_hrf_tsv(path, "early"), read_hrf_tsv(canonical)


def _run(options: ChainOptions, raw: np.ndarray) -> dict[str, np.ndarray]:
    chain = SignalChain(_design(), TR, options)
    for index, value in enumerate(raw):
        chain.update(index, float(value), np.zeros(6))
    return chain.table()


def test_the_canonical_hrf_from_a_file_gives_the_default_chain(files: tuple[SampledHrf, SampledHrf]) -> None:
    rng = np.random.default_rng(1)
    raw = 1000.0 + _planted(20.0) + rng.normal(0, 2.0, N) + np.linspace(0, 10, N)
    default = _run(ChainOptions(), raw)
    from_file = _run(ChainOptions(hrf=files[1]), raw)
    early = _run(ChainOptions(hrf=files[0]), raw)
    for column in ("glm", "kalman", "scaled"):
        np.testing.assert_allclose(from_file[column], default[column], atol=2e-3 * np.ptp(default[column]))
    assert np.max(np.abs(early["glm"] - default["glm"])) > 0.05  # the chain took the file's HRF


def test_the_true_hrf_leaves_a_smaller_residual_in_the_whole_brain_glm(files: tuple[SampledHrf, SampledHrf]) -> None:
    rng = np.random.default_rng(2)
    mask = np.ones((3, 3, 2), dtype=bool)
    activation = _planted(1.0)
    gains = np.linspace(5.0, 15.0, mask.size).reshape(mask.shape)
    volumes = [100.0 + gains * activation[i] + rng.normal(0, 1.0, mask.shape) for i in range(N)]
    t = {}
    for name, hrf in (("spm", None), ("canonical file", files[1]), ("true", files[0])):
        glm = WholeBrainGLM(_design(), tr=TR, skip_volumes=0, high_pass_s=None, motion=False, hrf=hrf)
        for index, volume in enumerate(volumes):
            glm.update(index, volume.astype(np.float32), np.zeros(6), mask)
        t_map = glm.t_map()
        assert t_map is not None
        t[name] = t_map[mask]
    np.testing.assert_allclose(t["canonical file"], t["spm"], rtol=2e-3)
    assert np.all(t["true"] > 1.5 * t["spm"]), (t["true"], t["spm"])


def test_an_hrf_with_spm_regressors_or_of_another_type_is_refused(files: tuple[SampledHrf, SampledHrf]) -> None:
    with pytest.raises(TimeseriesError, match="expected no HRF with task_regressor 'spm'"):
        ChainOptions(hrf=files[0], task_regressor="spm")
    with pytest.raises(TimeseriesError, match="hrf must be a SampledHrf"):
        ChainOptions(hrf=EARLY)  # type: ignore[arg-type]
