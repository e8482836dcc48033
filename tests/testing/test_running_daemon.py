"""nfd.testing.running_daemon against a real ``nfd run`` on a tiny synthetic session."""

from __future__ import annotations

from pathlib import Path

import pytest

from nfd.simulate import SyntheticSession, make_session, write_nifti_volume, write_roi_masks
from nfd.testing import DaemonError, running_daemon

pytestmark = pytest.mark.slow  # starts nfd subprocesses

N = 4


def _tiny_run(tmp_path: Path) -> tuple[Path, SyntheticSession]:
    s = make_session(n_volumes=N, tr=2.0, shape=(24, 24, 16), seed=9, block_length=2)
    masks = write_roi_masks(tmp_path / "rois", s)
    (tmp_path / "watch").mkdir()
    (tmp_path / "p.json").write_text('{"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[3, 4]]}]}')
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    config = tmp_path / "nfd.toml"
    config.write_text(f"""
[run]
tr = 2.0
n_volumes = {N}
output_dir = "runs"
[acquire]
watch_dir = "watch"
pattern = '^vol_(?P<volume>\\d{{4}})\\.nii$'
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
[log]
format = "json"
""")
    return config, s


def test_waits_for_events_reads_them_and_sees_the_exit(tmp_path: Path) -> None:
    config, s = _tiny_run(tmp_path)
    with running_daemon(config) as daemon:
        started = daemon.wait_for("run_started")
        assert started["event"] == "run_started" and daemon.returncode is None
        for i in range(N):
            write_nifti_volume(tmp_path / "watch" / f"vol_{i + 1:04d}.nii", s.volumes[i], s.affine)
        third = daemon.wait_for("volume_processed", count=3)
        assert daemon.events("volume_processed").index(third) == 2
        assert daemon.wait(60) == 0  # web disabled: the run ends after its last volume
        assert daemon.returncode == 0
        assert len(daemon.events("volume_processed")) == N
        assert daemon.events("run_finished") and daemon.other_lines() == []
        assert daemon.log_path == tmp_path / "daemon.log" and "run_finished" in daemon.log_text()
        with pytest.raises(DaemonError, match=r"exited \(0\) before logging 'run_started' x2"):
            daemon.wait_for("run_started", count=2)


def test_leaving_the_block_stops_and_reaps_the_process(tmp_path: Path) -> None:
    config, _ = _tiny_run(tmp_path)
    with pytest.raises(RuntimeError, match="test body failed"), running_daemon(
        config, log_path=tmp_path / "own.log"
    ) as daemon:
        daemon.wait_for("run_started")
        with pytest.raises(DaemonError, match=r"'no_such_event' x1 not logged within 0\.2 s"):
            daemon.wait_for("no_such_event", timeout=0.2)
        raise RuntimeError("test body failed")
    assert daemon.returncode is not None and (tmp_path / "own.log").is_file()
    with running_daemon(config) as daemon:
        daemon.wait_for("run_started")
    assert daemon.returncode == 0  # SIGTERM on leaving: an orderly stop
