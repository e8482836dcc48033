"""Issue 16's road end to end, as a user runs it: nfd simulate fc-cohort -> nfd connectivity extract -> compute
-> nfd normative fit --harmonise -> score -> stats, against the cohort's planted truth.

A small cohort (60 controls and 30 patients at 3 sites, 6 networks, 3 deviant edges of 0.4, 150 volumes, 8 mm
voxels) so that it runs in CI; tools/bench_normative.py runs the issue's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nfd.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # neuroHarmonize's np.matrix


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nfd.simulate import make_fc_cohort, write_fc_cohort

    root = tmp_path_factory.mktemp("fc") / "derivatives"
    made = make_fc_cohort(60, 30, sites=3, networks=6, deviant_edges=3, volumes=150, voxel_size_mm=8.0, seed=3,
                          age_edges=1, sex_edges=1, deviant_delta=0.4)  # fmt: skip
    write_fc_cohort(made, root, threads=1)
    return root


def _nfd(*argv: object) -> None:
    assert main([str(a) for a in argv]) == 0, argv


def test_the_planted_edges_are_found_through_the_commands(cohort: Path, tmp_path: Path) -> None:
    atlas = next((cohort / "atlas").glob("*_dseg.nii.gz"))
    labels = next((cohort / "atlas").glob("*_dseg.tsv"))
    participants = cohort / "participants.tsv"
    _nfd("connectivity", "extract", cohort, "--atlas", atlas, "--labels", labels, "--networks", "--strategy", "24P",
         "--strategy", "aCompCor", "--scrub-fd", "0.5", "--high-pass", "0.01", "--out", tmp_path / "series")
    _nfd("connectivity", "compute", tmp_path / "series" / "series.npz", "--metric", "pearson", "--fisher-z",
         "--by", "subject", "--out", tmp_path / "features.npz")
    _nfd("normative", "fit", tmp_path / "features.npz", "--participants", participants, "--harmonise",
         "--out", tmp_path / "model")
    _nfd("normative", "score", tmp_path / "model", tmp_path / "features.npz", "--participants", participants,
         "--out", tmp_path / "scores")
    _nfd("normative", "stats", tmp_path / "scores", "--groups", "control,patient")
    tests = pd.read_csv(tmp_path / "scores" / "mannwhitney.tsv", sep="\t")
    planted = set(pd.read_csv(cohort / "truth" / "deviant_edges.tsv", sep="\t")["edge"])
    assert len(tests) == 15 and planted <= set(tests["edge"])
    found = set(tests.loc[tests["significant"].astype(bool), "edge"])
    assert len(found & planted) >= 2, (found, planted)  # at least 2 of 3 at FDR 0.05
    assert len(found - planted) <= 1, (found, planted)  # at most 1 of the other 12
    # the planted edges deviate most: their median q is below every other edge's
    q = tests.set_index("edge")["q"]
    assert np.median(q[sorted(planted)]) < q.drop(sorted(planted)).min()
