"""The figures and the self-contained ``report.html`` of ``nfd evaluate``.

This module owns the presentation of the tidy tables (``cells``,
``performance``, ``comparisons``, ``correlations``; their columns are the
shared contract of the grid, the statistics and this report). The figures
follow Ramot & Gonzalez-Castillo (2019, NeuroImage 188:322-334): the
algorithm's output against the composite gold standard across subjects and
runs for one target set; one variant's performance against another's over
target sets, with the identity line; performance by ROI radius; by number of
targets; and against the target-target correlation. Figures are drawn on a
:class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global
state) and written as PNGs; the report embeds them as base64 data URIs, so
that one file carries everything, with no external CSS or JavaScript.
"""

from __future__ import annotations

import base64
import datetime
import html
import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # no pandas-stubs in the venv
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nfd.evaluate._axes import AXES as _AXES

__all__ = ["write_figures", "write_report"]

_DPI = 110
_MAX_COMPARISONS = 12
_PERFORMANCE_LABEL = "performance (r, output vs gold)"


def _fmt(value: Any) -> str:
    """A table cell: numbers to 3 significant digits, integers whole, NaN/None/empty as "n/a"."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, str) and value == ""):
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "n/a" if not math.isfinite(value) else f"{float(value):.3g}"
    return str(value)


def _pearson(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, int]:
    """Pearson r over the finite pairs and their count (r NaN below 3 pairs or at zero variance)."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return math.nan, int(a.size)
    return float(np.corrcoef(a, b)[0, 1]), int(a.size)


def _save(fig: Figure, path: Path) -> Path:
    """Write a figure as a PNG at the report's dpi (Agg canvas, no pyplot)."""
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=_DPI)
    return path


