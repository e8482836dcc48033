"""``nfd run`` on a multi-echo series: one NIfTI file per echo, written the way exports write them.

The session comes from nfd's generator (:func:`nfd.simulate.make_multiecho_session`,
known S0 and T2* maps, BOLD as a change of R2*). The scanner side writes each
volume's three echo files in a shuffled order, some through a temporary name
and a rename, one echo late (after the next volume's), one echo twice; the
echo times come from ``[multiecho] echo_times_ms`` (3-D NIfTI files carry
none). Feedback is received on a real UDP socket and the run folder is read back.
"""

from __future__ import annotations

import random
import shutil
import socket
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import orjson

from nfd.outputs import RunFolder
from nfd.simulate import MultiEchoSession, make_multiecho_session, write_nifti_volume
from nfd.testing import running_daemon
from nfd.volume import reslice

N = 30
WRITE_S = 0.15  # between volumes (the simulated TR is 2 s)
LATE, TWICE = 6, 11  # volume whose echo 2 comes after the next volume; volume whose echo 3 is written twice


def _name(echo: int, index: int) -> str:
    return f"sub-01_task-nf_echo-{echo}_bold_{index + 1:04d}.nii"


def _config(tmp_path: Path, session: MultiEchoSession, port: int) -> Path:
    rois = []
    for name, mask in session.rois.items():
        nib.save(nib.Nifti1Image(mask.astype(np.uint8), session.affine), tmp_path / f"{name}.nii")
        rois.append(f'{name} = "{name}.nii"')
    rows = ["onset\tduration\ttrial_type"] + [f"{a * 2.0}\t{(b - a + 1) * 2.0}\t{c}"
                                              for c, a, b in session.design.blocks]
    (tmp_path / "events.tsv").write_text("\n".join(rows) + "\n")
    rois_text = "\n".join(rois)
    config = tmp_path / "nfd.toml"
    config.write_text(f"""
[run]
tr = 2.0
n_volumes = {N}
output_dir = "runs"
[acquire]
watch_dir = "watch"
pattern = '^sub-01_task-nf_echo-\\d+_bold_(?P<volume>\\d{{4}})\\.nii$'
complete_timeout = 2.0
reorder_timeout = 1.0
[multiecho]
echoes = 3
echo_times_ms = {list(session.echo_times_ms)}
combine = "t2s"
t2s_volumes = 8
[volume]
smooth_fwhm = 0.0
[roi]
{rois_text}
[feedback]
protocol = "events.tsv"
delay = 1
min = -20.0
max = 20.0
[feedback.udp]
port = {port}
[web]
enabled = false
[log]
format = "json"
level = "info"
""")
    return config


def _write(session: MultiEchoSession, watch: Path, staging: Path) -> None:
    rng = random.Random(4)
    late: Path | None = None
    for t in range(N):
        echoes = [1, 2, 3]
        rng.shuffle(echoes)
        for e in echoes:
            path = staging / _name(e, t)
            write_nifti_volume(path, session.volumes[e - 1, t], session.affine)
            if t == LATE and e == 2:
                late = path
                continue
            target = watch / path.name
            if rng.random() < 0.5:  # through a temporary name, as Siemens' export does
                path.rename(watch / f".{path.name}.part")
                (watch / f".{path.name}.part").rename(target)
            else:
                shutil.move(path, target)
            if t == TWICE and e == 3:
                time.sleep(0.02)
                shutil.copyfile(target, watch / "again.tmp")
                (watch / "again.tmp").rename(watch / _name(3, -1))  # as rt-cloud's 000000 repeats a volume
        if t == LATE + 1 and late is not None:
            shutil.move(late, watch / late.name)
        time.sleep(WRITE_S)


def test_multiecho_run_combines_every_volume_and_writes_the_maps(tmp_path: Path) -> None:
    session = make_multiecho_session(N, shape=(36, 36, 20), seed=2, block_length=5, activation_pct=3.0,
                                     thermal_noise_pct=1.5, s0_noise_pct=0.3, max_motion_mm=0.3,
                                     max_motion_deg=0.3)
    (tmp_path / "watch").mkdir()
    (tmp_path / "staging").mkdir()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    config = _config(tmp_path, session, sock.getsockname()[1])
    datagrams = []
    with running_daemon(config) as daemon:
        daemon.wait_for("run_started")
        _write(session, tmp_path / "watch", tmp_path / "staging")
        deadline = time.monotonic() + 60
        while daemon.returncode is None and time.monotonic() < deadline:
            try:
                datagrams.append(orjson.loads(sock.recv(65536)))
            except TimeoutError:
                continue
        assert daemon.wait(15) == 0, daemon.log_text()
    sock.close()
    assert [m["index"] for m in datagrams] == list(range(N)), daemon.log_text()[-3000:]

    (folder,) = list((tmp_path / "runs").iterdir())
    records = [r for r in RunFolder.read_volumes(folder / "volumes.jsonl") if r["status"] == "processed"]
    assert [r["index"] for r in records] == list(range(N))
    # the motion of echo 1 (the default realign_echo), against the truth
    motion = np.array([r["motion"] for r in records])
    assert np.abs(motion[:, :3] - session.motion[:, :3]).max() < 0.1
    # the maps: T2* of grey matter (45 ms in the generator) and white matter (40 ms)
    t2s = np.asarray(nib.load(folder / "t2star.nii.gz").dataobj)
    grey, white = (session.tissue == 1) & session.brain, (session.tissue == 2) & session.brain
    assert abs(float(np.median(t2s[grey])) - 45.0) < 2.0 and abs(float(np.median(t2s[white])) - 40.0) < 2.0
    s0 = np.asarray(nib.load(folder / "s0.nii.gz").dataobj)
    assert abs(float(np.median(s0[grey] / session.s0[grey])) - 1.0) < 0.05
    for e in (1, 2, 3):
        assert (folder / f"tsnr_echo-{e}.nii.gz").is_file()
    summary = orjson.loads((folder / "summary.json").read_bytes())
    me = summary["multiecho"]
    assert me["echoes"] == 3 and me["echo_times_ms"] == list(session.echo_times_ms) and me["combine"] == "t2s"
    assert abs(me["t2star_ms_median"]["roi_a"] - 45.0) < 2.0  # the ROIs are in grey matter
    tsnr = me["tsnr_median_by_echo"]["roi_a"]
    assert tsnr[0] > tsnr[1] > tsnr[2] > 0  # thermal noise alike on every echo, signal decaying with TE
    events = daemon.events()
    assert any(e["event"] == "duplicate_skipped" for e in events), {e["event"] for e in events}
    fb = np.array([m["feedback"] for m in datagrams])
    assert np.corrcoef(fb[8:], session.activation[8:])[0, 1] > 0.5


