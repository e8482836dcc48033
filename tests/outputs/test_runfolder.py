"""RunFolder: creation, per-volume appends, reading back, and the tables written at the end."""

from __future__ import annotations

import dataclasses
import math
import resource
import signal
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import orjson
import pytest
import structlog

from nfd.outputs import OutputError, RunFolder, RunFolderError, VolumeRecord, VolumeStatus

STARTED = datetime(2025, 11, 21, 10, 30, 5)
CONFIG = '[run]\ntr = 2.0\n\n[feedback]\nprotocol = "protocol.json"\n'


def _record(index: int, **overrides: Any) -> VolumeRecord:
    record: dict[str, Any] = {
        "index": index,
        "status": VolumeStatus.PROCESSED,
        "file": f"/watch/001_000007_{index + 1:06d}.dcm",
        "condition": "BAS" if index < 8 else "NFBREG",
        "t_complete": 1763712000.0 + 2.0 * index,
        "t_sent": 1763712000.0 + 2.0 * index + 0.3,
        "durations_ms": {"read": 12.5, "realign": 250.0, "roi": 3.0, "feedback": 0.2, "send": 0.1},
        "motion": [0.01 * index, -0.02 * index, 0.03, 1e-4 * index, -2e-4, 3e-4],
        "fd": 0.05 * index,
        "roi": {"v1": 800.0 + index, "m1": 600.0 - index},
        "psc": {"v1": 0.1 * index, "m1": -0.1 * index},
        "feedback": 1.5 * index,
        "latency_ms": 300.0 + index,
    }
    record.update(overrides)
    return VolumeRecord(**record)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[RunFolder]:
    with RunFolder.create(tmp_path / "runs", prefix="run", config_text=CONFIG, started=STARTED) as folder:
        yield folder


# -- creation -----------------------------------------------------------------
def test_create_names_folder_and_writes_config(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path / "a" / "runs", prefix="nf", config_text=CONFIG, started=STARTED)
    assert run.path == tmp_path / "a" / "runs" / "nf-20251121-103005"
    assert (run.path / "config.toml").read_text() == CONFIG
    assert (run.path / "volumes.jsonl").read_bytes() == b""
    assert run.is_open and run.records == []
    run.close()
    assert not run.is_open


def test_folder_names_are_never_reused(tmp_path: Path) -> None:
    (tmp_path / "run-20251121-103005-3").write_text("a file in the way")
    paths = [RunFolder.create(tmp_path, config_text=CONFIG, started=STARTED).path for _ in range(4)]
    assert [p.name for p in paths] == [
        "run-20251121-103005", "run-20251121-103005-2", "run-20251121-103005-4", "run-20251121-103005-5",
    ]
    assert (tmp_path / "run-20251121-103005-3").read_text() == "a file in the way"


@pytest.mark.parametrize("prefix", ["", "a/b", "..", "x\0y"])
def test_bad_prefix_is_an_error_naming_it(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(RunFolderError, match="prefix") as info:
        RunFolder.create(tmp_path, prefix=prefix, config_text=CONFIG, started=STARTED)
    assert isinstance(info.value, OutputError)


def test_base_dir_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "runs").write_text("")
    with pytest.raises(RunFolderError, match="runs"):
        RunFolder.create(tmp_path / "runs", config_text=CONFIG, started=STARTED)


# -- per volume ---------------------------------------------------------------
async def test_file_is_valid_after_each_append(run: RunFolder) -> None:
    expected = []
    for index in range(5, 12):
        record = _record(index)
        run.append_volume(record)
        await run.sync()
        expected.append(record)
        assert RunFolder.read_volumes(run.path) == expected
        assert (run.path / "volumes.jsonl").read_bytes().endswith(b"\n")
    assert run.records == expected
    assert len((run.path / "volumes.jsonl").read_bytes().splitlines()) == 7


def test_numpy_values_and_nan_are_serialised(run: RunFolder) -> None:
    record = _record(3)
    run.append_volume(
        dataclasses.replace(
            record,
            index=np.int64(3),
            motion=np.array([0.5, 0, 0, 0, 0, np.nan], dtype=np.float32),
            fd=np.float64(np.nan),
            roi={"v1": np.float32(812.5)},
            feedback=float("nan"),
            file=Path("/watch/x.dcm"),
        )
    )
    (back,) = RunFolder.read_volumes(run.path / "volumes.jsonl")
    assert back["index"] == 3
    assert back["motion"] == [0.5, 0.0, 0.0, 0.0, 0.0, None]
    assert back["fd"] is None and back["feedback"] is None
    assert back["roi"] == {"v1": 812.5}
    assert back["file"] == "/watch/x.dcm"
    assert run.records == [back]


