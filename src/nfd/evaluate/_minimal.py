"""Minimally processed ROI series: a recorded run through the daemon's own volume engine, once, for every ROI.

"Minimally processed" is what real time can do (Ramot & Gonzalez-Castillo
2019): motion correction, reslicing and smoothing, and for multi-echo runs
the online combination of the echoes. :func:`minimal_roi_series` runs a
recording through exactly the engine the daemon's worker runs
(:class:`~nfd.volume.MotionCorrector`, or
:class:`~nfd.volume.MultiEchoCorrector`), with the reference the daemon takes
(the first volume after the skipped ones), each scan conformed to the grid as
the daemon conforms it, and the ROI means the daemon records (``roi`` in
``volumes.jsonl``: :meth:`nfd.timeseries.RoiSet.means` of the smoothed
volume). Every ROI definition of a study (all radii, all ROIs) is read in the
same pass, so a run's volumes are processed once per engine set-up.

Results are cached on disk under a key of the recording's bytes (SHA-256 of
each file), the engine's options and the masks, so a study that is stopped,
extended or run again reads what it has already computed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from nfd._files import file_sha256, write_atomic
from nfd.acquire import RecordedVolume, ScanImage, plan_recording
from nfd.timeseries import RoiSet
from nfd.volume import conform_to_grid, make_corrector

__all__ = ["MinimalSeries", "minimal_roi_series"]

#: Bumped when what a cached result holds changes (v2: tsnr and in_brain; v3: SPM's implicit mask; v4: echo_values;
#: v5: CompCor's noise components).
_CACHE_VERSION = b"nfd.evaluate.minimal v5"
#: Behzadi et al. (2007)'s temporal CompCor: the brain's voxels of the highest temporal variance, percent.
TEMPORAL_PERCENTILE = 2.0


@dataclass(frozen=True, eq=False)
class MinimalSeries:
    """A run's minimally processed ROI series.

    Attributes
    ----------
    names : tuple of str
        The ROIs, in column order.
    values : numpy.ndarray
        float64 ``(n_volumes, n_rois)``: each volume's ROI means of the
        smoothed (multi-echo: combined, then smoothed) volume, scanner units.
    indices : numpy.ndarray
        int ``(n_volumes,)``: the 0-based acquisition index of each row.
    motion : numpy.ndarray
        float64 ``(n_volumes, 6)``: SPM's rigid parameters (mm, radians)
        relative to the reference.
    tsnr : numpy.ndarray
        float64 ``(n_rois,)``: each ROI's mean over its voxels of the
        voxelwise temporal SNR (mean / standard deviation over the run) of the
        resliced, unsmoothed (multi-echo: combined) volumes; NaN for an empty
        ROI.
    in_brain : numpy.ndarray
        float64 ``(n_rois,)``: the fraction of each ROI's voxels inside the
        brain of the reference volume (SPM's implicit mask: above 0.8 of the
        global mean); NaN for an empty ROI.
    echo_values : numpy.ndarray or None
        float64 ``(n_volumes, n_echoes, n_rois)``: multi-echo runs, each
        echo's ROI means of the resliced, unsmoothed echo (before the
        combination); None for one echo.
    echo_times_ms : tuple of float
        The echo times of `echo_values`, ms (empty for one echo).
    noise : numpy.ndarray or None
        float64 ``(n_volumes, n_components)``: CompCor's noise components
        (``compcor`` of :func:`minimal_roi_series`), None when not asked.
    """

    names: tuple[str, ...]
    values: npt.NDArray[np.float64]
    indices: npt.NDArray[np.int64]
    motion: npt.NDArray[np.float64]
    tsnr: npt.NDArray[np.float64]
    in_brain: npt.NDArray[np.float64]
    echo_values: npt.NDArray[np.float64] | None = None
    echo_times_ms: tuple[float, ...] = ()
    noise: npt.NDArray[np.float64] | None = None

    def column(self, name: str) -> npt.NDArray[np.float64]:
        """One ROI's series."""
        return self.values[:, self.names.index(name)]


