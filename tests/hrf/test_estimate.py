"""The estimator against planted truth from nfd's own BOLD generator (``nfd simulate bold``), end to end.

The generator (:mod:`nfd.simulate._bold`) shares no code with the estimator: its gamma HRFs, paradigm and
noise are its own; the estimator reads only the files it writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.cli import main as nfd_main
from nfd.design import read_hrf_tsv
from nfd.hrf import HrfEstimator, load_contrasts
from nfd.simulate import BoldSpec, make_bold, write_bold


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Default parcels (times to peak 4, 5, 6, 7 s; undershoot ratios 6 to 3; the 4th inactive), SNR 1 per voxel."""
    out = {}
    for paradigm in ("slow-er", "fast-er"):
        folder = tmp_path_factory.mktemp(paradigm)
        write_bold(make_bold(BoldSpec(paradigm=paradigm, seed=7)), folder)
        out[paradigm] = folder
    folder = tmp_path_factory.mktemp("sessions")
    write_bold(make_bold(BoldSpec(paradigm="fast-er", sessions=2, n_volumes=120, seed=8, noise="ar1")), folder)
    out["sessions"] = folder
    return out


def _truth(folder: Path) -> dict[int, dict[str, float]]:
    lines = (folder / "truth" / "parcels.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return {int(row.split("\t")[0]): dict(zip(header, row.split("\t"), strict=True)) for row in lines[1:]}


def _check(est: HrfEstimator, folder: Path) -> None:
    truth = _truth(folder)
    for label, result in est.parcels_.items():
        row = truth[label]
        if row["active"] == "0":
            assert not result.active, f"parcel {label} is inactive in the truth, p = {result.p_value}"
            continue
        assert result.active, label
        true_hrf = read_hrf_tsv(folder / "truth" / "hrf.tsv", column=str(label))
        on_knots = np.interp(est.times_, true_hrf.times_s, true_hrf.values)
        assert np.corrcoef(on_knots, result.fit.hrf)[0, 1] >= 0.95, label
        assert abs(result.shape.time_to_peak_s - float(row["time_to_peak_s"])) <= 0.5, label
        for c, condition in enumerate(est.conditions_):
            amplitude = float(row[f"amplitude_{condition}"])
            mean = float(result.fit.amplitudes[c].mean())
            if amplitude != 0:
                assert np.sign(mean) == np.sign(amplitude), (label, condition, mean)
                assert mean == pytest.approx(amplitude, rel=0.35), (label, condition)
            else:
                assert abs(mean) < 0.2 * max(abs(float(row[f"amplitude_{c2}"])) for c2 in est.conditions_)


@pytest.mark.parametrize("paradigm", ["slow-er", "fast-er"])
@pytest.mark.parametrize("method", ["fir", "r1glm"])
def test_times_to_peak_shapes_and_signs_are_recovered(datasets: dict[str, Path], paradigm: str, method: str) -> None:
    folder = datasets[paradigm]
    est = HrfEstimator(2.0, method=method).fit([folder / "bold.nii.gz"], folder / "parcellation.nii.gz",
                                               folder / "paradigm.csv")  # fmt: skip
    _check(est, folder)


def test_several_sessions_share_the_hrf_and_the_amplitudes(datasets: dict[str, Path]) -> None:
    folder = datasets["sessions"]
    runs = [folder / "bold_session-0.nii.gz", folder / "bold_session-1.nii.gz"]
    est = HrfEstimator(2.0).fit(runs, folder / "parcellation.nii.gz", folder / "paradigm.csv")
    _check(est, folder)


def test_the_basis_method_gets_the_signs_and_the_active_parcels(datasets: dict[str, Path]) -> None:
    folder = datasets["slow-er"]
    est = HrfEstimator(2.0, method="basis").fit([folder / "bold.nii.gz"], folder / "parcellation.nii.gz",
                                                folder / "paradigm.csv")  # fmt: skip
    truth = _truth(folder)
    assert [r.active for r in est.parcels_.values()] == [truth[k]["active"] == "1" for k in est.parcels_]
    assert est.parcels_[1].shape.time_to_peak_s < est.parcels_[3].shape.time_to_peak_s


def test_the_command_writes_every_file_and_its_hrf_serves_the_daemon(datasets: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    folder = datasets["slow-er"]
    out = tmp_path / "out"
    code = nfd_main(["hrf", "estimate", "2.0", str(folder / "parcellation.nii.gz"), str(folder / "paradigm.csv"),
                     str(folder / "bold.nii.gz"), "-o", str(out), "-c", str(folder / "contrasts.json"),
                     "--no-parallel"])  # fmt: skip
    assert code == 0
    names = {p.name for p in out.iterdir()}
    conditions = json.loads((out / "summary.json").read_text())["conditions"]
    contrasts = load_contrasts(folder / "contrasts.json", conditions)
    expected = {"hrf.tsv", "hrf_mapped.nii.gz", "parcels.tsv", "hrf.png", "report.html", "summary.json"}
    expected |= {f"hrf_parcel-{k}.tsv" for k in range(1, 5)} | {f"amplitude_{c}.nii.gz" for c in conditions}
    expected |= {f"contrast_{name}.nii.gz" for name in contrasts}
    assert expected <= names
    parcels = nib.load(folder / "parcellation.nii.gz").get_fdata()
    mapped = nib.load(out / "hrf_mapped.nii.gz").get_fdata()
    for label in range(1, 5):
        hrf = read_hrf_tsv(out / "hrf.tsv", column=str(label))
        voxel = tuple(np.argwhere(parcels == label)[0])
        np.testing.assert_allclose(mapped[voxel], hrf.values, atol=1e-6)
        assert read_hrf_tsv(out / f"hrf_parcel-{label}.tsv").kernel(0.125).sum() == pytest.approx(1.0)
    name, weights = next(iter(contrasts.items()))
    amps = {c: nib.load(out / f"amplitude_{c}.nii.gz").get_fdata() for c in conditions}
    contrast = nib.load(out / f"contrast_{name}.nii.gz").get_fdata()
    np.testing.assert_allclose(contrast, sum(w * amps[c] for c, w in weights.items()), atol=1e-4)
    rows = (out / "parcels.tsv").read_text().splitlines()
    assert rows[0].startswith("parcel\tn_voxels\tcentre_x_mm") and len(rows) == 5


def test_a_parcel_hrf_of_the_estimate_replaces_spm_canonical_in_the_daemon(
    datasets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``[signal] hrf = ".../hrf.tsv"`` with ``hrf_column = "<parcel>"``: nfd check-config takes it, the
    daemon's chains get that parcel's estimated HRF (peak 4 s for parcel 1, not SPM's 5 s at 0.1 s)."""
    from nfd.config import load_config
    from nfd.daemon.build import build_chains, load_design, load_hrf
    from tests.helpers.study import synthetic_study

    folder = datasets["slow-er"]
    out = tmp_path / "estimate"
    assert nfd_main(["hrf", "estimate", "2.0", str(folder / "parcellation.nii.gz"), str(folder / "paradigm.csv"),
                     str(folder / "bold.nii.gz"), "-o", str(out), "--no-parallel", "--no-figure"]) == 0
    study_folder = tmp_path / "study"
    study_folder.mkdir()
    config = synthetic_study(study_folder, n=12, tr=2.0,
                             extra=f'[signal]\nhrf = "{out / "hrf.tsv"}"\nhrf_column = "1"\n').config
    capsys.readouterr()
    assert nfd_main(["check-config", str(config)]) == 0, capsys.readouterr().err
    cfg = load_config(config)
    hrf = load_hrf(cfg)
    assert hrf is not None and hrf.column == "1"
    assert abs(hrf.time_to_peak_s - 4.0) <= 0.6  # the knots are 1 s apart; the file holds the knots
    chain = next(iter(build_chains(cfg, load_design(cfg)).values()))
    assert chain.options.hrf is not None and chain.options.hrf.column == "1"


def test_parallel_parcels_give_the_same_numbers(datasets: dict[str, Path]) -> None:
    folder = datasets["fast-er"]
    args = ([folder / "bold.nii.gz"], folder / "parcellation.nii.gz", folder / "paradigm.csv")
    seen: list[tuple[int, int]] = []
    serial = HrfEstimator(2.0).fit(*args)
    parallel = HrfEstimator(2.0, jobs=2, progress=lambda done, total: seen.append((done, total))).fit(*args)
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for label, result in serial.parcels_.items():
        np.testing.assert_allclose(parallel.parcels_[label].fit.hrf, result.fit.hrf, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(parallel.parcels_[label].fit.amplitudes, result.fit.amplitudes, rtol=1e-9,
                                   atol=1e-12)  # fmt: skip
