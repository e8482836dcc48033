"""The normative feedback kind end to end: an atlas's network ROIs, a replay through the real daemon, check-config.

A synthetic session on a small EPI grid: six networks of two regions each, an atlas label image and its TSV on
that grid; every voxel of a network carries its network's series, drawn with the normative correlation in the
blocks 0-39 and 80-119 and with a deviant one (vis's loading on the first factor flipped: its five edges change
sign in their main part) in 40-79 and 120-159. The model is fitted here with :func:`nfd.normative.fit_normative`
on controls' 30-volume window FC of the normative correlation. Planted truth: the recorded feedback is lower in
the normative blocks than in the deviant ones.

The chain runs without motion regressors: on this piecewise-constant phantom the realignment reads the
networks' 2 % fluctuations at the regions' edges as motion (FD about 0.2 mm with none planted), and regressing
those estimates out puts a shared component into every network (window r about 0.9 between all of them),
hiding the planted pattern; a finding for real data too, where motion regressors correlate with the signal.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import orjson

from nfd.config import load_config
from nfd.daemon.app import Daemon
from nfd.daemon.build import open_recording
from nfd.normative import edge_labels, fit_normative, save_model
from nfd.outputs import RunFolder

NETWORKS = ("vis", "som", "dan", "van", "lim", "dmn")
WINDOW = 30
BLOCK = 40
N = 4 * BLOCK
SHAPE = (20, 20, 8)
AFFINE = np.array([[3.0, 0, 0, -30.0], [0, 3.0, 0, -30.0], [0, 0, 3.5, -14.0], [0, 0, 0, 1]])


def correlation(deviant: bool) -> np.ndarray:
    """Two-factor network correlation; the deviant one flips vis's first loading."""
    loadings = np.array([[0.8, 0.1], [0.7, 0.2], [0.6, -0.3], [0.2, 0.7], [-0.3, 0.6], [0.5, 0.5]])
    if deviant:
        loadings[0, 0] *= -1
    c = loadings @ loadings.T
    c[np.diag_indices_from(c)] = 1.0
    return c


def fit_model(folder: Path) -> str:
    """The normative model of 300 controls' window FC, saved in `folder`; the sha256 of its model.npz."""
    rng = np.random.default_rng(160)
    tril = np.tril_indices(len(NETWORKS), k=-1)
    features = np.array([
        np.corrcoef(rng.multivariate_normal(np.zeros(6), correlation(False), size=WINDOW), rowvar=False)[tril]
        for _ in range(300)
    ])
    model = fit_normative(features, edge_labels(NETWORKS), [f"sub-{k:03d}" for k in range(300)],
                          sizes=(15, 10, 4, 10, 15), seed=2, max_iter=300, meta={"metric": "pearson"})
    save_model(model, folder)
    return hashlib.sha256((folder / "model.npz").read_bytes()).hexdigest()


