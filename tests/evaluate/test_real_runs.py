"""A study on the real runs at hand (the shared Siemens run and the PyHRF localizer, one-subject datasets each)
runs to a report without error: the smoke test of ``nfd evaluate`` on scanner data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

STUDY = """
[dataset]
skip_volumes = 5
[[dataset.runs]]
subject = "siemens"
path = "{siemens}"
[[dataset.runs]]
subject = "localizer"
path = "{localizer}"
tr = 2.4                        # the header's 1.0 is wrong (see ../shared/data/README.md)

[rois]
centres = "centres.tsv"
radius_mm = [4, 6]

[[variants]]
points = [2, 3]

[statistics]
iterations = 200
"""


def _centre(mask: np.ndarray, affine: np.ndarray) -> tuple[float, float, float]:
    x, y, z = (affine @ np.r_[np.argwhere(mask).mean(axis=0), 1.0])[:3]
    return float(x), float(y), float(z)


def _centres(shared: Path) -> str:
    """Targets and control inside each run's brain: the Siemens run's two ROI masks and a frontal point; the
    localizer's first parcel split front and back (its volumes hold only the two parcels) and its second."""
    rows = ["subject\tname\tx\ty\tz"]
    rois = sorted((shared / "opennft_psc_run" / "rois").iterdir())
    for name, path in zip(("target01", "target02"), rois, strict=True):
        image = nib.load(path)
        rows.append("siemens\t{}\t{}\t{}\t{}".format(name, *_centre(np.asarray(image.dataobj) > 0, image.affine)))
    rows.append("siemens\tcontrol\t0.0\t30.0\t20.0")
    parcels = nib.load(shared / "pyhrf_localizer" / "subj0_parcellation.nii.gz")
    labels = np.asarray(parcels.dataobj)
    first = labels == 1
    middle = np.median(np.argwhere(first)[:, 1])
    ys = np.indices(labels.shape)[1]
    for name, part in (("target01", first & (ys < middle)), ("target02", first & (ys >= middle)),
                       ("control", labels == 2)):  # fmt: skip
        rows.append("localizer\t{}\t{}\t{}\t{}".format(name, *_centre(part, parcels.affine)))
    return "\n".join(rows) + "\n"


def test_a_study_on_the_real_runs_reaches_its_report(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / "centres.tsv").write_text(_centres(shared_data))
    study = tmp_path / "study.toml"
    study.write_text(STUDY.format(siemens=shared_data / "opennft_psc_run" / "dicom",
                                  localizer=shared_data / "pyhrf_localizer" / "subj0_bold_session0.nii.gz"))
    done = subprocess.run([sys.executable, "-m", "nfd", "evaluate", str(study), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "0 problems" in done.stderr, done.stderr
    cells = pd.read_csv(tmp_path / "out" / "cells.tsv", sep="\t", dtype={"subject": str, "run": str})
    assert len(cells) == 2 * 2 * 2 * 2  # subjects x points x radii x levels, one target pair
    assert np.isfinite(cells[["output", "gold", "r_targets", "tsnr", "standard"]].to_numpy()).all()
    assert (cells.output > 0).all() and set(cells.subject) == {"siemens", "localizer"}
    volumes = {"siemens": 155 - 5, "localizer": 125 - 5}
    for subject, n in volumes.items():  # a 2-point event needs one interval, a 3-point event two
        part = cells[cells.subject == subject]
        assert (part.output <= n - 1).all() and (part[part.points == 3].output.to_numpy()
                                                 <= part[part.points == 2].output.to_numpy()).all()  # fmt: skip
    report = (tmp_path / "out" / "report.html").read_text()
    assert "siemens" in report or "opennft_psc_run" in report


TASK_STUDY = """
[dataset]
skip_volumes = 5
[[dataset.runs]]
subject = "localizer"
path = "{localizer}"
tr = 2.4
protocol = "{paradigm}"         # PyHRF's paradigm: 80 events of 10 conditions, impulses

[rois]
centres = "centres.tsv"
radius_mm = [6]

[gold]
measure = "activation"

[[variants]]
kind = "psc"
targets = "singles"
delay = [0, 2]

[[variants]]
kind = "psc_intermittent"
targets = "singles"
delay = [0]                     # an impulse labels one volume: a later delay leaves its block empty

[statistics]
iterations = 200
"""


def test_a_psc_study_on_the_localizer_with_its_paradigm_reaches_its_report(shared_data: Path, tmp_path: Path) -> None:
    """kind "psc" over the PyHRF localizer's run with its paradigm (PyHRF CSV) against the activation gold: every
    cell finite, the report written, no problem."""
    (tmp_path / "centres.tsv").write_text(_centres(shared_data))
    folder = shared_data / "pyhrf_localizer"
    study = tmp_path / "study.toml"
    study.write_text(TASK_STUDY.format(localizer=folder / "subj0_bold_session0.nii.gz",
                                       paradigm=folder / "paradigm_loc.csv"))  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "nfd", "evaluate", str(study), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "0 problems" in done.stderr, done.stderr
    cells = pd.read_csv(tmp_path / "out" / "cells.tsv", sep="\t", dtype={"subject": str, "run": str})
    assert len(cells) == 3 * 2 * 2  # variants (psc with 2 delays, psc_intermittent) x targets x levels
    assert set(cells.kind) == {"psc", "psc_intermittent"} and set(cells.target_set) == {"target01", "target02"}
    assert np.isfinite(cells[["output", "gold", "tsnr", "standard"]].to_numpy()).all() and cells.r_targets.isna().all()
    assert (cells.output.abs() < 20).all() and (cells.gold.abs() < 20).all()  # percent signal changes
    assert "psc_intermittent" in (tmp_path / "out" / "report.html").read_text()
