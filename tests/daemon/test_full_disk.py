"""``nfd run`` whose run folder is on a real tmpfs that fills up: feedback goes on, nothing is lost, exit 0.

Needs root to mount a tmpfs (CI runs as root); skips with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfd.outputs import RunFolder
from nfd.simulate import make_session, write_nifti_volume, write_roi_masks
from nfd.testing import running_daemon

pytestmark = pytest.mark.slow  # starts nfd subprocesses


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a 2 MB tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path, leave: int) -> Path:
    """A file taking all but ``leave`` bytes of the file system."""
    st = os.statvfs(folder)
    filler = folder / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


@pytest.mark.parametrize("freed_after", [16, None], ids=["space-freed-mid-run", "full-to-the-end"])
def test_a_full_disk_loses_nothing_and_the_run_ends_well(
    tmp_path: Path, small_tmpfs: Path, freed_after: int | None
) -> None:
    n, tr = 24, 0.3
    s = make_session(n_volumes=n, tr=tr, shape=(24, 24, 16), seed=6, block_length=4)
    masks = write_roi_masks(tmp_path / "rois", s)
    (tmp_path / "watch").mkdir()
    (tmp_path / "p.json").write_text('{"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[5, 8]]}]}')
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        config = tmp_path / "nfd.toml"
        config.write_text(f"""
[run]
tr = {tr}
n_volumes = {n}
output_dir = "{small_tmpfs / 'runs'}"
[acquire]
watch_dir = "watch"
pattern = '^vol_(?P<volume>\\d{{4}})\\.nii$'
[roi]
{rois}
[feedback]
protocol = "p.json"
[feedback.udp]
port = {receiver.getsockname()[1]}
[web]
enabled = false
""")
        with running_daemon(config) as daemon:
            daemon.wait_for("run_started")
            filler = _fill(small_tmpfs, leave=12 * 1024)  # room for a few records, then ENOSPC
            for i in range(n):
                if i == freed_after:
                    daemon.wait_for("volume_processed", count=freed_after)
                    filler.unlink()  # the operator frees space: the records kept in memory are written
                write_nifti_volume(tmp_path / "watch" / f"vol_{i + 1:04d}.nii", s.volumes[i], s.affine)
                time.sleep(tr)
            assert daemon.wait(60) == 0, daemon.log_text()
        receiver.setblocking(False)
        sent = []
        while True:
            try:
                sent.append(json.loads(receiver.recv(65536)))
            except BlockingIOError:
                break
    assert len(sent) == n  # feedback never stopped
    failed = daemon.events("run_folder_write_failed")
    during = [e for e in failed if e.get("detail") != "at the end of the run"]
    assert 1 <= len(during) <= 2, during  # once, not per volume (and once more only every 50 volumes)
    assert "Traceback" not in daemon.log_text() and daemon.events("volume_failed") == []
    (folder,) = (small_tmpfs / "runs").iterdir()
    on_disk = [r["index"] for r in RunFolder.read_volumes(folder)]
    summary = daemon.events("run_finished")[0]  # on stdout whatever the disk
    assert summary["volumes_processed"] == n
    if freed_after is not None:
        assert daemon.events("run_folder_write_recovered")
        assert on_disk == list(range(n))  # nothing lost
        assert json.loads((folder / "summary.json").read_text())["volumes_processed"] == n
        assert "files_not_written" not in summary
    else:
        assert on_disk == list(range(len(on_disk))) and 0 < len(on_disk) < n  # a valid prefix, no torn line
        assert summary["volume_records_not_written"] == n - len(on_disk)
        assert "volumes.jsonl" in summary["files_not_written"]
        at_end = {Path(e["path"]).name for e in failed if e.get("detail") == "at the end of the run"}
        assert set(summary["files_not_written"]) - {"volumes.jsonl"} == at_end - {"volumes.jsonl"}
