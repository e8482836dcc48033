"""Honest EEG figures (issue 18): the summary's latencies per kind of prediction, the feedback's choice among an
EEG model's targets, and ``nfd check-config`` checking the model's hash and the targets the feedback names.

The session test plays a synthetic recording through a real LSL outlet (as tests/eeg/test_live.py does) and
asks for per-volume predictions one "TR" back, as the daemon does; the summary's figures are compared with the
same statistics computed from ``eeg_predictions.tsv`` (the reference on the same input).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from nfd.cli import main
from nfd.design import Design
from nfd.eeg import EegModel, EegPlayer, EegSession, FeatureSpec, Prediction, PreprocessSpec, file_sha256
from nfd.eeg._session import LATENCY_FROM, prediction_values
from nfd.feedback import ExternalFeedback, FeedbackError, make_feedback
from tests.helpers.eeg_synthetic import synthetic_session
from tests.helpers.study import preflight_study

TR = 1.0  # s: the per-volume predictions' windows end this long before the request


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


async def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_the_summary_splits_periodic_and_per_volume_latencies(make_model, source_id, tmp_path: Path) -> None:
    recording, _, _ = synthetic_session(duration=12.0, n_channels=3, driver=1, seed=4)
    model = make_model(["E1", "E2"], 250.0, window=1.0, delays=(0.0,))
    sid = source_id("figures")
    session = EegSession(model, source_id=sid, interval=0.1, run_folder=tmp_path, markers=False,
                         buffer_seconds=10.0)
    task = asyncio.create_task(session.run())
    player = EegPlayer(recording, source_id=sid, markers=False, wait_for_consumer=20.0)
    asked: list[int] = []
    try:
        await asyncio.to_thread(player.start)
        await wait_for(lambda: session.status == "ok", 20.0, "periodic predictions")
        await asyncio.sleep(TR + 0.2)  # a whole TR of EEG before the first volume's window end
        for index in range(6):
            await asyncio.sleep(0.15)
            p = await session.predict_volume(index, t=time.time() - TR)  # as the daemon: the acquisition start
            assert p is not None
            asked.append(index)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(player.stop)
    summary = session.summary()
    rows = read_tsv(tmp_path / "eeg_predictions.tsv")
    by_kind = {kind: [r for r in rows if r["trigger"] == trigger] for trigger, kind in
               (("interval", "periodic"), ("volume", "volume"))}
    for kind, kind_rows in by_kind.items():
        counts = summary[f"predictions_{kind}"]
        assert sum(counts.values()) == len(kind_rows), kind
        assert counts["ok"] == sum(r["status"] == "ok" for r in kind_rows), kind
        latency = [float(r["latency_ms"]) for r in kind_rows if r["status"] == "ok"]
        assert summary[f"latency_ms_{kind}_median"] == pytest.approx(np.median(latency), abs=1e-3), kind
        assert summary[f"latency_ms_{kind}_p99"] == pytest.approx(np.percentile(latency, 99), abs=1e-3), kind
    assert {k: summary["predictions"][k] for k in ("ok", "stale")} == {
        k: summary["predictions_periodic"][k] + summary["predictions_volume"][k] for k in ("ok", "stale")
    }
    volume_ok = [r for r in by_kind["volume"] if r["status"] == "ok"]
    assert [int(r["index"]) for r in volume_ok] == asked
    # a per-volume window ends at or before the acquisition start, one TR before the request, by construction:
    # its latency includes the TR; the periodic figures no longer carry it
    assert all(float(r["latency_ms"]) >= TR * 1e3 for r in volume_ok)
    assert summary["latency_ms_volume_median"] >= TR * 1e3
    assert summary["latency_ms_volume_after_request_median"] is not None
    assert summary["latency_ms_volume_after_request_median"] < summary["latency_ms_volume_median"]
    assert summary["latency_ms_median"] == summary["latency_ms_periodic_median"]
    assert summary["latency_from"] == LATENCY_FROM and "one TR" in summary["latency_from"]["volume"]
    assert summary["targets"] == ["roi_x"]


# -- several targets ------------------------------------------------------------------------------------------------
def two_target_model(folder: Path, names: tuple[str, str] = ("roi_left", "roi_right")) -> tuple[Path, str, EegModel]:
    spec = FeatureSpec(channels=("E1", "E2"), fs=250.0, window=1.0, delays=(0.0,), bands=((4.0, 8.0), (8.0, 13.0)))
    rng = np.random.default_rng(1)
    x = rng.normal(1.0, 0.5, (40, spec.n_features))
    y = rng.standard_normal((40, 2))
    model = EegModel.create(
        Ridge(alpha=1.0).fit(x, y), spec, PreprocessSpec(fs=250.0), feature_mean=x.mean(axis=0),
        feature_std=x.std(axis=0), target={"names": list(names), "mean": [100.0, 50.0], "std": [2.0, 1.0]},
        source_rate=250.0,
    )
    path = folder / "two_targets.joblib"
    digest = model.save(path)
    return path, digest, model


def test_external_feedback_takes_one_target_or_a_weighted_sum() -> None:
    design = Design.from_blocks(6, [("UP", 2, 5)])
    values = {"roi_left": 101.5, "roi_right": 48.25}
    weighted = make_feedback("external", design, [], weights={"roi_left": 2.0, "roi_right": -0.5})
    weighted.push(values, index=1)
    assert weighted.update(1, {}) == 2.0 * 101.5 - 0.5 * 48.25
    right = make_feedback("external", design, [], target="roi_right")
    right.push(values)
    assert right.update(0, {}) == 48.25
    only = ExternalFeedback(design, [])
    only.push({"roi_x": 3.5})
    assert only.update(0, {}) == 3.5
    with pytest.raises(FeedbackError, match=r"predicts 2 targets .*set eeg_target"):
        only.push(values)
    with pytest.raises(FeedbackError, match="one value per target"):
        right.push(1.0)  # a plain number cannot say which target it is
    with pytest.raises(FeedbackError, match=r"eeg_weights names \['roi_right'\]"):
        weighted.check_targets(["roi_left"])
    with pytest.raises(FeedbackError, match="exclude each other"):
        ExternalFeedback(design, [], target="roi_left", weights={"roi_right": 1.0})
    with pytest.raises(FeedbackError, match=r"eeg_target 'nope' is not a target"):
        ExternalFeedback(design, [], target="nope").check_targets(["roi_left", "roi_right"])


def test_prediction_values_fall_back_to_the_single_target() -> None:
    p = Prediction(value=1.25, t=10.0, t_window_end=9.9, window_end_index=99, t_available=10.01, compute_ms=1.0)
    values = getattr(p, "values", None)
    expected = dict(values) if values else {"roi_x": 1.25}
    assert prediction_values(p, ("roi_x",)) == expected


@pytest.mark.slow
async def test_a_two_target_model_writes_one_column_per_target(source_id, tmp_path: Path) -> None:
    from nfd.eeg import load_model

    path, digest, _ = two_target_model(tmp_path)
    model = load_model(path, digest)
    recording, _, _ = synthetic_session(duration=8.0, n_channels=2, driver=1, seed=6)
    sid = source_id("targets")
    folder = tmp_path / "run"
    folder.mkdir()
    session = EegSession(model, source_id=sid, interval=0.1, run_folder=folder, markers=False, buffer_seconds=10.0)
    task = asyncio.create_task(session.run())
    try:
        with EegPlayer(recording, source_id=sid, markers=False, wait_for_consumer=20.0):
            await wait_for(lambda: session.counts["ok"] >= 3, 20.0, "predictions")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    rows = [r for r in read_tsv(folder / "eeg_predictions.tsv") if r["status"] == "ok"]
    assert rows and {"value_roi_left", "value_roi_right"} <= set(rows[0])
    for r in rows:
        assert float(r["value"]) == float(r["value_roi_left"])


# -- nfd check-config -----------------------------------------------------------------------------------------------
def eeg_study(tmp_path: Path, model: Path, digest: str, external: str = "") -> Path:
    config = preflight_study(tmp_path, f"""[feedback.external]