def minimal_roi_series(
    recording: str | Path,
    rois: Mapping[str, npt.ArrayLike],
    *,
    engine: Mapping[str, Any] | None = None,
    multiecho: Mapping[str, Any] | None = None,
    echo_times_ms: Sequence[float] | None = None,
    skip_volumes: int = 0,
    cache_dir: str | Path | None = None,
    compcor: Literal["none", "anatomical", "temporal"] = "none",
    compcor_mask: npt.ArrayLike | None = None,
    compcor_components: int = 5,
) -> MinimalSeries:
    """Run a recording through the real-time volume engine and read every ROI's mean per volume.

    Parameters
    ----------
    recording : path
        A 4-D NIfTI (multi-echo: the ``_echo-1_`` file of one per echo) or a
        folder of scan files, as ``nfd replay --input`` takes it.
    rois : mapping of str to array_like
        ROI name -> bool mask on the run's EPI grid (e.g.
        :func:`nfd.evaluate.sphere_masks` for each radius).
    engine : mapping, optional
        :class:`~nfd.volume.MotionCorrector`'s keyword options
        (:func:`nfd.daemon.worker.engine_options` of a ``[volume]`` table).
    multiecho : mapping, optional
        For a multi-echo run, :class:`~nfd.volume.MultiEchoCorrector`'s
        options but the echo times (:func:`nfd.daemon.worker.multiecho_options`).
    echo_times_ms : sequence of float, optional
        Echo times where the files do not give them, ms.
    skip_volumes : int
        Initial volumes left out (``run.skip_volumes``); the reference is the
        first volume after them, as in the daemon.
    cache_dir : path, optional
        Where results are kept between calls (created if missing).
    compcor : {"none", "anatomical", "temporal"}
        CompCor's noise components of the resliced, unsmoothed (multi-echo:
        combined) volumes (Behzadi et al. 2007, NeuroImage 37:90-101):
        ``"anatomical"`` from the voxels of `compcor_mask` (white matter and
        CSF), ``"temporal"`` from the :data:`TEMPORAL_PERCENTILE` % of the
        brain's voxels (SPM's implicit mask of the reference) with the
        highest variance; the principal components of the detrended voxel
        series, by nilearn's :func:`nilearn.signal.high_variance_confounds`.
    compcor_mask : array_like, optional
        ``"anatomical"``: the noise mask, bool on the run's EPI grid.
    compcor_components : int
        How many components.

    Returns
    -------
    MinimalSeries

    Raises
    ------
    nfd.acquire.RecordingError, nfd.volume.VolumeError
        An unusable recording or volume.
    """
    plan = [v for v in plan_recording(recording, echo_times_ms=echo_times_ms) if v.index >= skip_volumes]
    masks = {name: np.asarray(mask, dtype=bool) for name, mask in rois.items()}
    options = dict(engine or {})
    me = dict(multiecho or {})
    noise = _noise_request(compcor, compcor_mask, compcor_components)
    keyed = dict(masks) if noise is None or noise.mask is None else {**masks, "\0compcor": noise.mask}
    extra = [] if noise is None else [noise.percentile, noise.components]
    key = _key(plan, options, me, keyed, echo_times_ms, extra)
    cache = None if cache_dir is None else Path(cache_dir) / f"{key}.npz"
    if cache is not None and cache.is_file():
        return _load(cache)
    result = _run(plan, masks, options, me, noise)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        _save(cache, result)
    return result


@dataclass(frozen=True, eq=False)
class _NoiseRequest:
    """What CompCor reads: a voxel mask (None: the brain) and its percentile of highest variance."""

    mask: npt.NDArray[np.bool_] | None
    percentile: float
    components: int


def _noise_request(
    compcor: str, mask: npt.ArrayLike | None, components: int
) -> _NoiseRequest | None:
    if compcor == "none":
        return None
    if components < 1:
        raise ValueError(f"compcor_components must be at least 1, got {components}")
    if compcor == "temporal":
        return _NoiseRequest(None, TEMPORAL_PERCENTILE, components)
    if compcor != "anatomical" or mask is None:
        raise ValueError(f"compcor must be 'none', 'temporal' or 'anatomical' with a mask, got {compcor!r}")
    return _NoiseRequest(np.asarray(mask, dtype=bool), 100.0, components)


