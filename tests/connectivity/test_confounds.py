"""Confound strategies by fMRIPrep's column names, the TSV reader and FD scrubbing, on a handwritten table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nfd.connectivity import confound_columns, read_confounds, run_matrix, scrub_mask

MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]


def test_strategies_name_fmriprep_columns() -> None:
    assert confound_columns("6P") == MOTION
    p24 = confound_columns("24P")
    assert len(p24) == 24 and p24[:6] == MOTION
    assert p24[6:12] == [f"{m}_derivative1" for m in MOTION]
    assert p24[12:18] == [f"{m}_power2" for m in MOTION]
    assert p24[18:] == [f"{m}_derivative1_power2" for m in MOTION]
    assert confound_columns("aCompCor") == [f"a_comp_cor_0{k}" for k in range(5)]
    assert confound_columns(["6P", "24P", "GSR"]) == [*p24, "global_signal"]  # each column once, in order
    with pytest.raises(ValueError, match="'36P': expected one of 6P, 12P, 24P, aCompCor, GSR"):
        confound_columns(["24P", "36P"])


def test_reader_and_scrubbing(tmp_path: Path) -> None:
    table = tmp_path / "c.tsv"
    table.write_text("trans_x\ttrans_x_derivative1\tframewise_displacement\n"
                     "0.1\tn/a\tn/a\n0.3\t0.2\t0.6\n0.2\t-0.1\t0.5\n0.4\t0.2\t0.51\n")  # fmt: skip
    np.testing.assert_array_equal(read_confounds(table, ["trans_x_derivative1", "trans_x"]),
                                  [[0.0, 0.1], [0.2, 0.3], [-0.1, 0.2], [0.2, 0.4]])  # fmt: skip
    np.testing.assert_array_equal(scrub_mask(table, 0.5), [0, 2])  # FD 0.6 and 0.51 > 0.5 mm censored
    with pytest.raises(LookupError, match=r"global_signal missing from c\.tsv"):
        read_confounds(table, ["trans_x", "global_signal"])


def test_run_matrix_leaves_empty_regions_out() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 4))
    x[:, 2] = np.nan
    m = run_matrix(x, "pearson", fisher=True)
    assert np.isnan(m[2]).all() and np.isnan(m[:, 2]).all()
    good = [0, 1, 3]
    np.testing.assert_allclose(m[np.ix_(good, good)], np.arctanh(np.clip(np.corrcoef(x[:, good].T), -1 + 1e-7,
                                                                           1 - 1e-7)), atol=1e-12)  # fmt: skip
