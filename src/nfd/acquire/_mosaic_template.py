"""Siemens mosaic files read once per series: the header of the first file parsed once.

A mosaic holds one volume per file; pydicom decodes its ~100 elements and
nibabel parses its CSA headers on every file, though the files of a series
differ only in a few values. :class:`MosaicTemplate` keeps the series'
first file, read in full (:func:`nfd.acquire._siemens_mosaic.read`): the
affine, the mosaic's tiling (``NumberOfImagesInMosaic``), the CSA
``SliceNormalVector``, the slice times, the scaling and the series. A
further file is walked along it
(:class:`nfd.acquire._layout_template.LayoutTemplate`); from the file are
read InstanceNumber and AcquisitionNumber (the header index), EchoNumbers
and EchoTime (so that one template serves every echo of a multi-echo
series, whose files differ in them), the CSA image
header and the pixels, by their offset (un-tiled and scaled as nibabel
does). A CSA image header byte for byte the template's gives the template's
slice times; another one is parsed (nibabel's ``csareader``) and must give
the template's mosaic count and slice normal (which, with the public
elements the walk keeps equal, are all nibabel's affine and un-tiling take
from it); its ``MosaicRefAcqTimes`` give the slice times.

Only files in explicit VR little endian with native pixels of one sample get
a template; anything else is read in full, as is any file unlike its
template.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nibabel.nicom import csareader
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from nfd.acquire._dicom_header import (
    DICOM_DECODE_ERRORS,
    dicomwrappers,
    echo_number,
    echo_time_ms,
    header_index,
    to_float32,
)
from nfd.acquire._dicom_layout import ElementSpan, element_spans
from nfd.acquire._errors import NotAScanError
from nfd.acquire._image import ScanImage
from nfd.acquire._layout_template import LayoutTemplate, Mismatch, Walked, used_private_tags
from nfd.acquire._siemens_mosaic import FORMAT, mosaic_slice_times

__all__ = ["MosaicTemplate"]

#: Elements read from every file: the header index, and the echo (which differs between the echoes of a volume).
_HEADER_INDEX = {
    0x00200013: "InstanceNumber",
    0x00200012: "AcquisitionNumber",
    0x00180086: "EchoNumbers",
    0x00180081: "EchoTime",
}
#: What keeps a first file from being a template.
_TEMPLATE_ERRORS: tuple[type[BaseException], ...] = (KeyError, csareader.CSAReadError, *DICOM_DECODE_ERRORS)


def _csa_facts(csa: Any) -> tuple[Any, bytes | None]:
    """What nibabel's mosaic wrapper takes from a CSA image header: the mosaic count, the slice normal (its bytes)."""
    if not csareader.is_mosaic(csa):
        raise Mismatch
    normal = csareader.get_slice_normal(csa)
    return csareader.get_n_mosaic(csa), None if normal is None else np.asarray(normal, dtype=np.float64).tobytes()