def test_replay_of_real_multiecho_data_gives_tedanas_t2star(shared_data: Path, tmp_path: Path) -> None:
    """``nfd replay`` over tedana's 3-echo test run (one 4-D NIfTI per echo, BIDS names), against t2smap's fit."""
    import logging
    import subprocess
    import sys

    pytest = __import__("pytest")
    pytest.importorskip("tedana")
    from tedana import decay, utils

    folder = shared_data / "multiecho_tedana"
    tes = [14.5, 38.5, 62.5]
    for e in (1, 2, 3):
        (tmp_path / f"sub-01_task-rest_echo-{e}_bold.nii.gz").symlink_to(folder / f"echo{e}.nii.gz")
    (tmp_path / "events.tsv").write_text("onset\tduration\ttrial_type\n4.0\t4.0\tUP\n")
    config = tmp_path / "nfd.toml"
    config.write_text(f"""
[run]
tr = 2.0
n_volumes = 5
[acquire]
watch_dir = "."
[multiecho]
echoes = 3
echo_times_ms = {tes}
t2s_volumes = 5
mask = "{folder / 'mask.nii.gz'}"
[roi]
brain = "{folder / 'mask.nii.gz'}"
[feedback]
protocol = "events.tsv"
[web]
enabled = false
""")
    proc = subprocess.run(
        [sys.executable, "-m", "nfd", "replay", "-c", str(config), "--input",
         str(tmp_path / "sub-01_task-rest_echo-1_bold.nii.gz"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = list((tmp_path / "out").iterdir())
    records = [r for r in RunFolder.read_volumes(run / "volumes.jsonl") if r["status"] == "processed"]
    assert len(records) == 5
    # tedana's t2smap steps (loglin fit, dropout adaptive mask, same mask) on the echoes as nfd realigned them:
    # each echo resliced with the motion nfd recorded for its volume (the head moves 0.43 mm along z)
    images = [nib.load(folder / f"echo{e}.nii.gz") for e in (1, 2, 3)]
    raw = [np.asarray(img.dataobj, dtype=np.float32) for img in images]
    affine = images[0].affine
    data = np.stack([np.stack([reslice(echo[..., t], affine, records[t]["motion"]) for t in range(5)], axis=-1)
                     for echo in raw]).astype(np.float64)
    mask = np.asarray(nib.load(folder / "mask.nii.gz").dataobj) > 0
    logging.getLogger("GENERAL").setLevel(logging.ERROR)
    cat = np.moveaxis(data[:, mask], 0, 1)
    good, n_good = utils.make_adaptive_mask(cat, threshold=1, methods=["dropout"])
    t2s, _, *_ = decay.fit_decay(cat[good], tes, n_good[good], "loglin")
    ours = np.asarray(nib.load(run / "t2star.nii.gz").dataobj)[mask][good]
    r = float(np.corrcoef(ours, np.clip(t2s, 1.0, 500.0))[0, 1])
    # nfd caps T2* at 500 ms (tedana keeps larger finite values)
    assert r >= 0.99, r


def test_combined_echoes_give_feedback_closer_to_the_activation_than_one_echo(tmp_path: Path) -> None:
    """``nfd replay`` of one synthetic 3-echo run (4-D NIfTI per echo with sidecars), t2s against each echo alone."""
    import subprocess
    import sys

    from nfd.simulate import write_multiecho_bids

    session = make_multiecho_session(N, shape=(36, 36, 20), seed=6, block_length=5, activation_pct=2.0,
                                     thermal_noise_pct=2.0, s0_noise_pct=0.2, max_motion_mm=0.3,
                                     max_motion_deg=0.3)
    (first, *_) = write_multiecho_bids(session, tmp_path / "bids", "sub-01_task-nf")
    config = _config(tmp_path, session, port=1234)
    base = config.read_text()
    r = {}
    for combine in ("t2s", "echo:1", "echo:2", "echo:3"):
        config.write_text(base.replace('combine = "t2s"', f'combine = "{combine}"'))
        out = tmp_path / combine.replace(":", "")
        proc = subprocess.run([sys.executable, "-m", "nfd", "replay", "-c", str(config), "--input", str(first),
                               "--out", str(out)], capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (folder,) = list(out.iterdir())
        records = [x for x in RunFolder.read_volumes(folder / "volumes.jsonl") if x["status"] == "processed"]
        fb = np.array([x["feedback"] for x in records], dtype=float)
        idx = np.array([x["index"] for x in records])
        keep = idx >= 8  # after the weights are frozen
        r[combine] = float(np.corrcoef(fb[keep], session.activation[idx[keep]])[0, 1])
    assert r["t2s"] > max(r["echo:1"], r["echo:2"], r["echo:3"]), r
