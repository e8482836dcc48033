"""``acquire.on_new_series = "new_run"``: a new series ends the run and starts the next one, and never flaps."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from nfd.outputs import RunFolder
from nfd.simulate import SyntheticSession, make_session, write_nifti_volume, write_roi_masks
from nfd.testing import running_daemon

pytestmark = pytest.mark.slow  # starts nfd subprocesses


def _config(tmp_path: Path, *, n: int, tr: float, udp: str = "enabled = false") -> tuple[Path, Path, SyntheticSession]:
    """A new_run daemon's configuration on ``watch`` (NIfTI files ``<series>_<volume>.nii``) and its session."""
    s = make_session(n_volumes=n, tr=tr, shape=(24, 24, 16), seed=9, block_length=3)
    masks = write_roi_masks(tmp_path / "rois", s)
    watch = tmp_path / "watch"
    watch.mkdir()
    (tmp_path / "p.json").write_text('{"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[4, 6]]}]}')
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    config = tmp_path / "nfd.toml"
    config.write_text(f"""
[run]
tr = {tr}
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
{udp}
[web]
enabled = false
[iglm]
enabled = false
""")
    return config, watch, s


def test_new_series_starts_the_next_run(tmp_path: Path) -> None:
    n = 6
    config, watch, s = _config(tmp_path, n=n, tr=2.0)
    with running_daemon(config) as daemon:
        daemon.wait_for("run_started")
        for i in range(4):  # series 7: four of six volumes, then the scanner starts series 8
            write_nifti_volume(watch / f"007_{i + 1:04d}.nii", s.volumes[i], s.affine)
        last_written = time.monotonic()
        daemon.wait_for("volume_processed", count=4)
        # a new series comes after a TR of silence, as the daemon saw it: its clock starts when it took the last
        # file (later than the write, by the completeness check), so a second's margin
        time.sleep(max(0.0, last_written + 3.0 - time.monotonic()))
        for i in range(n):
            write_nifti_volume(watch / f"008_{i + 1:04d}.nii", s.volumes[i], s.affine)
        last_written = time.monotonic()
        daemon.wait_for("waiting_for_new_series")  # series 8 ran to its end; the daemon waits
        time.sleep(max(0.0, last_written + 2.0 - time.monotonic()))
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


def test_interleaved_series_never_flap(tmp_path: Path) -> None:
    # Series 7 and 8 written at once (the scanner's MoCo series beside the raw one), half a TR apart: the run
    # follows series 7 to its end, series 8 is barred (one warning per run), and a series that starts after
    # a silence (9) is the next run. Each volume of 7 and 9 is sent once; nothing of 8 is.
    n, tr = 10, 0.5
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        config, watch, s = _config(tmp_path, n=n, tr=tr, udp=f"port = {receiver.getsockname()[1]}")
        with running_daemon(config) as daemon:
            daemon.wait_for("run_started")
            t0 = time.monotonic()
            for i in range(n):
                for series, offset in (("007", 0.0), ("008", tr / 2)):
                    time.sleep(max(0.0, t0 + i * tr + offset - time.monotonic()))
                    write_nifti_volume(watch / f"{series}_{i + 1:04d}.nii", s.volumes[i], s.affine)
            daemon.wait_for("waiting_for_new_series")
            time.sleep(2 * tr)
            for i in range(n):
                time.sleep(max(0.0, t0 + (2 * n + i) * tr - time.monotonic()))
                write_nifti_volume(watch / f"009_{i + 1:04d}.nii", s.volumes[i], s.affine)
            daemon.wait_for("waiting_for_new_series", count=2)
            assert daemon.stop(30) == 0, daemon.log_text()
        receiver.setblocking(False)
        datagrams = []
        while True:
            try:
                datagrams.append(json.loads(receiver.recv(65536)))
            except BlockingIOError:
                break
    events = daemon.events()
    assert [e["reason"] for e in events if e["event"] == "run_ending"] == ["complete", "complete"]
    assert [e["new_series"] for e in daemon.events("series_changed")] == ["series 009"]  # seen by the wait
    warned = [e for e in daemon.events("series_ignored") if "008" in e["series"]]
    assert warned and all("barred" in e["reason"] for e in warned)
    assert len(warned) <= 4  # once per watcher: series 7's run, the wait, series 9's run, the wait
    first, second = sorted((tmp_path / "runs").iterdir())
    for folder, series in ((first, "007_"), (second, "009_")):
        records = [r for r in RunFolder.read_volumes(folder) if r["status"] == "processed"]
        assert [r["index"] for r in records] == list(range(n)), folder
        assert all(r["file"].startswith(series) for r in records), folder
    assert len(datagrams) == 2 * n