def _echoes(volume: RecordedVolume) -> tuple[ScanImage, ...]:
    return volume.read_echoes() if volume.echoes else volume.read().file_echoes


def _run(
    plan: list[RecordedVolume],
    masks: dict[str, npt.NDArray[np.bool_]],
    options: dict[str, Any],
    multiecho: dict[str, Any],
    noise: _NoiseRequest | None = None,
) -> MinimalSeries:
    """The engine over the planned volumes, as the daemon's pipeline runs it volume by volume."""
    if not plan:
        raise ValueError("the recording has no volume after the skipped ones")
    first = _echoes(plan[0])
    multi = len(first) > 1
    reference = first[int(multiecho.get("realign_echo", 1)) - 1] if multi else first[0]
    shape, affine = reference.shape, reference.affine
    rois = RoiSet(masks, affine=affine)
    tes = [float(im.echo_time_ms) for im in first if im.echo_time_ms is not None] if multi else []
    corrector = make_corrector(reference.data, affine, tes, multiecho, **options)
    union = np.logical_or.reduce(list(masks.values())) if masks else np.zeros(shape, dtype=bool)
    voxel_sum = np.zeros(int(union.sum()))
    voxel_squares = np.zeros_like(voxel_sum)
    noise_mask = _noise_mask(noise, reference.data, shape)
    values, motion, echo_values, noise_voxels = [], [], [], []
    for volume in plan:
        images = _echoes(volume)
        data = [conform_to_grid(im.data, im.affine, shape, affine, name=volume.files[0].name) for im in images]
        result = corrector.process(np.stack(data) if multi else data[0])
        values.append(rois.means(result.smoothed))
        motion.append(result.params)
        if multi:
            echo_values.append([rois.means(e) for e in corrector.resliced_echoes])  # type: ignore[union-attr]
        if noise_mask is not None:
            noise_voxels.append(result.resliced[noise_mask].astype(np.float32))
        inside = result.resliced[union].astype(np.float64)
        voxel_sum += inside
        voxel_squares += inside * inside
    tsnr = _roi_tsnr(masks, union, voxel_sum, voxel_squares, len(plan))
    in_brain = _in_brain(masks, reference.data)
    return MinimalSeries(
        rois.names,
        np.asarray(values, dtype=np.float64),
        np.array([v.index for v in plan], dtype=np.int64),
        np.asarray(motion, dtype=np.float64),
        np.array([tsnr[n] for n in rois.names]),
        np.array([in_brain[n] for n in rois.names]),
        np.asarray(echo_values, dtype=np.float64) if multi else None,
        tuple(tes) if multi else (),
        None if noise is None else _components(noise, noise_voxels),
    )


def _noise_mask(
    noise: _NoiseRequest | None, reference: npt.NDArray[Any], shape: tuple[int, ...]
) -> npt.NDArray[np.bool_] | None:
    if noise is None:
        return None
    mask = _brain(reference) if noise.mask is None else noise.mask
    if mask.shape != tuple(shape):
        raise ValueError(f"the CompCor mask has shape {mask.shape}; the run's EPI grid is {tuple(shape)}")
    if int(mask.sum()) * noise.percentile / 100.0 <= noise.components:
        raise ValueError(f"the CompCor mask has {int(mask.sum())} voxels; too few for {noise.components} components")
    return mask


def _components(noise: _NoiseRequest, voxels: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float64]:
    """CompCor's components of the (n_volumes, n_voxels) series (nilearn: detrend, SVD)."""
    from nilearn.signal import high_variance_confounds

    series = np.asarray(voxels, dtype=np.float64)
    return np.asarray(high_variance_confounds(series, noise.components, noise.percentile, detrend=True),
                      dtype=np.float64)  # fmt: skip


