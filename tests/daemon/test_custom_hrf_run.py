"""``nfd replay`` with ``[signal] hrf``: a run whose activation has a non-canonical HRF is fitted better with it.

The phantom comes from nfd.simulate without activation; the activation is
planted with numpy: blocks convolved in continuous time (0.1 s) with a gamma
density peaking at 3 s and without undershoot (SPM's canonical HRF peaks at
5 s, with one). Nothing of nfd.design makes the data; the HRF file is written
with nfd's writer. The same recording is replayed with SPM's canonical HRF,
with that HRF written to a file, and with the true HRF.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import orjson

from nfd.design import spm_hrf, write_hrf_tsv
from nfd.outputs import RunFolder
from nfd.simulate import make_session, write_roi_masks

TR = 2.0
N = 60
BLOCK = 3  # volumes on, then as many off
DT = 0.1
TIMES = np.arange(0.0, 25.0 + DT / 2, DT)
EARLY = TIMES**3 * np.exp(-TIMES) / 6.0  # gamma, shape 4, scale 1 s: peak at 3 s


def _recording(tmp_path: Path) -> tuple[Path, str, np.ndarray]:
    """The 4-D NIfTI, the [roi] lines, and the planted activation (percent)."""
    s = make_session(n_volumes=N, tr=TR, shape=(24, 24, 16), seed=5, block_length=BLOCK, activation_pct=0.0,
                     noise_pct=0.5, max_motion_mm=0.0, max_motion_deg=0.0)
    on = (np.arange(N) // BLOCK) % 2 == 1
    assert on.tolist() == (s.design.labels == "UP").tolist()
    per_volume = round(TR / DT)
    stimulus = np.repeat(on.astype(float), per_volume)
    activation = 3.0 * np.convolve(stimulus, EARLY / EARLY.sum())[: stimulus.size][::per_volume]
    volumes = s.volumes.copy()
    active = s.rois["roi_a"] | s.rois["roi_b"]
    for i in range(N):
        volumes[i][active] *= 1.0 + activation[i] / 100.0
    bold = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image(np.moveaxis(volumes, 0, -1), s.affine), bold)
    onsets = [TR * i for i in range(N) if on[i] and not on[i - 1]]
    (tmp_path / "events.tsv").write_text(
        "onset\tduration\ttrial_type\n" + "".join(f"{o}\t{BLOCK * TR}\tUP\n" for o in onsets)
    )
    write_hrf_tsv(tmp_path / "hrf.tsv", TIMES, {"early": EARLY})
    write_hrf_tsv(tmp_path / "canonical.tsv", np.arange(0.0, 32.05, DT), {"value": spm_hrf(DT, oversampling=1)})
    masks = write_roi_masks(tmp_path / "rois", s)
    return bold, "\n".join(f'{k} = "{v}"' for k, v in masks.items()), activation


def _replay(tmp_path: Path, name: str, bold: Path, rois: str, signal: str) -> Path:
    config = tmp_path / f"{name}.toml"
    config.write_text(f"""
[run]
tr = {TR}
n_volumes = {N}
[acquire]
watch_dir = "unused"
[roi]
{rois}
[feedback]
protocol = "events.tsv"
[feedback.udp]
enabled = false
[log]
level = "warning"
[signal]
{signal}
""")
    out = tmp_path / f"out_{name}"
    proc = subprocess.run([sys.executable, "-m", "nfd", "replay", "-c", str(config), "--input", str(bold),
                           "--out", str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (folder,) = list(out.iterdir())
    return folder


def _t_in_rois(folder: Path, tmp_path: Path) -> np.ndarray:
    """The t of every voxel of the two ROIs, from the run's tmap.nii.gz."""
    t_map = np.asarray(nib.load(folder / "tmap.nii.gz").dataobj)
    inside = np.zeros(t_map.shape, dtype=bool)
    for mask in (tmp_path / "rois").iterdir():
        inside |= np.asarray(nib.load(mask).dataobj) > 0
    return t_map[inside]


def _glm(folder: Path) -> np.ndarray:
    records = [r for r in RunFolder.read_volumes(folder / "volumes.jsonl") if r["status"] == "processed"]
    assert len(records) == N
    return np.array([[r["chain"][roi]["glm"] for roi in ("roi_a", "roi_b")] for r in records])


def test_the_true_hrf_fits_the_planted_activation_better_than_spms(tmp_path: Path) -> None:
    bold, rois, activation = _recording(tmp_path)
    spm = _replay(tmp_path, "spm", bold, rois, "")
    canonical = _replay(tmp_path, "canonical", bold, rois, 'hrf = "canonical.tsv"')
    true = _replay(tmp_path, "true", bold, rois, 'hrf = "hrf.tsv"\nhrf_column = "early"')

    # SPM's HRF read from a file is SPM's HRF: the same t-map and chain
    t_spm, t_canonical, t_true = (_t_in_rois(f, tmp_path) for f in (spm, canonical, true))
    np.testing.assert_allclose(t_canonical, t_spm, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(_glm(canonical), _glm(spm), atol=1e-2 * np.ptp(_glm(spm)))

    # the true HRF: the iGLM's residual is smaller, so its t in the active ROIs is larger
    assert np.median(t_true) > 2.0 * np.median(t_spm), (np.median(t_true), np.median(t_spm))
    peaks = {name: orjson.loads((f / "summary.json").read_bytes())["map_peaks_in_rois"]["tmap"]
             for name, f in (("spm", spm), ("true", true))}
    assert all(peaks["true"][roi] > 2.0 * peaks["spm"][roi] for roi in ("roi_a", "roi_b")), peaks

    # the signal chain's cumulative GLM output, task kept, follows the planted activation more closely
    r_spm = [np.corrcoef(_glm(spm)[:, k], activation)[0, 1] for k in range(2)]
    r_true = [np.corrcoef(_glm(true)[:, k], activation)[0, 1] for k in range(2)]
    assert all(b > a for a, b in zip(r_spm, r_true, strict=True)), (r_spm, r_true)

    # the run folder keeps the configuration that names the HRF, and the summary the bytes it used
    assert 'hrf = "hrf.tsv"' in (true / "config.toml").read_text()
    used = orjson.loads((true / "summary.json").read_bytes())["hrf"]
    assert used["column"] == "early" and used["path"] == str((tmp_path / "hrf.tsv").resolve())
    assert used["sha256"] == hashlib.sha256((tmp_path / "hrf.tsv").read_bytes()).hexdigest()
    assert orjson.loads((spm / "summary.json").read_bytes())["hrf"] is None
