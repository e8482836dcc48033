from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    MRImageStorage,
    generate_uid,
)

from nfd.acquire import IncompleteFileError, NotAScanError
from nfd.acquire._dicom_layout import check_dicom_layout

ROWS, COLUMNS = 4, 3


def _item(code: str) -> Dataset:
    inner = Dataset()
    inner.CodeValue = code
    inner.CodingSchemeDesignator = "DCM"
    outer = Dataset()
    outer.ReferencedSOPClassUID = MRImageStorage
    outer.ReferencedSOPInstanceUID = "1.2.3.4." + code
    outer.PurposeOfReferenceCodeSequence = [inner]
    return outer


def synthetic_dicom(transfer_syntax: str, *, undefined: bool = True, pixels: bool = True) -> bytes:
    """A small MR image file with nested sequences (undefined lengths when asked)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Walk^Test"
    ds.ReferencedImageSequence = [_item("121311"), _item("121312")]
    if undefined:
        ds["ReferencedImageSequence"].is_undefined_length = True
        for item in ds.ReferencedImageSequence:
            item.is_undefined_length_sequence_item = True
            item["PurposeOfReferenceCodeSequence"].is_undefined_length = True
            item.PurposeOfReferenceCodeSequence[0].is_undefined_length_sequence_item = True
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ROWS
    ds.Columns = COLUMNS
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if pixels:
        if transfer_syntax == JPEGBaseline8Bit:
            ds.PixelData = encapsulate([b"\xff\xd8fake-jpeg\xff\xd9\x00"])
            ds["PixelData"].VR = "OB"
            ds["PixelData"].is_undefined_length = True
        else:
            order = ">" if transfer_syntax == ExplicitVRBigEndian else "<"
            ds.PixelData = np.arange(ROWS * COLUMNS, dtype=f"{order}u2").tobytes()
            ds["PixelData"].VR = "OW"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


SYNTAXES = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
            DeflatedExplicitVRLittleEndian, JPEGBaseline8Bit]


@pytest.mark.parametrize("transfer_syntax", SYNTAXES)
@pytest.mark.parametrize("undefined", [True, False], ids=["undefined_lengths", "defined_lengths"])
def test_complete_file_layout(transfer_syntax: str, undefined: bool) -> None:
    raw = synthetic_dicom(transfer_syntax, undefined=undefined)
    layout = check_dicom_layout(raw, "synthetic.dcm")
    assert layout.transfer_syntax == transfer_syntax
    assert layout.sop_class == MRImageStorage
    assert layout.has_pixel_data
    if transfer_syntax == JPEGBaseline8Bit:
        assert layout.pixel_data_length is None
    else:
        assert layout.pixel_data_length == ROWS * COLUMNS * 2
    parsed = pydicom.dcmread(io.BytesIO(raw))
    assert layout.n_elements == len(parsed)
    if undefined and transfer_syntax != DeflatedExplicitVRLittleEndian:
        assert struct.pack("<HH" if transfer_syntax != ExplicitVRBigEndian else ">HH",
                           0xFFFE, 0xE0DD) in raw  # the walk did cross delimiters


@pytest.mark.parametrize("transfer_syntax", SYNTAXES)
@pytest.mark.parametrize("undefined", [True, False], ids=["undefined_lengths", "defined_lengths"])
def test_every_prefix_is_incomplete(transfer_syntax: str, undefined: bool) -> None:
    raw = synthetic_dicom(transfer_syntax, undefined=undefined, pixels=True)
    for length in range(len(raw)):
        try:
            layout = check_dicom_layout(raw[:length], "prefix.dcm")
        except IncompleteFileError:
            continue
        # A prefix ending at an element boundary is well formed, but then it
        # must lack the pixel data (which read_dicom_bytes calls incomplete);
        # or only padding after a whole deflate stream is missing.
        assert not layout.has_pixel_data or not any(raw[length:]), length


def test_file_without_pixel_data_is_well_formed() -> None:
    layout = check_dicom_layout(synthetic_dicom(ExplicitVRLittleEndian, pixels=False))
    assert not layout.has_pixel_data and layout.pixel_data_length is None


def test_no_dicm_prefix_is_not_a_scan() -> None:
    raw = bytearray(synthetic_dicom(ExplicitVRLittleEndian))
    raw[128:132] = b"DICX"
    with pytest.raises(NotAScanError, match="no 'DICM' prefix at byte 128"):
        check_dicom_layout(bytes(raw), "x.dcm")


def test_corrupt_item_tag_is_not_a_scan_and_names_the_byte() -> None:
    raw = synthetic_dicom(ExplicitVRLittleEndian, undefined=True)
    item = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
    at = raw.index(item)
    corrupt = raw[:at] + struct.pack("<HH", 0x0008, 0x0016) + raw[at + 4 :]
    with pytest.raises(NotAScanError, match=f"expected a sequence item at byte {at}"):
        check_dicom_layout(corrupt, "corrupt.dcm")


def test_delimiter_outside_a_sequence_is_not_a_scan() -> None:
    raw = synthetic_dicom(ExplicitVRLittleEndian, undefined=False)
    with pytest.raises(NotAScanError, match="outside"):
        check_dicom_layout(raw + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0), "trailing.dcm")


def test_real_mosaic_layout(shared_data: Path) -> None:
    raw = (shared_data / "opennft_psc_run/dicom/001_000007_000001.dcm").read_bytes()
    layout = check_dicom_layout(raw)
    assert layout.transfer_syntax == ExplicitVRLittleEndian
    assert layout.sop_class == MRImageStorage
    assert layout.pixel_data_length == 444 * 444 * 2
