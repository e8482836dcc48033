"""``nfd normative fit | score | stats | select``: the command over feature files and participants tables.

- ``fit FEATURES.npz --participants TSV --out MODEL_DIR``: split the controls (``--holdout`` per site), fit
  ComBat (``--harmonise``, covariates ``--covariates``) and the autoencoder on the training controls
  (``--init MODEL_DIR`` fine-tunes); writes ``model.npz``/``model.json`` (and ``combat.npz``/``combat.json``);
- ``score MODEL_DIR FEATURES.npz --participants TSV --out DIR``: ``deviations.tsv`` and ``deviation_z.tsv``
  (one row per subject: participant_id, group, site, training, total, then one column per edge) and
  ``deviation_heatmap.png``;
- ``stats DIR --groups control,patient``: ``mannwhitney.tsv`` and ``significant_edges.png``; ``--single
  SUBJECT``: ``crawford_howell.tsv`` (the subject against the held-out controls);
- ``select CANDIDATE.npz... --participants TSV --bootstrap B --out DIR``: ``selection.tsv`` (one row per
  candidate, most stable first) and ``stability_<candidate>.tsv`` (each edge's fraction of resamples significant).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from nfd.normative._combat import load_combat, save_combat
from nfd.normative._errors import NormativeError
from nfd.normative._features import FeatureTable, read_features, read_participants
from nfd.normative._figures import deviation_heatmap, significant_edges_figure
from nfd.normative._model import load_model, save_model
from nfd.normative._pipeline import FitResult, align_cohort, edge_stability, fit_cohort, score_cohort, split_controls
from nfd.normative._stats import crawford_howell_edges, mann_whitney_edges

__all__ = ["main"]

_PROG = "nfd normative"
_FIXED = ["participant_id", "group", "site", "training", "total"]


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        print(f"{_PROG}: {message}, expected the arguments '{self.prog} -h' lists", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=_PROG, description="Normative modelling of functional connectivity (issue 16).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fit = sub.add_parser("fit", help="fit ComBat and the autoencoder on training controls")
    fit.add_argument("features", type=Path)
    fit.add_argument("--participants", type=Path, required=True)
    fit.add_argument("--out", type=Path, required=True)
    fit.add_argument("--harmonise", action="store_true")
    fit.add_argument(
        "--covariates", default=None, help="comma-separated participants columns (default: age,sex present)"
    )
    fit.add_argument("--init", type=Path, default=None, help="a model folder to fine-tune from")
    fit.add_argument("--validation", type=float, default=0.1)
    fit.add_argument("--holdout", type=float, default=0.3, help="fraction of each site's controls kept out of training")
    fit.add_argument("--control", default="control", help="the participants group of the healthy controls")
    fit.add_argument("--activation", default="relu")
    fit.add_argument("--seed", type=int, default=0)
    score = sub.add_parser("score", help="deviations and their z against held-out controls")
    score.add_argument("model", type=Path)
    score.add_argument("features", type=Path)
    score.add_argument("--participants", type=Path, required=True)
    score.add_argument("--out", type=Path, required=True)
    score.add_argument("--kind", default="squared", choices=["squared", "absolute"])
    stats = sub.add_parser("stats", help="Mann-Whitney U per edge and Crawford-Howell single cases, FDR")
    stats.add_argument("folder", type=Path)
    stats.add_argument("--groups", default="control,patient")
    stats.add_argument("--single", default=None)
    stats.add_argument("--alpha", type=float, default=0.05)
    select = sub.add_parser("select", help="stability of significant edges across bootstrap resamples")
    select.add_argument("candidates", type=Path, nargs="+")
    select.add_argument("--participants", type=Path, required=True)
    select.add_argument("--bootstrap", type=int, default=20)
    select.add_argument("--out", type=Path, required=True)
    select.add_argument("--groups", default="control,patient")
    select.add_argument("--harmonise", action="store_true")
    select.add_argument("--covariates", default=None)
    select.add_argument("--holdout", type=float, default=0.3)
    select.add_argument("--alpha", type=float, default=0.05)
    select.add_argument("--seed", type=int, default=0)
    return parser


def _covariates(option: str | None, participants: Any) -> list[str]:
    if option is None:
        return [name for name in ("age", "sex") if name in participants.columns]
    return [name.strip() for name in option.split(",") if name.strip()]


def _groups(option: str) -> tuple[str, str]:
    parts = [p.strip() for p in option.split(",")]
    if len(parts) != 2 or not all(parts):
        raise NormativeError(f"--groups {option!r}, expected two groups 'control,patient'")
    return parts[0], parts[1]


def _write_tsv(frame: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.6g")


def _usable(
    table: FeatureTable, participants: Any, covariates: Sequence[str], sites: Sequence[str] | None = None
) -> FeatureTable:
    """The rows that can be used; one line on stderr per subject left out (no participants row, a covariate
    missing, a site the ComBat model does not know), so that the rest of the cohort goes on."""
    keep = []
    missing = participants[[name for name in covariates if name in participants.columns]].isna().any(axis=1)
    for subject in table.subjects:
        if subject not in participants.index:
            problem = "no participants.tsv row"
        elif bool(missing.loc[subject]):
            problem = f"a covariate ({', '.join(covariates)}) is n/a"
        elif sites is not None and str(participants.loc[subject, "site"]) not in sites:
            problem = f"site {participants.loc[subject, 'site']!r} is not among the ComBat model's {', '.join(sites)}"
        else:
            keep.append(True)
            continue
        keep.append(False)
        print(f"{_PROG}: {subject}: {problem}, left out", file=sys.stderr)
    return table.subset(np.array(keep, dtype=bool))


def _fit(args: argparse.Namespace) -> int:
    if not 0.0 < args.holdout < 1.0:
        raise NormativeError(f"--holdout {args.holdout}, expected a fraction in (0, 1)")
    participants = read_participants(args.participants, ("group", "site") if args.harmonise else ("group",))
    covariates = _covariates(args.covariates, participants) if args.harmonise else []  # only ComBat uses them
    table = read_features(args.features)
    usable = _usable(table, participants, covariates)
    cohort = align_cohort(usable, participants, covariates)
    init = load_model(args.init) if args.init is not None else None
    train, held_out = split_controls(cohort, args.control, args.holdout, args.seed)
    fitted = fit_cohort(
        cohort, train, harmonise=args.harmonise, validation=args.validation, seed=args.seed, init=init,
        activation=args.activation,
    )  # fmt: skip
    fitted.model.meta.update(features=str(args.features), control=args.control, holdout=args.holdout)
    save_model(fitted.model, args.out)
    if fitted.combat is not None:
        save_combat(fitted.combat, args.out)
    meta = fitted.model.meta
    print(
        f"{_PROG}: fit {'x'.join(map(str, fitted.model.sizes))} on {int(train.sum())} controls "
        f"({int(held_out.sum())} held out), {meta['epochs']} epochs, validation R2 {meta['best_validation_r2']:.3f}"
        f" -> {args.out}"
    )
    return 0


def _rows(cohort: Any, training: np.ndarray, total: np.ndarray, values: np.ndarray) -> Any:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    frame = pd.DataFrame(values, columns=list(cohort.table.edges))
    head = pd.DataFrame({
        "participant_id": cohort.table.subjects, "group": cohort.groups, "site": cohort.sites,
        "training": training, "total": total,
    })  # fmt: skip
    return pd.concat([head, frame], axis=1)


def _score(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    combat = load_combat(args.model) if model.meta.get("combat") else None
    participants = read_participants(args.participants, ("group", "site") if combat else ("group",))
    covariates = list(combat.covariates) if combat is not None else []
    table = read_features(args.features)
    usable = _usable(table, participants, covariates, combat.sites if combat is not None else None)
    cohort = align_cohort(usable, participants, covariates)
    deviation, z, total_z, training = score_cohort(FitResult(model, combat), cohort, args.kind)
    args.out.mkdir(parents=True, exist_ok=True)
    _write_tsv(_rows(cohort, training, deviation.mean(axis=1), deviation), args.out / "deviations.tsv")
    _write_tsv(_rows(cohort, training, total_z, z), args.out / "deviation_z.tsv")
    groups = np.array(cohort.groups)
    means = {
        f"{g} ({'held out' if g == model.meta.get('control') else 'all'})": z[(groups == g) & ~training].mean(axis=0)
        for g in sorted(set(cohort.groups)) if np.any((groups == g) & ~training)
    }  # fmt: skip
    deviation_heatmap(args.out / "deviation_heatmap.png", means, cohort.table.edges)
    info = {"model": str(args.model), "features": str(args.features), "kind": args.kind, "subjects": len(training)}
    (args.out / "score.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"{_PROG}: scored {len(training)} subjects ({int(training.sum())} training) -> {args.out}")
    return 0


def _read_deviations(folder: Path) -> tuple[Any, list[str]]:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    path = folder / "deviations.tsv"
    try:
        frame = pd.read_csv(path, sep="\t", na_values=["n/a"], dtype={"participant_id": str, "group": str, "site": str})
    except (OSError, ValueError) as error:
        raise NormativeError(f"{path}: cannot read ({error}), expected the output of nfd normative score") from None
    if list(frame.columns[: len(_FIXED)]) != _FIXED:
        raise NormativeError(f"{path}: columns {list(frame.columns[:5])}, expected {_FIXED} then the edges")
    frame["training"] = frame["training"].astype(str).str.lower() == "true"
    return frame, list(frame.columns[len(_FIXED) :])


def _stats(args: argparse.Namespace) -> int:
    control, patient = _groups(args.groups)
    frame, edges = _read_deviations(args.folder)
    tested = frame[~frame["training"]]
    controls = tested[tested["group"] == control][edges].to_numpy(dtype=float)
    if args.single is not None:
        single = args.single if args.single.startswith("sub-") else f"sub-{args.single}"
        row = tested[tested["participant_id"] == single]
        if row.empty:
            raise NormativeError(f"subject {single} not in {args.folder / 'deviations.tsv'} (or a training subject)")
        reference = tested[(tested["group"] == control) & (tested["participant_id"] != single)][edges]
        table = crawford_howell_edges(
            row[edges].to_numpy(dtype=float)[0], reference.to_numpy(dtype=float), edges, alpha=args.alpha
        )
        _write_tsv(table, args.folder / "crawford_howell.tsv")
        found = int(table["significant"].sum())
        print(f"{_PROG}: {single} vs {len(reference)} held-out controls: {found} edges q < {args.alpha}")
        return 0
    patients = tested[tested["group"] == patient][edges].to_numpy(dtype=float)
    table = mann_whitney_edges(controls, patients, edges, alpha=args.alpha)
    _write_tsv(table, args.folder / "mannwhitney.tsv")
    significant_edges_figure(
        args.folder / "significant_edges.png", table["q"], edges, args.alpha, f"{patient} vs {control}"
    )
    found = int(table["significant"].sum())
    print(f"{_PROG}: {patient} ({len(patients)}) vs {control} ({len(controls)}): {found} edges q < {args.alpha}")
    return 0


def _select(args: argparse.Namespace) -> int:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    control, patient = _groups(args.groups)
    if args.bootstrap < 2:
        raise NormativeError(f"--bootstrap {args.bootstrap}, expected >= 2 resamples")
    participants = read_participants(args.participants, ("group", "site") if args.harmonise else ("group",))
    rows = []
    for path in args.candidates:
        table = read_features(path)
        cohort = align_cohort(table, participants, _covariates(args.covariates, participants) if args.harmonise else [])
        summary, frequency = edge_stability(
            cohort, control=control, patient=patient, bootstrap=args.bootstrap, holdout=args.holdout,
            harmonise=args.harmonise, alpha=args.alpha, seed=args.seed,
        )  # fmt: skip
        _write_tsv(pd.DataFrame({"edge": table.edges, "frequency": frequency}), args.out / f"stability_{path.stem}.tsv")
        meta = {key: table.meta.get(key, "") for key in ("strategy", "atlas", "metric")}
        rows.append({"candidate": str(path), **meta, "n_edges": len(table.edges), **summary})
    result = pd.DataFrame(rows).sort_values(["stability", "mean_significant"], ascending=False, kind="stable")
    _write_tsv(result, args.out / "selection.tsv")
    print(f"{_PROG}: {len(rows)} candidates, most stable {result['candidate'].iloc[0]} -> {args.out / 'selection.tsv'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nfd normative`` with ``argv`` (the words after ``nfd normative``; None: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when done, also with subjects left out (one line each on stderr: no participants row, a covariate
        n/a, a site unknown to the ComBat model), as ``nfd evaluate`` and ``nfd connectivity`` do; 2 with one
        line ``nfd normative: <what>, expected <what>`` on bad input.
    """
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    commands = {"fit": _fit, "score": _score, "stats": _stats, "select": _select}
    try:
        return commands[args.command](args)
    except NormativeError as error:
        print(f"{_PROG}: {error}", file=sys.stderr)
        return 2
