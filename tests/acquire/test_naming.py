from __future__ import annotations

import re

import pytest

from nfd.acquire import FileNaming


def test_default_pattern_gives_siemens_volume_numbers() -> None:
    naming = FileNaming()
    assert naming.pattern == FileNaming.DEFAULT
    assert naming.volume_number("001_000007_000001.dcm") == 1
    assert naming.volume_number("001_000013_000155.dcm") == 155
    assert naming.series("001_000013_000155.dcm") == "000013"


@pytest.mark.parametrize(
    "name",
    [
        "001_000007_000001.dcm.tmp",  # temporary name during a write
        ".001_000007_000001.dcm",
        "001_000007_00001.dcm",  # 5 digits
        "001_000007_000001.nii",
        "notes.txt",
        "",
    ],
)
def test_default_pattern_rejects_other_names(name: str) -> None:
    assert FileNaming().volume_number(name) is None


def test_custom_pattern_and_compiled_pattern() -> None:
    naming = FileNaming(re.compile(r"vol_(?P<volume>\d+)\.nii(\.gz)?"))
    assert naming.volume_number("vol_0012.nii.gz") == 12
    assert naming.volume_number("vol_0012.nii.gz.part") is None  # whole-name match
    assert naming.series("vol_0012.nii") is None


def test_pattern_without_volume_group_is_refused_with_the_pattern_named() -> None:
    with pytest.raises(ValueError, match=r"no named group for the volume number.*\(\?P<volume>"):
        FileNaming(r"^\d{3}_(\d{6})_(\d{6})\.dcm$")


def test_invalid_regular_expression_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid regular expression"):
        FileNaming(r"(?P<volume>\d+")


def test_non_digit_volume_group_is_not_a_number() -> None:
    naming = FileNaming(r"(?P<volume>[a-z]+)\.dcm")
    assert naming.volume_number("abc.dcm") is None
