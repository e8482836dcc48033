"""Writing ``nfd hrf estimate``'s folder: HRF TSVs, NIfTI maps, the parcel table, the figure and the report.

Files (``DIR`` is ``-o``):

- ``hrf.tsv``: ``time_s`` then one column per parcel (its label), peak 1 (:func:`nfd.design.write_hrf_tsv`;
  ``[signal] hrf = "DIR/hrf.tsv"`` with ``hrf_column = "<label>"`` uses one in real time), and
  ``hrf_parcel-<label>.tsv`` (``time_s``, ``value``) per parcel;
- ``hrf_mapped.nii.gz``: 4-D, each parcel voxel holding its parcel's HRF (PyHRF's ``jde_vem_hrf_mapped``;
  frames every ``dt`` s); ``hrf_voxelwise.nii.gz`` with each voxel's own HRF (``r1glm``);
- ``amplitude_<condition>.nii.gz`` (percent signal change at the peak of the response to a unit event) and
  ``contrast_<name>.nii.gz``;
- ``parcels.tsv``: per parcel its size, centre (world mm), time to peak, FWHM, undershoot, activity test,
  mean amplitudes and contrasts; ``hrf.png`` and ``report.html``; ``summary.json`` (options, inputs, timing).
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from nfd._files import tsv_cell
from nfd._json import dumps
from nfd.design import write_hrf_tsv
from nfd.hrf._design import canonical_basis
from nfd.hrf._estimator import HrfEstimator

__all__ = ["plot_hrfs", "write_outputs"]


def _file_name(name: str) -> str:
    """A contrast's or condition's name as part of a file name (characters other than letters, digits, ``.-_``
    become ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _write_table(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    columns = list(rows[0]) if rows else ["parcel"]
    lines = ["\t".join(columns)] + ["\t".join(tsv_cell(row[c]) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot_hrfs(estimator: HrfEstimator, path: str | Path) -> Path:
    """One panel per parcel: its HRF (knots and cubic spline) beside SPM's canonical, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.interpolate import CubicSpline

    parcels = list(estimator.parcels_.values())
    columns = min(4, len(parcels))
    rows = math.ceil(len(parcels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False, sharex=True)
    t = estimator.times_
    fine = np.linspace(t[0], t[-1], 400)
    canonical = canonical_basis(fine)[:, 0]  # SPM's canonical, peak 1
    for ax, result in zip(axes.flat, parcels, strict=False):
        ax.axhline(0.0, color="0.8", lw=0.8)
        ax.plot(fine, canonical, "--", color="0.5", lw=1.2, label="SPM canonical")
        ax.plot(fine, CubicSpline(t, result.fit.hrf)(fine), color="C0" if result.active else "C3", lw=1.6,
                label=estimator.method)
        ax.plot(t, result.fit.hrf, "o", color="C0" if result.active else "C3", ms=3)
        state = "" if result.active else " (inactive)"
        ax.set_title(f"parcel {result.label}{state}: peak {result.shape.time_to_peak_s:.1f} s", fontsize=9)
        ax.set_xlabel("time after event (s)", fontsize=8)
    for ax in list(axes.flat)[len(parcels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _report(out: Path, rows: Sequence[Mapping[str, Any]], figure: Path | None, summary: Mapping[str, Any]) -> Path:
    columns = list(rows[0]) if rows else []
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_short(row[c]))}</td>" for c in columns) + "</tr>\n" for row in rows
    )
    image = ""
    if figure is not None:
        data = base64.b64encode(figure.read_bytes()).decode("ascii")
        image = (
            f'<figure><img src="data:image/png;base64,{data}" alt="HRFs"><figcaption>{figure.name}: each '
            "parcel's HRF (knots and cubic spline) beside SPM's canonical (dashed)</figcaption></figure>\n"
        )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>nfd hrf estimate</title>\n'
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid "
        "#ccc;padding:2px 6px;font-size:12px}</style>\n</head>\n<body>\n<h1>nfd hrf estimate</h1>\n"
        f"<p>{html.escape(_options_line(summary))}</p>\n<h2>Parcels</h2>\n<table><tr>{head}</tr>\n{body}</table>\n"
        f"<h2>HRFs</h2>\n{image}</body>\n</html>\n"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _short(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def _options_line(summary: Mapping[str, Any]) -> str:
    o = summary["options"]
    return (f"method {o['method']}, TR {o['tr_s']} s, dt {o['dt_s']} s, HRF {o['hrf_duration_s']} s, drifts "
            f"{o['drifts']}, zero constraint {o['zero_constraint']}; {len(summary['bold'])} run(s); "
            f"{summary['seconds']:.2f} s")


def write_outputs(
    estimator: HrfEstimator, out_dir: str | Path, *, contrasts: Mapping[str, Mapping[str, float]] | None = None,
    summary: Mapping[str, Any] | None = None, figure: bool = True,
) -> Path:
    """Write a fitted estimator's files into `out_dir` (listed in the module's text).

    Parameters
    ----------
    estimator : HrfEstimator
        Fitted.
    out_dir : path
        Created if needed.
    contrasts : mapping, optional
        Name -> weights per condition (:func:`nfd.hrf.load_contrasts`).
    summary : mapping, optional
        Written as ``summary.json`` (the command line's options and inputs).
    figure : bool
        Write ``hrf.png`` (needs matplotlib).

    Returns
    -------
    pathlib.Path
        `out_dir`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    times = estimator.times_
    hrfs = {str(label): r.fit.hrf for label, r in estimator.parcels_.items()}
    write_hrf_tsv(out / "hrf.tsv", times, hrfs)
    for label, h in hrfs.items():
        write_hrf_tsv(out / f"hrf_parcel-{label}.tsv", times, {"value": h})
    nib.save(estimator.hrf_map(), out / "hrf_mapped.nii.gz")
    voxelwise = estimator.voxel_hrf_map()
    if voxelwise is not None:
        nib.save(voxelwise, out / "hrf_voxelwise.nii.gz")
    for condition in estimator.conditions_:
        nib.save(estimator.amplitude_map(condition), out / f"amplitude_{_file_name(condition)}.nii.gz")
    for name, weights in (contrasts or {}).items():
        nib.save(estimator.contrast_map(weights), out / f"contrast_{_file_name(name)}.nii.gz")
    rows = estimator.summary(contrasts)
    _write_table(out / "parcels.tsv", rows)
    picture = plot_hrfs(estimator, out / "hrf.png") if figure else None
    if summary is not None:
        (out / "summary.json").write_bytes(dumps(dict(summary, parcels=rows)))
        _report(out, rows, picture, summary)
    return out
