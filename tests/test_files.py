"""nfd._files: hashes, atomic writes, append-only files and TSV tables."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from nfd._files import AppendOnlyFile, TsvAppender, file_sha256, fsync_directory, tsv_cell, write_atomic


def test_file_sha256_matches_hashlib_over_several_blocks(tmp_path: Path) -> None:
    data = os.urandom((1 << 20) * 2 + 17)
    (tmp_path / "f").write_bytes(data)
    assert file_sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()


def test_file_sha256_of_a_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        file_sha256(tmp_path / "absent")


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    write_atomic(target, b"old")
    write_atomic(target, b"new", sync_directory=False)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_write_atomic_failure_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "folder"
    target.mkdir()
    (target / "inside").write_text("keeps the folder non-empty")
    with pytest.raises(OSError):
        write_atomic(target, b"cannot replace a non-empty folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_fsync_directory_of_a_missing_folder_is_a_no_op(tmp_path: Path) -> None:
    fsync_directory(tmp_path / "absent")


def test_append_only_file_refuses_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("")
    with pytest.raises(FileExistsError):
        AppendOnlyFile(tmp_path / "a")


def test_append_only_file_appends_syncs_and_closes_twice(tmp_path: Path) -> None:
    f = AppendOnlyFile(tmp_path / "a")
    f.append(b"one\n")
    f.sync()
    f.append(b"two\n")
    assert not f.closed
    f.close()
    f.close()
    f.sync()
    assert f.closed
    assert (tmp_path / "a").read_bytes() == b"one\ntwo\n"
    with pytest.raises(ValueError, match="closed"):
        f.append(b"three\n")


def test_append_only_file_keeps_lines_whole_across_threads(tmp_path: Path) -> None:
    with AppendOnlyFile(tmp_path / "a") as f:
        def write(tag: str) -> None:
            for i in range(200):
                f.append(f"{tag}{i:04d}{'x' * 100}\n".encode())

        threads = [threading.Thread(target=write, args=(t,)) for t in "abcd"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lines = (tmp_path / "a").read_text().splitlines()
    assert len(lines) == 800
    assert all(len(line) == 105 for line in lines)


def test_tsv_appender_header_rows_and_cells(tmp_path: Path) -> None:
    with TsvAppender(tmp_path / "t.tsv", ["a", "b", "c"]) as t:
        t.append_row([1, float("nan"), "x\ty"])
        t.append_row([None, 0.1, True])
        assert t.rows == 2
        with pytest.raises(ValueError, match="2 cells for 3 columns"):
            t.append_row([1, 2])
    assert (tmp_path / "t.tsv").read_text() == "a\tb\tc\n1\tn/a\tx y\nn/a\t0.1\ttrue\n"


def test_tsv_cell_numpy_values() -> None:
    import numpy as np

    assert tsv_cell(np.int64(7)) == "7"
    assert tsv_cell(np.float64(0.5)) == "0.5"
    assert tsv_cell(np.float32(np.nan)) == "n/a"
