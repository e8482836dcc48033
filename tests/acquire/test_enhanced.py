"""Siemens XA enhanced multi-frame DICOM against the per-frame header and dcm2niix's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from nfd.acquire import read_scan

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def xa30(shared_data: Path) -> Path:
    return shared_data / "dicom_reader_testset" / "siemens_xa30_enhanced_fmri"


def test_volumes_shape_index_and_spacing(xa30: Path) -> None:
    files = sorted(xa30.glob("*.dcm"))
    assert len(files) == 20
    for number, path in enumerate(files, start=1):
        img = read_scan(path)
        assert img.format == "enhanced_mr"
        assert img.shape == (64, 64, 33)
        assert img.header_index == number
    assert img.zooms == pytest.approx((3.375, 3.375, 3.4), abs=1e-3)


def test_affine_puts_every_frame_at_its_image_position(xa30: Path) -> None:
    """World position of voxel (0, 0, k) = the frame's ImagePositionPatient (LPS->RAS)."""
    path = min(xa30.glob("*.dcm"))
    img = read_scan(path)
    ds = pydicom.dcmread(path)
    positions = np.array(
        [[float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
         for frame in ds.PerFrameFunctionalGroupsSequence]
    )
    corners = (LPS_TO_RAS @ img.affine @ np.array([[0.0, 0.0, k, 1.0] for k in range(33)]).T).T[:, :3]
    # every frame position is the corner of exactly one slice k
    distances = np.linalg.norm(positions[:, None, :] - corners[None, :, :], axis=2)
    assert np.all(distances.min(axis=1) < 1e-3)
    assert sorted(distances.argmin(axis=1)) == list(range(33))
    # in-plane axes along ImageOrientationPatient (i down the columns, j along the rows)
    sidecar = json.loads(next(xa30.glob("*.json")).read_text())
    row_cosine, column_cosine = np.split(np.array(sidecar["ImageOrientationPatientDICOM"]), 2)
    lps = LPS_TO_RAS @ img.affine
    np.testing.assert_allclose(lps[:3, 0] / 3.375, column_cosine, atol=1e-4)
    np.testing.assert_allclose(lps[:3, 1] / 3.375, row_cosine, atol=1e-4)


def test_voxel_values_are_the_frames_pixels(xa30: Path) -> None:
    path = sorted(xa30.glob("*.dcm"))[3]
    img = read_scan(path)
    ds = pydicom.dcmread(path)
    frames = ds.pixel_array.astype(np.float32)  # (frame, row, column)
    for k in range(33):
        assert any(np.array_equal(img.data[:, :, k], frame) for frame in frames)


def test_slice_times_match_dcm2niix_within_the_header_resolution(xa30: Path) -> None:
    img = read_scan(min(xa30.glob("*.dcm")))
    sidecar = json.loads(next(xa30.glob("*.json")).read_text())
    assert img.affine[2, 2] < 0  # k runs head to foot; dcm2niix flips it to foot to head
    assert img.slice_times is not None
    # FrameAcquisitionDateTime has a 2.5 ms raster; dcm2niix reports 0.09 for 0.0875 etc.
    np.testing.assert_allclose(img.slice_times[::-1], sidecar["SliceTiming"], atol=2.6e-3)
    assert sidecar["MultibandAccelerationFactor"] == 3
    assert len(set(np.round(img.slice_times, 4))) == 11  # 33 slices, 11 shots
