#!/usr/bin/env python
"""Benchmark ``nfd evaluate``: the paper's full grid on a synthetic cohort, per stage, 1 against 2 workers.

What it times, on the same cohort (a BIDS dataset of ``nfd simulate cohort``; ``--make`` writes one of the
paper's size first, which is not timed with the rest):

- the paper's grid (``etc/study.toml``: 2/3/4 points at 4 mm on echo 2 and optcom, radii 6-10 mm, 55 triples,
  55 quads with 3 of 4, minimally and fully processed) with ``--jobs`` local workers (default 2): wall time
  against the issue's budget of 15 minutes, and the seconds per stage of the runs' tasks (summed over the
  workers: the volume engine, the offline cleaning, the variants with the gold and standard measures);
- the same study on the first ``--subset`` subjects with 1 worker, with 2 (joblib) and with a 2-worker Dask
  ``LocalCluster``: wall times, the speed-up from 1 to 2 workers, and whether the four tables are identical
  byte for byte;
- the variants' inner loop against a peer on one cached series: nfd's proxy (the daemon's feedback computer,
  volume by volume, as the grid runs it) against the same event count written as one vectorised numpy
  expression (what an offline script would do), medians over repeats and the ratio; the counts must agree.

There is no other tool to time the whole against: the paper's analysis was in-house MATLAB. Every run starts
from an empty output folder (no cache). Usage::

    python tools/bench_evaluate.py --cohort DIR [--make] [--jobs 2] [--subset 6] [--out DIR]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("cells", "performance", "comparisons", "correlations")


def _study_text(cohort: Path, subjects: list[str] | None = None) -> str:
    """etc/study.toml with its dataset and centres pointing at `cohort` (and only `subjects`, if given)."""
    text = (ROOT / "etc" / "study.toml").read_text()
    text = text.replace('bids = "../cohort"', f'bids = "{cohort}"')
    text = text.replace('centres = "../cohort/', f'centres = "{cohort}/')
    if subjects is not None:
        text = re.sub(r"^subjects = \[\]", f"subjects = {subjects!r}".replace("'", '"'), text, flags=re.MULTILINE)
    return text


def _evaluate(study: Path, out: Path, jobs: int, scheduler: str | None = None) -> tuple[float, object]:
    from nfd.evaluate import evaluate_study

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = evaluate_study(study, out, jobs=jobs, scheduler=scheduler)
    return time.perf_counter() - start, result


def _tables(out: Path) -> dict[str, bytes]:
    return {name: (out / f"{name}.tsv").read_bytes() for name in TABLES}


def _make(cohort: Path, subjects: int) -> None:
    from nfd.simulate import make_cohort, write_cohort

    start = time.perf_counter()
    write_cohort(make_cohort(subjects, 2, 270, echoes=3), cohort)
    print(f"cohort: {subjects} subjects x 2 runs x 270 volumes x 3 echoes written in "
          f"{time.perf_counter() - start:.0f} s (not part of the timings below)")


def _peer(out: Path, repeats: int) -> None:
    """nfd's proxy over one cached series against a vectorised count of the same events."""
    from nfd.design import Design
    from nfd.evaluate import MinimalSeries, feedback_over, raw_steps

    cache = min((out / "cache").glob("*.npz"))
    with np.load(cache, allow_pickle=False) as f:
        names = tuple(str(n) for n in f["names"])
        series = MinimalSeries(names, f["values"], f["indices"], f["motion"], f["tsnr"], f["in_brain"])
    a, b, c = (series.names.index(n) for n in ("target01@4", "target02@4", "control@4"))
    design = Design.from_blocks(int(series.indices.max()) + 1, [])
    steps = raw_steps(series)
    ours, peers = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        events = feedback_over(steps, series, design, "proxy", targets=[names[a], names[b]], control=names[c],
                               signal="raw").summary["events"]
        t1 = time.perf_counter()
        d = np.diff(series.values[:, [a, b, c]], axis=0)
        s = -np.sign(d[:, 2])
        peer = int(((np.sign(d[:, 0]) == s) & (np.sign(d[:, 1]) == s) & (s != 0)).sum())
        t2 = time.perf_counter()
        ours.append(t1 - t0)
        peers.append(t2 - t1)
    assert events == peer, (events, peer)
    mo, mp = statistics.median(ours) * 1e3, statistics.median(peers) * 1e3
    print(f"one variant over one run ({series.indices.size} volumes, 2-point proxy, {events} events, equal): "
          f"nfd {mo:.2f} ms, vectorised numpy {mp:.3f} ms, ratio {mo / mp:.0f}x")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cohort", type=Path, required=True, help="a BIDS cohort of nfd simulate cohort")
    p.add_argument("--make", action="store_true", help="write a paper-size cohort there first if it is missing")
    p.add_argument("--subjects", type=int, default=34, help="subjects of the cohort --make writes (default 34)")
    p.add_argument("--jobs", type=int, default=2, help="workers of the full grid (default 2)")
    p.add_argument("--subset", type=int, default=6, help="subjects of the 1-vs-2-workers comparison (default 6)")
    p.add_argument("--out", type=Path, default=Path("bench-evaluate"), help="scratch folder (default ./bench-evaluate)")
    p.add_argument("--skip-full", action="store_true", help="only the subset comparison and the peer")
    args = p.parse_args(argv)
    cohort = args.cohort.resolve()
    if not (cohort / "dataset_description.json").is_file():
        if not args.make:
            print(f"bench_evaluate: {cohort} is not a cohort (give --make to write one)", file=sys.stderr)
            return 2
        _make(cohort, args.subjects)
    args.out.mkdir(parents=True, exist_ok=True)
    subjects = sorted(d.name.removeprefix("sub-") for d in cohort.glob("sub-*") if d.is_dir())
    full_study = args.out / "study.toml"
    full_study.write_text(_study_text(cohort))
    if not args.skip_full:
        wall, result = _evaluate(full_study, args.out / "full", args.jobs)
        seconds = result.seconds  # type: ignore[attr-defined]
        cells = result.cells  # type: ignore[attr-defined]
        print(f"paper grid: {len(subjects)} subjects, {result.runs} runs, "  # type: ignore[attr-defined]
              f"{cells.variant.nunique()} variants, {len(cells)} cells, {args.jobs} workers: {wall:.0f} s wall "
              f"(budget 900 s)")
        print("  stage seconds, summed over workers: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    subset = subjects[: args.subset]
    small = args.out / "subset.toml"
    small.write_text(_study_text(cohort, subset))
    walls, folders = {}, []
    for label, folder, jobs, scheduler in (("1 worker", "one", 1, None), ("2 workers (joblib)", "joblib", 2, None),
                                           ("2 workers (Dask LocalCluster)", "dask", 2, "local")):  # fmt: skip
        walls[label], _ = _evaluate(small, args.out / folder, jobs, scheduler)
        folders.append(args.out / folder)
    same = all(_tables(f) == _tables(folders[0]) for f in folders[1:])
    runs = ", ".join(f"{k} {v:.0f} s" for k, v in walls.items())
    print(f"subset: {len(subset)} subjects, {2 * len(subset)} runs: {runs}")
    one, two = list(walls.values())[:2]
    print(f"  speed-up 1 -> 2 workers: {one / two:.2f}x; tables identical across the three: {same}")
    _peer(folders[0], 200)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