class MosaicTemplate(LayoutTemplate[ScanImage]):
    """The first file of a Siemens mosaic series and how to read its further files.

    Parameters
    ----------
    buf : bytes
        The first file's content.
    ds : pydicom.Dataset
        Its data set, as the full read decoded it.
    wrapper : nibabel.nicom.dicomwrappers.MosaicWrapper
        nibabel's wrapper of ``ds``.
    image : ScanImage
        The full read's volume.
    name : str
        The file name, for error messages.

    Raises
    ------
    NotAScanError
        When the file cannot be a template (see the module documentation).
    """

    def __init__(self, buf: bytes, ds: Dataset, wrapper: Any, image: ScanImage, name: str) -> None:
        syntax, spans = element_spans(buf, name)
        if syntax != "1.2.840.10008.1.2.1" or type(wrapper) is not dicomwrappers.MosaicWrapper:
            raise NotAScanError(name, "no template: not an explicit VR little endian mosaic")
        try:
            csa_tag = int(ds.private_block(0x0029, "SIEMENS CSA HEADER").get_tag(0x10))
            csa = csareader.read(ds[csa_tag].value)
            rows, columns = int(ds.Rows), int(ds.Columns)
            bits, stored = int(ds.BitsAllocated), int(ds.get("BitsStored", ds.BitsAllocated))
            signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
            samples = int(ds.get("SamplesPerPixel", 1) or 1)
            frames = int(ds.get("NumberOfFrames", 1) or 1)
        except _TEMPLATE_ERRORS as err:
            raise NotAScanError(name, f"no template: {err!r}") from err
        if csa != wrapper.csa_header:
            raise NotAScanError(name, "no template: the CSA image header is not where nibabel found it")
        if bits not in (8, 16, 32) or samples != 1 or frames != 1 or not 0 < stored <= bits:
            raise NotAScanError(name, "no template: not one frame of one sample of 8, 16 or 32 bits")
        super().__init__(buf, spans, used_private_tags(ds), frozenset({*_HEADER_INDEX, csa_tag}))
        self._csa_tag = csa_tag
        (csa_span,) = [s for s in spans if s.tag == csa_tag]
        self._csa_bytes = self.buf[csa_span.start : csa_span.end]
        self._facts = _csa_facts(csa)
        self._n = int(wrapper.n_mosaic)
        self._tiles = int(wrapper.mosaic_size)
        self._shape = (rows, columns)
        self._dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
        self._unused_bits = bits - stored
        if self.pixel_length < rows * columns * self._dtype.itemsize or rows % self._tiles or columns % self._tiles:
            raise NotAScanError(name, "no template: PixelData not of the mosaic's size")
        self._scale = wrapper._scale_data
        self._image = image

    def decode(self, buf: bytes, name: str, walked: Walked) -> ScanImage:
        """The volume from the walked file's values and pixels, the rest from the template."""
        return self._volume(buf, name, walked.values, walked.pixel_pos)

    def _slice_times(self, buf: bytes, span: ElementSpan) -> tuple[float, ...] | None:
        """The template's slice times if the CSA image header is its own, else the file's (same tiling and normal)."""
        if buf[span.start : span.end] == self._csa_bytes:
            return self._image.slice_times
        try:
            csa = csareader.read(_value(buf, span))
            facts = _csa_facts(csa)
        except Mismatch:
            raise
        except Exception as err:  # any damage to the CSA header: the file is read in full
            raise Mismatch from err
        if facts != self._facts:
            raise Mismatch
        return mosaic_slice_times(csa, self._n)

    def _volume(self, buf: bytes, name: str, values: dict[int, ElementSpan], pixel_pos: int) -> ScanImage:
        """The volume from the file's pixels, header index and CSA header, the rest from the template."""
        if self._csa_tag not in values:
            raise Mismatch
        slice_times = self._slice_times(buf, values[self._csa_tag])
        rows, columns = self._shape
        pixels = np.frombuffer(buf, dtype=self._dtype, count=rows * columns, offset=pixel_pos).reshape(rows, columns)
        if self._unused_bits:  # as pydicom's native decoder: the unused high bits shifted out
            pixels = pixels.copy()
            np.left_shift(pixels, self._unused_bits, out=pixels)
            np.right_shift(pixels, self._unused_bits, out=pixels)
        tiles = self._tiles
        tile_rows, tile_columns = rows // tiles, columns // tiles
        # nibabel's MosaicWrapper.get_unscaled_data: the tiles to slices, the padding ones dropped
        v4 = pixels.reshape(tiles, tile_rows, tiles, tile_columns).transpose((1, 3, 0, 2))
        data = v4.reshape((tile_rows, tile_columns, tiles * tiles))[..., : self._n]
        header = {_HEADER_INDEX[tag]: _value(buf, span) for tag, span in values.items() if tag in _HEADER_INDEX}
        return ScanImage(
            data=to_float32(self._scale(data), name),
            affine=self._image.affine.copy(),
            header_index=header_index(header),
            slice_times=slice_times,
            series=self._image.series,
            format=FORMAT,
            echo=echo_number(header),
            echo_time_ms=echo_time_ms(header),
        )


def _value(buf: bytes, span: ElementSpan) -> Any:
    """An element's value as pydicom decodes it from its bytes."""
    vr = None if span.vr is None else span.vr.decode("ascii")
    raw = bytes(buf[span.value_pos : span.value_pos + span.length])
    element = RawDataElement(Tag(span.tag), vr, span.length, raw, span.value_pos, span.implicit, True)
    return convert_raw_data_element(element).value
