"""``acquire.on_new_series = "new_run"``: a new series ends the run and starts the next one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nfd.outputs import RunFolder
from nfd.simulate import make_session, write_nifti_volume, write_roi_masks
from nfd.testing import running_daemon

pytestmark = pytest.mark.slow  # starts nfd subprocesses


def test_new_series_starts_the_next_run(tmp_path: Path) -> None:
    n = 6
    s = make_session(n_volumes=n, tr=2.0, shape=(24, 24, 16), seed=9, block_length=3)
    masks = write_roi_masks(tmp_path / "rois", s)
    watch = tmp_path / "watch"
    watch.mkdir()
    (tmp_path / "p.json").write_text('{"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[4, 6]]}]}')
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    config = tmp_path / "nfd.toml"
    config.write_text(f"""
[run]
tr = 2.0
n_volumes = {n}
output_dir = "runs"
[acquire]
watch_dir = "watch"
pattern = '^(?P<series>\\d{{3}})_(?P<volume>\\d{{4}})\\.nii$'
on_new_series = "new_run"
[roi]
{rois}
[feedback]
protocol = "p.json"
[feedback.udp]
enabled = false
[web]
enabled = false
[iglm]
enabled = false
""")
    with running_daemon(config) as daemon:
        daemon.wait_for("run_started")
        for i in range(4):  # series 7: four of six volumes, then the scanner starts series 8
            write_nifti_volume(watch / f"007_{i + 1:04d}.nii", s.volumes[i], s.affine)
        daemon.wait_for("volume_processed", count=4)
        for i in range(n):
            write_nifti_volume(watch / f"008_{i + 1:04d}.nii", s.volumes[i], s.affine)
        daemon.wait_for("waiting_for_new_series")  # series 8 ran to its end; the daemon waits
        # series 9 is an anatomical scan on another grid: refused, and the daemon waits for the next
        anatomy = np.ones((20, 20, 10), np.float32)
        write_nifti_volume(watch / "009_0001.nii", anatomy, np.diag([1.0, 1.0, 1.0, 1.0]))
        daemon.wait_for("run_refused")
        daemon.wait_for("waiting_for_new_series", count=2)
        assert daemon.returncode is None
        assert daemon.stop(30) == 0, daemon.log_text()
    assert daemon.other_lines() == []  # every line is a JSON record
    events = daemon.events()
    endings = [e["reason"] for e in events if e["event"] == "run_ending"]
    assert endings == ["new_series", "complete"]
    refused = [e for e in events if e["event"] == "run_refused"]
    assert len(refused) == 1 and "roi" in refused[0]["reason"]
    first, second, _refused_run = sorted((tmp_path / "runs").iterdir())
    one = [r["index"] for r in RunFolder.read_volumes(first) if r["status"] == "processed"]
    two = [r for r in RunFolder.read_volumes(second) if r["status"] == "processed"]
    assert one == [0, 1, 2, 3]
    assert [r["index"] for r in two] == list(range(n)) and all(r["file"].startswith("008_") for r in two)