def region_boxes() -> list[tuple[slice, slice, slice]]:
    """Twelve 3 x 3 x 2 regions, two per network (regions 2n + 1 and 2n + 2 belong to network n)."""
    return [(slice(2 + 4 * (k % 4), 5 + 4 * (k % 4)), slice(3 + 5 * (k // 4), 6 + 5 * (k // 4)), slice(3, 5))
            for k in range(12)]


def write_session(tmp: Path) -> None:
    """The volumes, the atlas and its TSV, the protocol (deviant blocks as "UP")."""
    rng = np.random.default_rng(161)
    head = np.zeros(SHAPE, np.float32)
    head[1:19, 1:19, 1:7] = 400.0
    head[4:16, 4:16, 2:6] = 600.0  # some structure for the realignment
    labels = np.zeros(SHAPE, np.int16)
    for k, box in enumerate(region_boxes()):
        labels[box] = k + 1
        head[box] = 1000.0
    series = np.concatenate([
        rng.multivariate_normal(np.zeros(6), correlation(deviant=b % 2 == 1), size=BLOCK) for b in range(4)
    ])
    network_of_voxel = np.where(labels > 0, (labels - 1) // 2, -1)
    (tmp / "volumes").mkdir()
    for t in range(N):
        volume = head + rng.normal(0.0, 1.0, SHAPE).astype(np.float32)
        for n in range(6):
            volume[network_of_voxel == n] += 20.0 * series[t, n]
        nib.save(nib.Nifti1Image(volume, AFFINE), tmp / "volumes" / f"vol_{t:04d}.nii")
    nib.save(nib.Nifti1Image(labels, AFFINE), tmp / "atlas.nii.gz")
    rows = ["index\tname\tnetwork", *(f"{k + 1}\t{NETWORKS[k // 2]}_{k % 2 + 1}\t{NETWORKS[k // 2]}"
                                      for k in range(12))]
    (tmp / "atlas.tsv").write_text("\n".join(rows) + "\n")
    (tmp / "protocol.json").write_text(orjson.dumps({"ConditionIndex": [{
        "ConditionName": "UP", "OnOffsets": [[BLOCK + 1, 2 * BLOCK], [3 * BLOCK + 1, 4 * BLOCK]]}]}).decode())


def write_config(tmp: Path, sha: str, labels: str = "atlas.tsv") -> Path:
    (tmp / "watch").mkdir(exist_ok=True)
    (tmp / "nfd.toml").write_text(f"""
[run]
tr = 2.0
n_volumes = {N}
[acquire]
watch_dir = "watch"
pattern = '^vol_(?P<volume>\\d{{4}})\\.nii$'
first_number = 0
[volume]
smooth_fwhm = 0.0
[signal]
motion_regressors = false
[atlas]
image = "atlas.nii.gz"
labels = "{labels}"
[feedback]
protocol = "protocol.json"
type = "normative"
min = -1000.0
max = 1000.0
[feedback.normative]
model = "model"
sha256 = "{sha}"
window = {WINDOW}
[feedback.udp]
enabled = false
[iglm]
enabled = false
[web]
enabled = false
""")
    return tmp / "nfd.toml"


async def replay(config: Path, tmp: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    served = config.with_name("served.toml")  # the live page on, on any free port: it lists the run's ROIs
    served.write_text(config.read_text().replace("[web]\nenabled = false", "[web]\nenabled = true\nport = 0"))
    cfg = load_config(served)
    assert cfg.web.enabled
    source = open_recording(tmp / "volumes", cfg)
    async with Daemon(cfg, output_dir=tmp / "out", handle_signals=False) as daemon:
        summary = await daemon.run(source)
        assert daemon.live is not None and daemon.live.run_info is not None
        assert list(daemon.live.run_info.rois) == list(NETWORKS)  # the live page lists the atlas's ROIs
    records = [r for r in RunFolder.read_volumes(Path(summary["run_folder"])) if r["status"] == "processed"]
    assert [r["index"] for r in records] == list(range(N))
    return records, summary


async def test_feedback_is_lower_in_the_normative_blocks(tmp_path: Path) -> None:
    write_session(tmp_path)
    config = write_config(tmp_path, fit_model(tmp_path / "model"))
    records, summary = await replay(config, tmp_path)
    feedback = [r["feedback"] for r in records]
    assert feedback[: WINDOW - 1] == [None] * (WINDOW - 1) and all(v is not None for v in feedback[WINDOW - 1 :])
    # windows lying wholly inside one block
    inside = {b: [feedback[i] for i in range(b * BLOCK + WINDOW - 1, (b + 1) * BLOCK)] for b in range(4)}
    normative = float(np.mean(inside[0] + inside[2]))
    deviant = float(np.mean(inside[1] + inside[3]))
    assert deviant > 2.0 * normative, (normative, deviant)
    assert max(inside[0] + inside[2]) < min(inside[1] + inside[3])
    detail = records[-1]["feedback_detail"]
    assert set(detail["edges"]) == set(edge_labels(NETWORKS)) and -1.0 <= detail["fc"]["min"] <= 1.0
    assert set(records[-1]["roi"]) == set(NETWORKS)  # the atlas's network ROIs, named by network
    fb = summary["feedback"]
    assert fb["kind"] == "normative" and fb["networks"] == list(NETWORKS) and fb["edges"] == 15
    assert fb["mean_regulation"] > fb["mean_baseline"]  # "UP" holds the deviant blocks


def test_check_config_refuses_a_model_whose_networks_are_not_the_atlases(tmp_path: Path) -> None:
    write_session(tmp_path)
    sha = fit_model(tmp_path / "model")
    renamed = (tmp_path / "atlas.tsv").read_text().replace("\tdmn\n", "\tdefault\n")
    (tmp_path / "renamed.tsv").write_text(renamed)
    for labels, code in (("atlas.tsv", 0), ("renamed.tsv", 2)):
        config = write_config(tmp_path, sha, labels)
        proc = subprocess.run([sys.executable, "-m", "nfd", "check-config", str(config)], capture_output=True,
                              text=True, timeout=120, check=False)
        assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "feedback.normative" in lines[0] and "networks ['dmn'] are not among the run's ROIs" in lines[0]
