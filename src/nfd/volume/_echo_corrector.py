"""The multi-echo volume step: motion from one echo, applied to every echo, then the echoes combined.

:class:`MultiEchoCorrector` owns one :class:`~nfd.volume.MotionCorrector`
(built on the reference volume of the realignment echo) and one
:class:`~nfd.volume.EchoCombiner`. Per volume it

1. estimates the motion on echo ``realign_echo`` and reslices that echo;
2. reslices every other echo with the same transform
   (:meth:`MotionCorrector.reslice_more`): the echoes of one volume are read
   out within tens of milliseconds of each other, so they share the head's
   position;
3. combines the resliced echoes (:meth:`EchoCombiner.combine`), on the
   reference grid, so that the T2* map and the weights stay put while the
   head moves;
4. smooths the combined volume with the engine's kernel.

The combined volume is what a single-echo run's resliced volume is: the
ROIs, the signal chain, the feedback and the whole-brain GLM read it.
"""

from __future__ import annotations

import time
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from nfd.volume._corrector import MotionCorrector, MotionResult
from nfd.volume._errors import GridMismatchError, InvalidOptionError, InvalidVolumeError
from nfd.volume._grid import check_output
from nfd.volume._multiecho import CombineMethod, EchoCombiner, WeightUpdate

__all__ = ["MultiEchoCorrector", "implicit_mask", "make_corrector", "parse_combine"]


