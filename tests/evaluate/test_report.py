"""nfd evaluate's figures and report.html on small synthetic tables that follow the table contract."""

from __future__ import annotations

import itertools
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from nfd.evaluate._report import _chosen_comparisons, _highlight, write_figures, write_report

AXES = ["kind", "points", "window", "n_targets", "min_agree", "min_change_sd", "radius_mm", "echo", "level", "delay",
        "reference", "signal"]
SUBJECTS, RUNS, N_SETS = ("01", "02", "03"), ("1", "2"), 12
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _variant(points: int, n_targets: int, radius: float, level: str) -> str:
    return f"proxy points={points} targets={n_targets} radius={radius:g} echo=optcom level={level}"


def build_tables(
    *, points: tuple[int, ...] = (2, 3), radii: tuple[float, ...] = (4.0, 6.0, 8.0), n_targets: tuple[int, ...] = (2, 3)
) -> dict[str, pd.DataFrame]:
    """cells, performance, comparisons, correlations: 12 target sets per n_targets, 3 subjects x 2 runs each."""
    rng = np.random.default_rng(7)
    levels = ("minimal", "full")
    rows = []
    for n in n_targets:
        for s in range(N_SETS):
            target_set = "+".join(f"target{(s + k) % 20 + 1:02d}" for k in range(n))
            gold = rng.normal(0.3, 0.1, size=len(SUBJECTS) * len(RUNS))
            r_targets = rng.uniform(0.1, 0.8, size=gold.size)
            for p, radius, level in itertools.product(points, radii, levels):
                noise = 0.05 + 0.02 * (p - 2) + 0.01 * radius + (0.03 if level == "minimal" else 0.0) + 0.02 * s
                output = 20 + 30 * gold + rng.normal(scale=30 * noise, size=gold.size)
                for i, (subject, run) in enumerate(itertools.product(SUBJECTS, RUNS)):
                    rows.append(
                        {"kind": "proxy", "points": p, "window": np.nan, "n_targets": n, "min_agree": n,
                         "min_change_sd": 0.0, "radius_mm": radius, "delay": np.nan, "reference": None, "signal": None,
                         "echo": "optcom", "level": level, "variant": _variant(p, n, radius, level),
                         "target_set": target_set, "subject": subject, "run": run, "output": output[i],
                         "gold": gold[i], "r_targets": r_targets[i], "tsnr": 50.0 + i, "standard": gold[i] + 0.01 * i}
                    )  # fmt: skip
    cells = pd.DataFrame(rows)
    cells.loc[0, "output"] = np.nan  # a failed run: dropped per computation
    performance = _performance(cells)
    return {
        "cells": cells,
        "performance": performance,
        "comparisons": _comparisons(performance),
        "correlations": _correlations(performance),
    }


def _performance(cells: pd.DataFrame) -> pd.DataFrame:
    def one(group: pd.DataFrame) -> pd.Series:
        finite = group.dropna(subset=["output", "gold"])
        return pd.Series(
            {"performance": finite["output"].corr(finite["gold"]), "n": len(finite),
             "standard_performance": finite["standard"].corr(finite["gold"]),
             "r_targets": finite["r_targets"].mean(), "tsnr": finite["tsnr"].mean()}
        )  # fmt: skip

    keys = [*AXES, "variant", "target_set"]
    return cells.groupby(keys, sort=False, dropna=False)[["output", "gold", "standard", "r_targets", "tsnr"]].apply(one).reset_index()


def _comparisons(performance: pd.DataFrame) -> pd.DataFrame:
    """Paired contrasts of points (2 vs 3) and level (minimal vs full), unpaired n_targets (2 vs 3)."""
    per_variant = performance.groupby("variant", sort=False)
    rows = []
    for axis, (a, b) in (("points", (2, 3)), ("level", ("minimal", "full")), ("n_targets", (2, 3))):
        others = [x for x in AXES if x not in (axis, "min_agree" if axis == "n_targets" else "")]
        for fixed, group in performance.groupby(others, sort=False, dropna=False):
            va, vb = group[group[axis] == a]["variant"], group[group[axis] == b]["variant"]
            if va.empty or vb.empty:
                continue
            va, vb = va.iloc[0], vb.iloc[0]
            pa, pb = per_variant.get_group(va)["performance"], per_variant.get_group(vb)["performance"]
            paired = axis != "n_targets"
            row = {axis: np.nan, "min_agree": np.nan} | dict(zip(others, fixed, strict=True))
            rows.append(
                row | {"axis": axis, "a": str(a), "b": str(b), "variant_a": va, "variant_b": vb, "paired": paired,
                       "n_sets": len(pa), "mean_a": pa.mean(), "mean_b": pb.mean(),
                       "mean_difference": pa.mean() - pb.mean(),
                       "n_a_better": int((pa.to_numpy() > pb.to_numpy()).sum()) if paired else -1,
                       "p": 0.0312, "p_fdr": 0.0624}
            )  # fmt: skip
    return pd.DataFrame(rows)


