#!/usr/bin/env python
"""Benchmark nfd's volume engine against python-rtspm (pyOpenNFT's) on the same data.

Runs both engines in this one process and prints, per volume, the median
and 95th percentile of each stage (realign, reslice, smooth, total), the
speed ratio, and their accuracy:

- synthetic: a smooth brain-like phantom, 100 x 100 x 35 voxels of
  2.5 x 2.5 x 3.5 mm, moved by a known random walk (up to 1.5 mm and 1.5
  degrees per parameter, 60 volumes), rendered analytically (no
  interpolation in the truth), noise-free and with Gaussian noise; RMS and
  maximum error of the six parameters against the truth;
- cut slab: an oblique partial-coverage slab (64 x 64 x 30 voxels of
  3 x 3 x 2.5 mm, tilted 20 degrees, 75 mm) through the same phantom, whose
  brain fills part of the first and last slices, 40 volumes of a known
  random walk, noise-free and with noise of 2 % of the brain's intensity;
  accuracy of nfd's defaults, nfd with OpenNFT's padding (3 zero slices,
  every sample point), nfd with SPM's offline rule (no padding, every
  point), and python-rtspm without and with the padding;
- multiband: the same phantom on a 104 x 104 x 72 grid of 2 mm (timing);
- real: the 155 mosaics of ``opennft_psc_run`` realigned to their template,
  parameters relative to the first volume, max |difference| from SPM's
  ``mc_matlab_dcm.mat`` (nfd with OpenNFT's set-up, and nfd's defaults),
  and the resliced / smoothed template volume
  against ``reslVol_matlab.mat`` / ``smoothed_matlab.mat`` (correlation
  inside the brain).

python-rtspm (``pip install python-rtspm==0.2.18``, the ``bench`` extra) is
called as pyOpenNFT calls it (``spm_realign_rt`` with quality .9, fwhm 5,
sep 4, interp 4; ``spm_reslice_rt``; ``spm_smooth`` with 5 mm), starting
each volume from no motion; on the real run both engines reproduce
OpenNFT's MATLAB set-up (3 zero slices on either end, the NIfTI sform as
SPM's matrix) so that SPM's numbers are comparable. When python-rtspm
cannot be imported the benchmark runs nfd alone and says why.

The engines take the volumes in turn (volume 1 to nfd, then to
python-rtspm, then volume 2, ...) so that both see the same load on a
shared machine. The first volume of each series is left out of the timing
statistics (it includes the one-off preparation of the reference for
python-rtspm).

Usage::

    python tools/bench_volume.py [--data DIR] [--volumes 60] [--no-rtspm] [--skip cut-slab ...]
"""

from __future__ import annotations

import os

# one thread everywhere (BLAS included), before numpy is imported
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from nfd.volume import MotionCorrector, spm_imatrix, spm_matrix  # noqa: E402
from nfd.volume import _kernels as nfd_kernels  # noqa: E402

