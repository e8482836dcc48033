"""Volume work in a separate process; arrays cross through shared memory.

Owns one :class:`concurrent.futures.ProcessPoolExecutor` with a single worker
process (realignment is sequential: each volume starts from the previous
volume's estimate) and one :class:`multiprocessing.shared_memory.SharedMemory`
block holding float32 arrays on the EPI grid::

    [ reference | input (one per echo) | resliced | smoothed ]

Per volume the event loop copies the scan (every echo of a multi-echo volume)
into ``input`` (a memcpy), the worker runs
:meth:`nfd.volume.MotionCorrector.process` (multi-echo:
:meth:`nfd.volume.MultiEchoCorrector.process`, whose ``resliced`` is the
combined volume) writing straight into ``resliced`` and ``smoothed``, and only
the six motion parameters and a few numbers come back pickled. The views stay
valid until the next call.

A worker that dies (a crash in native code, a kill) is restarted with the
same reference and the volume is tried once more. If it dies again, during
its restart or on the retry, the volume fails (:class:`WorkerCrashed`, which
the pipeline records as ``failed`` with the reason) and the next volume
starts with a fresh restart; the loop itself never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import secrets
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, fields
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from nfd._log import LoggingSettings, configure_worker_logging, logging_settings
from nfd.config import MultiEchoConfig, VolumeConfig
from nfd.volume import VolumeError

log = structlog.get_logger(__name__)

_N_ARRAYS = 4  # reference, input, resliced, smoothed (input holds one array per echo)
#: Deaths of the worker tolerated on one volume (the first is retried, the second fails the volume).
_DEATHS_PER_VOLUME = 2


class WorkerCrashed(RuntimeError):
    """The worker process died twice on one volume (in its restart or on the retry): that volume failed."""
_REF, _IN, _RESL, _SMOOTH = range(_N_ARRAYS)


@dataclass(frozen=True)
class VolumeOutput:
    """What the worker returns for one volume.

    Attributes
    ----------
    params : ndarray, shape (6,)
        Trans x, y, z (mm) and rot x, y, z (radians), SPM's convention,
        relative to the reference.
    iterations : int
        Gauss-Newton iterations used.
    converged : bool
        Whether the estimate converged.
    resliced, smoothed : ndarray
        float32 views of shared memory on the reference grid; overwritten by
        the next :meth:`VolumeWorker.process` call.
    worker_ms : float
        Time spent in the engine's ``process`` (ms).
    """

    params: np.ndarray
    iterations: int
    converged: bool
    resliced: np.ndarray
    smoothed: np.ndarray
    worker_ms: float


#: ``[volume]`` options that are not the engine's (the rest are MotionCorrector's keyword arguments, by name).
_NOT_ENGINE_OPTIONS = frozenset({"reference"})


def engine_options(volume: VolumeConfig) -> dict[str, Any]:
    """The :class:`nfd.volume.MotionCorrector` keyword options that ``[volume]`` sets.

    Parameters
    ----------
    volume : VolumeConfig
        The ``[volume]`` table.

    Returns
    -------
    dict
        Every ``[volume]`` option but ``reference``, by its name (which is
        the engine's argument name): ``smooth_fwhm``, ``pad_slices``,
        ``edge_margin``, ``warm_start``, ``restart_after``, ``quality``, ``sep``,
        ``realign_fwhm``, ``realign_degree``, ``reslice_degree``,
        ``max_iterations``. Pass it to :class:`VolumeWorker` or
        :class:`~nfd.daemon.InProcessVolumeStep` as keywords.

    Examples
    --------
    >>> sorted(engine_options(VolumeConfig(pad_slices=3)).items())[:3]
    [('edge_margin', 2.5), ('max_iterations', 64), ('pad_slices', 3)]
    """
    return {f.name: getattr(volume, f.name) for f in fields(volume) if f.name not in _NOT_ENGINE_OPTIONS}


def multiecho_options(multiecho: MultiEchoConfig) -> dict[str, Any] | None:
    """:class:`nfd.volume.MultiEchoCorrector`'s options but the echo times from ``[multiecho]``; None for one echo.

    ``combine = "fixed"`` reads ``t2star_map`` (a NIfTI file, ms) here, once, and ``mask`` too.
    """
    if multiecho.echoes == 1:
        return None
    options: dict[str, Any] = {
        "realign_echo": multiecho.realign_echo, "combine": multiecho.combine,
        "t2s_volumes": multiecho.t2s_volumes, "t2s_update": multiecho.t2s_update,
    }
    import nibabel as nib

    if multiecho.combine == "fixed":
        image: Any = nib.load(multiecho.t2star_map)
        options["t2star_ms"] = np.asarray(image.dataobj, dtype=np.float64)
    if multiecho.mask:
        mask: Any = nib.load(multiecho.mask)
        options["mask"] = np.asarray(mask.dataobj) > 0
    return options


def _views(buf: memoryview, shape: tuple[int, ...], echoes: int = 1) -> list[np.ndarray]:
    """The block's arrays: reference, input (``(echoes, *shape)`` when ``echoes`` > 1), resliced, smoothed."""
    n = int(np.prod(shape))
    flat = np.ndarray(((_N_ARRAYS - 1 + echoes) * n,), dtype=np.float32, buffer=buf)
    ref = flat[:n].reshape(shape)
    inp = flat[n : (1 + echoes) * n].reshape((echoes, *shape) if echoes > 1 else shape)
    rest = [flat[(1 + echoes + i) * n : (2 + echoes + i) * n].reshape(shape) for i in range(2)]
    return [ref, inp, *rest]


# --------------------------------------------------------------------------- #
# Worker side (module-level functions: the pool pickles them by name)

_STATE: dict[str, Any] = {}


def _attach(name: str) -> shared_memory.SharedMemory:
    # The worker is the daemon's child: under "spawn" and "forkserver" it
    # shares the daemon's resource tracker, where the block is already
    # registered (a set, so attaching adds nothing) and the daemon's unlink
    # unregisters it once. Unregistering here would make that unlink fail.
    return shared_memory.SharedMemory(name=name)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
#: Shared-memory segments are named ``nfd_<daemon pid>_<random>``, so a next start finds a killed daemon's.
_SHM_PREFIX = "nfd_"
_SHM_FOLDER = Path("/dev/shm")


def _die_with_parent(parent: int, settings: LoggingSettings | None) -> None:
    """Worker initializer: the worker gets SIGKILL when the daemon dies (even by SIGKILL), then logs as it does.

    ``prctl(PR_SET_PDEATHSIG)`` on Linux; if the daemon died before the call
    took effect, the worker exits at once. Elsewhere only the logging is set.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
    configure_worker_logging(settings)


def remove_orphaned_segments(folder: Path = _SHM_FOLDER) -> list[str]:
    """Unlink the shared-memory segments of nfd daemons that are no longer running; returns their names.

    A daemon killed with its resource tracker (``kill -9`` of the process
    group) leaves its segment behind; the next start removes it.
    """
    removed = []
    for segment in folder.glob(f"{_SHM_PREFIX}*_*"):
        pid = segment.name[len(_SHM_PREFIX):].split("_", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        with contextlib.suppress(FileNotFoundError):
            segment.unlink()
            removed.append(segment.name)
    if removed:
        log.warning("orphaned_shared_memory_removed", segments=removed, reason="left by a daemon that was killed")
    return removed


def _worker_warmup() -> int:
    """Import the engine (and its Cython kernels) before the first volume."""
    import nfd.volume  # noqa: F401

    return multiprocessing.current_process().pid or 0


def _worker_init(
    shm_name: str, shape: tuple[int, ...], affine: np.ndarray, options: dict[str, Any],
    echoes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the engine on the reference in shared memory; returns the options it runs with.

    ``echoes``: for a multi-echo run, :class:`nfd.volume.MultiEchoCorrector`'s
    own arguments (``echo_times_ms``, ``realign_echo``, ``combine``...).
    """
    from nfd.volume import make_corrector

    old = _STATE.pop("shm", None)
    if old is not None:
        _STATE.clear()
        old.close()
    shm = _attach(shm_name)
    assert shm.buf is not None
    tes = None if echoes is None else echoes["echo_times_ms"]
    views = _views(shm.buf, shape, 1 if tes is None else len(tes))
    others = None if echoes is None else {k: v for k, v in echoes.items() if k != "echo_times_ms"}
    engine = make_corrector(views[_REF].copy(), affine, tes, others, **options)
    _STATE.update(shm=shm, views=views, engine=engine)
    return engine.options


def _worker_echo_maps() -> dict[str, np.ndarray]:
    """The multi-echo engine's maps: ``t2star`` (ms), ``s0``, ``tsnr_echo-<n>`` per echo; empty for one echo."""
    from nfd.volume import MultiEchoCorrector

    engine = _STATE.get("engine")
    return dict(engine.maps()) if isinstance(engine, MultiEchoCorrector) else {}


def _worker_process() -> tuple[list[float], int, bool, float]:
    views = _STATE["views"]
    t0 = time.perf_counter()
    res = _STATE["engine"].process(views[_IN], resliced_out=views[_RESL], smoothed_out=views[_SMOOTH])
    ms = (time.perf_counter() - t0) * 1e3
    return [float(p) for p in res.params], int(res.iterations), bool(res.converged), ms


# --------------------------------------------------------------------------- #
# Loop side


class VolumeWorker:
    """A process running the volume engine, fed through shared memory.

    Parameters
    ----------
    smooth_fwhm : float
        Smoothing kernel FWHM (mm), passed to :class:`nfd.volume.MotionCorrector`.
    mp_context : str
        multiprocessing start method; ``spawn`` (the default) is safe with a
        running event loop and threads.
    multiecho : mapping, optional
        :class:`nfd.volume.MultiEchoCorrector`'s options but the echo times
        (``realign_echo``, ``combine``, ``t2s_volumes``, ``t2s_update``,
        ``t2star_ms``), used when :meth:`set_reference` is given echo times.
    **options
        Further keyword options of :class:`nfd.volume.MotionCorrector`
        (e.g. :func:`engine_options` of ``[volume]``), checked by the engine
        when :meth:`set_reference` builds it.

    Attributes
    ----------
    engine_options : dict
        The options of the engine in the worker process, all of them with
        its defaults (empty until :meth:`set_reference`).

    Examples
    --------
    >>> import asyncio, numpy as np
    >>> async def main():
    ...     async with VolumeWorker(smooth_fwhm=0.0) as w:
    ...         ref = np.random.default_rng(0).random((16, 16, 8), dtype=np.float32)
    ...         await w.set_reference(ref, np.diag([3.0, 3.0, 3.0, 1.0]))
    ...         out = await w.process(ref)
    ...         return out.params.shape
    >>> asyncio.run(main())  # doctest: +SKIP
    (6,)
    """

    def __init__(
        self, *, smooth_fwhm: float, mp_context: str = "spawn", multiecho: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self._options: dict[str, Any] = {**options, "smooth_fwhm": float(smooth_fwhm)}
        self._multiecho = dict(multiecho or {})
        self._echoes: dict[str, Any] | None = None
        self.engine_options: Mapping[str, Any] = {}
        self._ctx = multiprocessing.get_context(mp_context)
        self._pool: ProcessPoolExecutor | None = None
        self._shm: shared_memory.SharedMemory | None = None
        self._views: list[np.ndarray] = []
        self._affine: np.ndarray | None = None
        self.shape: tuple[int, ...] | None = None
        #: Process id of the worker; how many times it was restarted after dying.
        self.pid = 0
        self.restarts = 0
        self._broken = False  # the worker died and is not restarted yet

    async def __aenter__(self) -> VolumeWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, fn: Any, *args: Any) -> Any:
        assert self._pool is not None, "VolumeWorker.start() first"
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1, mp_context=self._ctx, initializer=_die_with_parent,
            initargs=(os.getpid(), logging_settings()),
        )

    async def start(self) -> None:
        """Start the worker process and import the engine in it (first removing a killed daemon's segments)."""
        remove_orphaned_segments()
        self._pool = self._new_pool()
        self.pid = await self._call(_worker_warmup)
        log.info("volume_worker_started", pid=self.pid)

    async def set_reference(
        self, reference: np.ndarray, affine: np.ndarray, echo_times_ms: Sequence[float] | None = None
    ) -> None:
        """Build the engine on ``reference`` (3-D, on the EPI grid; affine voxel→mm).

        With ``echo_times_ms`` (ms, two or more), the engine is multi-echo:
        ``reference`` is the realignment echo's, and :meth:`process` takes
        every echo of a volume.
        """
        shape = tuple(int(s) for s in reference.shape)
        if len(shape) != 3:
            raise VolumeError(f"expected a 3-D reference volume, got shape {shape}")
        multi = echo_times_ms is not None and len(echo_times_ms) > 1
        self._echoes = {**self._multiecho, "echo_times_ms": [float(t) for t in echo_times_ms or ()]} if multi else None
        n_echoes = len(echo_times_ms or ()) if multi else 1
        nbytes = (_N_ARRAYS - 1 + n_echoes) * int(np.prod(shape)) * 4
        self._release_shm()
        name = f"{_SHM_PREFIX}{os.getpid()}_{secrets.token_hex(6)}"
        self._shm = shared_memory.SharedMemory(name=name, create=True, size=nbytes)
        assert self._shm.buf is not None
        self._views = _views(self._shm.buf, shape, n_echoes)
        np.copyto(self._views[_REF], reference, casting="unsafe")
        self.shape = shape
        self._affine = np.asarray(affine, dtype=np.float64)
        await self._init_engine()

    async def _init_engine(self) -> None:
        assert self._shm is not None and self.shape is not None
        t0 = time.perf_counter()
        self.engine_options = await self._call(
            _worker_init, self._shm.name, self.shape, self._affine, self._options, self._echoes
        )
        log.info("reference_set", shape=list(self.shape), ms=round((time.perf_counter() - t0) * 1e3, 1),
                 options={k: v for k, v in self.engine_options.items() if k in self._options})

    async def _restart(self) -> None:
        """A new worker process with the engine on the same reference (raises BrokenProcessPool if it dies too)."""
        self.restarts += 1
        self._broken = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        self.pid = await self._call(_worker_warmup)
        await self._init_engine()
        self._broken = False
        log.info("volume_worker_restarted", pid=self.pid, restarts=self.restarts)

    async def _run_volume(self) -> tuple[Any, int, bool, float]:
        """The engine on the input view, restarting a dead worker; WorkerCrashed after two deaths on this volume."""
        deaths = 0
        while True:
            try:
                if self._broken:
                    await self._restart()
                result: tuple[Any, int, bool, float] = await self._call(_worker_process)
                return result
            except BrokenProcessPool:
                deaths += 1
                self._broken = True
                log.error("volume_worker_crashed", restarts=self.restarts, deaths_on_this_volume=deaths)
                if deaths >= _DEATHS_PER_VOLUME:
                    raise WorkerCrashed(
                        f"the volume worker died {deaths} times on this volume (restarts so far: {self.restarts}); "
                        "the next volume restarts it"
                    ) from None

    async def process(self, data: np.ndarray) -> VolumeOutput:
        """Realign, reslice and smooth one volume (multi-echo: realign one echo, reslice all, combine, smooth).

        Parameters
        ----------
        data : ndarray
            3-D volume on the reference grid, or for a multi-echo engine its
            echoes ``(n_echoes, X, Y, Z)`` (any real dtype; copied as float32).

        Raises
        ------
        nfd.volume.VolumeError
            The volume is not on the reference grid, or the engine refused it.
        WorkerCrashed
            The worker died twice on this volume.
        """
        if self.shape is None:
            raise RuntimeError("VolumeWorker.set_reference() first")
        expected = tuple(self._views[_IN].shape)
        if tuple(data.shape) != expected:
            what = (f"{expected[0]} echoes of shape {expected[1:]}" if len(expected) == 4
                    else f"a volume of shape {expected}")
            raise VolumeError(f"expected {what} (the reference grid), got {tuple(data.shape)}")
        np.copyto(self._views[_IN], data, casting="unsafe")
        params, iters, converged, ms = await self._run_volume()
        return VolumeOutput(
            params=np.asarray(params),
            iterations=iters,
            converged=converged,
            resliced=self._views[_RESL],
            smoothed=self._views[_SMOOTH],
            worker_ms=ms,
        )

    async def echo_maps(self) -> dict[str, np.ndarray]:
        """A multi-echo engine's maps on the EPI grid (``t2star`` ms, ``s0``, ``tsnr_echo-<n>``); empty otherwise."""
        if self._echoes is None or self._broken or self._pool is None:
            return {}
        maps: dict[str, np.ndarray] = await self._call(_worker_echo_maps)
        return maps

    def _release_shm(self) -> None:
        self._views = []
        if self._shm is not None:
            shm, self._shm = self._shm, None
            shm.unlink()
            with contextlib.suppress(BufferError):  # a caller still holds a view; the mapping goes with it
                shm.close()

    async def close(self) -> None:
        """Stop the worker and free the shared memory."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)
        self._release_shm()
