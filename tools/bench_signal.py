#!/usr/bin/env python
"""Benchmark nfd's signal processing: the ROI chain, the whole-brain iGLM and every feedback type.

Prints the time per volume (median and 95th percentile) of

- the ROI signal chain (:class:`nfd.timeseries.SignalChain`: cumulative GLM,
  AR(1), Kalman, scaling) on a synthetic run of 200 volumes (TR 2 s, 12 task
  conditions, so ~22 regressors at the last GLM stage), over all volumes and
  at volumes 140-160; against the naive peer, a direct numpy re-fit per
  volume as OpenNFT's ``preprSig.m`` does it (regressors rebuilt, ``pinv``
  of the whole design, ``std`` / ``sort`` of the whole series);
- the whole-brain incremental GLM (:class:`nfd.timeseries.IncrementalGLM`)
  at 100 x 100 x 35 voxels: ``update`` and ``t_map`` every volume; against
  the naive peer, a batch least-squares fit of every voxel on all volumes so
  far (``numpy.linalg.lstsq``), at the last volumes;
- each feedback type (:func:`nfd.feedback.make_feedback`) fed the chain
  steps of 3 ROIs (the decoder: a scaler + logistic regression pipeline on
  2 x 100 ROI voxels, saved with joblib and loaded after its sha256 check).

BLAS runs on one thread (as in the daemon's loop; OpenBLAS's spinning
threads slow small products down on a loaded machine).

Usage::

    python tools/bench_signal.py [--volumes 200] [--iglm-volumes 60] [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from nfd.design import Design  # noqa: E402
from nfd.feedback import make_feedback  # noqa: E402
from nfd.timeseries import ChainStep, IncrementalGLM, SignalChain, WholeBrainDesign  # noqa: E402

TR = 2.0


def stats_ms(seconds: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile, milliseconds."""
    arr = np.asarray(seconds) * 1e3
    return float(np.median(arr)), float(np.percentile(arr, 95))


def line(name: str, seconds: Sequence[float], peer: Sequence[float] | None = None) -> str:
    median, p95 = stats_ms(seconds)
    text = f"  {name:<40s} median {median:9.3f} ms   p95 {p95:9.3f} ms"
    if peer is not None:
        peer_median, peer_p95 = stats_ms(peer)
        text += f"   | naive median {peer_median:9.3f} ms  p95 {peer_p95:9.3f} ms  ratio x{peer_median / median:6.1f}"
    return text


def synthetic_run(n: int, n_conditions: int, n_rois: int, seed: int = 0) -> tuple[Design, np.ndarray, np.ndarray]:
    """A design with `n_conditions` interleaved block conditions; ROI means with drift, motion and task."""
    blocks = []
    start, k = 10, 0
    while start + 6 < n:
        blocks.append((f"C{k % n_conditions}", start, start + 5))
        start += 12
        k += 1
    design = Design.from_blocks(n, blocks, skip_volumes=2)
    rng = np.random.default_rng(seed)
    motion = np.cumsum(rng.normal(0, 0.02, (n, 6)), axis=0)
    task = design.task_regressors(TR).sum(axis=1)
    t = np.arange(n)
    means = np.stack(
        [800 + 0.05 * t + 5 * motion[:, 0] + (3 + r) * task + rng.normal(0, 1, n) for r in range(n_rois)], axis=1
    )
    return design, means, motion


