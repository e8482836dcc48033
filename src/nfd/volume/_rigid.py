"""Rigid-body matrices in SPM's parameterisation.

SPM writes a rigid transform as six numbers ``(tx, ty, tz, rx, ry, rz)``:
translations in mm along x, y, z and rotations in radians about x
(pitch), y (roll) and z (yaw), composed as ``T @ R1 @ R2 @ R3`` (Ashburner
& Friston, "Rigid body registration", in *Human Brain Function*, 2nd ed.,
2003; SPM's ``spm_matrix.m`` / ``spm_imatrix.m``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nfd.volume._errors import InvalidAffineError, InvalidOptionError

__all__ = ["spm_matrix", "spm_imatrix", "rigid_generators"]

#: Parameters SPM pads a short vector with (no motion, unit zooms, no shears).
_DEFAULTS = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0], dtype=np.float64)


def spm_matrix(params: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """4x4 matrix of SPM's affine parameters.

    Parameters
    ----------
    params : array_like, shape (6,) or up to (12,)
        ``(tx, ty, tz)`` in mm, ``(rx, ry, rz)`` in radians, then optionally
        zooms ``(zx, zy, zz)`` (default 1) and shears ``(sxy, sxz, syz)``
        (default 0), as SPM's ``spm_matrix``. Missing trailing entries take
        their defaults.

    Returns
    -------
    numpy.ndarray, shape (4, 4)
        ``T @ R1 @ R2 @ R3 @ Z @ S``, mapping mm to mm.

    Raises
    ------
    InvalidOptionError
        If ``params`` is not a finite vector of 1 to 12 numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.volume import spm_matrix
    >>> M = spm_matrix([1.0, 0, 0, 0, 0, np.pi / 2])
    >>> np.round(M @ [1.0, 0, 0, 1], 6)
    array([ 1., -1.,  0.,  1.])
    """
    p = np.asarray(params, dtype=np.float64).ravel()
    if not 1 <= p.size <= 12 or not np.all(np.isfinite(p)):
        raise InvalidOptionError(
            f"spm_matrix: params must be 1 to 12 finite numbers (6 for a rigid transform), got {p!r}"
        )
    q = _DEFAULTS.copy()
    q[: p.size] = p
    t = np.eye(4)
    t[:3, 3] = q[:3]
    c, s = np.cos(q[3]), np.sin(q[3])
    r1 = np.array([[1, 0, 0, 0], [0, c, s, 0], [0, -s, c, 0], [0, 0, 0, 1]])
    c, s = np.cos(q[4]), np.sin(q[4])
    r2 = np.array([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0], [0, 0, 0, 1]])
    c, s = np.cos(q[5]), np.sin(q[5])
    r3 = np.array([[c, s, 0, 0], [-s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    z = np.diag([q[6], q[7], q[8], 1.0])
    sh = np.array([[1, q[9], q[10], 0], [0, 1, q[11], 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float64)
    return t @ r1 @ r2 @ r3 @ z @ sh


def spm_imatrix(matrix: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The six rigid parameters of a 4x4 matrix (inverse of :func:`spm_matrix`).

    Zooms and shears are factored out first exactly as SPM's
    ``spm_imatrix`` does (Cholesky factor of ``R.T @ R``) and dropped, so for
    a rigid matrix ``spm_imatrix(spm_matrix(p)) == p`` (rotations within
    ``(-pi/2, pi/2)`` about y).

    Parameters
    ----------
    matrix : array_like, shape (4, 4)
        An affine mm-to-mm matrix.

    Returns
    -------
    numpy.ndarray, shape (6,)
        ``(tx, ty, tz)`` in mm and ``(rx, ry, rz)`` in radians.

    Raises
    ------
    InvalidAffineError
        If ``matrix`` is not a finite 4x4 matrix with an invertible 3x3 part.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.volume import spm_matrix, spm_imatrix
    >>> p = np.array([1.0, -2.0, 0.5, 0.01, -0.02, 0.03])
    >>> bool(np.allclose(spm_imatrix(spm_matrix(p)), p))
    True
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise InvalidAffineError(f"spm_imatrix: matrix must be a finite 4x4 array, got shape {m.shape}")
    r = m[:3, :3]
    try:
        c = np.linalg.cholesky(r.T @ r).T  # upper triangular, c.T @ c == r.T @ r
    except np.linalg.LinAlgError as exc:
        raise InvalidAffineError("spm_imatrix: the 3x3 part of matrix is singular") from exc
    p = np.zeros(12)
    p[:3] = m[:3, 3]
    p[6:9] = np.diag(c)
    if np.linalg.det(r) < 0:
        p[6] = -p[6]
    c = c / np.diag(c)[:, None]
    p[9:12] = c[0, 1], c[0, 2], c[1, 2]
    r0 = spm_matrix(np.concatenate([np.zeros(6), p[6:12]]))[:3, :3]
    r1 = np.linalg.solve(r0.T, r.T).T  # r @ inv(r0): rotations only

    def clip(x: float) -> float:
        return float(min(max(x, -1.0), 1.0))

    p[4] = np.arcsin(clip(r1[0, 2]))
    if (abs(p[4]) - np.pi / 2) ** 2 < 1e-9:
        p[3] = 0.0
        p[5] = np.arctan2(-clip(r1[1, 0]), clip(-r1[2, 0] / r1[0, 2]))
    else:
        cy = np.cos(p[4])
        p[3] = np.arctan2(clip(r1[1, 2] / cy), clip(r1[2, 2] / cy))
        p[5] = np.arctan2(clip(r1[0, 1] / cy), clip(r1[0, 0] / cy))
    return p[:6].copy()


def rigid_generators() -> npt.NDArray[np.float64]:
    """Derivatives of :func:`spm_matrix` at zero motion.

    Returns
    -------
    numpy.ndarray, shape (6, 4, 4)
        ``d spm_matrix(p) / d p[i]`` at ``p = 0``: unit translations (per mm)
        then the generators of rotations about x, y and z (per radian).
    """
    g = np.zeros((6, 4, 4))
    for i in range(3):
        g[i, i, 3] = 1.0
    g[3, 1, 2], g[3, 2, 1] = 1.0, -1.0  # about x
    g[4, 0, 2], g[4, 2, 0] = 1.0, -1.0  # about y
    g[5, 0, 1], g[5, 1, 0] = 1.0, -1.0  # about z
    return g
