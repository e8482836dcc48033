"""nfd: a real-time neurofeedback daemon for fMRI and EEG-fMRI.

The data's path through the package::

    acquire  ->  volume  ->  timeseries  ->  feedback  ->  outputs
    (scan files)  (realign,    (ROI signals,   (PSC, ...)    (UDP, run folder)
                   reslice,     quality)
                   smooth)

``daemon`` wires them into one asyncio loop; ``config`` reads the TOML file;
``simulate`` makes synthetic sessions with known ground truth.

Every error nfd raises on purpose derives from :class:`NfdError` (see
:mod:`nfd._errors` for the hierarchy).
"""

from nfd._errors import NfdError
from nfd._version import __version__

__all__ = ["NfdError", "__version__"]
