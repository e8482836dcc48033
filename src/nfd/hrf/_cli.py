"""``nfd hrf estimate``: PyHRF's ``pyhrf_jde_vem_analysis`` arguments, nfd's estimators and outputs."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from nfd._files import file_sha256
from nfd._version import __version__
from nfd.hrf._contrasts import load_contrasts
from nfd.hrf._errors import HrfError
from nfd.hrf._estimator import METHODS, HrfEstimator
from nfd.hrf._inputs import read_inputs

__all__ = ["main"]

EXIT_OK = 0
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2 (no usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nfd hrf", description="per-parcel HRF estimation (PyHRF's formats)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    e = sub.add_parser(
        "estimate", help="estimate each parcel's HRF from BOLD runs and a PyHRF paradigm",
        description="Estimate one HRF per parcel (regularised FIR shared by the parcel's voxels, SPM's informed "
                    "basis, or the rank-one GLM), with per-voxel response amplitudes per condition; write TSVs, "
                    "NIfTI maps, parcels.tsv, hrf.png and report.html into -o.",
    )
    e.add_argument("tr", type=float, help="repetition time, seconds")
    e.add_argument("parcels", type=Path, help="3-D NIfTI of integer parcel labels on the BOLD grid (0: background)")
    e.add_argument("paradigm", type=Path, help="PyHRF paradigm CSV: session condition onset duration [amplitude]")
    e.add_argument("bold", type=Path, nargs="+", help="4-D BOLD NIfTI, one per session in the paradigm's order")
    e.add_argument("-o", "--output", type=Path, default=Path.cwd(), help="output folder (default: here)")
    e.add_argument("-c", "--contrasts", type=Path, help='PyHRF contrasts JSON: {"name": "cond1 - cond2"}')
    e.add_argument("-d", "--dt", type=float, help="HRF knot spacing, s (default TR / trunc(TR), PyHRF's)")
    e.add_argument("-l", "--hrf-duration", type=float, default=25.0, help="HRF length, s (default 25)")
    e.add_argument("--drifts-type", choices=("poly", "cos"), default="poly",
                   help="drifts: Legendre polynomials to order 4 (PyHRF's default) or 128 s cosines")
    e.add_argument("--zero-constraint", action=argparse.BooleanOptionalAction, default=True,
                   help="HRF zero at both ends (default on)")
    e.add_argument("--method", choices=METHODS, default="fir",
                   help="fir: smooth FIR shared by a parcel (default); basis: canonical + derivatives; "
                        "r1glm: rank-one GLM, one HRF per voxel")
    e.add_argument("-p", "--parallel", action=argparse.BooleanOptionalAction, default=True,
                   help="parcels in parallel processes (joblib, one per core; default on)")
    e.add_argument("-j", "--jobs", type=int, help="processes with --parallel (default: the cores)")
    e.add_argument("--no-figure", action="store_true", help="skip hrf.png (it needs matplotlib)")
    return parser


class _Progress:
    """A progress bar on a terminal, a line per parcel otherwise (standard error)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.start
        if self.tty:
            filled = round(30 * done / total)
            sys.stderr.write(f"\rnfd hrf: [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} parcels {elapsed:.1f} s")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        else:
            print(f"nfd hrf: parcel {done} of {total} done, {elapsed:.1f} s", file=sys.stderr, flush=True)


def _estimate(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    jobs = (args.jobs or os.cpu_count() or 1) if args.parallel else 1
    if jobs < 1:
        raise HrfError(f"--jobs must be >= 1, got {args.jobs}")
    estimator = HrfEstimator(args.tr, dt=args.dt, hrf_duration=args.hrf_duration, drifts=args.drifts_type,
                             zero_constraint=args.zero_constraint, method=args.method, jobs=jobs,
                             progress=_Progress())  # fmt: skip
    inputs = read_inputs(args.bold, args.parcels, args.paradigm, estimator.tr)
    contrasts = load_contrasts(args.contrasts, inputs.conditions) if args.contrasts else None
    estimator._fit_inputs(inputs)
    from nfd.hrf._outputs import write_outputs

    summary = {
        "nfd_version": __version__,
        "options": {"tr_s": estimator.tr, "dt_s": estimator.dt, "hrf_duration_s": estimator.hrf_duration,
                    "drifts": estimator.drifts, "zero_constraint": estimator.zero_constraint,
                    "method": estimator.method, "jobs": jobs},
        "bold": [{"path": str(p), "sha256": file_sha256(p)} for p in args.bold],
        "parcellation": {"path": str(args.parcels), "sha256": file_sha256(args.parcels)},
        "paradigm": {"path": str(args.paradigm), "sha256": file_sha256(args.paradigm)},
        "conditions": list(estimator.conditions_),
        "contrasts": contrasts or {},
        "seconds": time.perf_counter() - start,
    }
    figure = not args.no_figure
    if figure and importlib.util.find_spec("matplotlib") is None:
        print("nfd hrf: hrf.png skipped: matplotlib is missing (pip install 'nfd[hrf]')", file=sys.stderr)
        figure = False
    write_outputs(estimator, args.output, contrasts=contrasts, summary=summary, figure=figure)
    active = sum(r.active for r in estimator.parcels_.values())
    print(f"nfd hrf: {len(estimator.parcels_)} parcels ({active} active) estimated with {estimator.method} in "
          f"{time.perf_counter() - start:.1f} s; wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """``nfd hrf``'s entry point; returns the exit code (2 with one line for bad input).

    Examples
    --------
    >>> main(["estimate", "2.0"])
    2
    """
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _estimate(args)
    except HrfError as exc:
        print(f"nfd hrf: {exc}", file=sys.stderr)
        return EXIT_USAGE
