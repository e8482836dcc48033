#!/usr/bin/env python
"""Benchmark nfd's multi-echo combination against tedana's on the same arrays.

Runs in this one process, one thread, and prints medians per volume (ms):

- combine: :class:`nfd.volume.EchoCombiner` ``combine`` per volume with the
  T2* update (``update="running"``: the log-linear fit to the running mean
  of every volume so far, the Posse weights, the weighted sum, with the
  masking and unmasking), the same with the per-echo tSNR kept running too
  (``running_tsnr=True``), PAID with its running tSNR, and t2s and PAID with
  frozen weights, each timed apart during the estimation window (the first
  ``--warm-up`` volumes: statistics of every voxel, the good echoes
  re-estimated, for PAID the t2s weights) and after it, against tedana's
  ``decay.fit_decay`` (loglin) + ``modify_t2s_s0_maps`` + ``combine.make_optcom``
  (t2s) on the same volume's in-mask arrays (tedana is given the masked
  (M, E, 1) arrays and its adaptive mask, so its masking is not timed), at
  72 x 72 x 28 x 3 echoes and 104 x 104 x 72 x 4 echoes of a synthetic head
  (an ellipsoid brain with smoothly varying S0 and T2*, Gaussian noise); the
  engines take the volumes in turn so that all see the same load;
- the multi-echo volume step at 72 x 72 x 28 x 3:
  :meth:`nfd.volume.MultiEchoCorrector.process` (echo 1 realigned and
  resliced, the other echoes resliced with its motion by
  ``MotionCorrector.reslice_more``, combined, smoothed), t2s and paid, with
  its stage timings, in the window and after it;
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

from nfd.volume import MultiEchoCorrector, reslice, spm_imatrix, spm_matrix  # noqa: E402
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


def _window_and_after(values: Sequence[float], warm_up: int) -> str:
    """Median (and largest) of the estimation window's volumes, median of the later ones, ms."""
    window, after = values[:warm_up], values[warm_up:]
    return f"window {_median_ms(window):>7.2f} (max {max(window) * 1e3:>6.2f})   after {_median_ms(after):>7.2f}"


def compare_combine(
    title: str, vols: Sequence[F32], mask: npt.NDArray[np.bool_], tes: Sequence[float], n_volumes: int, warm_up: int
) -> None:
    """EchoCombiner (t2s and paid, running and frozen) against tedana's fit_decay + make_optcom, volume by volume."""
    ted = _tedana()
    shape = mask.shape
    options: dict[str, dict[str, Any]] = {
        "t2s, running T2* update": {"update": "running"},
        "t2s, same + running tSNR": {"update": "running", "running_tsnr": True},
        "paid, running tSNR update": {"method": "paid", "update": "running"},
        "t2s, frozen weights": {"update": "freeze"},
        "paid, frozen weights": {"method": "paid", "update": "freeze"},
    }
    engines = {name: EchoCombiner(tes, shape, mask=mask, t2s_volumes=warm_up, **kw) for name, kw in options.items()}
    out = np.empty(shape, dtype=np.float32)
    times: dict[str, list[float]] = {name: [] for name in [*engines, "tedana"]}
    n_good = None
    for i in range(n_volumes):
        v = vols[i % len(vols)]
        for name, engine in engines.items():  # in turn, so that every engine sees the same load
            times[name].append(_timed(lambda v=v, engine=engine: engine.combine(v, out=out)))
        if ted is not None:
            cat = np.moveaxis(v[:, mask], 0, 1)[..., np.newaxis].astype(np.float64)  # (M, E, 1)
            if n_good is None:
                n_good = ted[2].make_adaptive_mask(cat, threshold=1, methods=["dropout"])[1]
            times["tedana"].append(_timed(lambda cat=cat, n_good=n_good: _tedana_volume(ted, cat, tes, n_good)))
    n_vox = int(engines["t2s, running T2* update"].weights.any(axis=0).sum())
    print(f"\n{title}: {len(tes)} echoes, {int(mask.sum())} voxels in the mask ({mask.mean():.0%}), {n_vox} combined")
    print(f"  time per volume, ms: the estimation window (volumes 1-{warm_up}: median, largest), after it (median of"
          f" {n_volumes - warm_up})")
    for name in engines:
        print(f"  nfd EchoCombiner {name:<27} {_window_and_after(times[name], warm_up)}")
    if ted is None:
        print("  tedana: not importable (pip install tedana, the bench extra)")
        return
    ted_ms, nfd_run = _median_ms(times["tedana"]), _median_ms(times["t2s, running T2* update"][warm_up:])
    print(f"  tedana fit_decay + make_optcom (every volume) {ted_ms:>7.2f}   ratio tedana / nfd t2s running after the"
          f" window {ted_ms / nfd_run:.1f}x")


def volume_step(n_volumes: int, warm_up: int) -> None:
    """MultiEchoCorrector.process at 72 x 72 x 28 x 3: realign echo 1, reslice the others, combine, smooth."""
    shape, voxel, tes = GRIDS[0]
    affine = np.diag([*voxel, 1.0])
    affine[:3, 3] = -(np.asarray(shape) - 1) / 2.0 * np.asarray(voxel)
    still, _ = synthetic_head(shape, tes, n_volumes, seed=1)
    rng = np.random.default_rng(2)
    walk = np.cumsum(rng.normal(0, 0.1, (n_volumes, 6)), axis=0) * np.array([1, 1, 1, 0.01, 0.01, 0.01])
    moved = []
    for v, p in zip(still, walk, strict=True):
        applied = spm_imatrix(np.linalg.inv(spm_matrix(p)))  # reslice with these parameters moves by p
        moved.append(np.stack([reslice(e, affine, applied, degree=1) for e in v]))
    combined = np.empty(shape, dtype=np.float32)
    smoothed = np.empty(shape, dtype=np.float32)
    print(f"\nmulti-echo volume step {shape} x {len(tes)} echoes: MultiEchoCorrector.process (update running; the")
    print("  combiner on the whole grid, as in the daemon), ms: the estimation window (volumes 1-"
          f"{warm_up}: median, largest), after it (median of {n_volumes - warm_up})")
    stages = ("realign", "reslice", "reslice_echoes", "combine", "smooth", "total")
    for method in ("t2s", "paid"):
        corrector = MultiEchoCorrector(moved[0][0], affine, tes, combine=method, t2s_volumes=warm_up,
                                       t2s_update="running")
        times: dict[str, list[float]] = {name: [] for name in stages}
        for v in moved:
            t0 = time.perf_counter()
            result = corrector.process(v, resliced_out=combined, smoothed_out=smoothed)
            times["total"].append(time.perf_counter() - t0)
            for name in stages[:-1]:
                times[name].append(result.timings.get(name, 0.0))
        for name in stages:
            print(f"  {method:<5}{name:<16}{_window_and_after(times[name], warm_up)}")


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
