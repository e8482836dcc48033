"""Bad input: one line naming it, exit 2 (contrasts, paradigms, grids, files)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nfd.hrf import HrfError, load_contrasts, main, parse_contrast
from nfd.simulate import BoldSpec, make_bold, write_bold


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bold")
    write_bold(make_bold(BoldSpec(paradigm="slow-er", n_volumes=80, parcels=2, seed=3)), folder)
    return folder


def _run(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str, paradigm: Path | None = None,
         parcels: Path | None = None, out: Path | None = None) -> tuple[int, str]:
    argv = ["estimate", "2.0", str(parcels or folder / "parcellation.nii.gz"), str(paradigm or folder / "paradigm.csv"),
            str(folder / "bold.nii.gz"), "-o", str(out or folder / "out"), "--no-parallel", "--no-figure", *extra]
    code = main(argv)
    return code, capsys.readouterr().err


def test_a_contrast_naming_an_unknown_condition(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contrasts = tmp_path / "c.json"
    contrasts.write_text('{"a-v": "audio - vidoe"}')
    code, err = _run(dataset, capsys, "-c", str(contrasts))
    assert code == 2
    assert err.count("\n") == 1 and "vidoe" in err and "expected one of ['audio', 'video']" in err


def test_an_onset_after_the_run(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paradigm = tmp_path / "late.csv"
    paradigm.write_text((dataset / "paradigm.csv").read_text() + '0 "audio" 400.000000 0.000000 1.\n')
    code, err = _run(dataset, capsys, paradigm=paradigm)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "late.csv" in lines[0] and "400" in lines[0]


def test_a_parcellation_off_the_bold_grid(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = nib.load(dataset / "parcellation.nii.gz")
    shifted = img.affine.copy()
    shifted[0, 3] += 1.5
    off = tmp_path / "off.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), shifted), off)
    code, err = _run(dataset, capsys, parcels=off)
    assert code == 2 and err.count("\n") == 1 and "off the BOLD grid" in err and "affines differ" in err
    cropped = tmp_path / "crop.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[:-1], img.affine), cropped)
    code, err = _run(dataset, capsys, parcels=cropped)
    assert code == 2 and err.count("\n") == 1 and "off the BOLD grid" in err


@pytest.mark.parametrize(("text", "message"), [
    ('0 "audio" 10.0 0.0 1.\n0 "audio" ten 0.0 1.\n', "line 2"),
    ('0 "audio" 10.0\n', "line 1 has 3 fields"),
])
def test_a_malformed_paradigm_line(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                   message: str) -> None:
    paradigm = tmp_path / "bad.csv"
    paradigm.write_text(text)
    code, err = _run(dataset, capsys, paradigm=paradigm)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_pyhrf_csv_pitfalls_read_as_pyhrf_writes_them(dataset: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Quoted names and numbers ending in a bare '.' (PyHRF's own files) give what plain numbers give."""
    plain = tmp_path / "plain.csv"
    quirky = tmp_path / "quirky.csv"
    rows = [line.split() for line in (dataset / "paradigm.csv").read_text().splitlines() if line.strip()]
    plain.write_text("".join(f"{r[0]},{r[1].strip(chr(34))},{float(r[2])},{float(r[3])}\n" for r in rows))
    quirky.write_text("".join(f'{r[0]} "{r[1].strip(chr(34))}" {float(r[2]):.0f}. {float(r[3]):.0f}. 1.\n'
                              for r in rows if float(r[2]).is_integer()))
    assert _run(dataset, capsys, paradigm=plain, out=tmp_path / "a")[0] == 0
    assert _run(dataset, capsys, paradigm=quirky, out=tmp_path / "b")[0] == 0
    assert (tmp_path / "b" / "parcels.tsv").exists()


def test_missing_files_and_bad_options(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(dataset, capsys, paradigm=tmp_path / "absent.csv")
    assert code == 2 and "protocol file not found" in err and err.count("\n") == 1
    code, err = _run(dataset, capsys, parcels=tmp_path / "absent.nii.gz")
    assert code == 2 and "parcellation not found" in err
    code, err = _run(dataset, capsys, "--dt", "-1")
    assert code == 2 and "dt" in err and err.count("\n") == 1
    code, err = _run(dataset, capsys, "--method", "jde")
    assert code == 2 and "invalid choice" in err and err.count("\n") == 1


def test_contrast_expressions() -> None:
    conditions = ["clicDaudio", "clicGaudio", "clicDvideo"]
    assert parse_contrast("c", "(clicDaudio + clicGaudio) / 2 - clicDvideo", conditions) == {
        "clicDaudio": 0.5, "clicGaudio": 0.5, "clicDvideo": -1.0}
    for bad, message in (("clicDaudio * clicGaudio", "product"), ("clicDaudio + 1", "number added"),
                         ("clicDaudio -", "cannot parse"), ("__import__('os')", "linear combination")):
        with pytest.raises(HrfError, match=message):
            parse_contrast("c", bad, conditions)


def test_contrasts_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('["audio"]')
    with pytest.raises(HrfError, match="expected a JSON object"):
        load_contrasts(path, ["audio"])
    path.write_text("{")
    with pytest.raises(HrfError, match="cannot read the contrasts as JSON"):
        load_contrasts(path, ["audio"])
