"""``nfd run`` whose run folder is on a real tmpfs that fills up: feedback goes on, nothing is lost, exit 0.

Needs root to mount a tmpfs (CI runs as root); skips with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfd.outputs import RunFolder
from nfd.testing import running_daemon
from tests.helpers.receiver import received, udp_receiver
from tests.helpers.study import synthetic_study

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
    with udp_receiver() as receiver:
        study = synthetic_study(tmp_path, n=n, tr=tr, seed=6, blocks=((5, 8),), block_length=4,
                                output_dir=str(small_tmpfs / "runs"), udp_port=receiver.getsockname()[1])
        with running_daemon(study.config) as daemon:
            daemon.wait_for("run_started")
            filler = _fill(small_tmpfs, leave=12 * 1024)  # room for a few records, then ENOSPC
            for i in range(n):
                if i == freed_after:
                    daemon.wait_for("volume_processed", count=freed_after)
                    filler.unlink()  # the operator frees space: the records kept in memory are written
                study.write(i)
                time.sleep(tr)
            assert daemon.wait(60) == 0, daemon.log_text()
        sent = received(receiver)
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
