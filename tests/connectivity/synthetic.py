"""A tiny fMRIPrep-like derivatives folder with planted region signals and planted motion artefacts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy.ndimage import gaussian_filter1d

SHAPE = (12, 14, 12)
N_VOLUMES = 200
TR = 2.0
MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
#: The four regions of the dseg (label value -> voxel box).
BOXES = {1: (slice(2, 5), slice(2, 6), slice(2, 5)), 2: (slice(7, 10), slice(2, 6), slice(2, 5)),
         3: (slice(2, 5), slice(8, 12), slice(7, 10)), 4: (slice(7, 10), slice(8, 12), slice(7, 10))}  # fmt: skip
NAMES = ("visual", "motor", "dmn_a", "dmn_b")
NETWORKS = ("sensory", "sensory", "dmn", "dmn")
#: Volumes whose framewise displacement is planted above 0.5 mm.
SPIKES = (20, 21, 50, 130)
AFFINE = np.array([[3.0, 0, 0, -18], [0, 3.0, 0, -21], [0, 0, 3.0, -18], [0, 0, 0, 1]])


@dataclass
class Derivatives:
    """What was written: the folder, the atlas files and the planted truth per subject."""

    root: Path
    dseg: Path
    labels_tsv: Path
    signals: dict[str, np.ndarray] = field(default_factory=dict)  # subject -> (T, 4) planted region signals
    motion: dict[str, np.ndarray] = field(default_factory=dict)  # subject -> (T, 6)


def _confounds(rng: np.random.Generator, motion: np.ndarray) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    deriv = np.vstack([np.full((1, 6), np.nan), np.diff(motion, axis=0)])
    for k, m in enumerate(MOTION):
        cols[m] = motion[:, k]
        cols[f"{m}_derivative1"] = deriv[:, k]
        cols[f"{m}_power2"] = motion[:, k] ** 2
        cols[f"{m}_derivative1_power2"] = deriv[:, k] ** 2
    for k in range(5):
        cols[f"a_comp_cor_{k:02d}"] = rng.normal(size=motion.shape[0])
    fd = np.abs(np.nan_to_num(deriv)).sum(axis=1) * 0.05
    fd[[s for s in SPIKES if s < len(fd)]] = 0.9
    fd[0] = np.nan
    cols["framewise_displacement"] = fd
    return cols


def _write_tsv(path: Path, cols: dict[str, np.ndarray]) -> None:
    rows = ["\t".join(cols)]
    for t in range(len(next(iter(cols.values())))):
        rows.append("\t".join("n/a" if np.isnan(c[t]) else repr(float(c[t])) for c in cols.values()))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_subject(root: Path, subject: str, seed: int, *, int16: bool = False, session: str = "",
                  confounds: bool = True, drop_column: str = "") -> tuple[np.ndarray, np.ndarray]:
    """One subject's run: BOLD (float32, or int16), brain mask, confounds TSV, sidecar. Returns
    (planted signals (T, 4), motion (T, 6))."""
    rng = np.random.default_rng(seed)
    folder = root / f"sub-{subject}" / (f"ses-{session}" if session else "") / "func"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"sub-{subject}" + (f"_ses-{session}" if session else "") + "_task-rest"
    motion = np.cumsum(rng.normal(scale=0.3, size=(N_VOLUMES, 6)), axis=0)
    cols = _confounds(rng, motion)
    signals = gaussian_filter1d(rng.normal(size=(N_VOLUMES, 4)), 1.0, axis=0)  # BOLD-like, mostly < 0.1 Hz
    signals[:, 3] = 0.7 * signals[:, 2] + 0.3 * signals[:, 3]  # planted FC between the dmn regions
    # the planted signals are made orthogonal to every confound column (and a constant and a trend), so
    # that a perfect cleaning gives them back whole and a correlation of 0.9 is a fair bar
    span = np.column_stack([np.nan_to_num(c) for c in cols.values()] + [np.ones(N_VOLUMES),
                                                                         np.arange(N_VOLUMES)])  # fmt: skip
    signals -= span @ np.linalg.lstsq(span, signals, rcond=None)[0]
    signals /= signals.std(axis=0)
    data = np.full((*SHAPE, N_VOLUMES), 1000.0) + rng.normal(scale=2.0, size=(*SHAPE, N_VOLUMES))
    drift = np.linspace(-30, 30, N_VOLUMES)
    for k, box in BOXES.items():
        weights = rng.normal(scale=8.0, size=(1, 1, 1, 1, 6)) + rng.normal(scale=4.0, size=(*data[box].shape[:3], 1, 6))
        artefact = (weights * motion).sum(axis=-1)  # motion artefacts (per region and per voxel) above the signal
        data[box] += 20.0 * signals[:, k - 1] + artefact + drift
    dtype = np.int16 if int16 else np.float32
    image = nib.Nifti1Image(np.round(data).astype(dtype) if int16 else data.astype(dtype), AFFINE)
    image.header.set_xyzt_units("mm", "sec")
    image.header.set_zooms((3.0, 3.0, 3.0, TR))
    nib.save(image, folder / f"{stem}_space-T1w_desc-preproc_bold.nii.gz")
    (folder / f"{stem}_space-T1w_desc-preproc_bold.json").write_text(json.dumps({"RepetitionTime": TR}))
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[1:11, 1:13, 1:11] = 1
    nib.save(nib.Nifti1Image(mask, AFFINE), folder / f"{stem}_space-T1w_desc-brain_mask.nii.gz")
    if confounds:
        cols.pop(drop_column, None)
        _write_tsv(folder / f"{stem}_desc-confounds_timeseries.tsv", cols)
    return signals, motion


def write_derivatives(root: Path, subjects: tuple[str, ...] = ("01", "02")) -> Derivatives:
    """fMRIPrep-like derivatives: ``sub-01`` float32, ``sub-02`` int16 (and any further subjects float32)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({
        "Name": "synthetic", "BIDSVersion": "1.8.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "fMRIPrep"}]}))  # fmt: skip
    dseg = np.zeros(SHAPE, dtype=np.int16)
    for k, box in BOXES.items():
        dseg[box] = k
    atlas = root.parent / "atlas_dseg.nii.gz"
    nib.save(nib.Nifti1Image(dseg, AFFINE), atlas)
    labels = root.parent / "atlas_dseg.tsv"
    labels.write_text("index\tname\tnetwork\n" + "".join(f"{k}\t{NAMES[k - 1]}\t{NETWORKS[k - 1]}\n"
                                                        for k in BOXES), encoding="utf-8")  # fmt: skip
    out = Derivatives(root, atlas, labels)
    for n, subject in enumerate(subjects):
        out.signals[subject], out.motion[subject] = write_subject(root, subject, 100 + n, int16=subject == "02")
    return out


def write_mni_run(root: Path, n_volumes: int = 30, voxel_mm: float = 4.0) -> Path:
    """A small int16 run on an MNI-space grid (covering the Power 2011 coordinates), all-ones brain mask."""
    rng = np.random.default_rng(42)
    origin = np.array([-80.0, -116.0, -60.0])
    shape = tuple(int(v) for v in np.ceil((np.array([80.0, 84.0, 92.0]) - origin) / voxel_mm) + 1)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = origin
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({
        "Name": "mni", "BIDSVersion": "1.8.0", "DatasetType": "derivative", "GeneratedBy": [{"Name": "fMRIPrep"}]}))
    folder = root / "sub-01" / "func"
    folder.mkdir(parents=True)
    stem = "sub-01_task-rest"
    data = np.round(1000 + 30 * rng.normal(size=(*shape, n_volumes))).astype(np.int16)
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm", "sec")
    image.header.set_zooms((voxel_mm, voxel_mm, voxel_mm, TR))
    nib.save(image, folder / f"{stem}_space-MNI152NLin6Asym_desc-preproc_bold.nii.gz")
    nib.save(nib.Nifti1Image(np.ones(shape, dtype=np.uint8), affine),
             folder / f"{stem}_space-MNI152NLin6Asym_desc-brain_mask.nii.gz")
    cols = _confounds(rng, np.cumsum(rng.normal(scale=0.1, size=(n_volumes, 6)), axis=0))
    _write_tsv(folder / f"{stem}_desc-confounds_timeseries.tsv", cols)
    return folder / f"{stem}_space-MNI152NLin6Asym_desc-preproc_bold.nii.gz"
