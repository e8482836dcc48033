"""nfd: a real-time neurofeedback daemon for fMRI and EEG-fMRI.

The data's path through the package::

    acquire  ->  volume  ->  timeseries  ->  feedback  ->  outputs
    (scan files)  (realign,    (ROI signals,   (PSC, ...)    (UDP, run folder)
                   reslice,     quality)
                   smooth)

``daemon`` wires them into one asyncio loop; ``config`` reads the TOML file;
``simulate`` makes synthetic sessions with known ground truth.
"""

from nfd._version import __version__

__all__ = ["__version__"]
