"""``nfd run`` as a subprocess on a watch folder, files written the way scanners write them.

Feedback is received on a real UDP socket in each format; the run folder and
the JSON log lines are read back. No part of the daemon is replaced.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import orjson
import pytest

from nfd.outputs import RunFolder
from nfd.simulate import SyntheticSession, make_session, write_nifti_volume, write_roi_masks
from nfd.testing import RunningDaemon, running_daemon

TR_WRITE = 0.12  # seconds between files (the simulated TR is 2 s)


@dataclass
class Setup:
    root: Path
    watch: Path
    runs: Path
    config: Path
    session: SyntheticSession
    sock: socket.socket


def _events_tsv(session: SyntheticSession, path: Path, tr: float) -> None:
    rows = ["onset\tduration\ttrial_type"]
    rows += [f"{a * tr}\t{(b - a + 1) * tr}\t{c}" for c, a, b in session.design.blocks]
    path.write_text("\n".join(rows) + "\n")


def _setup(tmp_path: Path, *, n: int, fmt: str, seed: int = 3) -> Setup:
    session = make_session(
        n_volumes=n, tr=2.0, shape=(40, 40, 20), voxel_size=(3.0, 3.0, 3.5), seed=seed, block_length=6,
        activation_pct=3.0, noise_pct=0.3, max_motion_mm=0.3, max_motion_deg=0.3,
    )
    watch, runs = tmp_path / "watch", tmp_path / "runs"
    watch.mkdir()
    masks = write_roi_masks(tmp_path / "rois", session)
    _events_tsv(session, tmp_path / "events.tsv", 2.0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    config = tmp_path / "nfd.toml"
    config.write_text(f"""
[run]
tr = 2.0
n_volumes = {n}
output_dir = "runs"
[acquire]
watch_dir = "watch"
pattern = '^vol_(?P<volume>\\d{{4}})\\.nii$'
complete_timeout = 1.0
reorder_timeout = 1.0
[roi]
{rois}
[feedback]
protocol = "events.tsv"
delay = 1
min = -20.0
max = 20.0
[feedback.udp]
port = {sock.getsockname()[1]}
format = "{fmt}"
[web]
enabled = false
[log]
format = "json"
level = "info"
""")
    return Setup(tmp_path, watch, runs, config, session, sock)


@contextlib.contextmanager
def _daemon(s: Setup, env: dict[str, str] | None = None) -> Iterator[RunningDaemon]:
    """``nfd run`` on the setup's config, started (its ``run_started`` logged); every log line must be JSON."""
    with running_daemon(s.config, env=env) as daemon:
        daemon.wait_for("run_started")
        yield daemon
        assert daemon.other_lines() == [], daemon.log_text()


def _receive(sock: socket.socket, until: float) -> list[bytes]:
    out = []
    while time.monotonic() < until:
        try:
            out.append(sock.recv(65536))
        except TimeoutError:
            continue
    return out


def _receive_until_exit(sock: socket.socket, daemon: RunningDaemon, timeout: float) -> list[bytes]:
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            out.append(sock.recv(65536))
        except TimeoutError:
            if daemon.returncode is not None:
                out += _receive(sock, time.monotonic() + 0.3)
                return out
    pytest.fail("daemon did not end by itself")


def _nifti_bytes(s: Setup, i: int) -> bytes:
    tmp = s.root / "staging.nii"
    write_nifti_volume(tmp, s.session.volumes[i], s.session.affine)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def _run_folder(s: Setup) -> Path:
    (folder,) = list(s.runs.iterdir())
    return folder


def test_run_with_chunked_duplicate_truncated_and_foreign_files(tmp_path: Path) -> None:
    n = 24
    s = _setup(tmp_path, n=n, fmt="json")
    with _daemon(s) as daemon:
        _write_the_scanners_way(s, n)
        datagrams = _receive_until_exit(s.sock, daemon, timeout=60)
        assert daemon.wait(10) == 0, daemon.log_text()
    _check_the_run(s, n, datagrams, daemon)


#: Volumes written in two chunks, delivered twice, never completed, and not an image.
CHUNKED, DUPLICATE, TRUNCATED, FOREIGN = 3, 5, 9, 14


