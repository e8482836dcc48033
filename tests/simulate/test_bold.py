"""nfd.simulate.make_bold / write_bold / bold_main: artificial task fMRI with a known HRF per parcel.

The checks recompute the truth independently: the HRFs from scipy.stats.gamma with the parameters the truth
records, the regressors with numpy's direct convolution of a stimulus built here from paradigm.csv, and
paradigm.csv is read back with the engine's reader (nfd.design.load_protocol: PyHRF format compatibility).
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import stats

from nfd.design import load_protocol
from nfd.simulate import BoldSimulation, BoldSpec, SimulationError, bold_main, make_bold, write_bold

DT = 0.01
LINE = re.compile(r'^(\d+) "([A-Za-z]\w*)" (\d+\.\d{6}) (\d+\.\d{6}) (-?\d+\.\d{6})$')


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _image(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).get_fdata(dtype=np.float64))


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> tuple[BoldSimulation, Path]:
    sim = make_bold()
    return sim, write_bold(sim, tmp_path_factory.mktemp("bold") / "out")


def _reference_hrf(row: dict[str, str], duration: float = 25.0) -> np.ndarray:
    """The double gamma of a parcels.tsv row, on the 0.01 s grid up to `duration`, peak 1 (scipy's gamma)."""
    t = np.arange(round(duration / DT) + 1) * DT
    h = stats.gamma.pdf(t, float(row["peak_shape"]), scale=float(row["peak_scale_s"])) - stats.gamma.pdf(
        t, float(row["undershoot_shape"]), scale=float(row["undershoot_scale_s"])
    ) / float(row["undershoot_ratio"])
    return np.asarray(h / h.max())


def test_default_parcels_peak_at_4_to_7_s_where_the_truth_says(default: tuple[BoldSimulation, Path]) -> None:
    _sim, out = default
    rows = _tsv(out / "truth" / "parcels.tsv")
    assert [float(r["time_to_peak_s"]) for r in rows] == [4.0, 5.0, 6.0, 7.0]
    assert len({r["undershoot_ratio"] for r in rows}) == 4  # the undershoots differ
    hrf = _tsv(out / "truth" / "hrf.tsv")
    assert list(hrf[0]) == ["time_s", "1", "2", "3", "4"]
    assert [float(r["time_s"]) for r in hrf] == pytest.approx(np.arange(251) * 0.1, abs=1e-9)
    for row in rows:
        reference = _reference_hrf(row)
        assert np.argmax(reference) * DT == pytest.approx(float(row["time_to_peak_s"]), abs=1e-9)
        np.testing.assert_allclose([float(r[row["parcel"]]) for r in hrf], reference[::10], atol=1e-9)
        # the peak gamma's mode (k - 1) theta comes a little after the sum's peak (the undershoot pulls it earlier)
        mode = (float(row["peak_shape"]) - 1) * float(row["peak_scale_s"])
        assert 0 < mode - float(row["time_to_peak_s"]) < 0.5
        half = reference >= 0.5
        assert np.count_nonzero(half) * DT == pytest.approx(float(row["fwhm_s"]), abs=0.02)


def test_a_single_gamma_from_a_file_peaks_at_its_mode(tmp_path: Path) -> None:
    t = np.arange(0, 30.001, 0.05)
    shapes, scales = (7.0, 9.0), (0.8, 0.75)  # modes 4.8 s and 6.0 s
    path = tmp_path / "hrf.tsv"
    lines = [
        "time_s\ta\tb",
        *(
            f"{float(x)!r}\t"
            + "\t".join(repr(float(stats.gamma.pdf(x, k, scale=s))) for k, s in zip(shapes, scales, strict=True))
            for x in t
        ),
    ]
    path.write_text("\n".join(lines) + "\n")
    sim = make_bold(BoldSpec(hrf=str(path), parcels=2, n_volumes=20, snr=math.inf))
    assert [h.time_to_peak_s for h in sim.hrfs] == pytest.approx(
        [(k - 1) * s for k, s in zip(shapes, scales, strict=True)], abs=0.011
    )
    assert all(math.isnan(h.undershoot_ratio) for h in sim.hrfs)


def test_canonical_is_spm_double_gamma() -> None:
    sim = make_bold(BoldSpec(hrf="canonical", n_volumes=20))
    row = {"peak_shape": "6", "peak_scale_s": "1", "undershoot_shape": "16", "undershoot_scale_s": "1",
           "undershoot_ratio": "6"}  # fmt: skip
    for h in sim.hrfs:
        np.testing.assert_allclose(h.values, _reference_hrf(row), atol=1e-12)
        assert h.time_to_peak_s == pytest.approx(np.argmax(_reference_hrf(row)) * DT)


def _reference_regressor(events: list[tuple[int, str, float, float, float]], condition: str, session: int,
                         hrf: np.ndarray, n: int, tr: float) -> np.ndarray:  # fmt: skip
    """x = dt * (stimulus * hrf) at t = i * tr, with numpy's direct convolution."""
    n_fine = round(n * tr / DT) + 1
    s = np.zeros(n_fine)
    for k, c, onset, duration, amplitude in events:
        if k == session and c == condition:
            start = round(onset / DT)
            if duration == 0:
                s[start] += amplitude / DT
            else:
                s[start : round((onset + duration) / DT)] += amplitude
    return np.asarray(DT * np.convolve(s, hrf)[np.round(np.arange(n) * tr / DT).astype(int)])


def _paradigm(path: Path) -> list[tuple[int, str, float, float, float]]:
    out = []
    for line in path.read_text().splitlines():
        m = LINE.match(line)
        assert m, line  # PyHRF's format: quoted names, %f numbers
        out.append((int(m[1]), m[2], float(m[3]), float(m[4]), float(m[5])))
    return out


@pytest.mark.parametrize("paradigm", ["block", "fast-er"])
def test_noise_free_bold_is_baseline_times_amplitude_times_regressor(paradigm: str, tmp_path: Path) -> None:
    spec = BoldSpec(paradigm=paradigm, n_volumes=80, tr=1.5, sessions=2, snr=math.inf, drift=0.0, seed=4)
    out = write_bold(make_bold(spec), tmp_path)
    events = _paradigm(out / "paradigm.csv")
    rows = _tsv(out / "truth" / "parcels.tsv")
    labels = _image(out / "parcellation.nii.gz").astype(int)
    baseline = _image(out / "truth" / "baseline.nii.gz")
    maps = {c: _image(out / "truth" / f"amplitudes_{c}.nii.gz") for c in ("audio", "video")}
    for k in range(2):
        bold = _image(out / f"bold_session-{k}.nii.gz")
        expected = np.repeat(baseline[..., None], 80, axis=3)
        for row in rows:
            inside = labels == int(row["parcel"])
            hrf = _reference_hrf(row)
            relative = sum(maps[c][inside][:, None] / 100 * _reference_regressor(events, c, k, hrf, 80, 1.5)[None]
                           for c in maps)  # fmt: skip
            expected[inside] *= 1 + relative
        np.testing.assert_allclose(bold, expected, rtol=2e-6)
    assert {e[0] for e in events} == {0, 1}
    assert all(e[3] > 0 for e in events) == (paradigm == "block")


@pytest.mark.parametrize("noise", ["white", "ar1"])
def test_measured_snr_is_the_requested_in_active_voxels(noise: str) -> None:
    sim = make_bold(BoldSpec(paradigm="fast-er", n_volumes=1500, snr=0.7, noise=noise, ar=0.4, drift=0.0,
                             parcels=2, shape=(5, 6, 3), seed=2))  # fmt: skip
    relative = np.einsum("cv,cn->vn", sim.amplitudes.reshape(2, -1)[:, sim.parcellation.ravel() == 1] / 100,
                         sim.regressors[0][0])  # fmt: skip
    base = sim.baseline.ravel()[sim.parcellation.ravel() == 1]
    activation = base[:, None] * relative
    noise_part = sim.bold[0].reshape(-1, 1500)[sim.parcellation.ravel() == 1] - base[:, None] * (1 + relative)
    measured = activation.std(axis=1) / noise_part.std(axis=1)
    assert np.all(np.abs(measured / 0.7 - 1) < 0.1)
    lag1 = np.mean([np.corrcoef(e[:-1], e[1:])[0, 1] for e in noise_part])
    assert lag1 == pytest.approx(0.4 if noise == "ar1" else 0.0, abs=0.05)


def test_the_inactive_parcel_has_no_task_variance(default: tuple[BoldSimulation, Path]) -> None:
    sim, _out = default
    assert list(sim.active) == [True, True, True, False]
    assert np.all(sim.amplitudes[:, sim.parcellation == 4] == 0)
    assert np.all(sim.amplitudes[:, sim.parcellation == 0] == 0)
    for parcel, condition, sign in ((1, 0, 1), (2, 0, 1), (2, 1, -1), (3, 1, 1)):
        mean = sim.bold[0][sim.parcellation == parcel].mean(axis=0)
        assert sign * np.corrcoef(mean, sim.regressors[0][parcel - 1, condition])[0, 1] > 0.5
    inactive = sim.bold[0][sim.parcellation == 4]
    for c in range(2):
        r = [np.corrcoef(v, sim.regressors[0][3, c])[0, 1] for v in inactive]
        assert abs(float(np.mean(r))) < 0.05


def test_paradigm_csv_round_trips_through_the_engine_reader(tmp_path: Path) -> None:
    sim = make_bold(BoldSpec(paradigm="slow-er", conditions=("calculaudio", "clicDvideo", "sentence"), sessions=2,
                             n_volumes=120, tr=2.4))  # fmt: skip
    out = write_bold(sim, tmp_path)
    for k in range(2):
        design = load_protocol(out / "paradigm.csv", n_volumes=120, tr=2.4, session=k)
        mine = [(e.condition, e.onset, e.duration, e.amplitude) for e in sim.events if e.session == k]
        theirs = sorted((e.condition, e.onset, e.duration, e.amplitude) for e in design.events)
        assert sorted(mine) == theirs
        assert {e.condition for e in design.events} == set(sim.conditions)
    again = make_bold(BoldSpec(paradigm=str(out / "paradigm.csv"), n_volumes=120, tr=2.4))
    assert again.events == sim.events  # conditions in order of first appearance in the file
    assert again.conditions == tuple(dict.fromkeys(e.condition for e in sim.events))


def test_contrasts_name_only_conditions_present(tmp_path: Path) -> None:
    for conditions in (("audio", "video"), ("a", "b", "c"), ("only",)):
        out = write_bold(make_bold(BoldSpec(conditions=conditions, n_volumes=60, paradigm="fast-er")),
                         tmp_path / "_".join(conditions))  # fmt: skip
        table = json.loads((out / "contrasts.json").read_text())
        assert table
        for name, expression in table.items():
            names = set(re.findall(r"[A-Za-z]\w*", expression))
            assert names <= set(conditions) and names
            assert name.replace("-", " - ") == expression
    assert json.loads((tmp_path / "audio_video" / "contrasts.json").read_text()) == {"audio-video": "audio - video"}


def test_a_real_pyhrf_paradigm_reads_as_the_engine_reads_it(shared_data: Path) -> None:
    path = shared_data / "pyhrf_localizer" / "paradigm_loc.csv"
    sim = make_bold(BoldSpec(paradigm=str(path), n_volumes=125, tr=2.4, parcels=2, snr=math.inf))
    design = load_protocol(path, n_volumes=125, tr=2.4)
    assert sorted((e.condition, e.onset, e.duration, e.amplitude) for e in sim.events) == sorted(
        (e.condition, e.onset, e.duration, e.amplitude) for e in design.events
    )
    assert len(sim.conditions) == len({e.condition for e in design.events})


def test_activation_file_and_drift_and_motion(tmp_path: Path) -> None:
    path = tmp_path / "activation.json"
    path.write_text(json.dumps({"1": {"video": -1.5}, "2": {"audio": 3.0, "video": 0.5}}))
    sim = make_bold(BoldSpec(activation=str(path), parcels=3, n_volumes=60, snr=math.inf, drift=2.0, motion=0.4,
                             spread=0.0))  # fmt: skip
    np.testing.assert_array_equal(sim.parcel_amplitudes, [[0.0, -1.5], [3.0, 0.5], [0.0, 0.0]])
    walk = sim.motion[0]
    assert np.abs(walk[:, :3]).max() == pytest.approx(0.4)
    assert np.abs(walk[:, 3:]).max() == pytest.approx(np.deg2rad(0.4))
    files = write_bold(sim, tmp_path / "out")
    assert len(_tsv(files / "truth" / "motion.tsv")) == 60
    # without drift, the noise-free background (no activation) is the 6 parameters (rotations as 50 mm arcs) x gains
    still = make_bold(BoldSpec(**{**sim.spec.__dict__, "drift": 0.0}))
    nuisance = still.bold[0].reshape(-1, 60) / still.baseline.reshape(-1, 1) - 1
    background = still.parcellation.ravel() == 0
    walk = walk * np.array([1, 1, 1, 50, 50, 50])
    gains, *_ = np.linalg.lstsq(walk, nuisance[background].T * 100, rcond=None)
    np.testing.assert_allclose(walk @ gains, nuisance[background].T * 100, atol=1e-4)
    assert 0.7 < np.std(gains) < 1.3  # N(0, 1) gains at 1 % per mm


def test_drift_lies_in_its_basis() -> None:
    sim = make_bold(BoldSpec(parcels=1, n_volumes=50, snr=math.inf, drift=3.0, amplitude=1.0))
    background = sim.bold[0][sim.parcellation == 0] / sim.baseline[sim.parcellation == 0][:, None] - 1
    t = np.arange(50)
    basis = np.column_stack([2 * t / 49 - 1, *(np.cos(np.pi * j * (t + 0.5) / 50) for j in (1, 2, 3))])
    coefficients, *_ = np.linalg.lstsq(basis, background.T, rcond=None)
    np.testing.assert_allclose(basis @ coefficients, background.T, atol=1e-6)
    assert 0.5 < np.std(coefficients / 0.03) < 2  # c ~ N(0, 1/4) x 3 %


def test_equal_seeds_give_identical_files(tmp_path: Path) -> None:
    spec = BoldSpec(paradigm="fast-er", n_volumes=60, sessions=2, noise="ar1", motion=0.3, seed=11)
    a, b = write_bold(make_bold(spec), tmp_path / "a"), write_bold(make_bold(spec), tmp_path / "b")
    c = write_bold(make_bold(BoldSpec(**{**spec.__dict__, "seed": 12})), tmp_path / "c")
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    assert (a / "bold_session-0.nii.gz").read_bytes() != (c / "bold_session-0.nii.gz").read_bytes()


def test_bold_main_writes_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bold_main(["--out", str(tmp_path / "o"), "--n-volumes", "40", "--parcels", "3", "--hrf", "canonical",
                      "--noise", "ar1", "--seed", "5"]) == 0  # fmt: skip
    assert len(capsys.readouterr().err.splitlines()) == 1
    out = tmp_path / "o"
    for name in ("bold.nii.gz", "parcellation.nii.gz", "paradigm.csv", "contrasts.json", "truth/hrf.tsv",
                 "truth/parcels.tsv", "truth/amplitudes_audio.nii.gz", "truth/amplitudes_video.nii.gz",
                 "truth/truth.json"):  # fmt: skip
        assert (out / name).is_file(), name
    image = nib.load(out / "bold.nii.gz")
    assert image.shape == (20, 20, 10, 40) and image.header["pixdim"][4] == pytest.approx(2.0)
    labels = np.asarray(nib.load(out / "parcellation.nii.gz").dataobj)
    assert labels.dtype == np.int16 and sorted(np.unique(labels)) == [0, 1, 2, 3]
    assert json.loads((out / "truth" / "truth.json").read_text())["spec"]["seed"] == 5


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--hrf", "boxcar"], "hrf 'boxcar'"),
        (["--snr", "0"], "snr must be"),
        (["--snr", "-1"], "snr must be"),
        (["--paradigm", "missing.csv"], "cannot read the paradigm"),
        (["--paradigm", "BAD"], "paradigm 'BAD'"),
        (["--noise", "pink"], "noise must be"),
        (["--ar", "1.0"], "ar must be"),
        (["--parcels", "12"], "do not fit"),
        (["--n-volumes", "x"], "invalid int value"),
        (["--hrf", "missing.tsv"], "cannot read the HRF"),
        (["--conditions", "a b,c"], "condition 'a b'"),
        (["--conditions", "a,a"], "expected distinct names"),
        (["--hrf", "HRF2"], "2 HRF columns, expected one per parcel (4)"),
        (["--activation", "ACT_BAD"], "condition 'speech'"),
        (["--activation", "missing.json"], "cannot read the activation"),
        (["--shape", "20,20"], "--shape '20,20'"),
        (["--hrf-duration", "8"], "too short"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], words: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    (tmp_path / "hrf2.tsv").write_text("time_s\t1\t2\n0\t0\t0\n1\t1\t1\n2\t0\t0\n")
    (tmp_path / "act.json").write_text(json.dumps({"1": {"speech": 1.0}}))
    argv = [a.replace("missing", str(tmp_path / "missing")).replace("HRF2", str(tmp_path / "hrf2.tsv"))
            .replace("ACT_BAD", str(tmp_path / "act.json")) for a in argv]  # fmt: skip
    assert bold_main(["--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("nfd simulate bold: ") and words in err[0], err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('0 "audio" 1.0\n', "line 1: 3 fields"),
        ('0 "audio" 1.0 0.0 1.\n0 "audio" x 0 1\n', "line 2"),
        ('0 "audio" 10.0 -1 1\n', "line 1"),
        ('0 "audio" 900.0 0 1\n', "an onset at 900"),
    ],
)
def test_malformed_paradigm_lines_are_named(text: str, words: str, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(SimulationError, match=words):
        make_bold(BoldSpec(paradigm=str(path), n_volumes=100))


def test_spec_errors_name_the_argument() -> None:
    with pytest.raises(SimulationError, match="conditions 'audio'"):
        make_bold(BoldSpec(conditions="audio"))  # type: ignore[arg-type]
    with pytest.raises(SimulationError, match="sessions"):
        make_bold(BoldSpec(sessions=0))
    path_free = make_bold(BoldSpec(n_volumes=20, snr=math.inf, noise="white"))
    assert not path_free.noise_sd.any()


def test_pyhrf_pitfalls_quoted_names_bare_dots_commas_header(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('session,condition,onset,duration,amplitude\n3,"audio",10.,0.,1.\n3 video 20.5 2 2.\n')
    sim = make_bold(BoldSpec(paradigm=str(path), n_volumes=30))
    assert [(e.session, e.condition, e.onset, e.duration, e.amplitude) for e in sim.events] == [
        (0, "audio", 10.0, 0.0, 1.0),
        (0, "video", 20.5, 2.0, 2.0),
    ]
