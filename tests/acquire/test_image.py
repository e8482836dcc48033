from __future__ import annotations

import numpy as np
import pytest

from nfd.acquire import ScanImage


def test_data_stored_c_contiguous_float32_and_affine_float64() -> None:
    fortran = np.asfortranarray(np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    img = ScanImage(data=fortran, affine=np.diag([2, 3, 4, 1]))
    assert img.data.dtype == np.float32 and img.data.flags.c_contiguous
    np.testing.assert_array_equal(img.data, fortran)
    assert img.affine.dtype == np.float64
    assert img.shape == (2, 3, 4)
    assert img.zooms == (2.0, 3.0, 4.0)


def test_float32_c_array_is_not_copied() -> None:
    data = np.zeros((2, 2, 2), np.float32)
    assert ScanImage(data=data, affine=np.eye(4)).data is data


@pytest.mark.parametrize(
    ("data", "affine", "message"),
    [
        (np.zeros((2, 2)), np.eye(4), "expected a 3-D array of real numbers"),
        (np.zeros((2, 2, 2), complex), np.eye(4), "expected a 3-D array of real numbers"),
        (np.zeros((2, 2, 2)), np.eye(3), r"expected a \(4, 4\) array"),
    ],
)
def test_invalid_arrays_are_refused(data: np.ndarray, affine: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScanImage(data=data, affine=affine)


def test_errors_and_images_cross_process_boundaries() -> None:
    import pickle

    from nfd.acquire import IncompleteFileError, NotAScanError

    for error in (IncompleteFileError("a.dcm", "short"), NotAScanError("b.txt", "text")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error)
        assert (again.path, again.reason, str(again)) == (error.path, error.reason, str(error))
    image = ScanImage(data=np.ones((2, 2, 2), np.float32), affine=np.eye(4), header_index=3)
    again_image = pickle.loads(pickle.dumps(image))
    np.testing.assert_array_equal(again_image.data, image.data)
    assert again_image.header_index == 3
    assert type(image).__module__ == "nfd.acquire"
