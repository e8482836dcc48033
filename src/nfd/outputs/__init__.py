"""What leaves the daemon: feedback messages, the sinks that carry them, and the run folder.

``nfd.outputs`` owns

* :class:`FeedbackMessage` -- one volume's feedback value with its index,
  condition, send time and latency;
* :class:`Sink` -- the small protocol every feedback transport implements
  (``open`` / non-blocking ``send`` that never raises for transport trouble
  / ``close``), and :class:`UdpSink`, the UDP transport with its three wire
  formats (``json``; pyOpenNFT's ``float32``; OpenNFT's ``opennft``),
  specified in :mod:`nfd.outputs._wire`; :class:`SerialSink`, feedback to
  a serial port (``ascii``, ``binary`` or a template, framed by
  :mod:`nfd.outputs._serial_format`) from a writer thread that survives
  the port vanishing;
* :class:`VolumeRecord` and :class:`VolumeStatus` -- one acquisition
  index's typed record (a line of ``volumes.jsonl``), specified in
  :mod:`nfd.outputs._record`;
* :class:`RunFolder` -- the per-run folder (``config.toml``,
  ``volumes.jsonl`` appended per volume, then ``motion.tsv``,
  ``timeseries.tsv`` with JSON sidecars, ``summary.json`` and optionally
  ``raw.nii.gz``), specified in :mod:`nfd.outputs._runfolder`;
* :class:`OutputError` and its subclasses.

The operator's window -- the aiohttp server with the WebSocket, the REST API
and the live page, and :class:`~nfd.outputs.web.LiveState` which the daemon
updates -- is the subpackage :mod:`nfd.outputs.web`.

A stand-alone receiver for stimulus programs (standard library only) lives
in the repository's ``tools/nfd_receiver.py``.
"""

from __future__ import annotations

from nfd.outputs._errors import MessageError, OutputError, RunFolderError, SinkConfigError, SinkOpenError
from nfd.outputs._message import BASELINE_CONDITION, FeedbackMessage
from nfd.outputs._record import VolumeRecord, VolumeStatus
from nfd.outputs._runfolder import RunFolder
from nfd.outputs._serial import SerialSink
from nfd.outputs._serial_format import SERIAL_FIELDS
from nfd.outputs._sink import Sink
from nfd.outputs._udp import UdpSink
from nfd.outputs._wire import WIRE_FORMATS, WireFormat, encode

__all__ = [
    "BASELINE_CONDITION",
    "FeedbackMessage",
    "MessageError",
    "OutputError",
    "RunFolder",
    "RunFolderError",
    "SERIAL_FIELDS",
    "SerialSink",
    "Sink",
    "SinkConfigError",
    "SinkOpenError",
    "UdpSink",
    "VolumeRecord",
    "VolumeStatus",
    "WIRE_FORMATS",
    "WireFormat",
    "encode",
]