def implicit_mask(reference: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """The voxels of the head in an EPI volume: above 1/8 of the volume's mean (SPM's ``spm_global`` rule).

    SPM takes the voxels above an eighth of the mean as the ones inside the
    head when it computes the global signal (``spm_global.c``); background
    and air fall below it, dark tissue (susceptibility dropout at the first
    echo's short TE) rarely does. Non-finite values are outside.

    Examples
    --------
    >>> import numpy as np
    >>> implicit_mask(np.array([[[0.0, 1.0, 100.0, 120.0]]])).ravel().tolist()
    [False, False, True, True]
    """
    x = np.nan_to_num(np.asarray(reference, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.asarray(x > x.mean() / 8.0)


def parse_combine(combine: str, n_echoes: int) -> tuple[str, int | None]:
    """``"t2s"``, ``"paid"``, ``"fixed"`` or ``"echo:N"`` -> (method, echo number or None).

    Raises
    ------
    InvalidOptionError
        For anything else, or an echo number outside 1..``n_echoes``.

    Examples
    --------
    >>> parse_combine("echo:2", 3)
    ('echo', 2)
    >>> parse_combine("t2s", 3)
    ('t2s', None)
    """
    method, _, number = str(combine).partition(":")
    if method in ("t2s", "paid", "fixed") and not number:
        return method, None
    if method == "echo" and number.isdigit() and 1 <= int(number) <= n_echoes:
        return "echo", int(number)
    raise InvalidOptionError(
        f"combine must be 't2s', 'paid', 'fixed' or 'echo:N' with N from 1 to {n_echoes}, got {combine!r}"
    )


class MultiEchoCorrector:
    """Realign, reslice, combine and smooth the echoes of each volume (see the module docstring).

    Parameters
    ----------
    reference : array_like, 3-D
        The reference volume of echo ``realign_echo`` (e.g. that echo of the
        run's first volume).
    affine : array_like, (4, 4)
        Voxel-to-mm matrix of the grid (every echo's).
    echo_times_ms : sequence of float
        The echo times, ms, increasing (at least 2 echoes).
    realign_echo : int, default 1
        The echo (1-based) whose motion is estimated. The first echo has
        the most signal and the least dropout, so the sharpest edges.
    combine : str, default "t2s"
        ``"t2s"``, ``"paid"``, ``"fixed"`` or ``"echo:N"`` (:func:`parse_combine`;
        :class:`~nfd.volume.EchoCombiner`'s methods).
    t2s_volumes : int, default 10
        Volumes over which the weights are estimated before they are frozen.
    t2s_update : {"freeze", "running"}, default "freeze"
        After ``t2s_volumes``: frozen weights, or weights following the run.
    t2star_ms : array_like, 3-D, optional
        The T2* map (ms, on the grid) of ``combine="fixed"``.
    mask : array_like of bool, 3-D, optional
        The voxels combined (and over which tedana's dropout rule sets the
        thresholds of the good echoes); 0 elsewhere. Default:
        :func:`implicit_mask` of ``reference``.
    **options
        :class:`~nfd.volume.MotionCorrector`'s keyword options (``smooth_fwhm``,
        ``pad_slices``...).

    Raises
    ------
    InvalidOptionError, GridMismatchError, InvalidVolumeError
        For bad options, a T2* map off the grid, a bad reference.
    """

    def __init__(
        self,
        reference: npt.ArrayLike,
        affine: npt.ArrayLike,
        echo_times_ms: npt.ArrayLike,
        *,
        realign_echo: int = 1,
        combine: str = "t2s",
        t2s_volumes: int = 10,
        t2s_update: str = "freeze",
        t2star_ms: npt.ArrayLike | None = None,
        mask: npt.ArrayLike | None = None,
        **options: Any,
    ) -> None:
        tes = np.asarray(echo_times_ms, dtype=np.float64).reshape(-1)
        n = int(tes.size)
        if isinstance(realign_echo, bool) or int(realign_echo) != realign_echo or not 1 <= realign_echo <= n:
            raise InvalidOptionError(f"realign_echo must be an echo from 1 to {n}, got {realign_echo!r}")
        method, echo = parse_combine(combine, n)
        self._engine = MotionCorrector(reference, affine, **options)
        self._realign = int(realign_echo) - 1
        self._combiner = EchoCombiner(
            tes, self._engine.shape, method=cast(CombineMethod, method), echo=echo, t2star_ms=t2star_ms,
            t2s_volumes=t2s_volumes, update=cast(WeightUpdate, t2s_update),
            mask=implicit_mask(reference) if mask is None else mask,
        )
        self._echoes = np.empty((n, *self._engine.shape), dtype=np.float32)
        self._scratch = np.empty(self._engine.shape, dtype=np.float32)
        self._options = {**self._engine.options, "realign_echo": int(realign_echo), "combine": str(combine),
                         "t2s_volumes": int(t2s_volumes), "t2s_update": str(t2s_update),
                         "echo_times_ms": [float(t) for t in tes]}

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the reference grid (voxels)."""
        return self._engine.shape

    @property
    def n_echoes(self) -> int:
        """Echoes per volume."""
        return int(self._echoes.shape[0])

    @property
    def options(self) -> dict[str, Any]:
        """The motion engine's options and the multi-echo ones (a copy)."""
        return dict(self._options)

    @property
    def combiner(self) -> EchoCombiner:
        """The echo combiner (its T2*, S0 and per-echo tSNR maps)."""
        return self._combiner

    def maps(self) -> dict[str, npt.NDArray[np.float32]]:
        """The combiner's maps on the grid, by run-folder name: ``t2star`` (ms), ``s0``, ``tsnr_echo-<n>``."""
        c = self._combiner
        maps = {"t2star": np.asarray(c.t2star_ms, dtype=np.float32), "s0": np.asarray(c.s0, dtype=np.float32)}
        for e, tsnr in enumerate(np.asarray(c.tsnr, dtype=np.float32), start=1):
            maps[f"tsnr_echo-{e}"] = tsnr
        return maps

    @property
    def resliced_echoes(self) -> npt.NDArray[np.float32]:
        """float32 ``(n_echoes, X, Y, Z)``: the last volume's echoes on the reference grid (overwritten)."""
        return self._echoes

    def process(
        self,
        echoes: npt.ArrayLike,
        *,
        resliced_out: npt.NDArray[np.float32] | None = None,
        smoothed_out: npt.NDArray[np.float32] | None = None,
    ) -> MotionResult:
        """One multi-echo volume: the motion of echo ``realign_echo``, every echo resliced, combined, smoothed.

        Parameters
        ----------
        echoes : array_like, ``(n_echoes, X, Y, Z)``
            The volume's echoes in echo order, on the reference grid.
        resliced_out, smoothed_out : float32 arrays, optional
            Preallocated outputs on the grid (e.g. shared memory): the
            combined volume and its smoothed copy.

        Returns
        -------
        MotionResult
            The realignment echo's motion, ``resliced`` the combined volume,
            ``smoothed`` it smoothed; timings add ``"reslice_echoes"`` and
            ``"combine"`` (seconds).

        Raises
        ------
        GridMismatchError, InvalidVolumeError
            Echoes of another count or grid.
        """
        data = np.asarray(echoes)
        if data.ndim != 4 or data.shape[0] != self.n_echoes:
            raise InvalidVolumeError(
                f"expected the {self.n_echoes} echoes of a volume as an array (echoes, X, Y, Z), got shape {data.shape}"
            )
        if data.shape[1:] != self.shape:
            raise GridMismatchError(f"echoes have shape {data.shape[1:]} but the reference grid is {self.shape}")
        combined = np.empty(self.shape, np.float32) if resliced_out is None else check_output(
            resliced_out, self.shape, "resliced_out")
        smoothed = np.empty(self.shape, np.float32) if smoothed_out is None else check_output(
            smoothed_out, self.shape, "smoothed_out")
        motion = self._engine.process(data[self._realign], resliced_out=self._echoes[self._realign],
                                      smoothed_out=self._scratch, smooth=False)
        t0 = time.perf_counter()
        for e in range(self.n_echoes):
            if e != self._realign:
                self._engine.reslice_more(data[e], self._echoes[e])
        t1 = time.perf_counter()
        self._combiner.combine(self._echoes, out=combined)
        t2 = time.perf_counter()
        self._engine.smooth_into(smoothed, combined)
        t3 = time.perf_counter()
        timings = {**motion.timings, "reslice_echoes": t1 - t0, "combine": t2 - t1, "smooth": t3 - t2}
        return MotionResult(motion.params, combined, smoothed, motion.iterations, motion.converged, timings)


def make_corrector(
    reference: npt.ArrayLike,
    affine: npt.ArrayLike,
    echo_times_ms: npt.ArrayLike | None = None,
    multiecho: dict[str, Any] | None = None,
    **options: Any,
) -> MotionCorrector | MultiEchoCorrector:
    """A run's volume engine: :class:`MultiEchoCorrector` with two or more echo times, else :class:`MotionCorrector`.

    ``multiecho``: :class:`MultiEchoCorrector`'s own options but the echo
    times; ``options``: :class:`MotionCorrector`'s.
    """
    tes = [] if echo_times_ms is None else [float(t) for t in np.asarray(echo_times_ms, dtype=np.float64).ravel()]
    if len(tes) > 1:
        return MultiEchoCorrector(reference, affine, tes, **(multiecho or {}), **options)
    return MotionCorrector(reference, affine, **options)