def test_partial_trailing_line_is_ignored(run: RunFolder) -> None:
    for index in range(3):
        run.append_volume(_record(index))
    with open(run.path / "volumes.jsonl", "ab") as f:
        f.write(b'{"index": 3, "file": "/watch/001_0000')  # a crash mid-write
    records = RunFolder.read_volumes(run.path)
    assert [r["index"] for r in records] == [0, 1, 2]


def test_corrupt_complete_line_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "volumes.jsonl"
    path.write_bytes(b'{"index": 0, "status": "missing"}\nnot json\n{"index": 2, "status": "missing"}\n')
    with pytest.raises(RunFolderError, match=r"volumes\.jsonl: line 2"):
        RunFolder.read_volumes(path)
    path.write_bytes(b'{"index": 0, "status": "missing"}\n[1, 2]\n')
    with pytest.raises(RunFolderError, match="line 2 is not a JSON object"):
        RunFolder.read_volumes(path)


def test_read_volumes_of_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="nothing-here"):
        RunFolder.read_volumes(tmp_path / "nothing-here")


@pytest.mark.parametrize("record", [{"file": "x"}, {"index": 1}, [("index", 1)]])
def test_record_that_is_not_a_volume_record_is_rejected(run: RunFolder, record: Any) -> None:
    with pytest.raises(RunFolderError, match="VolumeRecord"):
        run.append_volume(record)
    assert (run.path / "volumes.jsonl").read_bytes() == b""


@pytest.mark.parametrize("fields", [{"index": -1}, {"index": 2.0}, {"index": True}, {"status": "lost"}])
def test_record_without_valid_index_or_status_is_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(RunFolderError, match=r"index|status"):
        VolumeRecord(**{"index": 1, "status": "processed", **fields})


def test_line_without_status_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "volumes.jsonl"
    path.write_bytes(b'{"index": 0, "status": "missing"}\n{"index": 1}\n')
    with pytest.raises(RunFolderError, match=r"volumes.jsonl: line 2: .*status"):
        RunFolder.read_volumes(path)


@pytest.mark.parametrize("status", list(VolumeStatus))
def test_every_status_round_trips_with_its_keys(run: RunFolder, status: VolumeStatus) -> None:
    record = dataclasses.replace(_record(4), status=status, reason="why")
    run.append_volume(record)
    (back,) = RunFolder.read_volumes(run.path)
    assert back == record and back.status is status
    expected = {
        VolumeStatus.PROCESSED: 21, VolumeStatus.MISSING: 3, VolumeStatus.REFUSED: 5, VolumeStatus.FAILED: 5,
    }[status]
    assert len(orjson.loads((run.path / "volumes.jsonl").read_bytes())) == expected


def test_unknown_keys_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "volumes.jsonl"
    path.write_bytes(b'{"index": 0, "status": "missing", "condition": "BAS", "from_the_future": [1, 2]}\n')
    (back,) = RunFolder.read_volumes(path)
    assert back.extra == {"from_the_future": [1, 2]}
    assert orjson.loads(back.to_json()) == orjson.loads(path.read_bytes())


def test_unserialisable_record_leaves_file_unchanged(run: RunFolder) -> None:
    run.append_volume(_record(0))
    before = (run.path / "volumes.jsonl").read_bytes()
    with pytest.raises(RunFolderError, match="volume record 1"):
        run.append_volume(_record(1, extra={"x": object()}))
    assert (run.path / "volumes.jsonl").read_bytes() == before
    assert len(run.records) == 1


def test_append_after_finish_is_an_error(run: RunFolder) -> None:
    run.finish({})
    with pytest.raises(RunFolderError, match="finished or closed"):
        run.append_volume(_record(0))


# -- finish -------------------------------------------------------------------
def _tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


def test_finish_writes_motion_table_and_sidecar(run: RunFolder) -> None:
    for index in (5, 6, 7):
        run.append_volume(_record(index))
    run.append_volume(_record(9, motion=None, fd=None))  # a volume whose realignment failed
    run.finish({"volumes": 4})
    rows = _tsv(run.path / "motion.tsv")
    assert rows[0] == [
        "index", "trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "framewise_displacement",
    ]
    assert len(rows) == 1 + 4
    for row, index in zip(rows[1:4], (5, 6, 7), strict=True):
        record = _record(index)
        assert int(row[0]) == index
        assert [float(v) for v in row[1:7]] == record["motion"]
        assert float(row[7]) == record["fd"]
    assert rows[4] == ["9"] + ["n/a"] * 7
    sidecar = orjson.loads((run.path / "motion.json").read_bytes())
    assert [sidecar[c]["Units"] for c in rows[0][1:]] == ["mm", "mm", "mm", "rad", "rad", "rad", "mm"]
    assert sidecar["MotionConvention"]["Software"] == "SPM"


