"""``HrfEstimator``: per-parcel HRF estimation as an estimator with ``fit``, and its fitted maps."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import nibabel as nib
import numpy as np

from nfd._checks import check_option, ensure_float, ensure_int
from nfd._execution import map_unordered
from nfd.hrf._design import canonical_basis, drift_basis, fir_design, hrf_knots, second_difference_penalty
from nfd.hrf._errors import HrfError
from nfd.hrf._fit import ParcelFit, fit_r1glm, fit_shared_hrf, parcel_activity
from nfd.hrf._inputs import ImageLike, Inputs, read_inputs
from nfd.hrf._shape import HrfShape, hrf_shape

__all__ = ["METHODS", "HrfEstimator", "ParcelResult"]

#: Estimation methods: a regularised FIR shared by the parcel's voxels, SPM's informed basis, the
#: rank-one GLM (one HRF per voxel).
METHODS = ("fir", "basis", "r1glm")

#: Family-wise error rate of the activity test, shared by the parcels (Bonferroni).
ACTIVITY_ALPHA = 0.05


@dataclass(frozen=True)
class ParcelResult:
    """One parcel's HRF, amplitudes and figures.

    Attributes
    ----------
    label : int
        Parcel label.
    fit : ParcelFit
        The estimate (HRF at :attr:`HrfEstimator.times_`, amplitudes per condition and voxel).
    shape : HrfShape
        Time to peak, FWHM, undershoot of the HRF.
    f_statistic, p_value : float
        The activity F-test (:func:`nfd.hrf._fit.parcel_activity`).
    active : bool
        Whether ``p_value < 0.05 / n_parcels``.
    columns : numpy.ndarray
        Indices of the parcel's voxels among :attr:`HrfEstimator.voxels_`.
    """

    label: int
    fit: ParcelFit
    shape: HrfShape
    f_statistic: float
    p_value: float
    active: bool
    columns: np.ndarray


@dataclass(frozen=True)
class _Task:
    """What one parcel's fit needs (picklable, for joblib's processes)."""

    label: int
    Y: np.ndarray
    X: np.ndarray
    activity_design: np.ndarray
    method: str
    B: np.ndarray
    R: np.ndarray | None
    h0: np.ndarray
    dof: int
    n_drifts: int
    threads: int | None


def _fit_task(task: _Task) -> tuple[int, ParcelFit, float, float]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(task.threads):
        if task.method == "r1glm":
            assert task.R is not None
            fit = fit_r1glm(task.Y, task.X, task.B, task.R, task.h0, dof=task.dof)
        else:
            fit = fit_shared_hrf(task.Y, task.X, task.B, task.R, task.h0, dof=task.dof)
        f, p = parcel_activity(task.Y.mean(axis=1), task.activity_design, task.n_drifts)
    return task.label, fit, f, p


def _percent(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Percent signal change about each voxel's mean, and which voxels have a positive mean."""
    mean = data.mean(axis=0)
    usable = mean > 0
    out = np.zeros_like(data)
    out[:, usable] = 100.0 * (data[:, usable] / mean[usable] - 1.0)
    return out, usable


