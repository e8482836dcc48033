"""Reading the real EEG files of ../shared/data/eeg (EEGLAB, XDF, BrainVision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nfd.eeg import EegRecordingError, read_recording

# the readers are the optional 'eeg' extra
pytest.importorskip("mne", reason="reading EEG files needs the 'eeg' extra (mne)")
pytest.importorskip("pyxdf", reason="reading XDF files needs the 'eeg' extra (pyxdf)")


def test_eeglab_32_channels(shared_data: Path) -> None:
    rec = read_recording(shared_data / "eeg" / "eeglab_sample" / "eeglab_data.set")
    assert rec.fs == 128.0 and rec.data.shape == (30504, 32)
    assert rec.duration == pytest.approx(238.3, abs=0.1)
    assert rec.channel_names[:4] == ("FPz", "EOG1", "F3", "Fz") and rec.units[0] == "uV"
    assert len(rec.markers) == 154 and {m.label for m in rec.markers} == {"square", "rt"}
    assert rec.markers[0].onset == pytest.approx(1.000068)
    assert 1.0 < float(np.std(rec.data)) < 1000.0  # microvolts, not volts


def test_brainvision_with_markers(shared_data: Path) -> None:
    rec = read_recording(shared_data / "eeg" / "mne_brainvision_test" / "test.vhdr")
    assert rec.fs == 1000.0 and rec.data.shape == (7900, 32)
    assert rec.channel_names[0] == "FP1" and rec.channel_names[-1] == "ReRef"
    assert len(rec.markers) == 13
    np.testing.assert_allclose(rec.marker_onsets("S253"), [0.486, 4.935])  # "Stimulus/S253"
    assert all(np.diff([m.onset for m in rec.markers]) >= 0)


def test_xdf_lsl_recording(shared_data: Path) -> None:
    path = shared_data / "eeg" / "xdf_lsl_recording" / "test.xdf"
    rec = read_recording(path)
    assert rec.fs == 1000.0 and rec.data.shape == (9520, 8)
    assert rec.channel_names == tuple(f"ch{i}" for i in range(1, 9))  # the stream has no labels
    assert rec.markers == ()
    assert read_recording(path, stream="obci_neeg1").data.shape == (9520, 8)
    with pytest.raises(EegRecordingError, match="no continuous stream named 'EEG2'"):
        read_recording(path, stream="EEG2")


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(EegRecordingError, match="does not exist"):
        read_recording(tmp_path / "absent.vhdr")
    other = tmp_path / "data.csv"
    other.write_text("1,2\n")
    with pytest.raises(EegRecordingError, match=r"unsupported EEG file type '\.csv'"):
        read_recording(other)
    broken = tmp_path / "broken.edf"
    broken.write_bytes(b"not an edf file")
    with pytest.raises(EegRecordingError, match="MNE cannot read it"):
        read_recording(broken)