def test_finish_writes_timeseries_table_and_sidecar(run: RunFolder) -> None:
    for index in (7, 8):
        run.append_volume(_record(index))
    run.finish({}, feedback_units="percent signal change")
    rows = _tsv(run.path / "timeseries.tsv")
    assert rows == [
        ["index", "condition", "roi_v1", "roi_m1", "feedback"],
        ["7", "BAS", "807.0", "593.0", "10.5"],
        ["8", "NFBREG", "808.0", "592.0", "12.0"],
    ]
    sidecar = orjson.loads((run.path / "timeseries.json").read_bytes())
    assert sidecar["roi_v1"]["Units"] == sidecar["roi_m1"]["Units"] == "scanner intensity units (arbitrary)"
    assert sidecar["feedback"]["Units"] == "percent signal change"


def test_finish_writes_summary_and_is_idempotent(run: RunFolder) -> None:
    run.append_volume(_record(0))
    summary = {"volumes": 1, "latency_ms": {"median": np.float64(301.0)}, "missing": [], "ok": True}
    run.finish(summary)
    names = ["motion.tsv", "motion.json", "timeseries.tsv", "timeseries.json", "summary.json", "volumes.jsonl"]
    first = {name: (run.path / name).read_bytes() for name in names}
    assert orjson.loads(first["summary.json"]) == {
        "volumes": 1, "latency_ms": {"median": 301.0}, "missing": [], "ok": True
    }
    assert first["summary.json"].startswith(b"{\n  ")  # indented by 2
    run.finish(summary)
    assert {name: (run.path / name).read_bytes() for name in names} == first
    assert not [p.name for p in run.path.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert not run.is_open


def test_finish_of_an_empty_run_writes_header_only_tables(run: RunFolder) -> None:
    run.finish({"volumes": 0})
    assert _tsv(run.path / "motion.tsv") == [
        ["index", "trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "framewise_displacement"]
    ]
    assert _tsv(run.path / "timeseries.tsv") == [["index", "condition", "feedback"]]


def test_finish_writes_raw_nifti_with_tr(run: RunFolder) -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(1000.0, 10.0, size=(6, 5, 4, 3)).astype(np.float32)
    affine = np.array([[-3.0, 0, 0, 90], [0, 3.0, 0, -126], [0, 0, 3.5, -72], [0, 0, 0, 1]])
    run.finish({}, raw_volumes=raw, affine=affine, tr=1.97)
    img = nib.load(run.path / "raw.nii.gz")
    assert img.shape == (6, 5, 4, 3)
    np.testing.assert_array_equal(np.asarray(img.dataobj), raw)
    np.testing.assert_allclose(img.affine, affine, atol=1e-5)
    assert img.header["pixdim"][4] == pytest.approx(1.97)
    assert img.header.get_xyzt_units() == ("mm", "sec")
    assert int(img.header["sform_code"]) == int(img.header["qform_code"]) == 1


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"raw_volumes": np.zeros((2, 2, 2))}, "4-D"),
        ({"raw_volumes": np.zeros((2, 2, 2, 2)), "tr": 2.0}, "affine"),
        ({"raw_volumes": np.zeros((2, 2, 2, 2)), "affine": np.eye(3), "tr": 2.0}, "affine"),
        ({"raw_volumes": np.zeros((2, 2, 2, 2)), "affine": np.eye(4)}, "tr"),
        ({"raw_volumes": np.zeros((2, 2, 2, 2)), "affine": np.eye(4), "tr": 0.0}, "tr"),
        ({"raw_volumes": np.zeros((2, 2, 2, 2)), "affine": np.eye(4), "tr": math.nan}, "tr"),
    ],
)
def test_bad_raw_arguments_are_errors_naming_them(run: RunFolder, kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(RunFolderError, match=named):
        run.finish({}, **kwargs)
    assert not (run.path / "raw.nii.gz").exists()
    assert run.is_open  # nothing was closed by the failed call


def test_summary_must_be_a_mapping(run: RunFolder) -> None:
    with pytest.raises(RunFolderError, match="summary"):
        run.finish([1, 2])  # type: ignore[arg-type]


@pytest.mark.shared
def test_raw_nifti_of_a_real_run_gets_the_configured_tr(shared_data: Path, run: RunFolder) -> None:
    """A real 4-D run whose header says TR 1.0 s (wrong; the paradigm's TR is 2.4 s) and no units."""
    source = nib.load(shared_data / "pyhrf_localizer" / "subj0_bold_session0.nii.gz")
    assert source.header.get_zooms()[3] == 1.0
    data = np.asarray(source.dataobj)[..., :20]
    run.finish({}, raw_volumes=data, affine=source.affine, tr=2.4)
    img = nib.load(run.path / "raw.nii.gz")
    assert img.shape == (53, 63, 46, 20)
    assert img.header.get_zooms() == pytest.approx((3.0, 3.0, 3.0, 2.4))
    assert img.header.get_xyzt_units() == ("mm", "sec")
    np.testing.assert_allclose(img.affine, source.affine)
    np.testing.assert_array_equal(np.asarray(img.dataobj), data)


async def test_sync_after_close_is_a_no_op(run: RunFolder) -> None:
    run.close()
    await run.sync()
    run.close()  # idempotent
    assert not (run.path / "motion.tsv").exists()


def test_failed_write_is_rolled_back_kept_and_written_when_space_returns(run: RunFolder) -> None:
    """A write cut short (here by a file-size limit, as on a full disk) leaves the file as it was; nothing is lost."""
    run.append_volume(_record(0))
    before = (run.path / "volumes.jsonl").read_bytes()
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 100, old_limit[1]))
    try:
        with structlog.testing.capture_logs() as logs:
            run.append_volume(_record(1, file="x" * 1000))  # refused: kept in memory, not raised
            run.append_volume(_record(2))  # still behind volume 1: waits with it, in order
        assert (run.path / "volumes.jsonl").read_bytes() == before  # truncated back: still valid
        assert run.pending_writes == 2
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert [(e["event"], e["index"]) for e in logs] == [("run_folder_write_failed", 1)]  # once, not per volume
    with structlog.testing.capture_logs() as logs:
        run.append_volume(_record(3))
    assert [e["event"] for e in logs] == ["run_folder_write_recovered"] and run.pending_writes == 0
    assert [r["index"] for r in RunFolder.read_volumes(run.path)] == [0, 1, 2, 3] == [r["index"] for r in run.records]


