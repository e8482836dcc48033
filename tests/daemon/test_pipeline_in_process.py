"""The pipeline without a daemon's worker process: the in-process volume step gives the worker's records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nfd.config import parse_config
from nfd.daemon import InProcessVolumeStep, VolumeOutput, run_daemon
from nfd.daemon.build import open_recording
from nfd.outputs import RunFolder, VolumeRecord, VolumeStatus

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def _config(run: Path, watch: Path) -> str:
    return f"""
[run]
tr = 1.97
n_volumes = 155
skip_volumes = 5
[acquire]
watch_dir = "{watch}"
[volume]
reference = "{run / 'fanon-0007-00006-000006-01.nii'}"
[roi]
left = "{run / 'rois' / 'lROI_1.nii'}"
right = "{run / 'rois' / 'rROI_2.nii'}"
[feedback]
protocol = "{run / 'protocol.json'}"
[feedback.udp]
enabled = false
"""


async def test_in_process_step_gives_the_worker_processs_records(shared_data: Path, tmp_path: Path) -> None:
    run = shared_data / "opennft_psc_run"
    cfg = parse_config(_config(run, tmp_path), base_dir=tmp_path)
    results: dict[str, list[VolumeRecord]] = {}
    for name, step in (("worker", None), ("in_process", InProcessVolumeStep(smooth_fwhm=cfg.volume.smooth_fwhm))):
        source = open_recording(run / "dicom", cfg)
        records: list[VolumeRecord] = []
        summary = await run_daemon(cfg, source, handle_signals=False, output_dir=tmp_path / name, web=False,
                                   on_volume=records.append, volume_step=step)
        assert summary["volumes_processed"] == 150
        results[name] = records
    worker, local = results["worker"], results["in_process"]
    assert [r.index for r in local] == [r.index for r in worker] == list(range(5, 155))
    assert all(r.status is VolumeStatus.PROCESSED for r in local)
    np.testing.assert_array_equal([r.motion for r in local], [r.motion for r in worker])
    assert [r.roi for r in local] == [r.roi for r in worker]
    assert [r.feedback for r in local] == [r.feedback for r in worker]


class _FailsOnce(InProcessVolumeStep):
    """The in-process engine, with a bug that strikes on one volume."""

    def __init__(self, fail_call: int, **kwargs: float) -> None:
        super().__init__(**kwargs)
        self.calls, self.fail_call = 0, fail_call

    async def process(self, data: np.ndarray) -> VolumeOutput:
        self.calls += 1
        if self.calls == self.fail_call:
            raise RuntimeError("a bug in the volume step")
        return await super().process(data)


async def test_a_volume_that_fails_gets_a_failed_line_and_the_run_goes_on(shared_data: Path, tmp_path: Path) -> None:
    run = shared_data / "opennft_psc_run"
    cfg = parse_config(_config(run, tmp_path), base_dir=tmp_path)
    source = open_recording(run / "dicom", cfg)
    step = _FailsOnce(3, smooth_fwhm=cfg.volume.smooth_fwhm)  # the third volume after the skipped five
    summary = await run_daemon(cfg, source, handle_signals=False, output_dir=tmp_path / "out", web=False,
                               volume_step=step)
    records = RunFolder.read_volumes(Path(summary["run_folder"]))
    assert [r.index for r in records] == list(range(5, 155))  # every index once
    failed = [r for r in records if r.status is VolumeStatus.FAILED]
    assert [(r.index, r.reason) for r in failed] == [(7, "RuntimeError: a bug in the volume step")]
    assert failed[0].file == "001_000007_000008.dcm" and failed[0].condition is not None
    assert summary["volumes_processed"] == 149 and summary["volumes_failed"] == 1 and summary["volumes_refused"] == 0


async def test_a_weight_map_decoder_feeds_each_chain_the_projection_of_its_voxels(
    shared_data: Path, tmp_path: Path
) -> None:
    import hashlib

    import nibabel as nib

    run = shared_data / "opennft_psc_run"
    left, right = (nib.load(run / "rois" / name) for name in ("lROI_1.nii", "rROI_2.nii"))
    l_mask, r_mask = (np.asarray(m.dataobj) > 0 for m in (left, right))
    assert not (l_mask & r_mask).any()
    # weights 2/n on the left ROI and 3/n on the right: the projections are 2 and 3 times the ROI means
    weights = 2.0 * l_mask / l_mask.sum() + 3.0 * r_mask / r_mask.sum()
    nib.save(nib.Nifti1Image(weights.astype(np.float32), left.affine), tmp_path / "weights.nii")
    digest = hashlib.sha256((tmp_path / "weights.nii").read_bytes()).hexdigest()
    text = _config(run, tmp_path).replace("[feedback]\n", "[feedback]\ntype = \"decoder\"\n") + f"""
[feedback.decoder]
weights = "weights.nii"
sha256 = "{digest}"
"""
    cfg = parse_config(text, base_dir=tmp_path)
    records: list[VolumeRecord] = []
    await run_daemon(cfg, open_recording(run / "dicom", cfg), handle_signals=False, output_dir=tmp_path / "out",
                     web=False, on_volume=records.append, volume_step=InProcessVolumeStep(smooth_fwhm=5.0))
    assert len(records) == 150
    for r in records:
        assert r.chain is not None
        assert r.chain["left"]["raw"] == pytest.approx(2.0 * r.roi["left"], rel=1e-5)
        assert r.chain["right"]["raw"] == pytest.approx(3.0 * r.roi["right"], rel=1e-5)
    # OpenNFT's SVM rule: a logistic of a z-score, so between 0 and 1, in regulation volumes; 0 in baseline
    regulation = [r.feedback for r in records if r.condition != "BAS"]
    assert regulation and all(v is not None and 0.0 < v < 1.0 for v in regulation)
    baseline = [r.feedback for r in records if r.condition == "BAS"]
    assert len(baseline) > 50 and all(v == 0.0 for v in baseline)
