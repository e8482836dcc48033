#!/usr/bin/env python
"""Benchmark and acceptance run of ``nfd connectivity`` and ``nfd normative`` (issue 16).

On a cohort of ``nfd simulate fc-cohort`` (``--make`` writes the default one first: 200 controls, 60 patients,
3 sites, 17 networks, 10 deviant edges, 300 volumes; not timed), it prints:

- **acceptance**: the whole road as a user runs it - ``nfd connectivity extract`` (the atlas's 17 networks,
  24P + aCompCor, FD scrubbing at 0.5 mm, 0.01 Hz high-pass) -> ``compute`` (Pearson, Fisher z) -> ``nfd
  normative fit --harmonise`` (ComBat on training controls, the autoencoder) -> ``score`` -> ``stats`` - and
  against the cohort's truth: the planted deviant edges found at FDR 0.05 (sensitivity) and the other edges
  found (false-positive rate); and a site classifier's accuracy (logistic regression, 5-fold cross-validated)
  on the held-out controls' features, raw and harmonised (chance: 1 / sites);
- **extraction and FC** of ``--subjects`` subjects (default 100) x 300 volumes with Power et al.'s 264 spheres
  (5 mm, on the EPI grid; ``../shared/data/templates/nilearn_power_2011.csv``), with 2 joblib workers: the wall
  time against the issue's 2 minutes; and per subject, nfd against nilearn's ``NiftiSpheresMasker`` +
  ``ConnectivityMeasure`` (the peer: the same cleaning, the same spheres) on the first 3 subjects in this
  process, medians and the ratio;
- **the autoencoder fit** on 500 controls (features from the generator's true network series, 17 networks):
  nfd's ``fit_normative`` against scikit-learn's ``MLPRegressor`` fitted directly with the same settings
  (target 60 s);
- **scoring 10,000 subjects**: nfd's ``deviations`` against ``MLPRegressor.predict`` and the same error
  (target 10 s);
- **the real-time normative kind per volume** (17 networks, window 30, 136 edges): ``NormativeFeedback.update``
  against the same computation through ``MLPRegressor.predict`` per volume (target 2 ms).

Usage::

    python tools/bench_normative.py --cohort DIR [--make] [--subjects 100] [--out DIR] [--shared DIR]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

STRATEGY = ["--strategy", "24P", "--strategy", "aCompCor", "--scrub-fd", "0.5", "--high-pass", "0.01"]


def _median_ms(times: list[float]) -> float:
    return 1000.0 * statistics.median(times)


def _run(tool: str, argv: list[str]) -> None:
    from nfd.connectivity import main as connectivity
    from nfd.normative import main as normative

    code = (connectivity if tool == "connectivity" else normative)([str(a) for a in argv])
    if code != 0:
        raise SystemExit(f"nfd {tool} {argv[0]} exited {code}")


def _acceptance(cohort: Path, out: Path, jobs: int) -> None:
    """The user's road on the whole cohort, scored against its truth."""
    import pandas as pd

    atlas = next((cohort / "atlas").glob("*_dseg.nii.gz"))
    labels = next((cohort / "atlas").glob("*_dseg.tsv"))
    participants = cohort / "participants.tsv"
    start = time.perf_counter()
    _run("connectivity", ["extract", cohort, "--atlas", atlas, "--labels", labels, "--networks", *STRATEGY,
                          "--out", out / "series", "-j", jobs])  # fmt: skip
    extracted = time.perf_counter()
    _run("connectivity", ["compute", out / "series" / "series.npz", "--metric", "pearson", "--fisher-z",
                          "--by", "subject", "--out", out / "features.npz"])  # fmt: skip
    _run("normative", ["fit", out / "features.npz", "--participants", participants, "--harmonise",
                       "--out", out / "model"])  # fmt: skip
    fitted = time.perf_counter()
    _run("normative", ["score", out / "model", out / "features.npz", "--participants", participants,
                       "--out", out / "scores"])  # fmt: skip
    _run("normative", ["stats", out / "scores", "--groups", "control,patient"])
    done = time.perf_counter()
    tests = pd.read_csv(out / "scores" / "mannwhitney.tsv", sep="\t")
    planted = set(pd.read_csv(cohort / "truth" / "deviant_edges.tsv", sep="\t")["edge"])
    found = set(tests.loc[tests["significant"].astype(bool), "edge"])
    others = len(tests) - len(planted)
    sensitivity = len(found & planted) / len(planted)
    print(f"acceptance: {len(tests)} edges, {len(planted)} planted: sensitivity {sensitivity:.2f} (issue: >= 0.8),"
          f" false positives {len(found - planted)} of {others} = "
          f"{len(found - planted) / others:.3f} (<= 0.05) at FDR 0.05")  # fmt: skip
    print(f"  seconds: extract {extracted - start:.0f} ({jobs} workers), compute + fit {fitted - extracted:.0f}, "
          f"score + stats {done - fitted:.0f}")
    _site_accuracy(out, participants)


