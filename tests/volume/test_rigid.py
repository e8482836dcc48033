"""spm_matrix / spm_imatrix against SPM's definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfd.volume import InvalidAffineError, InvalidOptionError, spm_imatrix, spm_matrix
from nfd.volume._rigid import rigid_generators


def test_translation_only() -> None:
    m = spm_matrix([1.0, -2.0, 3.0, 0, 0, 0])
    np.testing.assert_array_equal(m, [[1, 0, 0, 1], [0, 1, 0, -2], [0, 0, 1, 3], [0, 0, 0, 1]])


def test_rotations_follow_spm_signs() -> None:
    # SPM: R1 = [1 0 0; 0 c s; 0 -s c] (about x), R2 = [c 0 s; 0 1 0; -s 0 c], R3 = [c s 0; -s c 0; 0 0 1]
    q = np.pi / 2
    np.testing.assert_allclose(spm_matrix([0, 0, 0, q, 0, 0])[:3, :3], [[1, 0, 0], [0, 0, 1], [0, -1, 0]], atol=1e-15)
    np.testing.assert_allclose(spm_matrix([0, 0, 0, 0, q, 0])[:3, :3], [[0, 0, 1], [0, 1, 0], [-1, 0, 0]], atol=1e-15)
    np.testing.assert_allclose(spm_matrix([0, 0, 0, 0, 0, q])[:3, :3], [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-15)


def test_composition_order_is_t_r1_r2_r3() -> None:
    p = [1.0, 2.0, 3.0, 0.1, 0.2, 0.3]
    r1 = spm_matrix([0, 0, 0, p[3], 0, 0])
    r2 = spm_matrix([0, 0, 0, 0, p[4], 0])
    r3 = spm_matrix([0, 0, 0, 0, 0, p[5]])
    t = spm_matrix(p[:3])
    np.testing.assert_allclose(spm_matrix(p), t @ r1 @ r2 @ r3, atol=1e-15)


def test_zooms_and_shears_are_factored_out() -> None:
    p = np.array([1.0, 2.0, 3.0, 0.1, -0.2, 0.3])
    m = spm_matrix(np.concatenate([p, [1.1, 0.9, 1.05, 0.01, -0.02, 0.03]]))
    np.testing.assert_allclose(spm_imatrix(m), p, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-50, 50), min_size=3, max_size=3),
    st.lists(st.floats(-1.5, 1.5), min_size=3, max_size=3),
)
def test_imatrix_inverts_matrix(trans: list[float], rots: list[float]) -> None:
    p = np.array(trans + rots)
    np.testing.assert_allclose(spm_imatrix(spm_matrix(p)), p, atol=1e-9)


def test_generators_are_derivatives_at_zero() -> None:
    h = 1e-6
    for i, g in enumerate(rigid_generators()):
        e = np.zeros(6)
        e[i] = h
        numeric = (spm_matrix(e) - spm_matrix(-e)) / (2 * h)
        np.testing.assert_allclose(g, numeric, atol=1e-9)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidOptionError, match="params"):
        spm_matrix([np.nan, 0, 0])
    with pytest.raises(InvalidOptionError, match="params"):
        spm_matrix(np.zeros(13))
    with pytest.raises(InvalidAffineError, match="4x4"):
        spm_imatrix(np.eye(3))
    with pytest.raises(InvalidAffineError, match="singular"):
        spm_imatrix(np.diag([1.0, 0.0, 1.0, 1.0]))