class NaiveChain:
    """OpenNFT's per-volume processing written directly: everything recomputed from the whole series."""

    def __init__(self, design: Design, tr: float) -> None:
        self.task = design.task_regressors(tr)
        self.skip = design.skip_volumes
        self.step = self.task.shape[1] + 8
        self.raw: list[float] = []
        self.motion: list[np.ndarray] = []
        self.glm: list[float] = []
        self.ar1: list[float] = []
        self.kalman: list[float] = []
        self.x, self.p, self.pos, self.neg = 0.0, 0.0, 0, 0

    def update(self, index: int, raw: float, motion: np.ndarray) -> float:
        self.raw.append(raw)
        self.motion.append(motion)
        n = len(self.raw)
        y = np.array(self.raw)
        t = np.arange(n, dtype=float)
        cols = [np.ones(n)]
        if n >= self.step:
            cols.append(t)
        if n >= 2 * self.step:
            m = np.array(self.motion)
            sd = m.std(axis=0, ddof=1)
            sd[sd == 0] = 1.0
            cols.extend(((m - m.mean(axis=0)) / sd).T)
        n_nuisance = len(cols)
        if n >= 3 * self.step:
            k = int(2 * n * TR / 128.0)
            for j in range(1, k + 1):
                cols.append(math.sqrt(2 / n) * np.cos(math.pi * (2 * t + 1) * j / (2 * n)))
            n_nuisance = len(cols)
            cols.extend(self.task[self.skip : self.skip + n].T)
        x = np.column_stack(cols)
        beta = np.linalg.pinv(x) @ y
        glm = float(y[-1] - x[-1, :n_nuisance] @ beta[:n_nuisance])
        self.glm.append(glm)
        ar1 = 0.8 * glm if n == 1 else glm - 0.2 * self.ar1[-1]
        self.ar1.append(ar1)
        sd = float(np.std(self.ar1, ddof=1)) if n > 1 else 0.0
        q, r = 0.25 * sd * sd, sd * sd
        p = self.p + q
        gain = p / (p + r) if p + r > 0 else 0.0
        diff = gain * (ar1 - self.x)
        if sd == 0 or abs(diff) < 0.9 * sd:
            self.x, self.p, self.pos, self.neg = self.x + diff, (1 - gain) * p, 0, 0
        elif diff > 0 and self.pos < 1:
            self.p, self.pos = p, self.pos + 1
        elif diff < 0 and self.neg < 1:
            self.p, self.neg = p, self.neg + 1
        else:
            self.x, self.p = self.x + diff, (1 - gain) * p
            if diff > 0:
                self.pos = 0
            else:
                self.neg = 0
        self.kalman.append(self.x)
        s = np.sort(self.kalman)
        floor = 0.005 * float(np.mean(self.raw))
        if n <= 20:
            lo, hi = s[0], s[-1]
        else:
            m_ = math.floor(0.05 * n + 0.5)
            lo, hi = float(np.median(s[: m_ + 1])), float(np.median(s[n - m_ - 1 :]))
        lo, hi = min(lo, -floor), max(hi, floor)
        return (self.x - lo) / (hi - lo)


def bench_chain(n: int) -> None:
    design, means, motion = synthetic_run(n, n_conditions=12, n_rois=1)
    chain = SignalChain(design, TR)
    naive = NaiveChain(design, TR)
    ours, peer = [], []
    for i in range(design.skip_volumes, n):
        t0 = time.perf_counter()
        step = chain.update(i, means[i, 0], motion[i])
        t1 = time.perf_counter()
        scaled = naive.update(i, means[i, 0], motion[i])
        t2 = time.perf_counter()
        ours.append(t1 - t0)
        peer.append(t2 - t1)
        if not math.isclose(step.scaled, scaled, rel_tol=1e-6, abs_tol=1e-6):
            raise SystemExit(f"the naive chain disagrees at volume {i}: {scaled} vs {step.scaled}")
    regressors = 2 + 6 + int(2 * n * TR / 128.0) + 12
    print(f"ROI signal chain, {n - design.skip_volumes} volumes, up to {regressors} regressors (naive peer agrees):")
    print(line("all volumes", ours[1:], peer[1:]))
    window = slice(140 - design.skip_volumes, 161 - design.skip_volumes)
    if len(ours) > window.start:
        print(line("volumes 140-160", ours[window], peer[window]))


def bench_iglm(n: int, quick: bool) -> None:
    shape = (100, 100, 35)
    voxels = int(np.prod(shape))
    design, _, motion = synthetic_run(n, n_conditions=2, n_rois=1)
    skip = design.skip_volumes
    task = design.task_regressors(TR)
    wb = WholeBrainDesign(task, tr=TR, skip_volumes=skip)
    contrast = wb.contrast(np.eye(task.shape[1])[0])  # the first condition against baseline
    rng = np.random.default_rng(1)
    base = rng.uniform(500, 1000, voxels).astype(np.float32)
    effect = rng.normal(0, 5, voxels).astype(np.float32)
    y = np.stack(
        [base + effect * np.float32(task[i, 0]) + rng.normal(0, 5, voxels).astype(np.float32) for i in range(skip, n)]
    )
    rows = np.array([wb.row(i, motion[i]) for i in range(skip, n)])
    glm = IncrementalGLM(voxels, contrast)
    updates, maps, totals = [], [], []
    for k in range(rows.shape[0]):
        t0 = time.perf_counter()
        glm.update(y[k], rows[k])
        t1 = time.perf_counter()
        t_map = glm.t_map()
        t2 = time.perf_counter()
        updates.append(t1 - t0)
        if not np.isnan(t_map).all():
            maps.append(t2 - t1)
            totals.append(t2 - t0)
    # the naive peer at the last volumes: a batch least-squares fit of every voxel on all volumes so far
    peer = []
    for count in range(rows.shape[0] - (2 if quick else 5) + 1, rows.shape[0] + 1):
        t0 = time.perf_counter()
        x = rows[:count]
        data = y[:count].astype(np.float64)
        beta = np.linalg.lstsq(x, data, rcond=None)[0]
        residuals = data - x @ beta
        sigma2 = np.einsum("ij,ij->j", residuals, residuals) / (count - x.shape[1])
        t_batch = (contrast @ beta) / np.sqrt(sigma2 * (contrast @ np.linalg.inv(x.T @ x) @ contrast))
        peer.append(time.perf_counter() - t0)
    difference = float(np.nanmax(np.abs(t_batch - t_map)))
    print(
        f"whole-brain incremental GLM, {shape[0]}x{shape[1]}x{shape[2]} = {voxels} voxels, "
        f"{wb.n_regressors} regressors, {rows.shape[0]} volumes (max |t - batch t| {difference:.1e}):"
    )
    print(line("update", updates))
    print(line("t_map", maps))
    print(line("update + t_map (last volumes)", totals[-len(peer) :], peer))


