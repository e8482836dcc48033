#!/usr/bin/env python
"""Benchmark ``nfd hrf estimate`` on PyHRF's real localizer, and a voxelwise FIR against nilearn's.

The data: ``../shared/data/pyhrf_localizer`` (53 x 63 x 46 x 125, TR 2.4 s, its 2 parcels of 632 and 640
voxels, ``paradigm_loc_av.csv``). Timed in this one process, medians of ``--repeats`` runs, seconds, each
from the files on disk to the results (reading included):

- ``nfd hrf estimate`` as the command runs it (``nfd.hrf.main``: reading, fitting, every output file and
  the figure), ``--method fir`` (the default) with and without ``--parallel``, and ``--method basis``;
- voxelwise FIR on the parcels' voxels: nfd's rank-one GLM (``--method r1glm``: one smooth FIR HRF per voxel
  with per-condition amplitudes, 21 knots of 1.2 s) against nilearn's ``FirstLevelModel(hrf_model="fir",
  fir_delays=0..10 scans)`` on the same voxels (one unconstrained FIR per condition per voxel, 2 x 11
  coefficients; masker, design and OLS), the peer nearest to it that installs today (PyHRF does not). The
  two do not fit the same model; the ratio compares what each needs for a voxelwise FIR of these voxels.

Targets (issue 17): all parcels <= 10 s, voxelwise FIR <= 60 s on this machine. Then the accuracy figures of
the README: the localizer's parcels (centre, time to peak, audio - video) per method, and each method on
``nfd simulate bold``'s defaults (seed 7) with slow and fast event-related and block paradigms.

Usage::

    python tools/bench_hrf.py [--data DIR] [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _median_time(function: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _nfd(folder: Path, *options: str) -> Callable[[], object]:
    from nfd.hrf import main

    def run() -> None:
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stderr(io.StringIO()):
            code = main(["estimate", "2.4", str(folder / "subj0_parcellation.nii.gz"),
                         str(folder / "paradigm_loc_av.csv"), str(folder / "subj0_bold_session0.nii.gz"),
                         "-o", out, *options])  # fmt: skip
            if code != 0:
                raise SystemExit(f"nfd hrf estimate failed with {code}")

    return run


def _nilearn_fir(folder: Path) -> Callable[[], object]:
    import nibabel as nib
    import pandas as pd
    from nilearn.glm.first_level import FirstLevelModel

    def run() -> None:
        parcels = nib.load(folder / "subj0_parcellation.nii.gz")
        mask = nib.Nifti1Image((np.asarray(parcels.dataobj) > 0).astype(np.uint8), parcels.affine)
        rows = [line.split() for line in (folder / "paradigm_loc_av.csv").read_text().splitlines() if line.strip()]
        events = pd.DataFrame({"onset": [float(r[2]) for r in rows], "duration": [float(r[3]) for r in rows],
                               "trial_type": [r[1].strip('"') for r in rows]})  # fmt: skip
        model = FirstLevelModel(t_r=2.4, hrf_model="fir", fir_delays=list(range(11)), drift_model="polynomial",
                                drift_order=4, mask_img=mask, smoothing_fwhm=None, minimize_memory=False)
        model.fit(str(folder / "subj0_bold_session0.nii.gz"), events=events)
        model.compute_contrast("audio_delay_3 - video_delay_3")

    return run


def _figures(folder: Path) -> None:
    """The README's accuracy figures: the localizer's parcels per method, and planted truth from nfd simulate bold."""
    from nfd.design import read_hrf_tsv
    from nfd.hrf import HrfEstimator, parse_contrast
    from nfd.simulate import BoldSpec, make_bold, write_bold

    for method in ("fir", "basis", "r1glm"):
        est = HrfEstimator(2.4, method=method).fit([folder / "subj0_bold_session0.nii.gz"],
                                                   folder / "subj0_parcellation.nii.gz", folder / "paradigm_loc_av.csv")
        rows = est.summary({"av": parse_contrast("av", "audio - video", est.conditions_)})
        print(f"  localizer {method}: " + "; ".join(
            f"parcel {r['parcel']} at ({r['centre_x_mm']:.1f}, {r['centre_y_mm']:.1f}, {r['centre_z_mm']:.1f}) mm "
            f"peak {r['time_to_peak_s']:.2f} s, audio - video {r['contrast_av']:+.3f} %" for r in rows))
    for paradigm in ("slow-er", "fast-er", "block"):
        with tempfile.TemporaryDirectory() as d:
            sim = Path(d)
            write_bold(make_bold(BoldSpec(paradigm=paradigm, seed=7)), sim)
            for method in ("fir", "basis", "r1glm"):
                est = HrfEstimator(2.0, method=method).fit([sim / "bold.nii.gz"], sim / "parcellation.nii.gz",
                                                           sim / "paradigm.csv")
                parts = []
                for label, r in est.parcels_.items():
                    truth = read_hrf_tsv(sim / "truth" / "hrf.tsv", column=str(label))
                    shape_r = np.corrcoef(np.interp(est.times_, truth.times_s, truth.values), r.fit.hrf)[0, 1]
                    parts.append(f"{label}: {r.shape.time_to_peak_s - truth.time_to_peak_s:+.2f} s r {shape_r:.3f}"
                                 f"{'' if r.active else ' inactive'}")
                print(f"  planted {paradigm} {method}: " + "; ".join(parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("NFD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default / "pyhrf_localizer")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not (args.data / "subj0_bold_session0.nii.gz").exists():
        print(f"bench_hrf: {args.data} has no subj0_bold_session0.nii.gz; expected PyHRF's localizer",
              file=sys.stderr)
        return 2
    import warnings

    import structlog

    warnings.filterwarnings("ignore", module="nilearn")  # its notes on the given mask and zero durations
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
    print(f"PyHRF localizer {args.data}: 53x63x46x125, 2 parcels (1272 voxels); medians of {args.repeats} runs, s")
    rows = [
        ("nfd hrf estimate (fir, parallel)", _median_time(_nfd(args.data), args.repeats)),
        ("nfd hrf estimate (fir, --no-parallel)", _median_time(_nfd(args.data, "--no-parallel"), args.repeats)),
        ("nfd hrf estimate (basis, --no-parallel)",
         _median_time(_nfd(args.data, "--method", "basis", "--no-parallel"), args.repeats)),
    ]
    r1glm = _median_time(_nfd(args.data, "--method", "r1glm", "--no-parallel"), args.repeats)
    nilearn = _median_time(_nilearn_fir(args.data), args.repeats)
    rows += [("voxelwise FIR: nfd r1glm (--no-parallel)", r1glm), ("voxelwise FIR: nilearn FirstLevelModel", nilearn)]
    for name, seconds in rows:
        print(f"  {name:44s} {seconds:7.2f}")
    print(f"  all parcels target 10 s: {rows[0][1]:.2f} s ({'met' if rows[0][1] <= 10 else 'MISSED'}); "
          f"voxelwise target 60 s: {r1glm:.2f} s ({'met' if r1glm <= 60 else 'MISSED'})")
    print(f"  voxelwise ratio nilearn / nfd r1glm: {nilearn / r1glm:.2f}")
    print("accuracy (the README's tables): time-to-peak error against the truth, HRF shape r")
    _figures(args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
