#!/usr/bin/env python
"""Benchmark nfd's multi-echo combination against tedana's on the same arrays.

Runs in this one process, one thread, and prints medians per volume (ms):

- combine: :class:`nfd.volume.EchoCombiner` ``combine`` per volume with the
  T2* update (``update="running"``: the log-linear fit to the running mean
  of every volume so far, the Posse weights, the weighted sum, with the
  masking and unmasking), the same with the per-echo tSNR kept running too
  (``running_tsnr=True``), and with frozen weights, against tedana's
  ``decay.fit_decay`` (loglin) + ``modify_t2s_s0_maps`` + ``combine.make_optcom``
  (t2s) on the same
  volume's in-mask arrays (tedana is given the masked (M, E, 1) arrays and
  its adaptive mask, so its masking is not timed), at 72 x 72 x 28 x 3
  echoes and 104 x 104 x 72 x 4 echoes of a synthetic head (an ellipsoid
  brain with smoothly varying S0 and T2*, Gaussian noise); the two take
  the volumes in turn so that both see the same load; the first
  ``--warm-up`` volumes (the estimation window) are timed apart;
- the multi-echo volume step at 72 x 72 x 28 x 3: echo 1 realigned (and
  resliced and smoothed) by :class:`nfd.volume.MotionCorrector`, the other
  echoes resliced with the same parameters (:func:`nfd.volume.reslice`),
  then combined;
- with ``--data``: the same comparison on the real tedana run
  (``multiecho_tedana``, 39 x 50 x 33 x 3 echoes, 5 volumes cycled).

Usage::

    python tools/bench_multiecho.py [--data DIR] [--volumes 40] [--warm-up 10] [--skip combine|step|real]
"""

from __future__ import annotations

import os

