"""EEG in the daemon's loop: a real LSL stream, volumes arriving in real time, the prediction as feedback."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

import numpy as np
import orjson
import pytest
from sklearn.linear_model import Ridge

from nfd.config import load_config
from nfd.eeg import EegModel, EegPlayer, FeatureSpec, PreprocessSpec, file_sha256
from nfd.outputs import RunFolder
from nfd.simulate import make_session, write_nifti_volume, write_roi_masks
from tests.helpers.eeg_loop import run_with_player
from tests.helpers.eeg_synthetic import synthetic_session

pytestmark = pytest.mark.slow

N = 24
INTERVAL = 0.4  # s between volumes written


def _model(tmp: Path, channels: tuple[str, ...], fs: float) -> tuple[Path, str]:
    """A ridge model over a 2 s window (fitted to random numbers: this test checks the wiring)."""
    spec = FeatureSpec(channels=channels, fs=fs, window=2.0, delays=(0.0, 0.5),
                       bands=((4.0, 8.0), (8.0, 13.0), (13.0, 30.0)))
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 0.5, (40, spec.n_features))
    model = EegModel.create(Ridge(alpha=1.0).fit(x, rng.standard_normal(40)), spec, PreprocessSpec(fs=fs),
                            feature_mean=x.mean(axis=0), feature_std=x.std(axis=0),
                            target={"name": "roi_a", "mean": 100.0, "std": 2.0}, source_rate=fs)
    path = tmp / "eeg_model.joblib"
    model.save(path)
    return path, file_sha256(path)


async def test_eeg_prediction_drives_the_feedback(tmp_path: Path) -> None:
    recording, _, _ = synthetic_session(duration=30.0, fs=250.0, n_channels=4, seed=3)
    sid = f"nfd-daemon-test-{uuid.uuid4().hex[:12]}"
    model, digest = _model(tmp_path, tuple(recording.channel_names), recording.fs)
    s = make_session(n_volumes=N, tr=2.0, shape=(24, 24, 16), seed=12, block_length=4)
    masks = write_roi_masks(tmp_path / "rois", s)
    (tmp_path / "watch").mkdir()
    (tmp_path / "p.json").write_text('{"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[5, 8], [13, 16]]}]}')
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    (tmp_path / "nfd.toml").write_text(f"""
[run]
tr = 2.0
n_volumes = {N}
output_dir = "runs"
[acquire]
watch_dir = "watch"
pattern = '^vol_(?P<volume>\\d{{4}})\\.nii$'
[roi]
{rois}
[feedback]
protocol = "p.json"
type = "external"
min = -1000.0
max = 1000.0
[feedback.external]
source = "eeg"
[feedback.udp]
enabled = false
[eeg]
enabled = true
source_id = "{sid}"
model = "{model}"
model_sha256 = "{digest}"
interval = 0.25
buffer = 10.0
[eeg.markers]
source_id = "{sid}-markers"
[iglm]
enabled = false
""")
    cfg = load_config(tmp_path / "nfd.toml")
    player = EegPlayer(recording, source_id=sid, duration=25.0, wait_for_consumer=20.0)

    def write(i: int) -> None:
        write_nifti_volume(tmp_path / "watch" / f"vol_{i + 1:04d}.nii", s.volumes[i], s.affine)

    summary = await run_with_player(cfg, player, write, N, INTERVAL)

    folder = Path(summary["run_folder"])
    records = [r for r in RunFolder.read_volumes(folder) if r["status"] == "processed"]
    assert [r["index"] for r in records] == list(range(N))
    predicted = [r for r in records if r["eeg_prediction"] is not None]
    # The window (2 s + 0.5 s delay) must end one TR (2 s) before each volume's file is complete:
    # after the first few seconds every volume has its prediction.
    first = predicted[0]["index"] if predicted else N
    assert len(predicted) >= N // 3 and [r["index"] for r in predicted] == list(range(first, N))
    for r in predicted:  # the feedback is the prediction of its own volume
        assert r["feedback"] == pytest.approx(r["eeg_prediction"])
    text = (folder / "eeg_predictions.tsv").read_text()
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    assert len(rows) >= len(predicted)
    assert summary["eeg"] and orjson.loads((folder / "summary.json").read_bytes())["eeg"]
