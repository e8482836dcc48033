"""Latency from the scanner's last byte (issue 11): a chunked, renamed single-slice series through ``nfd run``.

The real GE MR750 series (15 single-slice files per volume) is written into
the watch folder the way an export writes: each file in three chunks with
pauses, every other file under a temporary name and then renamed. The test
notes, for each volume, the clock just before the last chunk's write of
each of its files and just after the file was whole under its final name
(that write, or the rename): the scanner's last byte lies between the
latest of each (with ``index_from = "header"`` a slice may be taken under
its temporary name, before the rename). A
stimulus program's socket on loopback receives the feedback. A file of
another vendor dropped in mid-series is refused with one line and costs no
volume.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.acquire import plan_recording
from nfd.outputs import RunFolder
from nfd.testing import running_daemon
from tests.helpers.receiver import udp_receiver

pytestmark = [pytest.mark.slow, pytest.mark.shared]

N_VOLUMES = 10
SIM_TR = 0.25
#: ext4 and tmpfs stamp files from the coarse kernel clock, up to one scheduler tick (<= 10 ms) early.
COARSE_CLOCK_S = 0.012


def _write_file(source: Path, target: Path, rename: bool) -> tuple[float, float]:
    """Copy ``source`` to ``target`` in three chunks (via a temporary name when ``rename``).

    Returns the clock (s since the epoch) just before the last chunk's write (the last byte) and just after
    the file was whole under its final name (that write, or the rename).
    """
    content = source.read_bytes()
    part = target.with_name(f".{target.name}.part") if rename else target
    cuts = [0, len(content) // 3, 2 * len(content) // 3, len(content)]
    with part.open("wb") as handle:
        for i in range(3):
            if i == 2:
                before = time.time()
            handle.write(content[cuts[i]:cuts[i + 1]])
            handle.flush()
            if i < 2:
                time.sleep(0.003)
    if rename:
        os.rename(part, target)
    return before, time.time()


def _scanner(volumes: list[tuple[Path, ...]], watch: Path, foreign: Path, last_byte: dict[int, tuple[float, float]],
             ) -> None:
    """Write the series at ``SIM_TR`` (in a thread); ``last_byte[index]`` = (lower, upper bound) of its last byte."""
    start = time.monotonic()
    for index, files in enumerate(volumes):
        time.sleep(max(0.0, start + index * SIM_TR - time.monotonic()))
        bounds = [_write_file(f, watch / f"v{index:03d}_{f.name}", rename=k % 2 == 1) for k, f in enumerate(files)]
        last_byte[index] = (max(b for b, _ in bounds), max(a for _, a in bounds))
        if index == 4:
            shutil.copyfile(foreign, watch / f"v{index:03d}_zz_foreign.dcm")


def _config(tmp_path: Path, grid: nib.Nifti1Image, port: int) -> Path:
    mask = np.zeros(grid.shape, np.uint8)
    mask[20:30, 34:44, 5:10] = 1
    nib.save(nib.Nifti1Image(mask, grid.affine), tmp_path / "roi.nii")
    (tmp_path / "protocol.json").write_text(json.dumps({
        "ConditionIndex": [{"ConditionName": "NFBREG", "OnOffsets": [[4, 6]]}],
    }))
    config = tmp_path / "nfd.toml"
    config.write_text(f"""
[run]
tr = 2.0
n_volumes = {N_VOLUMES}
output_dir = "runs"
[acquire]
watch_dir = "watch"
index_from = "header"
complete_timeout = 5.0
reorder_timeout = 1.0
[volume]
reference = "first"
[roi]
roi = "roi.nii"
[feedback]
protocol = "protocol.json"
[feedback.udp]
port = {port}
format = "json"
[web]
enabled = false
[log]
format = "json"
level = "info"
""")
    return config


def _receive(sock: socket.socket, n: int, timeout: float) -> dict[int, tuple[float, dict[str, object]]]:
    """index -> (arrival time, datagram) of up to ``n`` datagrams, waiting at most ``timeout`` s."""
    got: dict[int, tuple[float, dict[str, object]]] = {}
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        msg = json.loads(data)
        got[int(msg["index"])] = (time.time(), msg)
    return got


def test_latency_starts_at_the_last_byte_of_a_chunked_renamed_slice_series(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "dicom_reader_testset" / "ge_mr750_epi"
    foreign = next((shared_data / "dicom_reader_testset" / "philips_achieva_fmri").rglob("*.dcm"), None)
    assert foreign is not None, "no Philips file in the shared data"
    plan = plan_recording(source)[:N_VOLUMES]
    (tmp_path / "watch").mkdir()
    last_byte: dict[int, tuple[float, float]] = {}
    with udp_receiver() as sock:
        config = _config(tmp_path, plan[0].read(), sock.getsockname()[1])
        with running_daemon(config, log_path=tmp_path / "daemon.log") as daemon:
            daemon.wait_for("run_started", timeout=60)
            writer = threading.Thread(target=_scanner, args=([v.files for v in plan], tmp_path / "watch", foreign,
                                                             last_byte))
            writer.start()
            datagrams = _receive(sock, N_VOLUMES, timeout=60)
            writer.join()
            assert daemon.wait(60) == 0, daemon.log_text()
        events = daemon.events()
    (folder,) = list((tmp_path / "runs").iterdir())
    records = RunFolder.read_volumes(folder / "volumes.jsonl")
    assert [r.index for r in records if r.status == "processed"] == list(range(N_VOLUMES))
    # the foreign file: one line naming it, nothing else lost
    foreign_lines = [e for e in events if "zz_foreign" in str(e.get("file", ""))]
    assert len(foreign_lines) == 1 and foreign_lines[0]["level"] == "warning", foreign_lines
    assert foreign_lines[0]["event"] in ("file_rejected", "series_ignored", "slices_rejected")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["latency_from"] == "t_written"
    for r in records:
        lower, upper = last_byte[r.index]
        assert r.t_written is not None and r.t_complete is not None and r.t_sent is not None
        # the scanner's last byte, as the writer saw it, on this machine's clock
        assert lower - COARSE_CLOCK_S <= r.t_written <= upper, (r.index, lower, r.t_written, upper)
        assert r.t_written <= r.t_complete <= r.t_sent
        assert r.latency_ms == pytest.approx((r.t_sent - r.t_written) * 1e3)
        durations = r.durations_ms
        assert list(durations)[:3] == ["wait_complete", "read", "queue"]
        assert durations["wait_complete"] >= 0 and durations["read"] >= 0
        arrival, msg = datagrams[r.index]
        # the datagram carries the same figure, and arrives after it was sent (one clock: this machine's)
        assert msg["latency_ms"] == pytest.approx(r.latency_ms, abs=0.01)
        assert upper <= r.t_sent <= arrival
