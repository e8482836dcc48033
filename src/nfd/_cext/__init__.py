"""Cython kernels (built by ``setup.py``). Private: import through :mod:`nfd.volume`."""
