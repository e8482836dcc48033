"""Welford's recursive mean and variance, for scalars or arrays."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from nfd.timeseries._errors import TimeseriesError

__all__ = ["RunningMoments"]


class RunningMoments:
    """Running mean and variance of a stream of numbers or arrays (Welford, 1962).

    ``mean_n = mean_{n-1} + (x - mean_{n-1}) / n``,
    ``M2_n = M2_{n-1} + (x - mean_{n-1}) (x - mean_n)``, variance
    ``M2 / (n - 1)`` (Welford, 1962, Technometrics 4:419; OpenNFT's
    ``snr_calc.m``): one pass, numerically stable, O(1) memory per element.

    Parameters
    ----------
    shape : tuple of int
        Shape of each sample; ``()`` for scalars.

    Examples
    --------
    >>> from nfd.timeseries import RunningMoments
    >>> m = RunningMoments()
    >>> for x in (2.0, 4.0, 6.0):
    ...     m.add(x)
    >>> float(m.mean), float(m.variance), round(float(m.snr), 4)
    (4.0, 4.0, 2.0)
    """

    __slots__ = ("_m2", "_mean", "_n", "_shape")

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self._shape = tuple(int(s) for s in shape)
        self._n = 0
        self._mean = np.zeros(self._shape)
        self._m2 = np.zeros(self._shape)

    @property
    def n(self) -> int:
        """Number of samples added."""
        return self._n

    @property
    def mean(self) -> np.ndarray:
        """Mean so far (0 before any sample); a float64 array of the sample shape."""
        return self._mean.copy()

    @property
    def variance(self) -> np.ndarray:
        """Sample variance (``n - 1``) so far; NaN with fewer than 2 samples."""
        if self._n < 2:
            return np.full(self._shape, math.nan)
        return self._m2 / (self._n - 1)

    @property
    def std(self) -> np.ndarray:
        """Sample standard deviation so far; NaN with fewer than 2 samples."""
        return np.sqrt(self.variance)

    @property
    def snr(self) -> np.ndarray:
        """Temporal signal-to-noise ratio ``mean / std``; NaN where undefined (fewer than 2 samples, std 0)."""
        sd = self.std
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(sd > 0, self._mean / np.where(sd > 0, sd, 1.0), math.nan)
        return out

    def add(self, sample: ArrayLike) -> None:
        """Add one sample (of the sample shape; non-finite values are not checked).

        Raises
        ------
        TimeseriesError
            If the sample's shape differs from the sample shape.
        """
        x = np.asarray(sample, dtype=np.float64)
        if x.shape != self._shape:
            raise TimeseriesError(f"sample has shape {x.shape}, expected {self._shape}")
        self._n += 1
        delta = x - self._mean
        self._mean += delta / self._n
        self._m2 += delta * (x - self._mean)
