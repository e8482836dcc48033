"""The volume worker: a real process, arrays through shared memory, restart after a crash."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from nfd.daemon.worker import VolumeWorker, WorkerCrashed, remove_orphaned_segments
from nfd.simulate import make_session
from nfd.volume import MotionCorrector, VolumeError
from tests.helpers.processes import WorkerKiller


@pytest.fixture(scope="module")
def session():
    return make_session(n_volumes=4, tr=2.0, shape=(32, 32, 16), seed=2, max_motion_mm=0.5, max_motion_deg=0.5)


async def test_worker_matches_the_engine_in_process(session) -> None:
    expected = MotionCorrector(session.volumes[0], session.affine, smooth_fwhm=5.0)
    async with VolumeWorker(smooth_fwhm=5.0) as worker:
        assert worker.pid != os.getpid()
        await worker.set_reference(session.volumes[0], session.affine)
        segment = Path("/dev/shm") / worker._shm.name.lstrip("/")
        assert segment.is_file()
        for volume in session.volumes[1:]:
            out = await worker.process(volume)
            ref = expected.process(volume)
            np.testing.assert_allclose(out.params, ref.params, atol=1e-9)
            np.testing.assert_array_equal(out.smoothed, ref.smoothed)
            np.testing.assert_array_equal(out.resliced, ref.resliced)
        with pytest.raises(VolumeError, match=r"shape \(32, 32, 16\)"):
            await worker.process(np.zeros((32, 32, 15), np.float32))
        del out
    assert not segment.exists()  # the shared memory is gone


async def test_worker_killed_mid_run_is_restarted(session) -> None:
    async with VolumeWorker(smooth_fwhm=5.0) as worker:
        await worker.set_reference(session.volumes[0], session.affine)
        first = await worker.process(session.volumes[1])
        params = first.params.copy()
        old_pid = worker.pid
        os.kill(old_pid, signal.SIGKILL)
        again = await worker.process(session.volumes[1])
        assert worker.restarts == 1 and worker.pid != old_pid
        np.testing.assert_allclose(again.params, params, atol=1e-3)


async def test_a_worker_dying_again_in_its_restart_fails_that_volume_only(session) -> None:
    async with VolumeWorker(smooth_fwhm=5.0) as worker:
        await worker.set_reference(session.volumes[0], session.affine)
        await worker.process(session.volumes[1])
        first = worker.pid
        # the running worker, then the one restarted for it
        with WorkerKiller(os.getpid(), kills=2) as killer, pytest.raises(WorkerCrashed, match="died 2 times"):
            await worker.process(session.volumes[2])
        assert killer.killed[0] == first and len(killer.killed) == 2
        expected = MotionCorrector(session.volumes[0], session.affine, smooth_fwhm=5.0)
        out = await worker.process(session.volumes[2])  # the next volume restarts it, on the same reference
        np.testing.assert_allclose(out.params, expected.process(session.volumes[2]).params, atol=1e-3)
        assert worker.pid not in killer.killed and worker.restarts == 2


def test_segments_of_daemons_no_longer_running_are_removed(tmp_path: Path) -> None:
    # pids are below pid_max: this one is no process's (and spawning one to wait for would mark the module slow)
    gone = int(Path("/proc/sys/kernel/pid_max").read_text())
    (tmp_path / f"nfd_{gone}_ab12").write_bytes(b"\0" * 16)
    (tmp_path / f"nfd_{os.getpid()}_cd34").write_bytes(b"\0" * 16)  # this daemon's own
    (tmp_path / "psm_other").write_bytes(b"\0")  # not nfd's
    assert remove_orphaned_segments(tmp_path) == [f"nfd_{gone}_ab12"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"nfd_{os.getpid()}_cd34", "psm_other"])