def _write_the_scanners_way(s: Setup, n: int) -> None:
    chunked, duplicate, truncated, foreign = CHUNKED, DUPLICATE, TRUNCATED, FOREIGN
    chunked, duplicate, truncated, foreign = 3, 5, 9, 14
    for i in range(n):
        path = s.watch / f"vol_{i + 1:04d}.nii"
        data = _nifti_bytes(s, i)
        if i == chunked:  # in two chunks, with a pause longer than a TR between them
            with open(path, "wb") as f:
                f.write(data[: len(data) // 3])
                f.flush()
                time.sleep(0.4)
                f.write(data[len(data) // 3 :])
        elif i == truncated:  # never completes
            path.write_bytes(data[: len(data) // 2])
        elif i == foreign:  # a matching name, but not an image
            path.write_bytes(b"This is the scanner's log file, not a volume.\n" * 20)
        else:  # to a temporary name, then renamed, as Siemens' export does
            tmp = s.watch / f".vol_{i + 1:04d}.nii.part"
            tmp.write_bytes(data)
            tmp.rename(path)
        if i == duplicate:  # delivered again under another name (as rt-cloud's 000000 repeats volume 10)
            time.sleep(TR_WRITE)
            shutil.copyfile(path, s.watch / "copy.tmp")
            (s.watch / "copy.tmp").rename(s.watch / "vol_0000.nii")
        time.sleep(TR_WRITE)


def _check_the_run(s: Setup, n: int, datagrams: list[bytes], daemon: RunningDaemon) -> None:
    truncated, foreign = TRUNCATED, FOREIGN
    good = [i for i in range(n) if i not in (truncated, foreign)]
    messages = [orjson.loads(d) for d in datagrams]
    assert [m["index"] for m in messages] == good  # each good volume once, in order
    assert set(messages[0]) == {"index", "condition", "feedback", "time", "latency_ms"}

    folder = _run_folder(s)
    everything = RunFolder.read_volumes(folder / "volumes.jsonl")
    assert [r["index"] for r in everything] == list(range(n))  # every index has its line
    records = [r for r in everything if r["status"] == "processed"]
    assert [r["index"] for r in records] == good
    assert [r["index"] for r in everything if r["status"] == "missing"] == [truncated, foreign]
    assert [r["feedback"] for r in records] == pytest.approx([m["feedback"] for m in messages])
    for r in records:
        assert len(r["motion"]) == 6 and r["fd"] >= 0 and set(r["roi"]) == set(s.session.rois)

    events = daemon.events()
    by_name = {(e["event"], Path(str(e.get("file", ""))).name) for e in events}
    assert ("file_rejected", f"vol_{foreign + 1:04d}.nii") in by_name
    assert ("file_incomplete", f"vol_{truncated + 1:04d}.nii") in by_name
    assert ("duplicate_skipped", "vol_0000.nii") in by_name
    assert any(e["event"] == "run_finished" for e in events)

    # The feedback follows the true activation.
    feedback = np.array([m["feedback"] for m in messages])
    truth = s.session.activation[good]
    assert np.corrcoef(feedback, truth)[0, 1] > 0.6

    # End-of-run files.
    motion = np.genfromtxt(folder / "motion.tsv", skip_header=1, missing_values="n/a", ndmin=2)
    assert motion.shape == (n, 8) and np.isnan(motion[[truncated, foreign], 1:]).all()
    header = (folder / "motion.tsv").read_text().splitlines()[0].split("\t")
    assert header[1:] == ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "framewise_displacement"]
    assert (folder / "timeseries.tsv").is_file() and (folder / "config.toml").is_file()
    summary = orjson.loads((folder / "summary.json").read_bytes())
    assert summary["volumes_processed"] == len(good) and summary["missing_indices"] == [truncated, foreign]


def _decode_float32(datagrams: list[bytes]) -> list[float]:
    assert all(len(d) == 4 for d in datagrams)
    return [struct.unpack(">f", d)[0] for d in datagrams]


@pytest.mark.parametrize("fmt", ["float32", "opennft"])
def test_binary_formats_carry_every_volume(tmp_path: Path, fmt: str) -> None:
    n = 8
    s = _setup(tmp_path, n=n, fmt=fmt, seed=5)
    # systemd's side of sd_notify: a datagram socket named by NOTIFY_SOCKET.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(0.05)
    with _daemon(s, env={"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "400000"}) as daemon:
        for i in range(n):
            write_nifti_volume(s.watch / f"vol_{i + 1:04d}.nii", s.session.volumes[i], s.session.affine)
            time.sleep(TR_WRITE)
        datagrams = _receive_until_exit(s.sock, daemon, timeout=60)
        assert daemon.wait(10) == 0, daemon.log_text()
    states = _receive(notify, time.monotonic() + 0.2)
    assert any(m.startswith(b"READY=1\nSTATUS=waiting for volumes") for m in states)
    assert sum(m.startswith(b"WATCHDOG=1") for m in states) >= 2
    assert any(b"STATUS=volume" in m for m in states) and states[-1] == b"STOPPING=1"
    records = RunFolder.read_volumes(_run_folder(s) / "volumes.jsonl")
    sent = [r["feedback"] for r in records]
    assert len(sent) == n
    if fmt == "float32":
        assert _decode_float32(datagrams) == pytest.approx(sent, rel=1e-6, abs=1e-6)
    else:
        # OpenNFT's sender (pyniexp, with time stamps on): "#", then per volume
        # [time stamp, condition] and [time stamp, value], all little-endian float32.
        assert datagrams[0] == b"#" and datagrams[-1] == b"#"
        body = datagrams[1:-1]
        assert len(body) == 4 * n
        conditions = [body[4 * k + 1].decode() for k in range(n)]
        assert conditions == [r["condition"] for r in records]
        stamps = [struct.unpack("<f", body[4 * k])[0] for k in range(n)]
        assert stamps == pytest.approx([r["t_sent"] for r in records], abs=256.0)
        values = [struct.unpack("<f", body[4 * k + 3])[0] for k in range(n)]
        assert values == pytest.approx(np.float32(sent).tolist())


def test_sigterm_mid_run_leaves_every_processed_volume_on_disk(tmp_path: Path) -> None:
    n = 40
    s = _setup(tmp_path, n=n, fmt="json", seed=7)
    with _daemon(s) as daemon:
        received: list[bytes] = []
        for i in range(12):
            write_nifti_volume(s.watch / f"vol_{i + 1:04d}.nii", s.session.volumes[i], s.session.affine)
            received += _receive(s.sock, time.monotonic() + TR_WRITE)
        daemon.terminate()
        received += _receive_until_exit(s.sock, daemon, timeout=30)
        assert daemon.wait(10) == 0, daemon.log_text()
    folder = _run_folder(s)
    records = RunFolder.read_volumes(folder / "volumes.jsonl")
    sent = [orjson.loads(d)["index"] for d in received]
    assert len(records) >= 1
    assert [r["index"] for r in records] == sent == list(range(len(sent)))
    # the volumes.jsonl is whole: every line is a complete JSON object
    lines = (folder / "volumes.jsonl").read_bytes().splitlines()
    assert len(lines) == len(records) and all(orjson.loads(line) for line in lines)
    assert orjson.loads((folder / "summary.json").read_bytes())["volumes_processed"] == len(records)
    assert daemon.events("run_ending", reason="stopped")


def test_roi_mask_off_the_epi_grid_stops_with_exit_2(tmp_path: Path) -> None:
    s = _setup(tmp_path, n=6, fmt="json")
    bad = s.root / "rois" / "wrong_grid.nii"
    nib.save(nib.Nifti1Image(np.ones((10, 10, 10), np.uint8), np.eye(4)), bad)
    s.config.write_text(s.config.read_text().replace("[roi]\n", f'[roi]\nwrong = "{bad}"\n'))
    with running_daemon(s.config) as daemon:
        daemon.wait_for("run_started")
        write_nifti_volume(s.watch / "vol_0001.nii", s.session.volumes[0], s.session.affine)
        assert daemon.wait(60) == 2
    text = daemon.log_text()
    assert "Traceback" not in text and "wrong_grid.nii" in text


def test_absent_serial_port_stops_the_start_with_exit_2(tmp_path: Path) -> None:
    s = _setup(tmp_path, n=6, fmt="json")
    s.config.write_text(s.config.read_text() + '[feedback.serial]\nenabled = true\nport = "/dev/nfd-no-such-port"\n')
    proc = subprocess.run([sys.executable, "-m", "nfd", "run", "-c", str(s.config)], check=False, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("nfd: config error")]
    assert len(errors) == 1 and "feedback.serial.port" in errors[0] and "/dev/nfd-no-such-port" in errors[0]
    assert "Traceback" not in proc.stdout + proc.stderr
