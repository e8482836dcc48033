"""``nfd connectivity extract`` and ``nfd connectivity compute``: argparse, one line per bad input, exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nfd._version import __version__

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nfd connectivity", description="atlas series and functional connectivity")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("extract", help="atlas series of fMRIPrep derivatives, or the ROI series of nfd run folders")
    e.add_argument("derivatives", type=Path, nargs="+", metavar="PATH",
                   help="an fMRIPrep derivatives folder, or nfd run folders (their ROIs' series)")
    e.add_argument("--atlas", type=Path, default=None,
                   help="label NIfTI or coordinates TSV/CSV (x, y, z mm); required for derivatives")
    e.add_argument("--labels", type=Path, default=None, help="the label image's TSV: index, name [, network]")
    e.add_argument("--radius", type=float, default=5.0, metavar="MM", help="sphere radius, mm (default 5)")
    e.add_argument("--networks", action="store_true", help="average the regions per network")
    e.add_argument("--strategy", action="append", default=None, help="6P, 12P, 24P, aCompCor, GSR (repeatable)")
    e.add_argument("--scrub-fd", type=float, default=None, metavar="MM", help="censor volumes with FD > MM")
    e.add_argument("--high-pass", type=float, default=None, metavar="HZ")
    e.add_argument("--low-pass", type=float, default=None, metavar="HZ")
    e.add_argument("--no-detrend", action="store_true", help="keep linear trends")
    e.add_argument("--space", default=None, help="only runs in this space (the space entity)")
    e.add_argument("--out", type=Path, required=True, metavar="DIR")
    e.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="runs in parallel (joblib processes)")
    e.add_argument("--scheduler", metavar="ADDR", default=None,
                   help="run on a Dask cluster: its scheduler's address (tcp://HOST:8786), or 'local' for a "
                        "LocalCluster of --jobs workers")
    c = sub.add_parser("compute", help="FC features of a series.npz")
    c.add_argument("series", type=Path, metavar="SERIES.npz")
    c.add_argument("--metric", choices=("pearson", "spearman", "kendall", "covariance", "partial"),
                   default="pearson")
    c.add_argument("--fisher-z", action="store_true", help="Fisher z of the correlations")
    c.add_argument("--split", default=None, metavar="T1[,T2]", help="PRE/POST split times, s: z(POST) - z(PRE)")
    c.add_argument("--by", choices=("run", "subject"), default="run",
                   help="one row per run (default) or per subject (its runs averaged)")
    c.add_argument("--out", type=Path, required=True, metavar="FILE.npz")
    c.add_argument("--figures", type=Path, default=None, metavar="DIR", help="mean matrix and strongest edges")
    return p


def _fail(what: str) -> int:
    print(f"nfd connectivity: {what}", file=sys.stderr)
    return 2


def _extract(args: argparse.Namespace) -> int:
    from nfd.connectivity._atlas import atlas_coordinates, load_atlas
    from nfd.connectivity._confounds import confound_columns
    from nfd.connectivity._extract import CleaningOptions, extract_dataset, find_runs
    from nfd.connectivity._io import SeriesSet, write_run_tsv, write_series

    strategy = tuple(args.strategy or ["24P"])
    refused = _refused(args)
    if refused is not None:
        return refused
    if isinstance(args.derivatives, list):
        return _extract_run_folders(args, args.derivatives, strategy)
    try:
        confound_columns(list(strategy))
        atlas = load_atlas(args.atlas, labels=args.labels, radius_mm=args.radius)
        runs = find_runs(args.derivatives, space=args.space)
        options = CleaningOptions(strategy, args.scrub_fd, args.high_pass, args.low_pass, not args.no_detrend,
                                  args.networks)  # fmt: skip
        if args.networks and any(not n for n in atlas.networks):
            raise ValueError(f"--networks with atlas {args.atlas.name} that gives no network column, expected one")
    except ValueError as err:
        return _fail(str(err))
    if not runs:
        return _fail(f"no *_desc-preproc_bold.nii.gz in {args.derivatives}, expected fMRIPrep derivatives")
    series, problems = extract_dataset(runs, atlas, options, jobs=args.jobs, log=False, scheduler=args.scheduler)
    for line in problems:
        print(f"nfd connectivity: {line}", file=sys.stderr)
    if not series:
        return _fail(f"none of {len(runs)} runs gave series, expected at least one")
    args.out.mkdir(parents=True, exist_ok=True)
    for s in series:
        key = next(r.key for r in runs if (r.subject, r.session, r.task, r.run) == (s.subject, s.session, s.task,
                                                                                   s.run))  # fmt: skip
        write_run_tsv(args.out / f"{key}_timeseries.tsv", s)
    networks = series[0].labels if args.networks else atlas.networks
    coords = np.full((len(networks), 3), np.nan) if args.networks else atlas_coordinates(atlas)
    meta = {"atlas": Path(atlas.source).name, "atlas_kind": atlas.kind, "radius_mm": atlas.radius_mm,
            "strategy": list(strategy), "scrub_fd_mm": args.scrub_fd, "high_pass_hz": args.high_pass,
            "low_pass_hz": args.low_pass, "detrend": not args.no_detrend, "networks": args.networks,
            "space": args.space or "", "version": __version__}  # fmt: skip
    write_series(args.out / "series.npz", SeriesSet(series, series[0].labels, tuple(networks), coords, meta))
    print(f"nfd connectivity: {len(series)} of {len(runs)} runs extracted into {args.out}", file=sys.stderr)
    return 0  # like nfd evaluate: the problems are reported, the rest was done


def _refused(args: argparse.Namespace) -> int | None:
    """The extract arguments' one-line refusals; the paths resolved (one derivatives folder, or run folders)."""
    from nfd.connectivity._runfolders import is_run_folder

    if args.jobs < 1:
        return _fail(f"--jobs {args.jobs}, expected at least 1")
    if args.out.is_file():
        return _fail(f"--out {args.out} is a file, expected a folder (created if missing)")
    folders = [p for p in args.derivatives if is_run_folder(p)]
    if folders:
        if len(folders) != len(args.derivatives):
            other = next(p for p in args.derivatives if p not in folders)
            return _fail(f"{other} is not an nfd run folder (timeseries.tsv, motion.tsv), expected run folders only")
        return None
    if len(args.derivatives) > 1:
        return _fail(f"{len(args.derivatives)} paths, expected one fMRIPrep derivatives folder (or run folders)")
    args.derivatives = args.derivatives[0]
    if args.atlas is None:
        return _fail("no --atlas, expected a label image or coordinates for fMRIPrep derivatives")
    return None