def _roi_tsnr(
    masks: dict[str, npt.NDArray[np.bool_]],
    union: npt.NDArray[np.bool_],
    voxel_sum: npt.NDArray[np.float64],
    voxel_squares: npt.NDArray[np.float64],
    n: int,
) -> dict[str, float]:
    """Each ROI's mean voxelwise tSNR (mean / SD with ddof 1 over the n volumes; voxels of zero SD left out)."""
    mean = voxel_sum / n
    variance = np.maximum(voxel_squares - n * mean * mean, 0.0) / max(n - 1, 1)
    sd = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        voxel_tsnr = np.where(sd > 0, mean / sd, np.nan)
    out = {}
    for name, mask in masks.items():
        part = voxel_tsnr[mask[union]]
        out[name] = float(np.nanmean(part)) if np.isfinite(part).any() else float("nan")
    return out


def _in_brain(masks: dict[str, npt.NDArray[np.bool_]], reference: npt.NDArray[Any]) -> dict[str, float]:
    """Fraction of each ROI's voxels in SPM's implicit brain mask of the reference.

    SPM's first-level rule (``spm_defaults``: ``mask.thresh = 0.8``; ``spm_global``): voxels above 0.8 of the
    global value, the mean of the voxels above 1/8 of the volume's mean. 1/8 of the mean alone lets a late
    echo's Rician background in.
    """
    brain = _brain(reference)
    return {name: float(brain[mask].mean()) if mask.any() else float("nan") for name, mask in masks.items()}


def _brain(reference: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """SPM's implicit mask of a volume (see :func:`_in_brain`)."""
    ref = np.asarray(reference, dtype=np.float64)
    above = ref > ref.mean() / 8.0
    return np.asarray(ref > 0.8 * (ref[above].mean() if above.any() else 0.0))


def _key(
    plan: list[RecordedVolume],
    options: dict[str, Any],
    multiecho: dict[str, Any],
    masks: dict[str, npt.NDArray[np.bool_]],
    echo_times_ms: Sequence[float] | None,
    extra: Sequence[float] = (),
) -> str:
    """SHA-256 of what decides the result: the files' bytes, the options, the masks."""
    digest = hashlib.sha256(_CACHE_VERSION)
    files = sorted({str(p) for v in plan for p in v.files})
    for path in files:
        digest.update(file_sha256(path).encode())
    plain = {k: v for k, v in multiecho.items() if not isinstance(v, np.ndarray)}
    arrays = {k: v for k, v in multiecho.items() if isinstance(v, np.ndarray)}
    digest.update(json.dumps([options, plain, list(echo_times_ms or []), list(extra)], sort_keys=True,
                             default=str).encode())  # fmt: skip
    for name in sorted(arrays):
        digest.update(name.encode() + np.ascontiguousarray(arrays[name]).tobytes())
    for name in sorted(masks):
        digest.update(name.encode() + np.packbits(masks[name]).tobytes() + str(masks[name].shape).encode())
    return digest.hexdigest()


def _save(path: Path, series: MinimalSeries) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        names=np.array(series.names),
        values=series.values,
        indices=series.indices,
        motion=series.motion,
        tsnr=series.tsnr,
        in_brain=series.in_brain,
        echo_values=np.zeros((0, 0, 0)) if series.echo_values is None else series.echo_values,
        echo_times_ms=np.asarray(series.echo_times_ms, dtype=np.float64),
        noise=np.zeros((0, 0)) if series.noise is None else series.noise,
    )
    write_atomic(path, tmp.read_bytes())
    tmp.unlink()


def _load(path: Path) -> MinimalSeries:
    with np.load(path, allow_pickle=False) as f:
        echoes, noise = f["echo_values"], f["noise"]
        return MinimalSeries(
            tuple(str(n) for n in f["names"]), f["values"], f["indices"], f["motion"], f["tsnr"], f["in_brain"],
            echoes if echoes.size else None, tuple(float(t) for t in f["echo_times_ms"]),
            noise if noise.size else None,
        )