# one thread everywhere (BLAS included), before numpy is imported
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from nfd.volume import MotionCorrector, reslice, spm_imatrix, spm_matrix  # noqa: E402
from nfd.volume._multiecho import EchoCombiner  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("NFD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

F32 = npt.NDArray[np.float32]

#: (shape, voxel mm, echo times ms)
GRIDS = (
    ((72, 72, 28), (3.0, 3.0, 3.5), (12.0, 28.0, 44.0)),
    ((104, 104, 72), (2.0, 2.0, 2.0), (13.0, 31.0, 49.0, 67.0)),
)


# ----------------------------------------------------------------------------- data


def synthetic_head(
    shape: Sequence[int], tes: Sequence[float], n_volumes: int, seed: int = 0
) -> tuple[list[F32], npt.NDArray[np.bool_]]:
    """(E, X, Y, Z) float32 volumes of an ellipsoid brain (S0 700-1300, T2* 20-60 ms) in a dim head, and its mask."""
    rng = np.random.default_rng(seed)
    g = np.indices(shape, dtype=np.float32)
    centre = [(n - 1) / 2 for n in shape]
    r2 = sum(((g[i] - centre[i]) / (0.45 * shape[i])) ** 2 for i in range(3))
    brain = r2 < 1.0
    head = r2 < 1.25
    s0 = np.where(brain, 1000 + 300 * np.sin(g[0] / 5) * np.cos(g[2] / 4), np.where(head, 400.0, 0.0))
    t2s = np.where(brain, 40 + 20 * np.cos(g[1] / 7), 15.0)
    clean = np.stack([s0 * np.exp(-te / t2s) for te in tes]).astype(np.float32)
    vols = []
    for _ in range(n_volumes):
        bold = 1 + 0.01 * rng.standard_normal(shape).astype(np.float32)
        vols.append((clean * bold + rng.normal(0, 8, clean.shape)).astype(np.float32))
    return vols, head


def real_run(data: Path) -> tuple[list[F32], npt.NDArray[np.bool_], tuple[float, ...]] | None:
    import nibabel as nib

    folder = data / "multiecho_tedana"
    if not folder.is_dir():
        return None
    echoes = np.stack([np.asarray(nib.load(folder / f"echo{i}.nii.gz").dataobj, dtype=np.float32) for i in (1, 2, 3)])
    mask = np.asarray(nib.load(folder / "mask.nii.gz").dataobj) > 0
    return [np.ascontiguousarray(echoes[..., t]) for t in range(echoes.shape[-1])], mask, (14.5, 38.5, 62.5)


# ----------------------------------------------------------------------------- timing


def _median_ms(values: Sequence[float]) -> float:
    return float(np.median(values)) * 1e3 if values else float("nan")


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _tedana() -> tuple[Any, Any, Any] | None:
    try:
        from tedana import combine, decay, utils
    except ImportError:
        return None
    logging.getLogger("GENERAL").setLevel(logging.ERROR)
    logging.getLogger("REPORT").setLevel(logging.ERROR)
    return combine, decay, utils


def _tedana_volume(ted: tuple[Any, Any, Any], cat: Any, tes: Sequence[float], n_good: Any) -> None:
    """t2smap's steps for one volume: loglin fit, T2* floors and ceilings, T2*-weighted combination."""
    combine, decay, _ = ted
    with np.errstate(divide="ignore"):  # tedana's 1 / slope where a voxel does not decay (it then sets 500 ms)
        t2s, s0, *_ = decay.fit_decay(cat, list(tes), n_good, "loglin", report=False)
    t2s, *_ = decay.modify_t2s_s0_maps(t2s, s0, n_good, list(tes))
    combine.make_optcom(cat, list(tes), n_good, t2s=t2s, combmode="t2s")


def compare_combine(
    title: str, vols: Sequence[F32], mask: npt.NDArray[np.bool_], tes: Sequence[float], n_volumes: int, warm_up: int
) -> None:
    """EchoCombiner (running and frozen) against tedana's fit_decay + make_optcom, volume by volume."""
    ted = _tedana()
    shape = mask.shape
    running = EchoCombiner(tes, shape, mask=mask, t2s_volumes=warm_up, update="running")
    with_tsnr = EchoCombiner(tes, shape, mask=mask, t2s_volumes=warm_up, update="running", running_tsnr=True)
    frozen = EchoCombiner(tes, shape, mask=mask, t2s_volumes=warm_up, update="freeze")
    out = np.empty(shape, dtype=np.float32)
    times: dict[str, list[float]] = {"running": [], "tsnr": [], "freeze": [], "warm-up": [], "tedana": []}
    n_good = None
    for i in range(n_volumes):
        v = vols[i % len(vols)]
        t_run = _timed(lambda v=v: running.combine(v, out=out))
        t_snr = _timed(lambda v=v: with_tsnr.combine(v, out=out))
        t_frz = _timed(lambda v=v: frozen.combine(v, out=out))
        if i < warm_up:
            times["warm-up"].append(t_run)
        else:
            for name, dt in (("running", t_run), ("tsnr", t_snr), ("freeze", t_frz)):
                times[name].append(dt)
        if ted is not None:
            cat = np.moveaxis(v[:, mask], 0, 1)[..., np.newaxis].astype(np.float64)  # (M, E, 1)
            if n_good is None:
                n_good = ted[2].make_adaptive_mask(cat, threshold=1, methods=["dropout"])[1]
            times["tedana"].append(_timed(lambda cat=cat, n_good=n_good: _tedana_volume(ted, cat, tes, n_good)))
    n_vox = int(running.weights.any(axis=0).sum())
    print(f"\n{title}: {len(tes)} echoes, {int(mask.sum())} voxels in the mask ({mask.mean():.0%}), {n_vox} combined")
    print(f"  time per volume, ms (median of {n_volumes - warm_up}; the first {warm_up} apart)")
    nfd_run, nfd_frozen = _median_ms(times["running"]), _median_ms(times["freeze"])
    print(f"  nfd EchoCombiner, running T2* update {nfd_run:>8.2f}")
    print(f"  nfd EchoCombiner, same + running tSNR {_median_ms(times['tsnr']):>7.2f}")
    print(f"  nfd EchoCombiner, frozen weights     {nfd_frozen:>8.2f}")
    print(f"  nfd estimation window (volumes 1-{warm_up})  {_median_ms(times['warm-up']):>8.2f}")
    if ted is None:
        print("  tedana: not importable (pip install tedana, the bench extra)")
        return
    ted_ms = _median_ms(times["tedana"])
    print(f"  tedana fit_decay + make_optcom       {ted_ms:>8.2f}   ratio tedana / nfd running {ted_ms / nfd_run:.1f}x")


def volume_step(n_volumes: int, warm_up: int) -> None:
    """Realign echo 1, reslice the other echoes with its parameters, combine: 72 x 72 x 28 x 3."""
    shape, voxel, tes = GRIDS[0]
    affine = np.diag([*voxel, 1.0])
    affine[:3, 3] = -(np.asarray(shape) - 1) / 2.0 * np.asarray(voxel)
    still, mask = synthetic_head(shape, tes, n_volumes, seed=1)
    rng = np.random.default_rng(2)
    walk = np.cumsum(rng.normal(0, 0.1, (n_volumes, 6)), axis=0) * np.array([1, 1, 1, 0.01, 0.01, 0.01])
    moved = []
    for v, p in zip(still, walk, strict=True):
        applied = spm_imatrix(np.linalg.inv(spm_matrix(p)))  # reslice with these parameters moves by p
        moved.append(np.stack([reslice(e, affine, applied, degree=1) for e in v]))
    corrector = MotionCorrector(moved[0][0], affine)
    combiner = EchoCombiner(tes, shape, mask=mask, t2s_volumes=warm_up, update="running")
    buffer = np.empty((len(tes), *shape), dtype=np.float32)
    combined = np.empty(shape, dtype=np.float32)
    stages: dict[str, list[float]] = {"realign echo 1": [], "reslice echoes 2+": [], "combine": [], "total": []}
    for i, v in enumerate(moved):
        t0 = time.perf_counter()
        result = corrector.process(v[0], resliced_out=buffer[0])
        t1 = time.perf_counter()
        for e in range(1, len(tes)):
            reslice(v[e], affine, result.params, out=buffer[e])
        t2 = time.perf_counter()
        combiner.combine(buffer, out=combined)
        t3 = time.perf_counter()
        if i >= warm_up:
            for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
                stages[name].append(dt)
    print(f"\nmulti-echo volume step {shape} x {len(tes)} echoes, {n_volumes - warm_up} volumes after the window")
    print("  (realign = MotionCorrector.process on echo 1: realign, reslice, smooth)")
    for name, values in stages.items():
        print(f"  {name:<20}{_median_ms(values):>8.2f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="the shared data folder, to time the real run too")
    parser.add_argument("--volumes", type=int, default=40, help="volumes per series (default %(default)s)")
    parser.add_argument("--warm-up", type=int, default=10, help="EchoCombiner t2s_volumes (default %(default)s)")
    parser.add_argument("--skip", choices=("combine", "step", "real"), action="append", default=[],
                        help="leave out a benchmark (repeatable)")
    args = parser.parse_args(argv)
    if args.volumes <= args.warm_up:
        parser.error("--volumes must exceed --warm-up")
    ted = _tedana()
    peer = "tedana not importable" if ted is None else f"tedana {__import__('tedana').__version__}"
    print(f"nfd multi-echo combination; peer: {peer}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs, one process, one thread")
    if "combine" not in args.skip:
        for shape, _, tes in GRIDS:
            vols, mask = synthetic_head(shape, tes, 8)
            compare_combine(f"synthetic {shape}", vols, mask, tes, args.volumes, args.warm_up)
    if "step" not in args.skip:
        volume_step(args.volumes, args.warm_up)
    if args.data is not None and "real" not in args.skip:
        real = real_run(args.data)
        if real is None:
            print(f"\nreal run: skipped, {args.data / 'multiecho_tedana'} is absent")
        else:
            vols, mask, tes = real
            compare_combine("real multiecho_tedana (5 volumes cycled)", vols, mask, tes, args.volumes, 5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