def _correlations(performance: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for key, group in performance.groupby([*AXES, "variant"], sort=False, dropna=False):
        r = group["performance"].corr(group["r_targets"])
        rows.append(
            dict(zip([*AXES, "variant"], key, strict=True))
            | {"n_sets": len(group), "r_r_targets": r, "p_r_targets": 0.01, "r_tsnr": 0.1, "p_tsnr": 0.5,
               "partial_r_targets": r, "p_partial": 0.02, "r_standard": 0.3, "p_standard": 0.2}
        )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return build_tables()


def _figures(tables: dict[str, pd.DataFrame], out: Path, **kwargs: object) -> list[Path]:
    t = tables
    return write_figures(t["cells"], t["performance"], t["comparisons"], t["correlations"], out, **kwargs)  # type: ignore[arg-type]


def test_every_figure_is_a_valid_png_of_sensible_size(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    paths = _figures(tables, tmp_path)
    names = {p.name for p in paths}
    assert {"output_vs_gold.png", "radius.png", "targets.png", "vs_r_targets.png"} <= names
    compares = sorted(n for n in names if n.startswith("compare_"))
    assert len(compares) == 12  # 24 paired rows, at most 12 drawn; the unpaired n_targets rows are not drawn
    assert not any(n.startswith("compare_n_targets") for n in compares)
    assert {"compare_points_2_vs_3.png", "compare_level_minimal_vs_full.png", "compare_points_2_vs_3_2.png"} <= names
    assert len(paths) == len(names) == 16
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(names)
    for path in paths:
        assert path.parent == tmp_path / "figures"
        assert path.read_bytes()[:8] == PNG_MAGIC
        image = imread(path)
        assert image.ndim == 3 and image.shape[2] in (3, 4)
        assert 300 <= image.shape[0] <= 2000 and 300 <= image.shape[1] <= 2000, (path.name, image.shape)
        assert image[..., :3].std() > 0.01  # something is drawn
    assert imread(tmp_path / "figures" / "output_vs_gold.png").shape[:2] == (round(5.2 * 110), round(6.4 * 110))


def test_the_drawn_comparisons_are_those_at_the_first_values(tables: dict[str, pd.DataFrame]) -> None:
    comparisons, performance = tables["comparisons"], tables["performance"]
    chosen = _chosen_comparisons(comparisons, performance)
    assert len(chosen) == 12 and chosen["paired"].all()
    first = {"kind": "proxy", "points": 2, "n_targets": 2, "min_agree": 2, "radius_mm": 4.0, "echo": "optcom"}
    first |= {"level": "minimal"}

    def away(row: pd.Series) -> int:
        return sum(row[a] != v for a, v in first.items() if a != row["axis"])

    scores = comparisons[comparisons["paired"]].apply(away, axis=1)
    # n_targets 3 is also min_agree 3: two axes away; the 4 rows 4 away (8 mm, 3 targets, full / 3 points) never drawn
    assert sorted(scores.value_counts().items()) == [(0, 2), (1, 6), (2, 6), (3, 6), (4, 4)]
    assert sorted(chosen.apply(away, axis=1)) == [0] * 2 + [1] * 6 + [2] * 4
    assert chosen.apply(away, axis=1).is_monotonic_increasing


def test_missing_axes_skip_figures_without_error(tmp_path: Path) -> None:
    t = build_tables(points=(2,), radii=(6.0,), n_targets=(3,))
    paths = write_figures(t["cells"], t["performance"], None, None, tmp_path)
    assert {p.name for p in paths} == {"output_vs_gold.png", "vs_r_targets.png"}
    unpaired = t["comparisons"][~t["comparisons"]["paired"]]
    paths = write_figures(t["cells"], t["performance"], unpaired, t["correlations"].iloc[:0], tmp_path / "b")
    assert {p.name for p in paths} == {"output_vs_gold.png", "vs_r_targets.png"}
    nan = t["performance"].assign(performance=np.nan)
    assert write_figures(t["cells"].iloc[:0], nan, None, None, tmp_path / "c") == []


def test_the_default_highlight_is_the_best_variant_at_its_median_set(tables: dict[str, pd.DataFrame]) -> None:
    performance = tables["performance"]
    means = performance.groupby("variant")["performance"].mean()
    variant, target_set = _highlight(performance)  # type: ignore[misc]
    assert variant == means.idxmax()
    values = performance[performance["variant"] == variant].set_index("target_set")["performance"]
    assert (values < values[target_set]).sum() == (len(values) - 1) // 2


def test_an_explicit_highlight_is_drawn(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    cells = tables["cells"]
    pair = (str(cells["variant"].iloc[-1]), str(cells["target_set"].iloc[-1]))
    default = imread(_figures(tables, tmp_path / "a")[0])
    chosen = _figures(tables, tmp_path / "b", highlight=pair)
    assert chosen[0].name == "output_vs_gold.png" and not np.array_equal(imread(chosen[0]), default)
    unknown = _figures(tables, tmp_path / "c", highlight=("no such variant", "x"))
    assert "output_vs_gold.png" not in {p.name for p in unknown} and "radius.png" in {p.name for p in unknown}


class _Page(HTMLParser):
    """The images, table cells, list items and <pre> text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.rows: list[list[str]] = []
        self.items: list[str] = []
        self.pre = ""
        self._tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
        self._tag = tag

    def handle_endtag(self, tag: str) -> None:
        self._tag = None

    def handle_data(self, data: str) -> None:
        if self._tag in ("td", "th"):
            self.rows[-1][-1] += data
        elif self._tag == "li":
            self.items.append(data)
        elif self._tag == "pre":
            self.pre += data


def test_the_report_is_self_contained_and_complete(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    figures = _figures(tables, tmp_path)
    study = '[study]\nname = "<x> & y"\n'
    problems = ["subject 02 run 1: motion above 3 mm, run skipped", "subject 03 run 2: no events file"]
    versions = {"nfd": "0.9.1", "numpy": np.__version__}
    report = write_report(
        tmp_path, study_text=study, versions=versions, tables=tables, figures=figures, problems=problems
    )
    assert report == tmp_path / "report.html"
    text = report.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    assert "<h1>nfd evaluate</h1>" in text and "<x>" not in text and "&lt;x&gt; &amp; y" in text
    assert page.pre == study
    embedded = [src for src in page.images if src.startswith("data:image/png;base64,")]
    assert len(page.images) == len(embedded) == len(figures) == 16
    assert "http" not in text and "<script" not in text and "<link" not in text
    assert page.items == problems
    assert ["nfd", "0.9.1"] in page.rows and ["numpy", np.__version__] in page.rows
    performance = tables["performance"]
    variant = performance["variant"].iloc[5]
    row = next(r for r in page.rows if r and r[0] == variant)
    header = next(r for r in page.rows if r and r[0] == "variant" and "mean" in r)
    expected = performance[performance["variant"] == variant]["performance"].mean()
    assert row[header.index("mean")] == f"{expected:.3g}"
    assert row[header.index("n_sets")] == "12"
    comparisons_header = ["axis", "a", "b", "fixed axes", "n_sets", "mean_a", "mean_b", "n_a_better", "p", "p_fdr"]
    assert comparisons_header in page.rows
    assert ["n_targets", "2", "3"] in [r[:3] for r in page.rows]
    unpaired = next(r for r in page.rows if r[:3] == ["n_targets", "2", "3"])
    assert unpaired[7] == "n/a" and unpaired[8] == "0.0312"


def test_a_report_without_problems_or_figures_says_none(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    report = write_report(
        tmp_path, study_text="", versions={}, tables={"performance": tables["performance"]}, figures=[], problems=[]
    )
    text = report.read_text(encoding="utf-8")
    assert "<h2>Problems</h2>\n<p>none</p>" in text and "<img" not in text
