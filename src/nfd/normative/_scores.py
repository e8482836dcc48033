"""Deviation scores: the normative model's reconstruction error per subject and edge, and its z-score.

Boldisor, Udrea & Trascau (2025) take the per-connection reconstruction error of the healthy-control
autoencoder as the deviation. Here it is, in standardised units (z by the training controls' mean and SD),

- ``squared`` (the default): ``d = (z - AE(z))**2``; ``absolute``: ``d = |z - AE(z)|``;
- its z against held-out controls (controls not used to fit the model): ``(d - mean_ref) / sd_ref`` per edge;
- the subject's total deviation: the mean of ``d`` over edges (and its z against the reference's totals).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from nfd.normative._errors import NormativeError
from nfd.normative._model import NormativeModel

__all__ = ["DEVIATION_KINDS", "DeviationReference", "deviation_reference", "deviation_z", "deviations"]

#: The deviation kinds: the squared or the absolute reconstruction error.
DEVIATION_KINDS = ("squared", "absolute")


def deviations(model: NormativeModel, features: npt.ArrayLike, kind: str = "squared") -> npt.NDArray[np.float64]:
    """Deviation per subject per edge: the reconstruction error in standardised units.

    Parameters
    ----------
    model : NormativeModel
    features : array_like, (n_subjects, n_edges) or (n_edges,)
        Feature values in the model's unit (harmonised like its training data).
    kind : str
        ``squared`` (z units squared) or ``absolute`` (z units).

    Returns
    -------
    ndarray, the shape of ``features``
    """
    if kind not in DEVIATION_KINDS:
        raise NormativeError(f"deviation kind {kind!r}, expected one of {', '.join(DEVIATION_KINDS)}")
    z = model.standardise(features)
    error = z - model.reconstruct(z)
    return np.square(error) if kind == "squared" else np.abs(error)


@dataclasses.dataclass(frozen=True)
class DeviationReference:
    """The held-out controls' deviation distribution: what a deviation's z is against.

    Attributes
    ----------
    mean, sd : ndarray, (n_edges,)
        Per-edge mean and SD (ddof 1) of the reference deviations (deviation units).
    total_mean, total_sd : float
        Mean and SD of the reference subjects' total deviations.
    n : int
        Reference subjects.
    """

    mean: npt.NDArray[np.float64]
    sd: npt.NDArray[np.float64]
    total_mean: float
    total_sd: float
    n: int


def deviation_reference(reference: npt.ArrayLike) -> DeviationReference:
    """The per-edge mean and SD of held-out controls' deviations (at least 3 subjects)."""
    d = np.asarray(reference, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] < 3:
        raise NormativeError(f"reference deviations {d.shape}, expected >= 3 held-out controls")
    totals = d.mean(axis=1)
    return DeviationReference(
        d.mean(axis=0), d.std(axis=0, ddof=1), float(totals.mean()), float(totals.std(ddof=1)), d.shape[0]
    )


def deviation_z(
    deviation: npt.ArrayLike, reference: DeviationReference
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Deviations as z against the reference, per edge and for the total.

    Parameters
    ----------
    deviation : array_like, (n_subjects, n_edges)
        Deviations (from :func:`deviations`).
    reference : DeviationReference

    Returns
    -------
    z : ndarray, (n_subjects, n_edges)
        ``(d - mean) / sd`` per edge (NaN where the reference SD is 0).
    total_z : ndarray, (n_subjects,)
        The total deviation (mean over edges) as z against the reference totals.
    """
    d = np.atleast_2d(np.asarray(deviation, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(reference.sd > 0, (d - reference.mean) / reference.sd, np.nan)
        total = (d.mean(axis=1) - reference.total_mean) / reference.total_sd
    return z, total
