"""``nfd replay`` over recorded runs: a real Siemens run checked against SPM, and a 4-D NIfTI."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import orjson
import pytest
import scipy.io

from nfd.outputs import RunFolder
from nfd.simulate import SyntheticSession, make_session, write_roi_masks


def _replay(config: Path, source: Path, out: Path, *options: str) -> Path:
    proc = subprocess.run(
        [sys.executable, "-m", "nfd", "replay", "-c", str(config), "--input", str(source), "--out", str(out),
         *options],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (folder,) = list(out.iterdir())
    return folder


def test_real_siemens_run_matches_spm_and_follows_the_protocol(shared_data: Path, tmp_path: Path) -> None:
    run = shared_data / "opennft_psc_run"
    config = tmp_path / "nfd.toml"
    config.write_text(f"""
[run]
tr = 1.97
n_volumes = 155
skip_volumes = 5
[acquire]
watch_dir = "{tmp_path}"
[volume]
reference = "{run / 'fanon-0007-00006-000006-01.nii'}"
[roi]
left = "{run / 'rois' / 'lROI_1.nii'}"
right = "{run / 'rois' / 'rROI_2.nii'}"
[feedback]
protocol = "{run / 'protocol.json'}"
[feedback.udp]
enabled = false
[log]
level = "warning"
""")
    folder = _replay(config, run / "dicom", tmp_path / "out")
    records = RunFolder.read_volumes(folder / "volumes.jsonl")
    index = np.array([r["index"] for r in records])
    assert index.tolist() == list(range(5, 155))

    # Motion against SPM's (MATLAB) estimates for the same volumes, both made
    # relative to the first processed volume: issue 2's bar, 0.05 mm / 0.05 deg.
    spm = scipy.io.loadmat(run / "mc_matlab_dcm.mat")["mc_series_matlab"][index]
    ours = np.array([r["motion"] for r in records])
    spm, ours = spm - spm[0], ours - ours[0]
    assert np.abs(ours[:, :3] - spm[:, :3]).max() <= 0.05
    assert np.degrees(np.abs(ours[:, 3:] - spm[:, 3:]).max()) <= 0.05

    # Feedback is higher in the regulation blocks than in baseline.
    feedback = np.array([r["feedback"] for r in records])
    regulation = np.array([r["condition"] == "NFBREG" for r in records])
    assert feedback[regulation].mean() > feedback[~regulation].mean() + 0.2
    summary = orjson.loads((folder / "summary.json").read_bytes())
    assert summary["volumes_processed"] == 150 and summary["volumes_skipped"] == 5


def _nifti_run(tmp_path: Path, udp: str = "enabled = false") -> tuple[Path, Path, SyntheticSession]:
    """A synthetic 24-volume run as one 4-D NIfTI, its ROI masks and protocol, and a config for it."""
    s = make_session(n_volumes=24, tr=2.0, shape=(32, 32, 16), seed=11, block_length=6, activation_pct=3.0,
                     noise_pct=0.3)
    bold = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image(np.moveaxis(s.volumes, 0, -1), s.affine), bold)
    masks = write_roi_masks(tmp_path / "rois", s)
    (tmp_path / "protocol.json").write_text(orjson.dumps({"ConditionIndex": [{
        "ConditionName": "UP",
        "OnOffsets": [[a + 1, b + 1] for c, a, b in s.design.blocks if c == "UP"],
    }]}).decode())
    config = tmp_path / "nfd.toml"
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    config.write_text(f"""
[run]
tr = 2.0
n_volumes = 24
save_raw = true
[acquire]
watch_dir = "unused"
[roi]
{rois}
[feedback]
protocol = "protocol.json"
delay = 1
[feedback.udp]
{udp}
""")
    return config, bold, s


def test_replay_of_a_4d_nifti(tmp_path: Path) -> None:
    config, bold, s = _nifti_run(tmp_path)
    folder = _replay(config, bold, tmp_path / "out")
    records = RunFolder.read_volumes(folder / "volumes.jsonl")
    assert [r["index"] for r in records] == list(range(24))
    assert [r["condition"] for r in records] == list(s.design.labels)
    feedback = np.array([r["feedback"] for r in records])
    assert np.corrcoef(feedback, s.activation)[0, 1] > 0.6
    raw = nib.load(folder / "raw.nii.gz")
    assert raw.shape == (*s.shape, 24) and raw.header.get_zooms()[3] == pytest.approx(2.0)
    np.testing.assert_allclose(np.asarray(raw.dataobj)[..., 7], s.volumes[7], rtol=1e-6)


def _datagrams(sock: socket.socket) -> list[dict]:
    out = []
    sock.settimeout(0.5)
    with contextlib.suppress(TimeoutError):
        while True:
            out.append(orjson.loads(sock.recv(65536)))
    return out


def test_replay_sends_nothing_unless_asked(tmp_path: Path) -> None:
    """A rehearsal must never drive a live stimulus PC: the configured UDP receiver hears from
    ``nfd replay`` only with ``--send``, and then every processed volume once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        config, bold, _ = _nifti_run(tmp_path, f'port = {sock.getsockname()[1]}\nformat = "json"')
        quiet = _replay(config, bold, tmp_path / "quiet")
        assert _datagrams(sock) == []
        assert len(RunFolder.read_volumes(quiet / "volumes.jsonl")) == 24  # the run itself is whole
        sent = _replay(config, bold, tmp_path / "sent", "--send")
        records = RunFolder.read_volumes(sent / "volumes.jsonl")
        assert [m["index"] for m in _datagrams(sock)] == [r["index"] for r in records] == list(range(24))