def bench_feedback(n: int) -> None:
    design, means, motion = synthetic_run(n, n_conditions=1, n_rois=3)
    names = ["a", "b", "c"]
    chains = {name: SignalChain(design, TR) for name in names}
    steps: list[tuple[int, dict[str, ChainStep]]] = []
    for i in range(design.skip_volumes, n):
        steps.append((i, {name: chains[name].update(i, means[i, k], motion[i]) for k, name in enumerate(names)}))
    rng = np.random.default_rng(2)
    voxels = {name: rng.normal(size=(n, 100)) for name in names[:2]}
    with tempfile.TemporaryDirectory() as folder:
        from joblib import dump
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), LogisticRegression()).fit(
            np.hstack([voxels["a"], voxels["b"]]), design.boxcar() > 0
        )
        path = Path(folder) / "decoder.joblib"
        dump(model, path)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        kinds: list[tuple[str, list[str], dict[str, object]]] = [
            ("psc", names, {}),
            ("psc", names, {"signal": "kalman"}),
            ("psc_intermittent", names, {"shaping": True}),
            ("correlation", names, {"window": 20}),
            ("correlation_intermittent", names, {}),
            ("proxy", names, {"consecutive": 2, "min_change_sd": 0.5}),
            ("decoder", names[:2], {"model_path": path, "sha256": sha, "input": "voxels"}),
            ("decoder", names[:2], {"model_path": path.with_name("means.joblib"), "sha256": "", "input": "means"}),
            ("external", [], {}),
        ]
        means_model = make_pipeline(StandardScaler(), LogisticRegression()).fit(means[:, :2], design.boxcar() > 0)
        dump(means_model, path.with_name("means.joblib"))
        kinds[7][2]["sha256"] = hashlib.sha256(path.with_name("means.joblib").read_bytes()).hexdigest()
        print(f"feedback types, {len(steps)} volumes, 3 ROIs (decoder: 2 ROIs):")
        for kind, rois, options in kinds:
            fb = make_feedback(kind, design, rois, **options)
            push: Callable[[float], None] | None = getattr(fb, "push", None)
            times = []
            for i, step in steps:
                if push is not None:
                    push(0.5)
                selected = {name: voxels[name][i] for name in rois} if fb.needs_voxels else None
                t0 = time.perf_counter()
                fb.update(i, step, selected)
                times.append(time.perf_counter() - t0)
            label = kind + ("" if not options or kind == "decoder" else f" {_short(options)}")
            if kind == "decoder":
                label = f"decoder ({options['input']})"
            print(line(label, times))


def _short(options: dict[str, object]) -> str:
    return ",".join(f"{k}={v}" for k, v in options.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volumes", type=int, default=200, help="volumes of the synthetic run (chain, feedback)")
    parser.add_argument("--iglm-volumes", type=int, default=60, help="volumes for the whole-brain GLM")
    parser.add_argument("--quick", action="store_true", help="fewer volumes everywhere")
    args = parser.parse_args(argv)
    n = 60 if args.quick else args.volumes
    n_iglm = 25 if args.quick else args.iglm_volumes
    print(f"nfd signal benchmark (python {sys.version.split()[0]}, numpy {np.__version__}, BLAS threads 1)")
    bench_chain(n)
    bench_iglm(n_iglm, args.quick)
    bench_feedback(n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
