"""nfd connectivity extract over nfd run folders: a replayed run's own ROI series, cleaned as nilearn cleans them."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.connectivity import main, read_series
from nfd.simulate import make_session, write_roi_masks
from tests.helpers.replay import replayed_records


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-volume synthetic session replayed through nfd replay: the run folder it wrote."""
    tmp = tmp_path_factory.mktemp("runfolder")
    session = make_session(40, shape=(32, 32, 18), seed=8, max_motion_mm=0.5, max_motion_deg=0.5)
    bold = tmp / "bold.nii"
    nib.save(nib.Nifti1Image(np.moveaxis(session.volumes, 0, -1), session.affine), bold)
    masks = write_roi_masks(tmp / "rois", session)
    (tmp / "events.tsv").write_text("onset\tduration\ttrial_type\n20.0\t20.0\tUP\n")
    roi_lines = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    (tmp / "nfd.toml").write_text(f"""
[run]
tr = 2.0
n_volumes = 40
[acquire]
watch_dir = "."
[roi]
{roi_lines}
[feedback]
protocol = "events.tsv"
[web]
enabled = false
""")
    replayed_records(tmp / "nfd.toml", bold, tmp / "replayed")
    (folder,) = list((tmp / "replayed").iterdir())
    return folder


def _tsv(path: Path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    def number(cell: str) -> float:
        try:
            return float(cell)
        except ValueError:  # n/a, or the condition column's labels
            return float("nan")

    return header, np.array([[number(c) for c in line.split("\t")] for line in lines[1:]])


def test_a_run_folders_roi_series_cleaned_as_nilearn_cleans_them(run_folder: Path, tmp_path: Path) -> None:
    from nilearn.signal import clean

    out = tmp_path / "series"
    assert main(["extract", str(run_folder), "--strategy", "12P", "--high-pass", "0.01", "--out", str(out)]) == 0
    data = read_series(out / "series.npz")
    header, table = _tsv(run_folder / "timeseries.tsv")
    rois = [h for h in header if h.startswith("roi_")]
    assert data.labels == tuple(r[4:] for r in rois) and len(data.labels) >= 2
    motion_header, motion = _tsv(run_folder / "motion.tsv")
    m = np.nan_to_num(motion[:, [motion_header.index(c) for c in ("trans_x", "trans_y", "trans_z", "rot_x",
                                                                 "rot_y", "rot_z")]])  # fmt: skip
    confounds = np.hstack([m, np.vstack([np.zeros((1, 6)), np.diff(m, axis=0)])])
    raw = table[:, [header.index(r) for r in rois]]
    expected = clean(raw, detrend=True, standardize=False, confounds=confounds, standardize_confounds=True,
                     filter="butterworth", high_pass=0.01, t_r=2.0)  # fmt: skip
    (run,) = data.runs
    got = run.values
    np.testing.assert_allclose(got, expected, atol=1e-8)
    assert (out / f"{run_folder.name}_timeseries.tsv").is_file()


def test_run_folders_refuse_what_they_cannot_give(run_folder: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["extract", str(run_folder), "--strategy", "aCompCor", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any("aCompCor" in line and run_folder.name in line for line in err), err
    assert main(["extract", str(run_folder), str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not an nfd run folder" in capsys.readouterr().err
