"""The feature file (nfd connectivity compute's npz) and the participants table, read by nfd.normative."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nfd.normative import (
    NormativeError,
    edge_labels,
    edges_to_matrix,
    network_names,
    read_features,
    read_participants,
    write_features,
)  # fmt: skip


def test_edge_convention_round_trip() -> None:
    names = ("A", "B", "C", "D")
    edges = edge_labels(names)
    assert edges == ("B--A", "C--A", "C--B", "D--A", "D--B", "D--C")
    assert network_names(edges) == names
    matrix = edges_to_matrix(np.arange(6.0), 4)
    rows, cols = np.tril_indices(4, k=-1)
    np.testing.assert_array_equal(matrix[rows, cols], np.arange(6.0))
    np.testing.assert_array_equal(matrix, matrix.T)
    with pytest.raises(NormativeError, match="expected N"):
        network_names(edges[:5])
    with pytest.raises(NormativeError, match=r"np\.tril_indices"):
        network_names(("B--A", "C--A", "B--C"))


def test_read_what_connectivity_writes(tmp_path: Path) -> None:
    edges = edge_labels(["x", "y", "z"])
    features = np.arange(6.0).reshape(2, 3)
    # the nfd connectivity compute layout, written here by hand
    np.savez(tmp_path / "fc.npz", features=features, subjects=np.array(["01", "sub-02"]), sessions=np.array(["", ""]),
             runs=np.array(["", ""]), edges=np.array(edges), networks=np.array(["x", "y", "z"]),
             meta=np.array(json.dumps({"metric": "pearson", "atlas": "toy", "fisher_z": True})))  # fmt: skip
    table = read_features(tmp_path / "fc.npz")
    assert table.subjects == ("sub-01", "sub-02") and table.edges == edges
    assert table.meta["atlas"] == "toy"
    np.testing.assert_array_equal(table.features, features)
    write_features(tmp_path / "again.npz", table.features, table.subjects, table.edges, table.meta)
    again = read_features(tmp_path / "again.npz")
    assert (again.subjects, again.edges, again.meta) == (table.subjects, table.edges, table.meta)
    np.testing.assert_array_equal(again.features, table.features)


def test_bad_feature_files(tmp_path: Path) -> None:
    edges = np.array(edge_labels(["x", "y", "z"]))
    np.savez(tmp_path / "a.npz", features=np.array([[0.0, 1, 2], [10, 10, 10], [6, 7, 8]]), subjects=np.array(["01", "02", "01"]),
             edges=edges)  # fmt: skip
    with pytest.raises(NormativeError, match="sub-01 appears twice"):
        read_features(tmp_path / "a.npz", combine="refuse")
    averaged = read_features(tmp_path / "a.npz")  # two runs of sub-01 averaged, first-appearance order
    assert averaged.subjects == ("sub-01", "sub-02")
    np.testing.assert_array_equal(averaged.features, [[3.0, 4.0, 5.0], [10.0, 10.0, 10.0]])
    np.savez(tmp_path / "b.npz", features=np.zeros((2, 3)), subjects=np.array(["01", "02"]))
    with pytest.raises(NormativeError, match="no 'edges' array"):
        read_features(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", features=np.array([[0, np.nan, 0], [0, 0, 0]]), subjects=np.array(["01", "02"]),
             edges=edges)  # fmt: skip
    with pytest.raises(NormativeError, match="sub-01 has non-finite"):
        read_features(tmp_path / "c.npz")
    with pytest.raises(NormativeError, match="cannot read"):
        read_features(tmp_path / "missing.npz")


def test_participants(tmp_path: Path) -> None:
    (tmp_path / "p.tsv").write_text("participant_id\tgroup\tage\n01\tcontrol\t30\nsub-02\tpatient\tn/a\n")
    table = read_participants(tmp_path / "p.tsv")
    assert list(table.index) == ["sub-01", "sub-02"]
    assert np.isnan(table.loc["sub-02", "age"])
    with pytest.raises(NormativeError, match="no column 'site'"):
        read_participants(tmp_path / "p.tsv", ("group", "site"))
    (tmp_path / "q.tsv").write_text("participant_id\tgroup\n01\tcontrol\nsub-01\tpatient\n")
    with pytest.raises(NormativeError, match="sub-01 appears twice"):
        read_participants(tmp_path / "q.tsv")
