from __future__ import annotations

import io
import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    MRImageStorage,
)

from nfd.acquire import IncompleteFileError, NotAScanError
from nfd.acquire._dicom_layout import check_dicom_layout
from tests.helpers.dicom import COLUMNS, ROWS, synthetic_dicom

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
