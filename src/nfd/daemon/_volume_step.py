"""The volume step of the pipeline: realign, reslice and smooth, in a worker process or in this one.

Owns the :class:`VolumeStep` protocol and its in-process implementation,
:class:`InProcessVolumeStep`, for replays, tests and offline tools that run the
pipeline without a daemon. The daemon uses the worker process
(:class:`nfd.daemon.worker.VolumeWorker`), whose arrays cross through shared
memory; both return :class:`~nfd.daemon.worker.VolumeOutput` and run the same
engine, :class:`nfd.volume.MotionCorrector`, so their results are identical.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Protocol

import numpy as np

from nfd.daemon.worker import VolumeOutput
from nfd.volume import MotionCorrector, MotionResult, MultiEchoCorrector, VolumeError, make_corrector

__all__ = ["InProcessVolumeStep", "VolumeStep"]


class VolumeStep(Protocol):
    """Where the pipeline sends each volume (see the module docstring)."""

    #: How many times the step was restarted after its process died (0 in-process).
    restarts: int

    async def start(self) -> None:
        """Get ready (start a process, import the engine)."""

    async def set_reference(
        self, reference: np.ndarray, affine: np.ndarray, echo_times_ms: Sequence[float] | None = None
    ) -> None:
        """Build the engine on ``reference`` (3-D, on the EPI grid; affine voxel -> mm); multi-echo with echo times."""

    async def process(self, data: np.ndarray) -> VolumeOutput:
        """Realign, reslice and smooth one volume on the reference grid (multi-echo: its echoes, combined)."""

    async def echo_maps(self) -> dict[str, np.ndarray]:
        """A multi-echo engine's T2* (ms), S0 and per-echo tSNR maps; empty for one echo."""

    async def close(self) -> None:
        """Release what :meth:`start` took."""


class InProcessVolumeStep:
    """The volume engine in this process, each volume in a thread so that the event loop never blocks.

    Parameters
    ----------
    smooth_fwhm : float
        Smoothing kernel FWHM (mm), passed to :class:`nfd.volume.MotionCorrector`.
    multiecho : mapping, optional
        :class:`nfd.volume.MultiEchoCorrector`'s options but the echo times,
        used when :meth:`set_reference` is given echo times.
    **options
        Further keyword options of :class:`nfd.volume.MotionCorrector` (e.g.
        :func:`nfd.daemon.worker.engine_options` of ``[volume]``), checked by
        the engine when :meth:`set_reference` builds it.

    Attributes
    ----------
    engine_options : dict
        The engine's options, all of them with its defaults (empty until
        :meth:`set_reference`).

    Examples
    --------
    >>> import asyncio, numpy as np
    >>> async def main():
    ...     step = InProcessVolumeStep(smooth_fwhm=0.0)
    ...     await step.start()
    ...     ref = np.random.default_rng(0).random((16, 16, 8), dtype=np.float32)
    ...     await step.set_reference(ref, np.diag([3.0, 3.0, 3.0, 1.0]))
    ...     out = await step.process(ref)
    ...     await step.close()
    ...     return out.params.shape, float(abs(out.params).max()) < 1e-6
    >>> asyncio.run(main())
    ((6,), True)
    """

    def __init__(self, *, smooth_fwhm: float, multiecho: Mapping[str, Any] | None = None, **options: Any) -> None:
        self._options: dict[str, Any] = {**options, "smooth_fwhm": float(smooth_fwhm)}
        self._multiecho = dict(multiecho or {})
        self.engine_options: dict[str, Any] = {}
        self._engine: MotionCorrector | MultiEchoCorrector | None = None
        self._resliced: np.ndarray | None = None
        self._smoothed: np.ndarray | None = None
        self.restarts = 0

    async def start(self) -> None:
        """Nothing to start: the engine is built by :meth:`set_reference`."""

    async def set_reference(
        self, reference: np.ndarray, affine: np.ndarray, echo_times_ms: Sequence[float] | None = None
    ) -> None:
        """Build the engine on ``reference`` (3-D, on the EPI grid; affine voxel -> mm).

        With ``echo_times_ms`` (ms, two or more) the engine is multi-echo
        (:class:`nfd.volume.MultiEchoCorrector`): ``reference`` is the
        realignment echo's and :meth:`process` takes every echo of a volume.

        Raises
        ------
        nfd.volume.VolumeError
            ``reference`` is not 3-D or not a usable volume.
        """
        ref = np.asarray(reference, dtype=np.float32)
        if ref.ndim != 3:
            raise VolumeError(f"expected a 3-D reference volume, got shape {ref.shape}")
        self._engine = await asyncio.to_thread(partial(
            make_corrector, ref.copy(), np.asarray(affine, dtype=np.float64), echo_times_ms, self._multiecho,
            **self._options,
        ))
        self.engine_options = self._engine.options
        self._resliced = np.empty(ref.shape, dtype=np.float32)
        self._smoothed = np.empty(ref.shape, dtype=np.float32)

    async def process(self, data: np.ndarray) -> VolumeOutput:
        """Realign, reslice and smooth one volume; the arrays returned are overwritten by the next call.

        Raises
        ------
        nfd.volume.VolumeError
            The volume is not on the reference grid, or the engine refused it.
        """
        if self._engine is None or self._resliced is None or self._smoothed is None:
            raise RuntimeError("InProcessVolumeStep.set_reference() first")
        n_echoes = self._engine.n_echoes if isinstance(self._engine, MultiEchoCorrector) else 1
        expected = (n_echoes, *self._resliced.shape) if n_echoes > 1 else self._resliced.shape
        if tuple(data.shape) != expected:
            what = (f"{n_echoes} echoes of shape {self._resliced.shape}" if n_echoes > 1
                    else f"a volume of shape {expected}")
            raise VolumeError(f"expected {what} (the reference grid), got {tuple(data.shape)}")
        engine, resliced, smoothed = self._engine, self._resliced, self._smoothed

        def run() -> tuple[MotionResult, float]:
            t0 = time.perf_counter()
            res = engine.process(np.asarray(data, dtype=np.float32), resliced_out=resliced, smoothed_out=smoothed)
            return res, (time.perf_counter() - t0) * 1e3

        res, ms = await asyncio.to_thread(run)
        return VolumeOutput(
            params=np.array(res.params, dtype=np.float64),
            iterations=int(res.iterations),
            converged=bool(res.converged),
            resliced=resliced,
            smoothed=smoothed,
            worker_ms=ms,
        )

    async def echo_maps(self) -> dict[str, np.ndarray]:
        """A multi-echo engine's maps (``t2star`` ms, ``s0``, ``tsnr_echo-<n>``); empty for one echo."""
        engine = self._engine
        return dict(engine.maps()) if isinstance(engine, MultiEchoCorrector) else {}

    async def close(self) -> None:
        """Drop the engine."""
        self._engine = None