def test_replay_input_that_is_neither_folder_nor_nifti_exits_2(tmp_path: Path) -> None:
    masks = write_roi_masks(tmp_path / "rois", make_session(n_volumes=4, shape=(16, 16, 16), seed=0))
    (tmp_path / "p.json").write_text('{"ConditionIndex": [{"ConditionName": "UP", "OnOffsets": [[2, 3]]}]}')
    config = tmp_path / "nfd.toml"
    rois = "\n".join(f'{k} = "{v}"' for k, v in masks.items())
    config.write_text(f'[run]\ntr = 2.0\nn_volumes = 4\n[acquire]\nwatch_dir = "w"\n[roi]\n{rois}\n'
                      '[feedback]\nprotocol = "p.json"\n')
    proc = subprocess.run([sys.executable, "-m", "nfd", "replay", "-c", str(config), "--input",
                           str(tmp_path / "absent"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--input" in proc.stderr and "absent" in proc.stderr


def test_pyhrf_localizer_with_its_paradigm_csv(shared_data: Path, tmp_path: Path) -> None:
    """A real event-related localizer (4-D NIfTI, PyHRF paradigm): the auditory contrast lights up its parcels."""
    data = shared_data / "pyhrf_localizer"
    parcels = nib.load(data / "subj0_parcellation.nii.gz")
    labels = np.asarray(parcels.dataobj)
    for label in (1, 2):
        nib.save(nib.Nifti1Image((labels == label).astype(np.uint8), parcels.affine), tmp_path / f"p{label}.nii")
    audio = ["calculaudio", "clicDaudio", "clicGaudio", "phraseaudio"]
    config = tmp_path / "nfd.toml"
    config.write_text(f"""
[run]
tr = 2.4                      # the header's 1.0 is wrong
n_volumes = 125
[acquire]
watch_dir = "unused"
[roi]
parcel1 = "p1.nii"
parcel2 = "p2.nii"
[feedback]
protocol = "{data / 'paradigm_loc.csv'}"
[feedback.udp]
enabled = false
[iglm]
contrast = {{ {", ".join(f"{c} = 1" for c in audio)} }}
[log]
level = "warning"
""")
    folder = _replay(config, data / "subj0_bold_session0.nii.gz", tmp_path / "out")
    records = [r for r in RunFolder.read_volumes(folder) if r["status"] == "processed"]
    assert len(records) == 125
    summary = orjson.loads((folder / "summary.json").read_bytes())
    peaks = summary["map_peaks_in_rois"]["tmap"]
    assert peaks["parcel1"] > 3.0 and peaks["parcel2"] > 3.0, peaks
    tmap = nib.load(folder / "tmap.nii.gz")
    assert tmap.shape == labels.shape and np.allclose(tmap.affine, parcels.affine)
