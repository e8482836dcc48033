"""HRF TSV files: the format round trip, the kernel against SPM's canonical HRF, one line per bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nfd.design import DesignError, HrfFileError, SampledHrf, read_hrf_tsv, spm_hrf, write_hrf_tsv


def _canonical(tmp_path: Path, step: float = 0.1) -> Path:
    times = np.arange(0.0, 32.0 + step / 2, step)
    return write_hrf_tsv(tmp_path / "canonical.tsv", times, {"value": spm_hrf(step, oversampling=1)})


def test_round_trip_keeps_times_values_and_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    times = np.arange(60) * 0.5
    a, b = rng.normal(size=60), rng.normal(size=60)
    path = write_hrf_tsv(tmp_path / "h.tsv", times, {"parcel 1": a, "2": b})
    assert path.read_text().splitlines()[0] == "time_s\tparcel 1\t2"
    first = read_hrf_tsv(path, "parcel 1")
    second = read_hrf_tsv(path, column="2")
    np.testing.assert_allclose(first.times_s, times, rtol=0, atol=1e-12)
    np.testing.assert_allclose(first.values, a, rtol=1e-9, atol=1e-12)  # "%.10g"
    np.testing.assert_allclose(second.values, b, rtol=1e-9, atol=1e-12)
    assert (first.column, first.path) == ("parcel 1", str(path))
    assert first.step_s == pytest.approx(0.5)
    with pytest.raises(ValueError):
        first.values[0] = 1.0  # read-only


def test_kernel_of_the_canonical_file_is_spm_hrf_at_the_microtime(tmp_path: Path) -> None:
    hrf = read_hrf_tsv(_canonical(tmp_path))
    assert hrf.time_to_peak_s == pytest.approx(5.0, abs=0.1)  # spm_hrf's peak, ~5 s after onset
    for tr in (2.0, 1.0, 0.7):
        dt = tr / 16
        reference = spm_hrf(dt, oversampling=1)
        kernel = hrf.kernel(dt)
        assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
        assert kernel.shape == reference.shape
        assert np.corrcoef(kernel, reference)[0, 1] > 0.9999
        assert np.max(np.abs(kernel - reference)) < 1e-3 * reference.max()
    # at the TR, as for volume labels, and with an explicit length (zeros past the file's end)
    np.testing.assert_allclose(hrf.kernel(2.0), spm_hrf(2.0), atol=1e-9)
    longer = hrf.kernel(2.0, length_s=40.0)
    assert longer.shape == (21,) and np.all(longer[17:] == 0.0)


def test_kernel_refuses_a_response_summing_to_zero_or_less() -> None:
    hrf = SampledHrf(np.arange(4.0), np.array([0.0, -1.0, -0.5, 0.0]), "value", "neg.tsv")
    with pytest.raises(HrfFileError, match=r"neg.tsv: .*an HRF whose samples sum to <= 0 cannot scale a regressor"):
        hrf.kernel(0.5)
    with pytest.raises(HrfFileError, match="expected a positive kernel step"):
        hrf.kernel(0.0)


def test_column_choice(tmp_path: Path) -> None:
    path = write_hrf_tsv(tmp_path / "p.tsv", [0, 1, 2, 3], {"a": [0, 1, 1, 0], "b": [0, 2, 1, 0]})
    with pytest.raises(HrfFileError, match=r"p.tsv: expected a column to be named \(the file has 2: a, b\)"):
        read_hrf_tsv(path)
    with pytest.raises(HrfFileError, match=r"p.tsv: expected a column among a, b, got 'c'"):
        read_hrf_tsv(path, "c")
    single = write_hrf_tsv(tmp_path / "s.tsv", [0, 1, 2, 3], {"value": [0, 1, 1, 0]})
    assert read_hrf_tsv(single).column == "value" and read_hrf_tsv(single, "").column == "value"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("t\tvalue\n0\t0\n1\t1\n2\t0\n", r"line 1: expected a header 'time_s<TAB><column>...', got 't\\tvalue'"),
        ("", r"line 1: expected a header .* got 'an empty file'"),
        ("time_s\n0\n1\n2\n", r"line 1: expected a header"),
        ("time_s\tvalue\n0\t0\n1\tx\n2\t0\n", r"line 3: expected a number in 'value', got 'x'"),
        ("time_s\tvalue\n0\t0\n1\tnan\n2\t0\n", r"line 3: expected a finite number in 'value', got 'nan'"),
        ("time_s\tvalue\n0\t0\n1\n2\t0\n", r"line 3: expected 2 tab-separated cells, got 1"),
        ("time_s\tvalue\n0.5\t0\n1.5\t1\n2.5\t0\n", r"line 2: expected the first time to be 0 s, got 0.5"),
        ("time_s\tvalue\n0\t0\n1\t1\n1\t0\n", r"line 4: expected strictly increasing times, got 1 after 1"),
        ("time_s\tvalue\n0\t0\n1\t1\n2.1\t0\n", r"line 4: expected a regular grid of step 1 s \(time 2\), got 2.1"),
        ("time_s\tvalue\n0\t0\n1\t1\n", r"expected at least 3 samples, got 2"),
        ("time_s\ta\ta\n0\t0\t0\n1\t1\t1\n2\t0\t0\n", r"line 1: expected distinct column names"),
    ],
)
def test_each_bad_file_gets_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(HrfFileError, match=message) as caught:
        read_hrf_tsv(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_grid_within_a_microsecond_is_regular(tmp_path: Path) -> None:
    path = tmp_path / "ok.tsv"
    path.write_text("time_s\tvalue\n0\t0\n0.1000004\t1\n0.2\t0.5\n\n")
    assert read_hrf_tsv(path).values.tolist() == [0.0, 1.0, 0.5]


def test_missing_file_and_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(HrfFileError, match="expected a readable UTF-8 HRF TSV file"):
        read_hrf_tsv(tmp_path / "absent.tsv")
    with pytest.raises(HrfFileError, match="expected as many values as times, got 2 and 3"):
        write_hrf_tsv(tmp_path / "w.tsv", [0, 1, 2], {"value": [0, 1]})
    with pytest.raises(HrfFileError, match="expected a column name"):
        write_hrf_tsv(tmp_path / "w.tsv", [0, 1, 2], {"time_s": [0, 1, 0]})
    with pytest.raises(HrfFileError, match="expected finite HRF values"):
        write_hrf_tsv(tmp_path / "w.tsv", [0, 1, 2], {"value": [0, np.nan, 0]})
    with pytest.raises(HrfFileError, match="expected at least one HRF column"):
        write_hrf_tsv(tmp_path / "w.tsv", [0, 1, 2], {})
    assert issubclass(HrfFileError, DesignError)


def _shifted(tmp_path: Path, shift_s: float) -> Path:
    """SPM's canonical HRF moved `shift_s` earlier (peak ~5 s -> ~5 - shift_s s), at 0.1 s."""
    times = np.arange(0.0, 32.05, 0.1)
    canonical = spm_hrf(0.1, oversampling=1)
    k = round(shift_s / 0.1)
    moved = np.concatenate([canonical[k:], np.zeros(k)])
    return write_hrf_tsv(tmp_path / "shifted.tsv", times, {"early": moved, "canonical": canonical})