def _extract_run_folders(args: argparse.Namespace, folders: list[Path], strategy: tuple[str, ...]) -> int:
    """``extract`` over nfd run folders: each run's own ROI series, cleaned (nfd.connectivity._runfolders)."""
    from nfd.connectivity._extract import CleaningOptions
    from nfd.connectivity._io import SeriesSet, write_run_tsv, write_series
    from nfd.connectivity._runfolders import extract_run_folder

    options = CleaningOptions(strategy, args.scrub_fd, args.high_pass, args.low_pass, not args.no_detrend, False)
    series = []
    for folder in folders:
        try:
            series.append(extract_run_folder(folder, options))
        except (LookupError, ValueError, OSError) as err:
            print(f"nfd connectivity: {err}", file=sys.stderr)
    labels = {s.labels for s in series}
    if len(labels) > 1:
        return _fail(f"the run folders have different ROIs ({' / '.join(', '.join(x) for x in sorted(labels))}), "
                     "expected the same ROIs in every run")  # fmt: skip
    if not series:
        return _fail(f"none of {len(folders)} run folders gave series, expected at least one")
    args.out.mkdir(parents=True, exist_ok=True)
    for s in series:
        write_run_tsv(args.out / f"{s.subject}_timeseries.tsv", s)
    names = series[0].labels
    meta = {"atlas": "run folder ROIs", "atlas_kind": "rois", "radius_mm": 0.0, "strategy": list(strategy),
            "scrub_fd_mm": args.scrub_fd, "high_pass_hz": args.high_pass, "low_pass_hz": args.low_pass,
            "detrend": not args.no_detrend, "networks": False, "space": "", "version": __version__}  # fmt: skip
    write_series(args.out / "series.npz", SeriesSet(series, names, ("",) * len(names),
                                                    np.full((len(names), 3), np.nan), meta))  # fmt: skip
    print(f"nfd connectivity: {len(series)} of {len(folders)} run folders extracted into {args.out}", file=sys.stderr)
    return 0


def _compute(args: argparse.Namespace) -> int:
    from nfd.connectivity._compute import compute_features
    from nfd.connectivity._figures import plot_matrix, plot_strongest_edges
    from nfd.connectivity._io import read_series, write_features

    try:
        split = [float(t) for t in args.split.split(",")] if args.split else []
    except ValueError:
        return _fail(f"--split {args.split!r}, expected times in s like 120 or 120,180")
    if not args.series.is_file():
        return _fail(f"{args.series} does not exist, expected a series.npz of nfd connectivity extract")
    try:
        data = read_series(args.series)
        features, matrices = compute_features(data, args.metric, fisher=args.fisher_z, split=split, by=args.by)
    except (ValueError, OSError) as err:
        return _fail(str(err))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_features(args.out, features)
    if args.figures is not None:
        args.figures.mkdir(parents=True, exist_ok=True)
        mean = np.nanmean(matrices, axis=0) if np.isfinite(matrices).any() else matrices[0]
        plot_matrix(mean, data.labels, args.figures / "fc_matrix.png", title=f"mean {args.metric}")
        plot_strongest_edges(mean, data.labels, args.figures / "fc_strongest_edges.png", coords_mm=data.coords)
    print(f"nfd connectivity: {features.features.shape[0]} rows x {features.features.shape[1]} edges into "
          f"{args.out}", file=sys.stderr)  # fmt: skip
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``nfd connectivity extract|compute``: 0 when done (problems with some runs: one line each on stderr),
    2 on bad input (one line ``nfd connectivity: <what>, expected <what>``)."""
    args = _parser().parse_args(argv)
    if args.command == "extract":
        return _extract(args)
    return _compute(args)