def _site_accuracy(out: Path, participants: Path) -> None:
    """A site classifier on the held-out controls' features, raw and through the fitted ComBat model."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from nfd.normative import apply_combat, load_combat, read_features

    table = read_features(out / "features.npz")
    people = pd.read_csv(participants, sep="\t").set_index("participant_id")
    scores = pd.read_csv(out / "scores" / "deviations.tsv", sep="\t").set_index("participant_id")
    rows = [k for k, s in enumerate(table.subjects) if people.loc[s, "group"] == "control" and not
            bool(scores.loc[s, "training"])]  # fmt: skip
    subjects = [table.subjects[k] for k in rows]
    sites = people.loc[subjects, "site"].astype(str).to_numpy()
    raw = table.features[rows]
    model = load_combat(out / "model")
    covariates = {name: people.loc[subjects, name].to_numpy() for name in model.covariates}
    harmonised = apply_combat(model, raw, sites, covariates)
    classifier = LogisticRegression(max_iter=5000)
    for name, x in (("raw", raw), ("harmonised", harmonised)):
        accuracy = cross_val_score(classifier, x, sites, cv=5).mean()
        print(f"  site classifier on {len(rows)} held-out controls, {name} features: accuracy {accuracy:.2f} "
              f"(chance {1 / len(set(sites)):.2f})")


def _power_subset(cohort: Path, out: Path, n: int) -> Path:
    """A derivatives folder of the cohort's first `n` subjects (symbolic links)."""
    subset = out / f"first{n}"
    subset.mkdir(parents=True, exist_ok=True)
    shutil.copy(cohort / "dataset_description.json", subset)
    for folder in sorted(cohort.glob("sub-*"))[:n]:
        link = subset / folder.name
        if not link.exists():
            link.symlink_to(folder.resolve(), target_is_directory=True)
    return subset


def _extraction(cohort: Path, out: Path, n: int, power: Path, jobs: int) -> None:
    """264 spheres over n subjects with `jobs` workers; per subject against nilearn's masker."""
    subset = _power_subset(cohort, out, n)
    start = time.perf_counter()
    _run("connectivity", ["extract", subset, "--atlas", power, "--radius", "5", *STRATEGY,
                          "--out", out / "power", "-j", jobs])  # fmt: skip
    _run("connectivity", ["compute", out / "power" / "series.npz", "--metric", "pearson", "--fisher-z",
                          "--out", out / "power_features.npz"])  # fmt: skip
    wall = time.perf_counter() - start
    print(f"extraction + FC: {n} subjects x 264 spheres, {jobs} workers: {wall:.0f} s wall (issue: <= 120 s)")
    ours, peer = _per_subject(cohort, power)
    mine, theirs = statistics.median(ours), statistics.median(peer)
    print(f"  per subject (3 subjects, this process; the masker given the spheres with brain voxels): nfd "
          f"{mine:.2f} s, nilearn NiftiSpheresMasker + ConnectivityMeasure {theirs:.2f} s, ratio {theirs / mine:.1f}x")