def test_canonical_file_gives_the_default_regressors(tmp_path: Path) -> None:
    hrf = read_hrf_tsv(_canonical(tmp_path))
    from nfd.design import Design, Event, hrf_regressor

    blocks = Design.from_blocks(120, [("UP", 10, 29), ("DOWN", 40, 59), ("UP", 70, 89)], skip_volumes=2)
    events = Design(
        ["BAS"] * 120,
        events=[Event("A", 7.3, 0.0), Event("A", 31.1, 12.5), Event("B", 50.0, 3.0, 2.0), Event("A", 101.7, 0.4)],
        conditions=["A", "B"],
    )
    for design in (blocks, events):
        for tr in (2.0, 1.0):
            default = design.task_regressors(tr)
            mine = design.task_regressors(tr, hrf=hrf)
            assert np.max(np.abs(mine - default)) < 1e-3
            assert np.max(np.abs(default)) > 0.1  # the comparison has something to compare
    x = hrf_regressor([3.0, 40.0], [0.0, 20.0], None, 60, 1.5, hrf=hrf)
    assert np.max(np.abs(x - hrf_regressor([3.0, 40.0], [0.0, 20.0], None, 60, 1.5))) < 1e-3


def test_an_earlier_hrf_moves_the_regressor_peak_by_the_shift(tmp_path: Path) -> None:
    from nfd.design import Design, Event

    path = _shifted(tmp_path, 2.0)
    early, canonical = read_hrf_tsv(path, "early"), read_hrf_tsv(path, "canonical")
    assert early.time_to_peak_s == pytest.approx(canonical.time_to_peak_s - 2.0, abs=1e-9)
    tr = 0.25
    design = Design(["BAS"] * 200, events=[Event("A", 10.0, 0.0)], conditions=["A"])
    peak_canonical = int(np.argmax(design.task_regressors(tr, hrf=canonical)[:, 0])) * tr
    peak_early = int(np.argmax(design.task_regressors(tr, hrf=early)[:, 0])) * tr
    assert peak_canonical == pytest.approx(15.0, abs=tr)  # 10 s + SPM's ~5 s to peak
    assert peak_canonical - peak_early == pytest.approx(2.0, abs=1e-9)
    # labels (at the TR): a short block, the same shift
    labels = Design.from_blocks(100, [("UP", 20, 21)])
    lc = int(np.argmax(labels.task_regressors(0.5, hrf=canonical)[:, 0]))
    le = int(np.argmax(labels.task_regressors(0.5, hrf=early)[:, 0]))
    assert (lc - le) * 0.5 == pytest.approx(2.0)


def test_an_hrf_summing_to_zero_is_refused_by_the_regressors() -> None:
    from nfd.design import Design

    flat = SampledHrf(np.arange(4.0), np.array([0.0, 1.0, -1.0, 0.0]), "value", "zero.tsv")
    with pytest.raises(HrfFileError, match=r"task_regressors: zero.tsv: .*cannot scale a regressor"):
        Design.from_blocks(20, [("UP", 5, 9)]).task_regressors(1.0, hrf=flat)
