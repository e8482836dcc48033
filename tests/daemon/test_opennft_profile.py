"""``profile = "opennft"`` end to end on the shared OpenNFT run, against a transcription of OpenNFT's MATLAB.

The real run (155 Siemens mosaics, 5 skipped, two ROIs, OpenNFT's template and
protocol) goes through the daemon (its worker process, with the profile's
realignment set-up) as ``nfd replay`` would. The reference takes what OpenNFT's
signal path takes, each ROI's mean and the motion parameters nfd recorded,
and runs the transcriptions of ``preprSig.m`` (AR(1) prewhitening, staged
cumulative GLM with SPM's task regressor from ``setupSPM.m``, ``modifKalman.m``,
``scaleTimeSeries.m``) and of ``nfbCalc.m`` (the feedback rule, rounding and
display range) in ``tests/helpers``, which share no code with nfd's engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nfd.config import parse_config
from nfd.daemon import run_daemon
from nfd.daemon.build import open_recording
from nfd.outputs import VolumeRecord
from tests.helpers.opennft_feedback_reference import continuous_psc, intermittent_psc, prot_cond
from tests.helpers.opennft_reference import preprsig_run, spm_design

pytestmark = [pytest.mark.shared, pytest.mark.slow]

TR, N_VOLUMES, SKIP = 1.97, 155, 5
ROIS = {"left": "lROI_1.nii", "right": "rROI_2.nii"}


def _config(run: Path, watch: Path, *, feedback: str, signal: str) -> str:
    rois = "\n".join(f'{name} = "{run / "rois" / file}"' for name, file in ROIS.items())
    return f"""
[run]
tr = {TR}
n_volumes = {N_VOLUMES}
skip_volumes = {SKIP}
[acquire]
watch_dir = "{watch}"
[volume]
reference = "{run / 'fanon-0007-00006-000006-01.nii'}"
[roi]
{rois}
[feedback]
protocol = "{run / 'protocol.json'}"
{feedback}
[feedback.udp]
enabled = false
[signal]
profile = "opennft"
{signal}
"""


async def _replay(run: Path, tmp_path: Path, **parts: str) -> list[VolumeRecord]:
    cfg = parse_config(_config(run, tmp_path, **parts), base_dir=tmp_path)
    records: list[VolumeRecord] = []
    await run_daemon(cfg, open_recording(run / "dicom", cfg), handle_signals=False, output_dir=tmp_path / "out",
                     web=False, on_volume=records.append)
    assert [r.index for r in records] == list(range(SKIP, N_VOLUMES))
    return records


def _reference(run: Path, records: list[VolumeRecord], version: str, t0: int) -> dict[str, dict[str, np.ndarray]]:
    """preprSig.m's series per ROI, from the ROI means and motion nfd recorded (OpenNFT's frame: first = 0)."""
    protocol = json.loads((run / "protocol.json").read_text())
    onoffsets = [[tuple(b) for b in c["OnOffsets"]] for c in protocol["ConditionIndex"]]
    task = spm_design(onoffsets, N_VOLUMES - SKIP, TR, t0=t0)
    motion = np.array([r.motion for r in records])
    return {name: preprsig_run(np.array([r.roi[name] for r in records]), motion - motion[0], task,
                               version=version) for name in ROIS}


def _chain(records: list[VolumeRecord], name: str, stage: str) -> np.ndarray:
    return np.array([r.chain[name][stage] for r in records])  # type: ignore[index]


async def test_continuous_psc_under_the_opennft_profile_is_opennfts(shared_data: Path, tmp_path: Path) -> None:
    run = shared_data / "opennft_psc_run"
    records = await _replay(run, tmp_path, feedback="", signal="")
    ref = _reference(run, records, "current", t0=1)
    for name in ROIS:
        kalman = _chain(records, name, "kalman")
        assert np.corrcoef(kalman, ref[name]["kalman"])[0, 1] >= 0.9999
        np.testing.assert_allclose(kalman, ref[name]["kalman"], rtol=1e-6, atol=1e-6 * np.abs(kalman).max())
        np.testing.assert_allclose(_chain(records, name, "scaled"), ref[name]["scaled"], atol=1e-7)
    scaled = np.vstack([ref[name]["scaled"] for name in ROIS])
    _, disp = continuous_psc(scaled, prot_cond(run / "protocol.json", N_VOLUMES - SKIP), "current",
                             max_val=100.0, dec=2, neg=False, roi_operation="median")
    sent = np.array([r.feedback for r in records], dtype=float)
    assert np.corrcoef(sent, disp)[0, 1] >= 0.999
    # rounded to 0.01 as OpenNFT does: equal but where a value lies within float noise of a rounding tie
    assert np.mean(np.abs(sent - disp) < 1e-9) >= 0.98 and np.abs(sent - disp).max() <= 0.01 + 1e-9
    assert np.all(sent[disp == 0.0] == 0.0) and (disp == 0.0).sum() >= 80  # baseline and clipped volumes


async def test_intermittent_psc_under_opennft_1_0_is_opennfts(shared_data: Path, tmp_path: Path) -> None:
    run = shared_data / "opennft_psc_run"
    records = await _replay(run, tmp_path, feedback='type = "psc_intermittent"', signal='opennft_version = "1.0"')
    ref = _reference(run, records, "1.0", t0=8)
    for name in ROIS:
        assert np.corrcoef(_chain(records, name, "kalman"), ref[name]["kalman"])[0, 1] >= 0.9999
    kalman = np.vstack([ref[name]["kalman"] for name in ROIS])
    scaled = np.vstack([ref[name]["scaled"] for name in ROIS])
    lo = np.mean([ref[name]["pos_min"] for name in ROIS], axis=0)
    hi = np.mean([ref[name]["pos_max"] for name in ROIS], axis=0)
    expected = intermittent_psc(kalman, scaled, lo, hi, prot_cond(run / "protocol.json", N_VOLUMES - SKIP), "1.0")
    assert len(expected) == 7
    sent = {r.index - SKIP + 1: r.feedback for r in records if r.feedback is not None}
    ends = sorted(expected)
    assert set(ends) <= set(sent)
    ours, theirs = np.array([sent[t] for t in ends]), np.array([expected[t][1] for t in ends])
    assert np.corrcoef(ours, theirs)[0, 1] >= 0.99 if theirs.std() > 0 else np.array_equal(ours, theirs)
    np.testing.assert_allclose(ours, theirs, atol=0.1 + 1e-9)  # 1.0 rounds to 0.1
