"""PyHRF's real localizer (../shared/data/pyhrf_localizer): two parcels in the superior temporal gyri.

TR 2.4 s (the header's 1.0 is wrong); the parcels' centres lie at x = +56 and -56 mm, y 0 to 6, z 10 to 14
in the image's world (MNI) coordinates: the lateral superior temporal gyri, auditory cortex, where the
response to the audio sentences and calculations exceeds the response to their video versions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nfd.hrf import HrfEstimator, parse_contrast

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def localizer(shared_data: Path) -> Path:
    return shared_data / "pyhrf_localizer"


@pytest.mark.parametrize("method", ["fir", "basis", "r1glm"])
def test_both_parcels_peak_between_3_and_7_s_and_prefer_audio(localizer: Path, method: str) -> None:
    est = HrfEstimator(2.4, method=method).fit([localizer / "subj0_bold_session0.nii.gz"],
                                               localizer / "subj0_parcellation.nii.gz",
                                               localizer / "paradigm_loc_av.csv")  # fmt: skip
    assert est.times_[1] == pytest.approx(1.2)  # PyHRF's dt = TR / trunc(TR)
    weights = parse_contrast("audio-video", "audio - video", est.conditions_)
    centres = est.parcel_centres_mm()
    rows = {row["parcel"]: row for row in est.summary({"audio-video": weights})}
    for label, result in est.parcels_.items():
        x, y, z = centres[label]
        assert 45 < abs(x) < 65 and -15 < y < 15 and 0 < z < 25  # lateral superior temporal gyrus
        assert 3.0 <= result.shape.time_to_peak_s <= 7.0, (method, label)
        assert result.active
        assert rows[label]["contrast_audio-video"] > 0.5, (method, label)  # percent signal change


def test_the_ten_condition_paradigm(localizer: Path) -> None:
    """paradigm_loc.csv: the same events in 10 conditions; auditory ones above their video twins."""
    est = HrfEstimator(2.4).fit([localizer / "subj0_bold_session0.nii.gz"], localizer / "subj0_parcellation.nii.gz",
                                localizer / "paradigm_loc.csv")  # fmt: skip
    assert len(est.conditions_) == 10
    contrast = parse_contrast("a-v", "calculaudio + phraseaudio - calculvideo - phrasevideo", est.conditions_)
    for row in est.summary({"a-v": contrast}):
        assert 3.0 <= row["time_to_peak_s"] <= 7.0
        assert row["contrast_a-v"] > 0
