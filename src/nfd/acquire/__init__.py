"""Scanner input: scan files to volumes, and a watch folder that yields them in order.

This subpackage owns everything between the scanner's files and a 3-D float32
volume with its voxel-to-mm affine:

Readers (pure, blocking; call them from a thread in an event loop)
    :func:`read_scan`, :func:`read_scan_bytes` -> :class:`ScanImage`.
    Formats: Siemens mosaic DICOM, enhanced multi-frame MR DICOM (Siemens
    XA), NIfTI-1/2 (``.nii``, ``.nii.gz``), recognised from the content.
Errors
    :class:`ScanFileError`, with :class:`IncompleteFileError` (may still be
    growing) and :class:`NotAScanError` (never a volume).
Watch folder (asyncio)
    :class:`ScanWatcher` yields :class:`Scan` objects in acquisition order,
    each index once, taking a file only when its content is complete;
    :class:`FileNaming` gives volume numbers from file names.

Modules (private): ``_reader`` (format recognition), ``_nifti``,
``_dicom`` (completeness, decoding, choice of a vendor reader) with
``_dicom_layout``, ``_dicom_header``, ``_siemens_mosaic`` and ``_enhanced``
(one module per vendor format: a new format is a new module registered in
``_dicom.VENDOR_READERS``), ``_naming``, ``_sequencer`` (order, duplicates,
gaps; pure) and ``_watcher`` (files and events).

Conventions: arrays are indexed [i, j, k] in NIfTI voxel order; affines map
0-based voxel indices to mm in RAS+; :attr:`Scan.index` is the 0-based
acquisition index (the scanner's number minus ``first_number``).
"""

from nfd.acquire._errors import IncompleteFileError, NotAScanError, ScanFileError
from nfd.acquire._image import ScanImage
from nfd.acquire._naming import FileNaming
from nfd.acquire._reader import read_scan, read_scan_bytes
from nfd.acquire._watcher import Scan, ScanWatcher

# The public names are documented (and pickled) as nfd.acquire.<name>.
for _public in (
    FileNaming,
    IncompleteFileError,
    NotAScanError,
    Scan,
    ScanFileError,
    ScanImage,
    ScanWatcher,
    read_scan,
    read_scan_bytes,
):
    _public.__module__ = __name__
del _public

__all__ = [
    "FileNaming",
    "IncompleteFileError",
    "NotAScanError",
    "Scan",
    "ScanFileError",
    "ScanImage",
    "ScanWatcher",
    "read_scan",
    "read_scan_bytes",
]