def _smallest(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows at the column's smallest value (rows where it does not apply, NaN, are kept)."""
    values = pd.to_numeric(df[column], errors="coerce")
    if values.notna().sum() == 0:
        return df
    return df[(values == values.min()) | values.isna()]


def _highlight(performance: pd.DataFrame) -> tuple[str, str] | None:
    """The variant with the highest mean performance and its median-performance target set."""
    finite = performance[np.isfinite(performance["performance"].astype(np.float64))]
    if finite.empty:
        return None
    means = finite.groupby("variant", sort=False)["performance"].mean()
    variant = str(means.idxmax())
    rows = finite[finite["variant"] == variant].sort_values("performance", kind="stable")
    return variant, str(rows["target_set"].iloc[(len(rows) - 1) // 2])


def _output_vs_gold(cells: pd.DataFrame, highlight: tuple[str, str], path: Path) -> Path | None:
    """Figure 1: the algorithm's output against the gold standard across subjects x runs."""
    variant, target_set = highlight
    rows = cells[(cells["variant"] == variant) & (cells["target_set"] == target_set)]
    x, y = rows["output"].to_numpy(np.float64), rows["gold"].to_numpy(np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2:
        return None
    r, n = _pearson(x, y)
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot()
    ax.scatter(x[keep], y[keep], s=28, alpha=0.8)
    ax.set_xlabel("feedback events per run")
    ax.set_ylabel("composite measure (r)")
    ax.set_title(f"output vs gold standard, {target_set}\nr = {_fmt(r)}, n = {n} runs", fontsize=10)
    fig.text(0.01, 0.01, variant, fontsize=7, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(fig, path)


def _first_values(performance: pd.DataFrame) -> dict[str, Any]:
    """Each axis's first value (in the table's order, the study's), the one the figures prefer to hold axes at."""
    first: dict[str, Any] = {}
    for axis in _AXES:
        if axis in performance:
            values = performance[axis].dropna()
            if not values.empty:
                first[axis] = values.iloc[0]
    return first


def _same(value: Any, reference: Any) -> bool:
    """Whether a fixed axis value in the comparisons table equals an axis value (compared as strings)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return True
    try:
        return float(value) == float(reference)
    except (TypeError, ValueError):
        return str(value) == str(reference)


def _chosen_comparisons(comparisons: pd.DataFrame, performance: pd.DataFrame) -> pd.DataFrame:
    """The paired rows to draw, at most 12: those whose other axes sit at their first values first."""
    paired = comparisons[comparisons["paired"].astype(bool)]
    first = _first_values(performance)

    def away(row: pd.Series) -> int:
        others = [a for a in _AXES if a != row["axis"] and a in row.index and a in first]
        return sum(not _same(row[a], first[a]) for a in others)

    if paired.empty:
        return paired
    order = paired.apply(away, axis=1).sort_values(kind="stable").index
    return paired.loc[order[:_MAX_COMPARISONS]]


def _slug(value: Any) -> str:
    """A value as a file-name part."""
    return re.sub(r"[^A-Za-z0-9.=-]+", "-", str(value)).strip("-") or "x"


def _comparison(row: pd.Series, performance: pd.DataFrame, path: Path) -> Path | None:
    """Figure 2: one variant's performance (a, y) against the other's (b, x) over their shared target sets."""
    a = performance[performance["variant"] == row["variant_a"]].set_index("target_set")["performance"]
    b = performance[performance["variant"] == row["variant_b"]].set_index("target_set")["performance"]
    both = pd.concat({"a": a, "b": b}, axis=1, join="inner").astype(np.float64).dropna()
    if both.empty:
        return None
    axis, name_a, name_b = row["axis"], row["a"], row["b"]
    fig = Figure(figsize=(5.6, 5.6))
    ax = fig.add_subplot()
    ax.scatter(both["b"], both["a"], s=28, alpha=0.8)
    lo, hi = float(both.to_numpy().min()), float(both.to_numpy().max())
    pad = max(0.05 * (hi - lo), 0.02)
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--", label="identity")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(f"{axis} = {name_b}: performance (r)")
    ax.set_ylabel(f"{axis} = {name_a}: performance (r)")
    fixed = textwrap.fill(_fixed_axes(row), 70)
    ax.set_title(f"{axis} {name_a} vs {name_b} over target sets\n{fixed}", fontsize=8)
    text = (
        f"{axis} {name_a} better in {_fmt(row['n_a_better'])} of {_fmt(row['n_sets'])} sets, "
        f"p = {_fmt(row['p'])} (FDR {_fmt(row['p_fdr'])})"
    )
    ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", fontsize=8, bbox={"fc": "white", "ec": "0.8"})
    fig.tight_layout()
    return _save(fig, path)


def _fixed_axes(row: pd.Series) -> str:
    """The axes a comparison holds fixed, as "name=value, ..." (those that apply)."""
    parts = []
    for axis in _AXES:
        if axis == row.get("axis") or axis not in row.index:
            continue
        value = row[axis]
        if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
            continue
        parts.append(f"{axis}={_fmt(value)}")
    return ", ".join(parts)


def _boxes(ax: Axes, groups: Mapping[str, np.ndarray]) -> None:
    """Boxes of performance per group, the target sets' values drawn over them."""
    labels = list(groups)
    data = [groups[k] for k in labels]
    ax.boxplot(data, showfliers=False)  # tick labels set apart: boxplot's tick_labels= needs matplotlib 3.9
    ax.set_xticks(range(1, len(labels) + 1), labels)
    for i, values in enumerate(data, start=1):
        jitter = np.linspace(-0.12, 0.12, values.size) if values.size > 1 else np.zeros(1)
        ax.scatter(i + jitter, values, s=10, alpha=0.6, color="C1", zorder=3)


def _grouped(df: pd.DataFrame, by: str) -> dict[str, np.ndarray]:
    """Finite performance values per value of a column (ordered by that value)."""
    out: dict[str, np.ndarray] = {}
    for value, rows in df.groupby(by, sort=True):
        values = rows["performance"].to_numpy(np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            out[_fmt(value)] = values
    return out


def _panel_keys(df: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """The panel columns: the given ones, with ``kind`` first when more than one kind is present."""
    return (["kind"] if "kind" in df and df["kind"].nunique() > 1 else []) + list(keys)


def _panels(df: pd.DataFrame, keys: Sequence[str], by: str, xlabel: str, title: str, path: Path) -> Path | None:
    """Box panels of performance by one column, one panel per combination of the key columns present."""
    panels = [(name, _grouped(rows, by)) for name, rows in df.groupby(list(keys), sort=False, dropna=False)]
    panels = [(name, groups) for name, groups in panels if groups]
    if not panels:
        return None
    fig = Figure(figsize=(min(1.0 + 3.6 * len(panels), 16.0), 4.6))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (name, groups) in zip(axes, panels, strict=True):
        _boxes(ax, groups)
        ax.set_title(", ".join(f"{k}={_fmt(v)}" for k, v in zip(keys, name, strict=True)), fontsize=9)
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(_PERFORMANCE_LABEL)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _radius(performance: pd.DataFrame, path: Path) -> Path | None:
    """Figure 3: performance by ROI radius, per (echo, level), at 2 targets (else the fewest) and fewest points."""
    df = performance
    if (df["n_targets"] == 2).any():
        df = df[df["n_targets"] == 2]
    df = _smallest(_smallest(df, "n_targets"), "points")
    if df["radius_mm"].nunique() < 2:
        return None
    title = f"performance by ROI radius over target sets ({_fmt(df['n_targets'].min())} targets, fewest proxy points)"
    return _panels(df, _panel_keys(df, ("echo", "level")), "radius_mm", "ROI radius (mm)", title, path)


def _targets(performance: pd.DataFrame, path: Path) -> Path | None:
    """Figure 4: performance by number of targets, per level, at the fewest proxy points."""
    df = _smallest(performance, "points")
    if df["n_targets"].nunique() < 2:
        return None
    title = "performance by number of targets, over target sets and variants (fewest proxy points)"
    return _panels(df, _panel_keys(df, ("level",)), "n_targets", "targets in the set", title, path)


def _level_variants(performance: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The rows of the variants that share ``variant``'s axes except the processing level."""
    axes = [a for a in _AXES if a != "level" and a in performance]
    reference = performance[performance["variant"] == variant].iloc[0]
    keep = np.ones(len(performance), dtype=bool)
    for axis in axes:
        column = performance[axis]
        keep &= (column == reference[axis]).to_numpy() | (column.isna().to_numpy() & pd.isna(reference[axis]))
    return performance[keep]


def _level_r(correlations: pd.DataFrame | None, variant: str, rows: pd.DataFrame) -> tuple[float, float]:
    """r (and p) of performance with r_targets for one variant: the correlations table's, else computed."""
    if correlations is not None and "variant" in correlations:
        match = correlations[correlations["variant"] == variant]
        if not match.empty:
            return float(match["r_r_targets"].iloc[0]), float(match["p_r_targets"].iloc[0])
    return _pearson(rows["performance"], rows["r_targets"])[0], math.nan


def _vs_r_targets(
    performance: pd.DataFrame, correlations: pd.DataFrame | None, variant: str, path: Path
) -> Path | None:
    """Figure 5: performance against the target-target correlation over target sets, one colour per level."""
    df = _level_variants(performance, variant)
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot()
    drawn = 0
    for i, (level_variant, rows) in enumerate(df.groupby("variant", sort=False)):
        x, y = rows["r_targets"].to_numpy(np.float64), rows["performance"].to_numpy(np.float64)
        keep = np.isfinite(x) & np.isfinite(y)
        if keep.sum() < 2:
            continue
        r, p = _level_r(correlations, str(level_variant), rows)
        label = f"{rows['level'].iloc[0]} (r = {_fmt(r)}, p = {_fmt(p)})"
        ax.scatter(x[keep], y[keep], s=28, alpha=0.8, color=f"C{i}", label=label)
        drawn += 1
    if not drawn:
        return None
    ax.set_xlabel("mean target-target correlation (r)")
    ax.set_ylabel(_PERFORMANCE_LABEL)
    ax.set_title("performance against the target-target correlation over target sets", fontsize=10)
    ax.legend(fontsize=8, title="level", title_fontsize=8)
    fig.text(0.01, 0.01, re.sub(r"\s*level=\S+", "", variant), fontsize=7, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(fig, path)


def write_figures(
    cells: pd.DataFrame,
    performance: pd.DataFrame,
    comparisons: pd.DataFrame | None,
    correlations: pd.DataFrame | None,
    out_dir: str | Path,
    *,
    highlight: tuple[str, str] | None = None,
) -> list[Path]:
    """Draw the evaluation's figures as PNGs under ``out_dir/figures``.

    Each figure is skipped, without error, when its data are absent (no
    finite performance, one radius, one number of targets, no paired
    comparison...).

    Parameters
    ----------
    cells, performance, comparisons, correlations : pandas.DataFrame
        The tidy tables (see the table contract); ``comparisons`` and
        ``correlations`` may be None or empty.
    out_dir : str or Path
        The evaluation's output folder; the figures go to its ``figures`` folder.
    highlight : (variant, target_set), optional
        The pair of ``output_vs_gold.png`` (and whose axes ``vs_r_targets.png``
        follows); by default the variant with the highest mean performance
        and its median-performance target set.

    Returns
    -------
    list of Path
        The PNGs written, in the order ``output_vs_gold``, ``compare_*``,
        ``radius``, ``targets``, ``vs_r_targets``.
    """
    figures = Path(out_dir) / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    chosen = highlight if highlight is not None else _highlight(performance)
    written: list[Path | None] = []
    if chosen is not None:
        written.append(_output_vs_gold(cells, chosen, figures / "output_vs_gold.png"))
    if comparisons is not None and not comparisons.empty:
        seen: dict[str, int] = {}
        for _, row in _chosen_comparisons(comparisons, performance).iterrows():
            stem = f"compare_{_slug(row['axis'])}_{_slug(row['a'])}_vs_{_slug(row['b'])}"
            seen[stem] = seen.get(stem, 0) + 1
            suffix = f"_{seen[stem]}" if seen[stem] > 1 else ""
            written.append(_comparison(row, performance, figures / f"{stem}{suffix}.png"))
    if not performance.empty:
        written.append(_radius(performance, figures / "radius.png"))
        written.append(_targets(performance, figures / "targets.png"))
    if chosen is not None and (performance["variant"] == chosen[0]).any():
        written.append(_vs_r_targets(performance, correlations, chosen[0], figures / "vs_r_targets.png"))
    return [p for p in written if p is not None]


_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.85em}"
    "th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
    "figure{margin:1em 0}figcaption{font-size:0.9em;color:#444}pre{background:#f6f6f6;padding:0.8em;overflow:auto}"
)

_COMPARISON_COLUMNS = ("axis", "a", "b", "fixed axes", "n_sets", "mean_a", "mean_b", "n_a_better", "p", "p_fdr")

_CAPTIONS = {
    "output_vs_gold": "The algorithm's output (feedback events per run) against the composite gold standard "
    "across subjects and runs, for one variant and target set.",
    "radius": "Performance (r between output and gold across runs) by ROI radius, one box over target sets per radius.",
    "targets": "Performance by number of targets in the set, one box over target sets and variants per number.",
    "vs_r_targets": "Performance against the mean target-target correlation over target sets, per processing level.",
}


def _caption(path: Path) -> str:
    """A figure's one-line caption, from its file name."""
    stem = path.stem
    if stem in _CAPTIONS:
        return _CAPTIONS[stem]
    match = re.fullmatch(r"compare_(.+?)_(.+)_vs_(.+?)(?:_(\d+))?", stem)
    if match:
        axis, a, b = match.group(1, 2, 3)
        return f"Performance with {axis} = {a} (y) against {axis} = {b} (x) over shared target sets; dashed: identity."
    return stem


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table, every cell escaped and formatted (numbers to 3 significant digits)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>\n" for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}</table>\n"


def _performance_summary(performance: pd.DataFrame) -> pd.DataFrame:
    """Per variant: mean, median, min, max of performance over its target sets, and the sets with a finite value."""
    finite = performance.assign(performance=performance["performance"].astype(np.float64))
    grouped = finite.groupby("variant", sort=False)["performance"]
    summary = grouped.agg(["mean", "median", "min", "max", "count"]).rename(columns={"count": "n_sets"})
    return summary.reset_index()


def _comparison_rows(comparisons: pd.DataFrame) -> list[list[Any]]:
    """The comparisons table's rows for the report (unpaired rows have no n_a_better)."""
    rows = []
    for _, row in comparisons.iterrows():
        better = row.get("n_a_better")
        better = None if better is None or (not pd.isna(better) and int(better) < 0) else better
        rows.append(
            [row.get("axis"), row.get("a"), row.get("b"), _fixed_axes(row) or None, row.get("n_sets"),
             row.get("mean_a"), row.get("mean_b"), better, row.get("p"), row.get("p_fdr")]
        )  # fmt: skip
    return rows


def _frame_table(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """An HTML table of the named columns of a frame that are present."""
    present = [c for c in columns if c in frame]
    return _table(present, frame[present].itertuples(index=False, name=None))


def _tables_html(tables: Mapping[str, pd.DataFrame | None]) -> str:
    """The summary, comparisons and correlations sections."""
    parts = ["<h2>Performance per variant (over target sets)</h2>\n"]
    performance = tables.get("performance")
    if performance is None or performance.empty:
        parts.append("<p>none</p>\n")
    else:
        parts.append(
            _frame_table(_performance_summary(performance), ("variant", "n_sets", "mean", "median", "min", "max"))
        )
    parts.append("<h2>Comparisons (two-sided permutation p, Benjamini-Hochberg p_fdr)</h2>\n")
    comparisons = tables.get("comparisons")
    if comparisons is None or comparisons.empty:
        parts.append("<p>none</p>\n")
    else:
        parts.append(_table(_COMPARISON_COLUMNS, _comparison_rows(comparisons)))
    parts.append("<h2>Correlations of performance across target sets</h2>\n")
    correlations = tables.get("correlations")
    if correlations is None or correlations.empty:
        parts.append("<p>none</p>\n")
    else:
        columns = ("variant", "n_sets", "r_r_targets", "p_r_targets", "r_tsnr", "p_tsnr", "partial_r_targets",
                   "p_partial", "r_standard", "p_standard")  # fmt: skip
        parts.append(_frame_table(correlations, columns))
    return "".join(parts)


def _figures_html(figures: Sequence[Path]) -> str:
    """Each figure embedded as a base64 PNG data URI, with its caption."""
    parts = ["<h2>Figures</h2>\n"]
    for path in figures:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        caption = html.escape(_caption(Path(path)))
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(Path(path).name)}">'
            f"<figcaption>{html.escape(Path(path).name)}: {caption}</figcaption></figure>\n"
        )
    if not figures:
        parts.append("<p>none</p>\n")
    return "".join(parts)


def write_report(
    out_dir: str | Path,
    *,
    study_text: str,
    versions: Mapping[str, str],
    tables: Mapping[str, pd.DataFrame | None],
    figures: Sequence[Path],
    problems: Sequence[str],
    title: str = "nfd evaluate",
) -> Path:
    """Write ``out_dir/report.html``: one self-contained page of the evaluation's results.

    Parameters
    ----------
    out_dir : str or Path
    study_text : str
        The study file, shown verbatim.
    versions : mapping of str to str
        Software name -> version.
    tables : mapping of str to pandas.DataFrame
        ``"performance"``, ``"comparisons"``, ``"correlations"`` (each may be absent or empty).
    figures : sequence of Path
        PNGs (those of :func:`write_figures`), embedded as base64 data URIs.
    problems : sequence of str
        One line each: what went wrong with which subject and run.
    title : str

    Returns
    -------
    Path
        The report's path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    problem_items = "".join(f"<li>{html.escape(' '.join(str(p).splitlines()))}</li>\n" for p in problems)
    page = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{_STYLE}</style>\n</head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p>Written {html.escape(date)}.</p>\n"
        + _tables_html(tables)
        + _figures_html(figures)
        + "<h2>Problems</h2>\n"
        + (f"<ul>\n{problem_items}</ul>\n" if problems else "<p>none</p>\n")
        + f"<h2>Study file</h2>\n<pre>{html.escape(study_text)}</pre>\n"
        + "<h2>Software versions</h2>\n"
        + _table(("software", "version"), sorted(versions.items()))
        + "</body>\n</html>\n"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