def _per_subject(cohort: Path, power: Path) -> tuple[list[float], list[float]]:
    import nibabel as nib
    from nilearn.connectome import ConnectivityMeasure
    from nilearn.maskers import NiftiSpheresMasker

    from nfd.connectivity import (
        CleaningOptions,
        confound_columns,
        extract_run,
        find_runs,
        load_atlas,
        read_confounds,
        run_matrix,
        scrub_mask,
    )

    atlas = load_atlas(power, radius_mm=5.0)
    options = CleaningOptions(("24P", "aCompCor"), 0.5, 0.01, None, True, False)
    ours, peer = [], []
    for files in find_runs(cohort)[:3]:
        start = time.perf_counter()
        values = extract_run(files, atlas, options).values
        run_matrix(values, "pearson", fisher=True)
        ours.append(time.perf_counter() - start)
        seeds = atlas.coords_mm[np.isfinite(values).all(axis=0)]  # the masker refuses spheres with no brain voxel
        start = time.perf_counter()
        image = nib.load(files.bold)
        image = nib.Nifti1Image(np.asarray(image.dataobj, dtype=np.float32), image.affine, image.header)
        masker = NiftiSpheresMasker([tuple(c) for c in seeds], radius=5.0, mask_img=str(files.mask),
                                    detrend=True, high_pass=0.01, t_r=2.0, standardize=False)  # fmt: skip
        confounds = read_confounds(files.confounds, confound_columns(["24P", "aCompCor"]))
        series = masker.fit_transform(image, confounds=confounds, sample_mask=scrub_mask(files.confounds, 0.5))
        ConnectivityMeasure(kind="correlation").fit_transform([series])
        peer.append(time.perf_counter() - start)
    return ours, peer


def _controls(n: int) -> tuple[np.ndarray, list[str], list[str], np.ndarray, list[str]]:
    """n generated controls' Fisher-z FC (17 networks) from their true network series, the edges, the subjects,
    and one subject's series (for the real-time kind)."""
    from nfd.normative import edge_labels
    from nfd.simulate import make_fc_cohort

    cohort = make_fc_cohort(n, 0, deviant_edges=0, seed=1)
    rows = np.tril_indices(len(cohort.names), k=-1)
    features = np.array([np.arctanh(np.clip(np.corrcoef(s.series.T)[rows], -0.9999999, 0.9999999))
                         for s in cohort.subjects])  # fmt: skip
    names = list(cohort.names)
    return features, edge_labels(names), [s.label for s in cohort.subjects], cohort.subjects[0].series, names


def _model_timings(out: Path) -> None:
    """The autoencoder fit, scoring and the real-time kind, each against scikit-learn doing the same."""
    from sklearn.neural_network import MLPRegressor

    from nfd.normative import default_sizes, deviations, fit_normative, save_model

    features, edges, subjects, series, names = _controls(500)
    start = time.perf_counter()
    model = fit_normative(features, edges, subjects, seed=0)
    ours = time.perf_counter() - start
    z = (features - features.mean(axis=0)) / features.std(axis=0, ddof=1)
    start = time.perf_counter()
    peer = MLPRegressor(hidden_layer_sizes=default_sizes(features.shape[1])[1:-1], early_stopping=True,
                        validation_fraction=0.1, random_state=0, max_iter=500).fit(z, z)  # fmt: skip
    theirs = time.perf_counter() - start
    print(f"autoencoder fit on 500 controls ({features.shape[1]} edges): nfd {ours:.1f} s "
          f"({model.meta.get('epochs')} epochs, validation R2 {model.meta.get('best_validation_r2', 0.0):.2f}), "
          f"MLPRegressor directly {theirs:.1f} s ({peer.n_iter_} epochs), ratio {theirs / ours:.2f} (issue: <= 60 s)")
    many = np.repeat(features, 20, axis=0) + np.random.default_rng(0).normal(scale=0.05, size=(10000, len(edges)))
    ours_s = [_timed(lambda: deviations(model, many)) for _ in range(5)]
    zz = (many - model.mean) / model.sd
    theirs_s = [_timed(lambda: (zz - peer.predict(zz)) ** 2) for _ in range(5)]
    print(f"scoring 10,000 subjects: nfd {statistics.median(ours_s):.3f} s, MLPRegressor.predict "
          f"{statistics.median(theirs_s):.3f} s, ratio {statistics.median(theirs_s) / statistics.median(ours_s):.1f}x"
          f" (issue: <= 10 s)")
    _kind_timing(save_model(model, out / "rt_model").parent, series, names, peer, model)