STAGES = ("realign", "reslice", "smooth")
DEFAULT_DATA = Path(os.environ.get("NFD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

# ----------------------------------------------------------------------------- phantom


_ELLIPSOIDS = (  # (centre mm, radii mm, amplitude)
    ((0.0, 0.0, 0.0), (62.0, 78.0, 52.0), 400.0),  # head
    ((0.0, 0.0, 0.0), (55.0, 70.0, 45.0), 300.0),  # brain
    ((0.0, 5.0, 4.0), (9.0, 22.0, 11.0), -250.0),  # ventricles
    ((-14.0, -20.0, -4.0), (6.0, 8.0, 9.0), -150.0),
    ((28.0, -28.0, 10.0), (11.0, 9.0, 8.0), 120.0),
    ((-24.0, 33.0, -14.0), (8.0, 13.0, 9.0), -90.0),
    ((10.0, 38.0, 18.0), (14.0, 9.0, 7.0), 160.0),
)
_EDGE_MM = 3.0


def phantom_at(world: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Intensity of a smooth brain-like phantom at world coordinates (..., 3), mm."""
    x, y, z = world[..., 0], world[..., 1], world[..., 2]
    out = np.zeros(x.shape)
    for (cx, cy, cz), (rx, ry, rz), amp in _ELLIPSOIDS:
        d = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2)
        out += amp / (1.0 + np.exp(np.clip((d - 1.0) * min(rx, ry, rz) / _EDGE_MM, -50, 50)))
    d = np.sqrt((x / 55) ** 2 + (y / 70) ** 2 + (z / 45) ** 2)
    out += 40.0 * np.sin(x / 9.0) * np.cos(y / 11.0) / (1.0 + np.exp(np.clip((d - 1) * 45 / _EDGE_MM, -50, 50)))
    return out


def centred_affine(shape: Sequence[int], voxel_mm: Sequence[float]) -> npt.NDArray[np.float64]:
    a = np.diag([*voxel_mm, 1.0])
    a[:3, 3] = -(np.asarray(shape) - 1) / 2.0 * np.asarray(voxel_mm)
    return a


def render(shape: Sequence[int], affine: npt.NDArray[np.float64], params: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The phantom after motion ``params`` (SPM convention): voxel y shows it at spm_matrix(params) @ affine @ y."""
    idx = np.stack(np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij"), axis=-1)
    m = spm_matrix(params) @ affine
    return phantom_at(idx @ m[:3, :3].T + m[:3, 3]).astype(np.float32)


def random_walk(n: int, max_mm: float, max_deg: float, seed: int) -> npt.NDArray[np.float64]:
    """(n, 6) SPM parameters: a random walk from zero, each parameter scaled to reach its maximum."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(size=(n, 6)), axis=0)
    walk -= walk[0]
    walk /= np.maximum(np.abs(walk).max(axis=0), 1e-12)
    walk[:, :3] *= max_mm
    walk[:, 3:] *= np.radians(max_deg)
    return walk


# ----------------------------------------------------------------------------- engines


@dataclass
class Run:
    """What an engine produced for a series."""

    params: list[npt.NDArray[np.float64]] = field(default_factory=list)
    timings: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    kept: dict[int, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = field(default_factory=dict)

    def matrix(self) -> npt.NDArray[np.float64]:
        return np.array(self.params)


class NfdEngine:
    """nfd's MotionCorrector, as the daemon uses it."""

    def __init__(self, reference: npt.NDArray[np.floating], affine: npt.NDArray[np.float64], name: str = "nfd",
                 **options: object) -> None:
        self.name = name
        self.mc = MotionCorrector(reference, affine, smooth_fwhm=5.0, **options)  # type: ignore[arg-type]

    def step(self, index: int, volume: npt.NDArray[np.floating], run: Run, keep: bool) -> None:
        res = self.mc.process(volume)
        run.params.append(res.params)
        for stage in STAGES:
            run.timings[stage].append(res.timings[stage])
        if keep:
            run.kept[index] = (res.resliced.copy(), res.smoothed.copy())


#: pyOpenNFT's flags (opennft/mrvol.py)
FLAGS_REALIGN = {
    "quality": 0.9, "fwhm": 5, "sep": 4, "interp": 4, "wrap": np.zeros((3, 1)), "rtm": 0, "PW": "", "lkp": np.arange(6)
}
FLAGS_RESLICE = {
    "quality": 0.9, "fwhm": 5, "sep": 4, "interp": 4, "wrap": np.zeros((3, 1)), "mask": 1, "mean": 0, "which": 2
}


class RtspmEngine:
    """python-rtspm as pyOpenNFT calls it; ``spm_mat`` is SPM's 1-based voxel-to-mm matrix.

    With ``pad`` the volumes get that many zero slices on either end of the
    third axis (OpenNFT's MATLAB ``isZeroPadding``), cropped after reslicing.
    Every volume starts from the reference's matrix, as in pyOpenNFT.
    """

    def __init__(self, rtspm: object, reference: npt.NDArray[np.floating], spm_mat: npt.NDArray[np.float64],
                 voxel_mm: npt.NDArray[np.float64], pad: int = 0, name: str = "python-rtspm") -> None:
        self.rtspm, self.pad, self.name = rtspm, pad, name
        self.r = [{"mat": np.array([]), "dim": np.array([]), "Vol": np.array([])} for _ in range(2)]
        self.r[0]["Vol"] = self._padded(reference)
        self.r[0]["mat"] = spm_mat.copy()
        self.r[0]["dim"] = np.array(self.r[0]["Vol"].shape)
        self.state: tuple[object, ...] = ([], [], [], [], [], [])  # a0, x1, x2, x3, deg, b
        self.kernel = np.array([5.0, 5.0, 5.0]) / voxel_mm

    def _padded(self, v: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        v = np.asarray(v, dtype=np.float64)
        return np.asfortranarray(np.pad(v, ((0, 0), (0, 0), (self.pad, self.pad))) if self.pad else v)

    def step(self, index: int, volume: npt.NDArray[np.floating], run: Run, keep: bool) -> None:
        rtspm, r = self.rtspm, self.r
        r[1]["Vol"] = self._padded(volume)
        r[1]["mat"] = r[0]["mat"].copy()
        r[1]["dim"] = r[0]["dim"].copy()
        with warnings.catch_warnings():
            # rtspm divides 0 by 0 in SPM's stopping rule on noise-free data
            warnings.simplefilter("ignore", RuntimeWarning)
            t0 = time.perf_counter()
            r, *state, _ = rtspm.spm_realign_rt(r, FLAGS_REALIGN, index + 1, 1, *self.state)  # type: ignore[attr-defined]
            t1 = time.perf_counter()
            resliced = rtspm.spm_reslice_rt(r, FLAGS_RESLICE)  # type: ignore[attr-defined]
            if self.pad:
                resliced = resliced[:, :, self.pad : -self.pad]
            t2 = time.perf_counter()
            smoothed = rtspm.spm_smooth(resliced, self.kernel)  # type: ignore[attr-defined]
            t3 = time.perf_counter()
        self.r, self.state = r, tuple(state)
        run.timings["realign"].append(t1 - t0)
        run.timings["reslice"].append(t2 - t1)
        run.timings["smooth"].append(t3 - t2)
        run.params.append(spm_imatrix(r[1]["mat"] @ np.linalg.inv(r[0]["mat"])))
        if keep:
            run.kept[index] = (np.asarray(resliced, dtype=np.float32), np.asarray(smoothed, dtype=np.float32))


def run_series(
    engines: Sequence[NfdEngine | RtspmEngine], volumes: Sequence[npt.NDArray[np.floating]],
    keep: Sequence[int] = (), limits: dict[str, int] | None = None,
) -> dict[str, Run]:
    """Feed the volumes to the engines in turn, volume by volume.

    Interleaving keeps both engines under the same load when the machine
    is shared. ``limits`` caps how many volumes an engine gets.
    """
    runs = {e.name: Run() for e in engines}
    for i, volume in enumerate(volumes):
        for engine in engines:
            if limits and i >= limits.get(engine.name, len(volumes)):
                continue
            engine.step(i, volume, runs[engine.name], i in keep)
    return runs


def _import_rtspm() -> tuple[object | None, str]:
    try:
        from importlib.metadata import PackageNotFoundError, version

        import rtspm
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken binary wheel (any error at import)
        return None, (
            f"python-rtspm is not importable ({type(exc).__name__}: {exc}); "
            "install it with pip install python-rtspm==0.2.18"
        )
    try:
        release = version("python-rtspm")
    except PackageNotFoundError:
        release = "(version unknown)"
    return rtspm, f"python-rtspm {release}"


# ----------------------------------------------------------------------------- reporting


def _stats(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values[1:] if len(values) > 1 else values) * 1e3
    return float(np.median(v)), float(np.percentile(v, 95))


def _totals(run: Run) -> list[float]:
    return [sum(t) for t in zip(*(run.timings[s] for s in STAGES), strict=True)]


def print_timing(title: str, nfd: Run, peer: Run | None) -> None:
    """Per-stage median / p95 per volume, and the ratio peer / nfd."""
    print(f"\n{title}: time per volume, ms (median / p95; first volume excluded)")
    print(f"  {'stage':<9}{'nfd':>18}{'python-rtspm':>22}{'ratio':>10}")
    rows = [(s, nfd.timings[s], peer.timings[s] if peer else None) for s in STAGES]
    rows.append(("total", _totals(nfd), _totals(peer) if peer else None))
    for name, ours, theirs in rows:
        m, p = _stats(ours)
        line = f"  {name:<9}{m:>9.2f} / {p:>6.2f}"
        if theirs is not None:
            tm, tp = _stats(theirs)
            line += f"{tm:>12.1f} / {tp:>7.1f}{tm / m:>9.1f}x"
        print(line)


def _errors(params: npt.NDArray[np.float64], truth: npt.NDArray[np.float64]) -> str:
    e = params - truth
    rms_mm = math.sqrt(float(np.mean(e[:, :3] ** 2)))
    rms_deg = math.degrees(math.sqrt(float(np.mean(e[:, 3:] ** 2))))
    max_mm = float(np.abs(e[:, :3]).max())
    max_deg = math.degrees(float(np.abs(e[:, 3:]).max()))
    return f"RMS {rms_mm:.4f} mm {rms_deg:.4f} deg   max {max_mm:.4f} mm {max_deg:.4f} deg"


# ----------------------------------------------------------------------------- benchmarks


def synthetic(n_volumes: int, rtspm: object | None) -> None:
    shape, voxel = (100, 100, 35), (2.5, 2.5, 3.5)
    affine = centred_affine(shape, voxel)
    truth = random_walk(n_volumes, 1.5, 1.5, seed=3)
    print(f"\n== synthetic phantom {shape} at {voxel} mm, {n_volumes} volumes, random walk up to 1.5 mm / 1.5 deg")
    t = time.perf_counter()
    reference = render(shape, affine, np.zeros(6))
    clean = [render(shape, affine, p) for p in truth]
    noise_sd = 0.01 * float(np.percentile(reference, 99))
    rng = np.random.default_rng(7)
    noisy = [v + rng.normal(scale=noise_sd, size=shape).astype(np.float32) for v in clean]
    print(f"   (rendered in {time.perf_counter() - t:.1f} s; noise sd {noise_sd:.1f} = 1% of the 99th percentile)")
    for name, vols in (("noise-free", clean), ("noisy", noisy)):
        engines: list[NfdEngine | RtspmEngine] = [NfdEngine(reference, affine)]
        if rtspm:
            engines.append(RtspmEngine(rtspm, reference, affine @ _one_based(), np.array(voxel)))
        runs = run_series(engines, vols)
        ours, theirs = runs["nfd"], runs.get("python-rtspm")
        print_timing(f"synthetic, {name}", ours, theirs)
        print(f"  accuracy vs truth, nfd:          {_errors(ours.matrix(), truth)}")
        if theirs is not None:
            print(f"  accuracy vs truth, python-rtspm: {_errors(theirs.matrix(), truth)}")


#: nfd's set-ups on the cut slab: options of MotionCorrector
CUT_SLAB_SETUPS: dict[str, dict[str, object]] = {
    "nfd default": {},
    "nfd pad 3 (OpenNFT)": {"pad_slices": 3, "edge_margin": 0.0},
    "nfd pad 0, all points": {"pad_slices": 0, "edge_margin": 0.0},
    "nfd pad 3, margin 2.5": {"pad_slices": 3},
}


def cut_slab(n_volumes: int, rtspm: object | None) -> None:
    """An oblique slab whose first and last slices cut through the brain: accuracy of each set-up."""
    shape, voxel = (64, 64, 30), (3.0, 3.0, 2.5)
    affine = spm_matrix([0.0, 0.0, 5.0, math.radians(20.0), 0.0, 0.0]) @ centred_affine(shape, voxel)
    truth = random_walk(n_volumes, 1.5, 1.5, seed=11)
    reference = render(shape, affine, np.zeros(6))
    brain = reference > 250
    print(f"\n== cut slab {shape} at {voxel} mm, tilted 20 deg, {n_volumes} volumes, random walk up to 1.5 mm / "
          f"1.5 deg; brain in {brain[:, :, 0].mean():.0%} of the first slice, {brain[:, :, -1].mean():.0%} of the last")
    clean = [render(shape, affine, p) for p in truth]
    noise_sd = 0.02 * float(np.median(reference[brain]))
    rng = np.random.default_rng(1)
    noisy = [v + rng.normal(scale=noise_sd, size=shape).astype(np.float32) for v in clean]
    for label, vols in (("noise-free", clean), (f"noise sd {noise_sd:.0f} (2 % of the brain)", noisy)):
        engines: list[NfdEngine | RtspmEngine] = [
            NfdEngine(reference, affine, name, **options) for name, options in CUT_SLAB_SETUPS.items()
        ]
        if rtspm:
            for pad in (0, 3):
                engines.append(RtspmEngine(rtspm, reference, affine @ _one_based(), np.array(voxel), pad=pad,
                                           name=f"python-rtspm pad {pad}"))
        runs = run_series(engines, vols)
        print(f"  {label}: accuracy vs truth")
        for name, run in runs.items():
            print(f"    {name:<24}{_errors(run.matrix(), truth)}")


def multiband(n_volumes: int, rtspm: object | None) -> None:
    shape, voxel = (104, 104, 72), (2.0, 2.0, 2.0)
    affine = centred_affine(shape, voxel)
    truth = random_walk(n_volumes, 1.5, 1.5, seed=5)
    print(f"\n== multiband-like grid {shape} at {voxel} mm, {n_volumes} volumes")
    reference = render(shape, affine, np.zeros(6))
    vols = [render(shape, affine, p) for p in truth]
    engines: list[NfdEngine | RtspmEngine] = [NfdEngine(reference, affine)]
    few = min(6, n_volumes)
    if rtspm:
        engines.append(RtspmEngine(rtspm, reference, affine @ _one_based(), np.array(voxel)))
    runs = run_series(engines, vols, limits={"python-rtspm": few})
    theirs = runs.get("python-rtspm")
    print_timing("multiband" + (f" (python-rtspm on the first {few} volumes)" if theirs else ""), runs["nfd"], theirs)
    print(f"  accuracy vs truth, nfd: {_errors(runs['nfd'].matrix(), truth)}")


def _one_based() -> npt.NDArray[np.float64]:
    """SPM's voxel-to-mm matrices count voxels from 1: ``mat = affine @ this``."""
    m = np.eye(4)
    m[:3, 3] = -1.0
    return m


def real_run(data: Path, rtspm: object | None) -> None:
    import nibabel as nib
    import scipy.io
    from nibabel import orientations

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # nibabel: "DICOM readers are highly experimental"
        from nibabel.nicom import dicomwrappers

    run_dir = data / "opennft_psc_run"
    if not run_dir.is_dir():
        print(f"\n== real run: skipped, {run_dir} is absent")
        return
    image = nib.load(run_dir / "fanon-0007-00006-000006-01.nii")
    template = np.asarray(image.dataobj, dtype=np.float64)
    affine = image.affine
    volumes = []
    for path in sorted((run_dir / "dicom").glob("*.dcm")):
        w = dicomwrappers.wrapper_from_file(str(path))
        data_lps, ras = w.get_data(), np.diag([-1.0, -1.0, 1.0, 1.0]) @ w.affine
        tr = orientations.ornt_transform(orientations.io_orientation(ras), orientations.io_orientation(affine))
        volumes.append(orientations.apply_orientation(data_lps, tr).astype(np.float32))
    spm = scipy.io.loadmat(run_dir / "mc_matlab_dcm.mat")["mc_series_matlab"]
    resl_spm = scipy.io.loadmat(run_dir / "reslVol_matlab.mat")["reslVol"]
    smooth_spm = scipy.io.loadmat(run_dir / "smoothed_matlab.mat")["smReslVol"]
    pad, template_index = 3, 5
    print(f"\n== real run {run_dir.name}: {len(volumes)} volumes {template.shape}, OpenNFT's set-up "
          f"({pad} zero slices, every sample point, the sform as SPM's matrix; 'nfd default': nfd's defaults)")

    # OpenNFT's SPM frame: the sform used as SPM's 1-based matrix on the padded array
    shift = np.eye(4)
    shift[:3, 3] = affine[:3, :3] @ np.array([1.0, 1.0, 1.0 + pad])

    def in_spm_frame(params: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.array([spm_imatrix(shift @ spm_matrix(p) @ np.linalg.inv(shift)) for p in params])
        return out - out[0]

    engines: list[NfdEngine | RtspmEngine] = [
        NfdEngine(template, affine, pad_slices=pad, edge_margin=0.0), NfdEngine(template, affine, "nfd default")
    ]
    if rtspm:
        # OpenNFT's MATLAB code hands niftiinfo's sform to SPM as its 1-based matrix
        engines.append(RtspmEngine(rtspm, template, affine, np.sqrt((affine[:3, :3] ** 2).sum(0)), pad=pad))
    runs = run_series(engines, volumes, keep=(template_index,))
    ours, theirs = runs["nfd"], runs.get("python-rtspm")
    print_timing("real run", ours, theirs)
    brain = template > 0.1 * template.max()

    def report(name: str, params: npt.NDArray[np.float64], kept: tuple[npt.NDArray[np.float32], ...]) -> None:
        d = params - spm
        r_resl = np.corrcoef(kept[0][brain], resl_spm[brain])[0, 1]
        r_sm = np.corrcoef(kept[1][brain], smooth_spm[brain])[0, 1]
        print(f"  {name:<13} max |diff| from SPM {np.abs(d[:, :3]).max():.4f} mm "
              f"{math.degrees(np.abs(d[:, 3:]).max()):.4f} deg; in the brain, r(resliced) = {r_resl:.6f}, "
              f"r(smoothed) = {r_sm:.6f}")

    report("nfd", in_spm_frame(ours.matrix()), ours.kept[template_index])
    default = runs["nfd default"]
    report("nfd default", in_spm_frame(default.matrix()), default.kept[template_index])
    if theirs is not None:
        rel = theirs.matrix() - theirs.matrix()[0]
        report("python-rtspm", rel, theirs.kept[template_index])
    print("  (reslVol_matlab / smoothed_matlab are volume 6, the template itself, resliced and smoothed)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (default %(default)s)")
    parser.add_argument("--volumes", type=int, default=60, help="synthetic volumes per series (default %(default)s)")
    parser.add_argument("--multiband-volumes", type=int, default=30, help="multiband volumes (default %(default)s)")
    parser.add_argument("--no-rtspm", action="store_true", help="run nfd alone")
    parser.add_argument("--skip", choices=("synthetic", "cut-slab", "multiband", "real"), action="append", default=[],
                        help="leave out a benchmark (repeatable)")
    args = parser.parse_args(argv)

    rtspm, why = (None, "python-rtspm left out (--no-rtspm)") if args.no_rtspm else _import_rtspm()
    print(f"nfd volume engine, kernels: {nfd_kernels.BUILD}; peer: {why}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs, one process, one thread")
    if "synthetic" not in args.skip:
        synthetic(args.volumes, rtspm)
    if "cut-slab" not in args.skip:
        cut_slab(args.volumes // 3 * 2, rtspm)
    if "multiband" not in args.skip:
        multiband(args.multiband_volumes, rtspm)
    if "real" not in args.skip:
        real_run(args.data, rtspm)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