class HrfEstimator:
    """Estimate one HRF per parcel (or per voxel) from BOLD runs and a PyHRF paradigm.

    The BOLD is converted to percent signal change per voxel and run; each run's drifts (PyHRF's: Legendre
    polynomials to order 4, or SPM's 128 s cosines) are projected out of the data and the designs; the
    model of :mod:`nfd.hrf._fit` is fitted per parcel, the runs sharing the HRF and the amplitudes.

    Parameters
    ----------
    tr : float
        Repetition time, seconds (the header's is not used: PyHRF's localizer says 1.0 for 2.4).
    dt : float, optional
        Spacing of the HRF's knots, seconds; default PyHRF's ``tr / max(1, trunc(tr))`` (1.2 s at TR 2.4).
    hrf_duration : float
        Length of the HRF, seconds (PyHRF's default 25).
    drifts : {"poly", "cos"}
        Drift model (PyHRF's ``--drifts-type``).
    zero_constraint : bool
        HRF zero at 0 s and at `hrf_duration` (PyHRF's default; FIR and r1glm).
    method : {"fir", "basis", "r1glm"}
        See :data:`METHODS`.
    jobs : int
        Parallel processes over parcels (joblib; 1: in this process).
    progress : callable, optional
        ``progress(done, total)`` after each parcel.

    Attributes
    ----------
    times_ : numpy.ndarray
        The knots, seconds.
    conditions_ : tuple of str
    parcels_ : dict
        Label -> :class:`ParcelResult`, in label order.
    voxels_ : numpy.ndarray
        int ``(n, 3)`` voxel indices of the parcels' usable voxels (positive mean).
    reference_ : nibabel.Nifti1Image
        The parcellation.

    Examples
    --------
    >>> HrfEstimator(2.4).dt
    1.2
    """

    def __init__(
        self, tr: float, *, dt: float | None = None, hrf_duration: float = 25.0, drifts: str = "poly",
        zero_constraint: bool = True, method: str = "fir", jobs: int = 1,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.tr = ensure_float(tr, "tr (seconds)", positive=True, error=HrfError)
        self.dt = (ensure_float(dt, "dt (seconds)", positive=True, error=HrfError) if dt is not None
                   else self.tr / max(1, math.trunc(self.tr)))
        self.hrf_duration = ensure_float(hrf_duration, "hrf_duration (seconds)", positive=True, error=HrfError)
        if self.hrf_duration < 3 * self.dt:
            raise HrfError(f"hrf_duration {self.hrf_duration} s must span at least 3 knots of dt = {self.dt} s")
        self.drifts = check_option("drifts", drifts, ("poly", "cos"), error=HrfError)
        self.zero_constraint = bool(zero_constraint)
        self.method = check_option("method", method, METHODS, error=HrfError)
        self.jobs = ensure_int(jobs, "jobs", minimum=1, error=HrfError)
        self.progress = progress

    def _basis(self, knots: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        n = knots.size
        if self.method == "basis":
            return canonical_basis(knots), None
        B = np.eye(n)[:, 1:-1] if self.zero_constraint else np.eye(n)
        return B, B.T @ second_difference_penalty(n) @ B

    def _designs(self, inputs: Inputs, knots: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], int]:
        """Stacked drift-free FIR designs ``(C, T, K)``, each run's drift basis, total drift columns."""
        blocks, drifts = [], []
        for run in inputs.runs:
            n = run.data.shape[0]
            P = drift_basis(n, self.tr, self.drifts)
            X = np.zeros((len(inputs.conditions), n, knots.size))
            for c, condition in enumerate(inputs.conditions):
                if condition in run.events:
                    X[c] = fir_design(*run.events[condition], n_scans=n, tr=self.tr, knots=knots)
            blocks.append(X - np.einsum("tu,cuk->ctk", P @ P.T, X))
            drifts.append(P)
        return np.concatenate(blocks, axis=1), drifts, sum(P.shape[1] for P in drifts)

    def _data(self, inputs: Inputs, drifts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Stacked drift-free percent signal change ``(T, V)`` and the voxels usable in every run."""
        parts, usable = [], np.ones(inputs.labels.size, dtype=bool)
        for run, P in zip(inputs.runs, drifts, strict=True):
            y, ok = _percent(run.data)
            parts.append(y - P @ (P.T @ y))
            usable &= ok
        return np.concatenate(parts, axis=0), usable

    def _tasks(self, inputs: Inputs) -> tuple[list[_Task], dict[int, np.ndarray]]:
        knots = hrf_knots(self.dt, self.hrf_duration)
        X, drifts, n_drifts = self._designs(inputs, knots)
        Y, usable = self._data(inputs, drifts)
        B, R = self._basis(knots)
        informed = canonical_basis(knots)
        activity = np.column_stack([X[c] @ informed for c in range(X.shape[0])])
        labels = inputs.labels
        threads = 1 if self.jobs > 1 else None
        tasks, columns = [], {}
        for label in np.unique(labels[usable]):
            cols = np.nonzero((labels == label) & usable)[0]
            columns[int(label)] = cols
            tasks.append(_Task(int(label), Y[:, cols], X, activity, self.method, B, R, informed[:, 0],
                               Y.shape[0] - n_drifts - X.shape[0], n_drifts, threads))
        self.times_ = knots
        return tasks, columns

    def fit(self, bold: Sequence[ImageLike], parcellation: ImageLike, paradigm: str | PathLike[str]) -> HrfEstimator:
        """Estimate the parcels' HRFs.

        Parameters
        ----------
        bold : sequence of path or image
            One 4-D BOLD series per session, in the paradigm's session order (0, 1, ...).
        parcellation : path or image
            3-D integer labels on the BOLD grid (0: background).
        paradigm : path
            PyHRF paradigm CSV (``session condition onset duration [amplitude]``, seconds).

        Returns
        -------
        HrfEstimator
            self, fitted.

        Raises
        ------
        HrfError
            One line naming the bad input.
        """
        return self._fit_inputs(read_inputs(bold, parcellation, paradigm, self.tr))

    def _fit_inputs(self, inputs: Inputs) -> HrfEstimator:
        """:meth:`fit` on inputs already read (the command line checks the contrasts against them first)."""
        tasks, columns = self._tasks(inputs)
        results: dict[int, tuple[ParcelFit, float, float]] = {}
        finished = map_unordered(_fit_task, tasks, jobs=min(self.jobs, len(tasks)))
        for done, (_, (label, fit, f, p)) in enumerate(finished, start=1):
            results[label] = (fit, f, p)
            if self.progress is not None:
                self.progress(done, len(tasks))
        threshold = ACTIVITY_ALPHA / max(len(tasks), 1)
        self.parcels_ = {
            label: ParcelResult(label, fit, hrf_shape(self.times_, fit.hrf), f, p, p < threshold, columns[label])
            for label, (fit, f, p) in sorted(results.items())
        }
        self.conditions_ = inputs.conditions
        self.reference_ = inputs.reference
        self.voxels_ = inputs.voxels
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "parcels_"):
            raise HrfError("this HrfEstimator is not fitted yet; call fit(bold, parcellation, paradigm) first")

    def _volume(self, values: np.ndarray, frames: int | None = None) -> nib.Nifti1Image:
        """Per-voxel values (voxels of :attr:`voxels_`, optionally x frames) as an image on the parcels' grid."""
        shape = self.reference_.shape + ((frames,) if frames else ())
        out = np.zeros(shape, dtype=np.float32)
        v = self.voxels_
        out[v[:, 0], v[:, 1], v[:, 2]] = values
        img = nib.Nifti1Image(out, self.reference_.affine)
        if frames:
            img.header.set_xyzt_units("mm", "sec")
            img.header["pixdim"][4] = self.dt
        return img

    def hrf_map(self) -> nib.Nifti1Image:
        """4-D image whose every parcel voxel holds its parcel's HRF (PyHRF's ``jde_vem_hrf_mapped.nii``)."""
        self._check_fitted()
        values = np.zeros((self.voxels_.shape[0], self.times_.size), dtype=np.float32)
        for result in self.parcels_.values():
            values[result.columns] = result.fit.hrf
        return self._volume(values, self.times_.size)

    def voxel_hrf_map(self) -> nib.Nifti1Image | None:
        """4-D image of each voxel's own HRF (``method = "r1glm"``), else None."""
        self._check_fitted()
        if self.method != "r1glm":
            return None
        values = np.zeros((self.voxels_.shape[0], self.times_.size), dtype=np.float32)
        for result in self.parcels_.values():
            assert result.fit.voxel_hrfs is not None
            values[result.columns] = result.fit.voxel_hrfs.T
        return self._volume(values, self.times_.size)

    def amplitude_map(self, condition: str) -> nib.Nifti1Image:
        """Each voxel's response amplitude to `condition` (percent signal change at the response's peak)."""
        return self.contrast_map({condition: 1.0})

    def contrast_map(self, weights: Mapping[str, float]) -> nib.Nifti1Image:
        """``sum_c w_c a_jc`` per voxel: a contrast of the amplitudes (:func:`nfd.hrf.parse_contrast`)."""
        self._check_fitted()
        unknown = sorted(set(weights) - set(self.conditions_))
        if unknown:
            raise HrfError(f"conditions {unknown} are not the paradigm's; expected some of {list(self.conditions_)}")
        w = np.array([weights.get(c, 0.0) for c in self.conditions_])
        values = np.zeros(self.voxels_.shape[0], dtype=np.float64)
        for result in self.parcels_.values():
            values[result.columns] = w @ result.fit.amplitudes
        return self._volume(values)

    def parcel_centres_mm(self) -> dict[int, np.ndarray]:
        """Each parcel's centre of mass in the image's world coordinates, mm."""
        self._check_fitted()
        affine = self.reference_.affine
        return {label: nib.affines.apply_affine(affine, self.voxels_[r.columns].mean(axis=0))
                for label, r in self.parcels_.items()}

    def summary(self, contrasts: Mapping[str, Mapping[str, float]] | None = None) -> list[dict[str, Any]]:
        """One row per parcel: size, centre (mm), shape figures, activity test, mean amplitudes and contrasts."""
        self._check_fitted()
        rows = []
        centres = self.parcel_centres_mm()
        for label, r in self.parcels_.items():
            row: dict[str, Any] = {"parcel": label, "n_voxels": int(r.columns.size)}
            row.update({f"centre_{axis}_mm": float(v) for axis, v in zip("xyz", centres[label], strict=True)})
            row.update(r.shape._asdict())
            row.update({"f_statistic": r.f_statistic, "p_value": r.p_value, "active": int(r.active)})
            means = r.fit.amplitudes.mean(axis=1)
            row.update({f"amplitude_{c}": float(m) for c, m in zip(self.conditions_, means, strict=True)})
            for name, weights in (contrasts or {}).items():
                w = np.array([weights.get(c, 0.0) for c in self.conditions_])
                row[f"contrast_{name}"] = float(w @ means)
            rows.append(row)
        return rows