def _timed(f: Any) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def _kind_timing(folder: Path, series: np.ndarray, names: list[str], peer: Any, model: Any) -> None:
    import hashlib

    from nfd.design import Design
    from nfd.feedback import make_feedback
    from nfd.timeseries import ChainStep

    networks = list(names)  # the series' columns, in the generator's order (the model's edges name them)
    sha = hashlib.sha256((folder / "model.npz").read_bytes()).hexdigest()
    n = series.shape[0]
    design = Design.from_blocks(n, [("UP", 60, 89)])
    kind = make_feedback("normative", design, networks, model=folder, sha256=sha, window=30)
    ours = []
    for i in range(n):
        steps = {name: ChainStep(i, 0.0, 0.0, 0.0, float(series[i, k]), 0.0, 0, 0.0, 1.0, 4)
                 for k, name in enumerate(networks)}  # fmt: skip
        start = time.perf_counter()
        kind.update(i, steps)
        ours.append(time.perf_counter() - start)
    rows = np.tril_indices(len(networks), k=-1)
    theirs = []
    for i in range(30, n):
        start = time.perf_counter()
        x = np.arctanh(np.clip(np.corrcoef(series[i - 29: i + 1].T)[rows], -0.9999999, 0.9999999))
        zz = ((x - model.mean) / model.sd)[None]
        float(((zz - peer.predict(zz)) ** 2).mean())
        theirs.append(time.perf_counter() - start)
    print(f"real-time normative kind, 17 networks, window 30, 136 edges: nfd {_median_ms(ours[30:]) * 1000:.0f} us "
          f"per volume, corrcoef + MLPRegressor.predict {_median_ms(theirs) * 1000:.0f} us, ratio "
          f"{statistics.median(theirs) / statistics.median(ours[30:]):.1f}x (issue: <= 2 ms)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cohort", type=Path, required=True, help="a cohort of nfd simulate fc-cohort")
    p.add_argument("--make", action="store_true", help="write the default cohort there first if it is missing")
    p.add_argument("--subjects", type=int, default=100, help="subjects of the 264-sphere extraction (default 100)")
    p.add_argument("--jobs", type=int, default=2, help="extraction workers (default 2)")
    p.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=Path("bench-normative"), help="scratch (default ./bench-normative)")
    p.add_argument("--skip-acceptance", action="store_true", help="only the timings")
    args = p.parse_args(argv)
    if args.make and not (args.cohort / "participants.tsv").is_file():
        from nfd.simulate import make_fc_cohort, write_fc_cohort

        start = time.perf_counter()
        write_fc_cohort(make_fc_cohort(), args.cohort)
        print(f"cohort written in {time.perf_counter() - start:.0f} s (not part of the timings below)")
    power = args.shared / "templates" / "nilearn_power_2011.csv"
    if not power.is_file():
        print(f"bench_normative: no {power}: expected the shared data (--shared)", file=sys.stderr)
        return 2
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    if not args.skip_acceptance:
        _acceptance(args.cohort, args.out / "acceptance", args.jobs)
    _extraction(args.cohort, args.out, args.subjects, power, args.jobs)
    _model_timings(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
