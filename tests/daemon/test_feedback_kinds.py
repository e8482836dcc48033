"""One end-to-end replay per feedback kind, through the real daemon, on synthetic sessions with known truth."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import joblib
import nibabel as nib
import numpy as np
import orjson
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nfd.config import load_config
from nfd.daemon.app import Daemon
from nfd.daemon.build import open_recording
from nfd.outputs import RunFolder
from nfd.simulate import SyntheticSession, make_session, write_roi_masks

N = 48
BLOCK = 8


def _session(seed: int) -> SyntheticSession:
    return make_session(n_volumes=N, tr=2.0, shape=(32, 32, 18), seed=seed, block_length=BLOCK,
                        activation_pct=3.0, noise_pct=0.3, drift_pct=0.5, max_motion_mm=0.2, max_motion_deg=0.2)


def _write(tmp: Path, s: SyntheticSession, feedback: str) -> Path:
    s.write_nifti(tmp / "volumes")
    masks = write_roi_masks(tmp / "rois", s)
    control = np.zeros(s.shape, np.uint8)  # a control ROI away from the activated ones
    control[14:18, 14:18, 8:10] = 1
    nib.save(nib.Nifti1Image(control, s.affine), tmp / "rois" / "control.nii")
    masks["control"] = tmp / "rois" / "control.nii"
    (tmp / "protocol.json").write_text(orjson.dumps({"ConditionIndex": [{
        "ConditionName": "UP", "OnOffsets": [[a + 1, b + 1] for c, a, b in s.design.blocks if c == "UP"]}]}).decode())
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    (tmp / "nfd.toml").write_text(f"""
[run]
tr = 2.0
n_volumes = {N}
[acquire]
watch_dir = "unused"
pattern = '^vol_(?P<volume>\\d{{4}})\\.nii$'
first_number = 0
[roi]
{rois}
[feedback]
protocol = "protocol.json"
delay = 1
min = -1000.0
max = 1000.0
external_sources = ["ext"]
{feedback}
[feedback.udp]
enabled = false
""")
    return tmp / "nfd.toml"


async def _replay(config: Path, tmp: Path, pushes: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cfg = load_config(config)
    source = open_recording(tmp / "volumes", cfg)
    async with Daemon(cfg, output_dir=tmp / "out", handle_signals=False, web=False) as daemon:
        if pushes:  # a value pushed after each volume: the next volume's feedback
            daemon.on_volume = lambda r: daemon.push_value("ext", 10.0 + r["index"], time.time())
        summary = await daemon.run(source)
    records = [r for r in RunFolder.read_volumes(Path(summary["run_folder"])) if r["status"] == "processed"]
    assert [r["index"] for r in records] == list(range(N))
    return records, summary


def _values(records: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    fb = np.array([np.nan if r["feedback"] is None else r["feedback"] for r in records])
    up = np.array([r["condition"] == "UP" for r in records])
    return fb, up


def _block_ends(s: SyntheticSession) -> list[int]:
    return [last for c, _, last in s.design.blocks if c == "UP"]


async def test_psc(tmp_path: Path) -> None:
    s = _session(31)
    records, _ = await _replay(_write(tmp_path, s, 'type = "psc"'), tmp_path)
    fb, _ = _values(records)
    assert np.corrcoef(fb, s.activation)[0, 1] > 0.7
    assert set(records[20]["psc"]) == {"roi_a", "roi_b", "control"}


async def test_psc_intermittent(tmp_path: Path) -> None:
    s = _session(32)
    records, _ = await _replay(_write(tmp_path, s, 'type = "psc_intermittent"'), tmp_path)
    fb, _ = _values(records)
    sent = [r["index"] for r in records if r["feedback"] is not None]
    assert sent == _block_ends(s)  # one value at the end of each regulation block
    assert np.nanmin(fb) > 0.3  # each block's PSC is clearly positive (3 % activation in two of three ROIs)
    assert all(r["latency_ms"] is None for r in records if r["feedback"] is None)


async def test_correlation(tmp_path: Path) -> None:
    s = _session(33)
    cfg = 'type = "correlation"\nsignal = "kalman"\n[feedback.correlation]\nwindow = 8\npairs = [["roi_a", "roi_b"]]'
    records, _ = await _replay(_write(tmp_path, s, cfg), tmp_path)
    fb, _ = _values(records)
    valid = fb[~np.isnan(fb)]
    assert len(valid) >= N - 10 and np.all(np.abs(valid) <= 1.0)
    assert np.mean(valid) > 0.3  # both ROIs follow the same task
    assert "roi_a~roi_b" in records[-1]["feedback_detail"]["pairs"]


async def test_correlation_intermittent(tmp_path: Path) -> None:
    s = _session(34)
    records, _ = await _replay(_write(tmp_path, s, 'type = "correlation_intermittent"'), tmp_path)
    sent = [r["index"] for r in records if r["feedback"] is not None]
    assert sent == _block_ends(s)
    assert all(-2.0 <= r["feedback"] <= 2.0 for r in records if r["feedback"] is not None)


async def test_two_point_proxy(tmp_path: Path) -> None:
    s = _session(35)
    cfg = 'type = "proxy"\n[feedback.proxy]\ntargets = ["roi_a", "roi_b"]\ncontrol = "control"'
    records, summary = await _replay(_write(tmp_path, s, cfg), tmp_path)
    fb, _ = _values(records)
    assert set(np.unique(fb[~np.isnan(fb)])) <= {0.0, 1.0}
    proxy = summary["feedback"]
    assert proxy["kind"] == "proxy" and proxy["events"] == int(np.nansum(fb))
    # the gold standard: targets correlate with each other more than with the control
    assert proxy["composite"] > 0


async def test_decoder(tmp_path: Path) -> None:
    # Trained as a lab would: on the ROI means nfd recorded in an earlier run of the subject.
    train = _session(36)
    (tmp_path / "train").mkdir()
    records, _ = await _replay(_write(tmp_path / "train", train, 'type = "psc"'), tmp_path / "train")
    rois = ["roi_a", "roi_b", "control"]
    x = np.array([[r["roi"][name] for name in rois] for r in records])
    labels = np.array([r["condition"] for r in records])
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, labels)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    s = _session(37)
    cfg = f'type = "decoder"\n[feedback.decoder]\nmodel = "{path}"\nsha256 = "{digest}"\npositive_class = "UP"'
    records, summary = await _replay(_write(tmp_path, s, cfg), tmp_path)
    fb, up = _values(records)
    assert summary["feedback"]["output"] == "decision"
    assert fb[up].mean() > fb[~up].mean() + 1.0


async def test_decoder_with_wrong_hash_is_refused_before_any_volume(tmp_path: Path) -> None:
    s = _session(38)
    path = tmp_path / "model.joblib"
    joblib.dump(make_pipeline(StandardScaler(), LogisticRegression()), path)
    cfg = f'type = "decoder"\n[feedback.decoder]\nmodel = "{path}"\nsha256 = "{"0" * 64}"'
    from nfd.config import ConfigError

    with pytest.raises(ConfigError, match=r"feedback\.decoder.*sha256"):
        await _replay(_write(tmp_path, s, cfg), tmp_path)


async def test_external_values(tmp_path: Path) -> None:
    s = _session(39)
    cfg = 'type = "external"\n[feedback.external]\nsource = "ext"'
    records, _ = await _replay(_write(tmp_path, s, cfg), tmp_path, pushes=True)
    fb, _ = _values(records)
    # volume i gets the value pushed after volume i - 1
    assert fb[1:].tolist() == [10.0 + i for i in range(N - 1)]
