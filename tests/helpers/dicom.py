"""Synthetic DICOM files: a small MR image with nested sequences, and single slices of any vendor."""

from __future__ import annotations

import io

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, JPEGBaseline8Bit, MRImageStorage, generate_uid

#: Image size (pixels) of :func:`synthetic_dicom`.
ROWS, COLUMNS = 4, 3


def _item(code: str) -> Dataset:
    """A referenced-image item holding a nested code sequence."""
    inner = Dataset()
    inner.CodeValue = code
    inner.CodingSchemeDesignator = "DCM"
    outer = Dataset()
    outer.ReferencedSOPClassUID = MRImageStorage
    outer.ReferencedSOPInstanceUID = "1.2.3.4." + code
    outer.PurposeOfReferenceCodeSequence = [inner]
    return outer


def synthetic_dicom(
    transfer_syntax: str,
    *,
    undefined: bool = True,
    pixels: bool = True,
    sop_class: str = MRImageStorage,
    image: bool = True,
) -> bytes:
    """A small MR image file with nested sequences (undefined lengths when asked).

    Parameters
    ----------
    transfer_syntax : str
        The TransferSyntaxUID the data set is written in.
    undefined : bool
        Whether the nested sequences and their items have undefined lengths.
    pixels : bool
        Whether the file holds PixelData (``ROWS x COLUMNS`` 16-bit pixels, or one
        fake JPEG fragment for JPEG Baseline).
    sop_class : str
        The SOP class UID, in the file meta information and the data set.
    image : bool
        Whether the data set has the image pixel description (Rows, Columns,
        BitsAllocated...); without it ``pixels`` must be False.

    Returns
    -------
    bytes
        The whole Part-10 file: preamble, ``DICM``, file meta, data set.
    """
    if pixels and not image:
        raise ValueError("pixels=True needs image=True: PixelData without Rows and Columns")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = UID(transfer_syntax)
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Walk^Test"
    ds.ReferencedImageSequence = [_item("121311"), _item("121312")]
    if undefined:
        ds["ReferencedImageSequence"].is_undefined_length = True
        for item in ds.ReferencedImageSequence:
            item.is_undefined_length_sequence_item = True
            item["PurposeOfReferenceCodeSequence"].is_undefined_length = True
            item.PurposeOfReferenceCodeSequence[0].is_undefined_length_sequence_item = True
    if image:
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


def slice_dicom(
    z: float,
    *,
    value: int = 100,
    manufacturer: str = "Philips Medical Systems",
    temporal_position: int | None = 1,
    acquisition: int | None = None,
    instance: int = 1,
    n_slices: int | None = 3,
    trigger_ms: float | None = None,
    rescale: tuple[float, float] | None = None,
    philips_scale_slope: float | None = None,
    rows: int = 4,
    columns: int = 5,
    series_uid: str = "1.2.3.4",
) -> bytes:
    """One axial slice at height ``z`` mm: a ramp plus ``value``, with the given header fields."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = bytes(128)
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.Manufacturer = manufacturer
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 3
    ds.InstanceNumber = instance
    if acquisition is not None:
        ds.AcquisitionNumber = acquisition
    if temporal_position is not None:
        ds.TemporalPositionIdentifier = temporal_position
    if n_slices is not None:
        ds.ImagesInAcquisition = n_slices
    if trigger_ms is not None:
        ds.TriggerTime = trigger_ms
    ds.ImagePositionPatient = [-10.0, -20.0, z]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [2.0, 2.5]
    ds.SliceThickness = 3.0
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if philips_scale_slope is not None:
        block = ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True)
        block.add_new(0x0E, "FL", philips_scale_slope)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = (np.arange(rows * columns, dtype="<u2") + value).tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
