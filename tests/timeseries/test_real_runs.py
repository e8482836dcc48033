"""The signal chain, the incremental GLM and the quality monitor on real runs.

- ``opennft_psc_run``: OpenNFT's continuous-PSC run (2 ROIs, 7 regulation
  blocks), realigned and smoothed by nfd (see ``_opennft_run``);
- ``pyhrf_localizer``: a localizer already normalised, two auditory parcels,
  and its PyHRF paradigm CSV (10 conditions, TR 2.4 s).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.design import load_protocol
from nfd.timeseries import ChainOptions, IncrementalGLM, QualityMonitor, RoiSet, SignalChain, WholeBrainDesign
from tests.helpers.opennft_run import SKIP, TR, OpenNFTRun, opennft_run

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def run(shared_data: Path) -> OpenNFTRun:
    return opennft_run(shared_data)


def test_opennft_chain_follows_the_protocol(run: OpenNFTRun) -> None:
    design = run.design
    regulation = design.boxcar()[SKIP:] > 0
    tables = {}
    for k, name in enumerate(run.rois.names):
        chain = SignalChain(design, TR)
        for i in range(SKIP, design.n_volumes):
            chain.update(i, run.means[i, k], run.params[i])
        tables[name] = chain.table()
    left = tables["left"]
    assert left["index"].tolist() == list(range(SKIP, 155))
    assert left["kalman"][regulation].mean() - left["kalman"][~regulation].mean() > 0.3  # scanner units
    assert left["scaled"][regulation].mean() > left["scaled"][~regulation].mean()
    for table in tables.values():
        assert np.all(np.isfinite(table["scaled"]))
        assert np.abs(table["spike"]).sum() <= 5  # a clean run: few spikes held back


def test_opennft_activation_map_peaks_in_the_rois(run: OpenNFTRun) -> None:
    design = run.design
    wb = WholeBrainDesign(design.task_regressors(TR), tr=TR, skip_volumes=SKIP)
    glm = IncrementalGLM(run.masked.shape[1], wb.contrast(design.contrast_vector({"NFBREG": 1.0})))
    for i in range(SKIP, design.n_volumes):
        glm.update(run.masked[i], wb.row(i, run.params[i]))
    t = np.zeros(run.shape)
    t[run.mask] = glm.t_map()
    peaks = {name: float(t[mask].max()) for name, mask in run.rois.masks.items()}
    assert peaks["left"] > 8 and peaks["right"] > 6
    # the run's strongest activation lies in an ROI
    assert any(t[mask].max() == t.max() for mask in run.rois.masks.values())


def test_opennft_quality_is_that_of_a_still_clean_run(run: OpenNFTRun) -> None:
    monitor = QualityMonitor(run.design, run.rois.names)
    volume = np.zeros(run.shape, dtype=np.float32)
    for i in range(SKIP, run.design.n_volumes):
        volume[run.mask] = run.masked[i]
        monitor.update(i, run.params[i], volume)
    summary = monitor.summary()
    assert summary["volumes"] == 150
    assert summary["fd_max_mm"] < 0.5 and summary["crossings"].get("fd", 0) == 0
    assert 0.5 < summary["dvars_mean_percent"] < 3.0
    tsnr = monitor.tsnr_map()
    assert tsnr is not None and 20 < float(np.nanmedian(tsnr)) < 500


@pytest.mark.parametrize("condition_group", ["audio"])
def test_pyhrf_localizer_auditory_parcels_answer_the_audio_events(shared_data: Path, condition_group: str) -> None:
    folder = shared_data / "pyhrf_localizer"
    tr = 2.4  # the header's 1.0 is wrong
    design = load_protocol(folder / "paradigm_loc.csv", n_volumes=125, tr=tr)
    bold = np.asarray(nib.load(folder / "subj0_bold_session0.nii.gz").dataobj, dtype=np.float32)
    parcels = np.asarray(nib.load(folder / "subj0_parcellation.nii.gz").dataobj)
    rois = RoiSet({"right": parcels == 1, "left": parcels == 2})
    x = design.task_regressors(tr)
    audio = np.array([condition_group in c for c in design.conditions])
    video = np.array(["video" in c for c in design.conditions])
    for k, _name in enumerate(rois.names):
        chain = SignalChain(design, tr, ChainOptions(motion_regressors=False))
        for i in range(125):
            chain.update(i, rois.means(bold[..., i])[k])
        table = chain.table()
        full = table["stage"] == 4
        kalman = table["kalman"][full]
        assert np.corrcoef(kalman, x[full][:, audio].sum(axis=1))[0, 1] > 0.5
        assert np.corrcoef(kalman, x[full][:, video].sum(axis=1))[0, 1] < 0.1
    wb = WholeBrainDesign(x, tr=tr, motion=False)
    inside = parcels > 0
    maps = {}
    for name, contrast in (("audio", audio), ("video", video)):
        glm = IncrementalGLM(int(inside.sum()), wb.contrast(contrast.astype(float)))
        for i in range(125):
            glm.update(bold[..., i][inside], wb.row(i))
        maps[name] = glm.t_map()
    assert np.median(maps["audio"]) > 2 and maps["audio"].max() > 8
    assert abs(np.median(maps["video"])) < 1