source = "eeg"
{external}
[eeg]
enabled = true
source_id = "nfd-test-never-streamed"
model = "{model}"
model_sha256 = "{digest}"
""")
    text = config.read_text().replace('protocol = "p.json"', 'protocol = "p.json"\ntype = "external"', 1)
    config.write_text(text)
    return config


def check_config(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["check-config", str(config)])
    return code, capsys.readouterr().err.strip().splitlines()


def test_check_config_checks_the_model_hash_and_the_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    path, digest, _ = two_target_model(tmp_path)
    assert digest == file_sha256(path)
    cases = [  # (external lines, sha256, exit code, key in the one line, words)
        ('eeg_target = "roi_right"', digest, 0, "", "configuration is valid"),
        ("eeg_weights = {roi_left = 1.0, roi_right = -1.0}", digest, 0, "", "configuration is valid"),
        ('eeg_target = "roi_right"', "0" * 64, 2, "eeg.model_sha256", "0000"),
        ("", digest, 2, "feedback.external.eeg_target", "predicts 2 targets"),
        ('eeg_target = "roi_mid"', digest, 2, "feedback.external.eeg_target", "'roi_mid' is not a target"),
        ("eeg_weights = {roi_left = 1.0, roi_mid = 2.0}", digest, 2, "feedback.external.eeg_weights", "roi_mid"),
    ]
    for i, (external, sha, expected, key, words) in enumerate(cases):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        code, err = check_config(eeg_study(folder, path, sha, external), capsys)
        assert code == expected, (external, err)
        if expected == 2:
            assert len(err) == 1 and err[0].startswith("nfd: config error: "), err
            assert key in err[0] and words in err[0], err[0]
        else:
            assert words in err[-1]
        assert not list(folder.glob("runs/*"))


def test_check_config_refuses_eeg_targets_without_the_eeg_source(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = preflight_study(tmp_path, '[feedback.external]\nsource = "button"\neeg_target = "roi_left"\n')
    text = config.read_text().replace(
        'protocol = "p.json"', 'protocol = "p.json"\ntype = "external"\nexternal_sources = ["button"]', 1)
    config.write_text(text)
    code, err = check_config(config, capsys)
    assert code == 2 and len(err) == 1, err
    assert "feedback.external.eeg_target" in err[0] and 'expected source = "eeg"' in err[0]


def test_check_config_refuses_gradient_removal_without_triggers(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """nfd run refuses [eeg.artifacts] gradient with [eeg.markers] off when it builds the session; check-config too."""
    path, digest, _ = two_target_model(tmp_path)
    config = eeg_study(tmp_path, path, digest, 'eeg_target = "roi_right"')
    config.write_text(config.read_text() + "[eeg.markers]\nenabled = false\n[eeg.artifacts]\ngradient = true\n")
    code, err = check_config(config, capsys)
    assert code == 2 and len(err) == 1, err
    assert "eeg.artifacts.gradient" in err[0] and "[eeg.markers] enabled" in err[0], err[0]
