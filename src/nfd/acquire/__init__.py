"""Scanner input: scan files to volumes, and a watch folder that yields them in order.

This subpackage owns everything between the scanner's files and a 3-D float32
volume with its voxel-to-mm affine:

Readers (pure, blocking; call them from a thread in an event loop)
    :func:`read_scan`, :func:`read_scan_bytes` -> :class:`ScanImage`.
    Formats: Siemens mosaic DICOM, enhanced multi-frame MR DICOM (Siemens
    XA), NIfTI-1/2 (``.nii``, ``.nii.gz``), recognised from the content.
    Single-slice-per-file DICOM series (GE, Philips classic): :func:`read_slice`
    -> :class:`SliceImage`, and :func:`assemble_volume` stacks the slices of
    one volume.
Errors
    :class:`ScanFileError`, with :class:`IncompleteFileError` (may still be
    growing), :class:`NotAScanError` (never a volume) and
    :class:`RecordingError` (a recorded series that cannot be used).
Watch folder (asyncio)
    :class:`ScanWatcher` yields :class:`Scan` objects in acquisition order,
    each index once, taking a file only when its content is complete and a
    single-slice volume once all its slices are there; files of another
    series are ignored or end the run (:class:`SeriesId`);
    :class:`FileNaming` gives volume numbers from file names.
Multi-echo
    One file per echo: :attr:`ScanImage.echo` and :attr:`ScanImage.echo_time_ms`
    (Siemens EchoNumbers / EchoTime; NIfTI ``_echo-<n>_`` and its BIDS
    sidecar); ``ScanWatcher(echoes=N, echo_times_ms=...)`` releases a volume
    once all its echoes are there, as one :class:`Scan` with
    :attr:`Scan.echoes` (:attr:`Scan.echo_images` for any volume); echo files
    of another grid, a changed TE or none are refused with one line
    (``_echoes``). Single-slice series (GE, Philips classic) have one file
    per slice and echo: :attr:`SliceImage.echo` / ``echo_time_ms``, the
    slices collected per volume and echo and each echo stacked before the
    echoes are grouped; GE exports that write EchoNumbers 1 for every echo
    need ``echo_times_ms`` (refused with one line without). A Siemens XA
    enhanced file whose frames hold several echoes reads as echo 1 with
    :attr:`ScanImage.more_echoes` (:attr:`ScanImage.file_echoes`: echo k the
    k-th shortest EffectiveEchoTime) and is a whole volume for the watcher
    (a file of another echo count: one line). Recordings of one 4-D NIfTI
    per echo, and folders of echo files, echo slices or such XA files,
    replay and simulate the same way.
Scan sources
    :class:`ScanSource` is what a run reads scans from (an async context
    manager and iterator of :class:`Scan` in index order, with ``stats`` and
    ``new_series``); :class:`ScanWatcher` and :class:`RecordingSource` (a
    recording replayed, one volume decoded ahead) are the implementations.
Recordings and the scanner simulator
    :func:`plan_recording` -> :class:`RecordedVolume` (a recorded series,
    volume by volume, for replays); :func:`simulate_scanner` writes one into a
    watch folder at the TR as scanners do (``nfd simulate-scanner``,
    :func:`simulate_scanner_main`).

Modules (private): ``_reader`` (format recognition), ``_nifti``,
``_dicom`` (completeness, decoding, choice of a vendor reader) with
``_dicom_layout``, ``_dicom_header``, ``_siemens_mosaic``, ``_enhanced`` and
``_slices`` (one module per vendor format: a new volume format is a new
module registered in ``_dicom.VENDOR_READERS``), ``_naming``, ``_series``,
``_echoes`` (echo numbers, TEs and the run's echo checks; pure),
``_sequencer`` (order, duplicates, gaps; pure), ``_assembler`` (slices to
volumes; pure), ``_watcher`` (files and events), ``_source`` (the
``ScanSource`` protocol), ``_replay`` (``RecordingSource``), ``_recording``
and ``_simulator``.

Conventions: arrays are indexed [i, j, k] in NIfTI voxel order; affines map
0-based voxel indices to mm in RAS+; :attr:`Scan.index` is the 0-based
acquisition index (the scanner's number minus ``first_number``).
"""

from nfd.acquire._errors import IncompleteFileError, NotAScanError, RecordingError, ScanFileError
from nfd.acquire._image import ScanImage
from nfd.acquire._naming import FileNaming
from nfd.acquire._reader import read_scan, read_scan_bytes, read_slice, read_slice_bytes
from nfd.acquire._recording import RecordedVolume, plan_recording
from nfd.acquire._replay import RecordingSource
from nfd.acquire._series import SeriesId
from nfd.acquire._simulator import SimulationReport, simulate_scanner
from nfd.acquire._simulator import main as simulate_scanner_main
from nfd.acquire._slices import SliceImage, assemble_volume
from nfd.acquire._source import ScanSource
from nfd.acquire._watcher import Scan, ScanWatcher

# The public names are documented (and pickled) as nfd.acquire.<name>.
for _public in (
    FileNaming,
    IncompleteFileError,
    NotAScanError,
    RecordedVolume,
    RecordingError,
    RecordingSource,
    Scan,
    ScanFileError,
    ScanImage,
    ScanSource,
    ScanWatcher,
    SeriesId,
    SimulationReport,
    SliceImage,
    assemble_volume,
    plan_recording,
    read_scan,
    read_scan_bytes,
    read_slice,
    read_slice_bytes,
    simulate_scanner,
):
    _public.__module__ = __name__
del _public

__all__ = [
    "FileNaming",
    "IncompleteFileError",
    "NotAScanError",
    "RecordedVolume",
    "RecordingError",
    "RecordingSource",
    "Scan",
    "ScanFileError",
    "ScanImage",
    "ScanSource",
    "ScanWatcher",
    "SeriesId",
    "SimulationReport",
    "SliceImage",
    "assemble_volume",
    "plan_recording",
    "read_scan",
    "read_scan_bytes",
    "read_slice",
    "read_slice_bytes",
    "simulate_scanner",
    "simulate_scanner_main",
]
