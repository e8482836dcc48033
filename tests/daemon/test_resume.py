"""``nfd run`` killed with SIGKILL mid-run and started again: the run resumes, it never replays.

The restarted daemon continues the same run folder, rebuilds its state from the
files already recorded without sending them again, records the volumes written
while it was down as stale (processed, never sent), and sends the fresh ones,
whose feedback equals that of a run never interrupted.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nfd.outputs import RunFolder
from nfd.testing import running_daemon
from tests.helpers.processes import spawn_workers_of
from tests.helpers.receiver import received
from tests.helpers.study import synthetic_study

pytestmark = pytest.mark.slow  # starts nfd subprocesses

N, TR, KILL_AFTER, WHILE_DOWN = 30, 0.5, 12, 4


def test_a_killed_daemon_resumes_its_run_and_sends_nothing_twice(tmp_path: Path) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    study = synthetic_study(
        tmp_path, n=N, tr=TR, seed=8, blocks=((6, 10), (16, 20), (26, 30)), block_length=5, activation_pct=3.0,
        udp_port=receiver.getsockname()[1], feedback=f"stale_after = {2 * TR}",
    )
    config, watch, write = study.config, study.watch, study.write

    with running_daemon(config, log_path=tmp_path / "first.log") as first:
        first.wait_for("run_started")
        for i in range(KILL_AFTER):
            write(i)
            time.sleep(TR)
        first.wait_for("volume_processed", count=KILL_AFTER)
        workers = spawn_workers_of(first.process.pid)
        first.kill()  # SIGKILL: no shutdown, no summary
    for i in range(KILL_AFTER, KILL_AFTER + WHILE_DOWN):  # the scanner goes on while nfd is down
        write(i)
        time.sleep(TR)
    time.sleep(2 * TR)  # so that the files written while down are stale at the restart
    assert workers and not any(Path(f"/proc/{pid}").exists() for pid in workers), "the killed worker is orphaned"
    before = received(receiver)
    with running_daemon(config, log_path=tmp_path / "second.log") as second:
        second.wait_for("run_started")
        for i in range(KILL_AFTER + WHILE_DOWN, N):
            write(i)
            time.sleep(TR)
        assert second.wait(60) == 0, second.log_text()
    after = received(receiver)
    receiver.close()
    assert not list(Path("/dev/shm").glob(f"nfd_{first.process.pid}_*")), "the killed daemon's segment is left"

    (folder,) = (tmp_path / "runs").iterdir()  # the same folder, continued
    records = RunFolder.read_volumes(folder)
    assert [r.index for r in records] == list(range(N))  # every index once
    resumed = [json.loads(line) for line in (folder / "resumes.jsonl").read_text().splitlines()]
    assert len(resumed) == 1 and resumed[0]["interrupted_after_index"] in (KILL_AFTER - 1, KILL_AFTER)
    last_before = resumed[0]["interrupted_after_index"]
    sent_before = [d["index"] for d in before]
    sent_after = [d["index"] for d in after]
    assert sent_before == list(range(len(sent_before))) and sent_before[-1] >= KILL_AFTER - 2
    assert set(sent_before).isdisjoint(sent_after)  # nothing sent twice
    stale = [r.index for r in records if r.get("stale")]
    assert stale and set(stale) <= set(range(last_before + 1, KILL_AFTER + WHILE_DOWN))
    assert all(records[i].feedback is None and records[i].t_sent is None for i in stale)
    assert set(sent_after) == set(range(KILL_AFTER + WHILE_DOWN, N))  # the fresh ones, each once
    assert json.loads((folder / "summary.json").read_text())["volumes_stale"] == len(stale)

    # the state was rebuilt: the feedback after the restart equals a run never interrupted
    replay = subprocess.run(
        [sys.executable, "-m", "nfd", "replay", "-c", str(config), "--input", str(watch), "--out",
         str(tmp_path / "replayed")], capture_output=True, text=True, timeout=120, check=False,
    )
    assert replay.returncode == 0, replay.stderr
    (reference,) = (tmp_path / "replayed").iterdir()
    expected = {r.index: r for r in RunFolder.read_volumes(reference)}
    for record in records[KILL_AFTER + WHILE_DOWN:]:
        assert record.feedback_measure == pytest.approx(expected[record.index].feedback_measure, abs=1e-9)
        assert record.motion == pytest.approx(expected[record.index].motion, abs=1e-9)
