"""Models fitted by ``nfd eeg fit`` (leave-one-run-out, several targets, an SVR) driving ``nfd run``'s feedback.

The real EEGLAB sample gives the training data (with tools/bench_eeg_fit.py's constructed Oz-alpha targets) and,
played by a real LSL outlet (:class:`nfd.eeg.EegPlayer`), the live stream; volumes arrive while it plays.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import uuid
from pathlib import Path

import pytest

from nfd.config import load_config
from nfd.eeg import EegPlayer, fit_main, read_recording
from nfd.outputs import RunFolder
from tests.helpers.eeg_loop import run_with_player
from tests.helpers.study import synthetic_study

pytestmark = [pytest.mark.slow, pytest.mark.shared]

N = 20
INTERVAL = 0.4  # s between volumes written
TOOL = Path(__file__).resolve().parents[2] / "tools" / "bench_eeg_fit.py"
FITS = {
    "loro": ["--column", "roi_oz"],
    "multi": ["--column", "roi_oz", "--column", "roi_oz_b"],
    "svr": ["--column", "roi_oz", "--estimator", "sklearn.svm.SVR", "--param", "C=0.01", "--param", "kernel=linear"],
}


@pytest.fixture(scope="module")
def fitted(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[Path, dict]]]:
    pytest.importorskip("mne", reason="reading EEGLAB files needs the 'eeg' extra (mne)")
    spec = importlib.util.spec_from_file_location("bench_eeg_fit", TOOL)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = shared_data / "eeg" / "eeglab_sample" / "eeglab_data.set"
    _, targets = bench.constructed_target(read_recording(path), range(2))
    folder = tmp_path_factory.mktemp("models")
    tsv = folder / "bold.tsv"
    tsv.write_text("index\troi_oz\troi_oz_b\n" + "".join(
        f"{i}\t{float(a)!r}\t{float(b)!r}\n" for i, (a, b) in enumerate(zip(*targets, strict=True))))
    models = {}
    for name, extra in FITS.items():
        out = folder / f"{name}.joblib"
        code = fit_main([str(path), str(tsv), "--tr", "1", "--channels", "O1,Oz,O2", "--window", "3",
                         "--delays", "0,1,2", "--average-s", "1", "--runs", "4", "--null", "99", "-o", str(out),
                         *extra])  # fmt: skip
        assert code == 0
        models[name] = (out, json.loads(out.with_name(out.name + ".json").read_text()))
    return path, models


@pytest.mark.parametrize("name", list(FITS))
async def test_a_fitted_model_is_the_feedback_of_a_live_run(fitted, tmp_path: Path, name: str) -> None:
    recording_path, models = fitted
    model, meta = models[name]
    assert meta["training"]["validation"] == "leave-one-run-out"
    sid = f"nfd-fitted-{name}-{uuid.uuid4().hex[:10]}"
    weights = "eeg_weights = {roi_oz = 1.0, roi_oz_b = -1.0}\n" if name == "multi" else ""
    study = synthetic_study(
        tmp_path, n=N, tr=2.0, seed=12, feedback='type = "external"\nmin = -1000.0\nmax = 1000.0\n',
        extra=f"""[feedback.external]
source = "eeg"
{weights}[eeg]
enabled = true
source_id = "{sid}"
model = "{model}"
model_sha256 = "{meta["sha256"]}"
interval = 0.25
buffer = 10.0
[eeg.markers]
source_id = "{sid}-markers"
[iglm]
enabled = false
""")
    cfg = load_config(study.config)
    player = EegPlayer(read_recording(recording_path), source_id=sid, duration=25.0, wait_for_consumer=20.0)
    summary = await run_with_player(cfg, player, study.write, N, INTERVAL)

    folder = Path(summary["run_folder"])
    records = [r for r in RunFolder.read_volumes(folder) if r["status"] == "processed"]
    assert [r["index"] for r in records] == list(range(N))
    predicted = [r for r in records if r["eeg_prediction"] is not None]
    assert len(predicted) >= N // 3, [r["eeg_prediction"] for r in records]
    rows = list(csv.DictReader((folder / "eeg_predictions.tsv").read_text().splitlines(), delimiter="\t"))
    by_volume = {int(r["index"]): r for r in rows if r["trigger"] == "volume" and r["status"] == "ok"}
    for r in predicted:
        if name == "multi":  # the feedback is the weighted sum of the volume's two predicted targets
            row = by_volume[r["index"]]
            expected = float(row["value_roi_oz"]) - float(row["value_roi_oz_b"])
            assert r["feedback"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
        else:
            assert r["feedback"] == pytest.approx(r["eeg_prediction"])
    assert summary["eeg"]["targets"] == (["roi_oz", "roi_oz_b"] if name == "multi" else ["roi_oz"])