# -- resuming after a restart ---------------------------------------------------
def test_an_unfinished_run_is_found_reopened_and_continued(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    old = RunFolder.create(base, prefix="run", config_text=CONFIG, started=STARTED)
    for i in range(3):
        old.append_volume(_record(i, file=f"vol_{i + 1:04d}.nii"))
    old.close()  # killed: no summary
    with open(old.path / "volumes.jsonl", "ab") as f:
        f.write(b'{"index": 3, "status": "proc')  # a write torn by the kill
    files = ["vol_0001.nii", "vol_0002.nii", "vol_0003.nii", "vol_0004.nii"]
    assert RunFolder.find_unfinished(base, "run", CONFIG, files) == old.path
    assert RunFolder.find_unfinished(base, "run", CONFIG + "# edited\n", files) is None  # another configuration
    assert RunFolder.find_unfinished(base, "run", CONFIG, ["vol_0001.nii"]) is None  # its last file is gone
    assert RunFolder.find_unfinished(base, "other", CONFIG, files) is None
    with structlog.testing.capture_logs() as logs:
        again = RunFolder.reopen(old.path)
    assert [e["event"] for e in logs] == ["volumes_partial_line_cut"]
    assert [r.index for r in again.records] == [0, 1, 2]
    assert again.mark_resumed(pid=1234, now=1763712100.0) == 2
    again.append_volume(_record(3, file="vol_0004.nii", stale=True, feedback=None, t_sent=None))
    again.finish({"volumes_processed": 4})
    on_disk = RunFolder.read_volumes(old.path)
    assert [r.index for r in on_disk] == [0, 1, 2, 3] and on_disk[3].stale is True and on_disk[0].stale is None
    assert (old.path / "resumes.jsonl").read_text() == (
        '{"interrupted_after_index":2,"resumed_at":1763712100.0,"pid":1234}\n')
    assert len((old.path / "motion.tsv").read_text().splitlines()) == 5  # header and the four volumes
    with pytest.raises(RunFolderError, match="is finished"):
        RunFolder.reopen(old.path)
    assert RunFolder.find_unfinished(base, "run", CONFIG, files) is None  # finished now
