"""``nfd run`` whose volume worker is killed, and killed again in its restart: every index still gets a record."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nfd.outputs import RunFolder
from nfd.testing import running_daemon
from tests.helpers.processes import WorkerKiller
from tests.helpers.study import synthetic_study

pytestmark = pytest.mark.slow  # starts nfd subprocesses


def test_a_worker_dying_twice_fails_one_volume_and_the_run_goes_on(tmp_path: Path) -> None:
    n, tr = 12, 0.5
    study = synthetic_study(tmp_path, n=n, tr=tr, seed=5)
    with running_daemon(study.config) as daemon:
        daemon.wait_for("run_started")
        for i in range(n):
            if i == 6:  # between volumes 5 and 6: the worker, then the one restarted for volume 6, die
                daemon.wait_for("volume_processed", count=6)
                killer = WorkerKiller(daemon.process.pid, kills=2).__enter__()
                time.sleep(0.1)
            study.write(i)
            time.sleep(tr)
        assert daemon.wait(60) == 0, daemon.log_text()
        killer.__exit__(None, None, None)
    assert len(killer.killed) == 2
    (folder,) = (tmp_path / "runs").iterdir()
    records = RunFolder.read_volumes(folder)
    assert [r["index"] for r in records] == list(range(n))  # every index, once, in order
    statuses = {r["index"]: r["status"] for r in records}
    assert statuses == {**dict.fromkeys(range(n), "processed"), 6: "failed"}
    assert "died 2 times on this volume" in records[6]["reason"]
    motion = (folder / "motion.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in motion[1:]] == [str(i) for i in range(n)]
    summary = daemon.events("run_finished")[0]
    assert summary["worker_restarts"] == 2 and summary["volumes_processed"] == n - 1
    assert summary["volumes_failed"] == 1 and summary["volumes_refused"] == 0
