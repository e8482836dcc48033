"""Whole-brain incremental GLM: t-maps of a task contrast after every volume (Bagarinao et al., 2003)."""

from __future__ import annotations

import math
import operator

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike

from nfd._checks import ensure_int
from nfd.timeseries._errors import TimeseriesError
from nfd.timeseries._glm import dct_highpass

__all__ = ["IncrementalGLM", "WholeBrainDesign"]


class WholeBrainDesign:
    """The regressors of the whole-brain GLM, one row per volume.

    Columns: the task regressors (HRF-convolved, e.g.
    :meth:`nfd.design.Design.task_regressors`), the constant, a linear
    trend, SPM's DCT high-pass basis for the whole run (``high_pass_s``
    cut-off, :func:`nfd.timeseries.dct_highpass`), and, with
    ``motion=True``, the six motion parameters of the volume (mm, radians)
    as given to :meth:`row`. Rows are fixed once given, as an incremental
    GLM needs, so the high-pass basis is that of the whole run (its length
    is known in advance), over the volumes after the skipped ones.

    Parameters
    ----------
    task_regressors : array_like, shape (n_volumes, q)
        Rows indexed by 0-based acquisition index.
    tr : float
        Repetition time, seconds.
    skip_volumes : int
        Initial volumes discarded.
    high_pass_s : float or None
        DCT cut-off period, seconds (None: no high-pass).
    motion : bool
        Whether rows end with the six motion parameters.

    Raises
    ------
    TimeseriesError
        If the arguments are inconsistent.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.timeseries import WholeBrainDesign
    >>> design = WholeBrainDesign(np.zeros((100, 1)), tr=2.0, skip_volumes=0)
    >>> design.n_regressors, design.columns[:3]  # task, constant, trend, 3 cosines, 6 motion
    (12, ('task_0', 'constant', 'trend'))
    >>> design.contrast([1.0]).tolist()[:3]
    [1.0, 0.0, 0.0]
    """

    def __init__(
        self,
        task_regressors: ArrayLike,
        *,
        tr: float,
        skip_volumes: int = 0,
        high_pass_s: float | None = 128.0,
        motion: bool = True,
    ) -> None:
        task = np.asarray(task_regressors, dtype=np.float64)
        if task.ndim != 2 or task.shape[0] < 1 or not np.all(np.isfinite(task)):
            raise TimeseriesError(
                f"task_regressors must be a finite (n_volumes, q) array, got shape {task.shape}"
            )
        n_volumes, q = task.shape
        skip = operator.index(skip_volumes)
        if not 0 <= skip < n_volumes:
            raise TimeseriesError(f"skip_volumes must be in 0..{n_volumes - 1}, got {skip}")
        span = n_volumes - skip
        positions = np.arange(span, dtype=np.float64)
        drift = (
            np.zeros((span, 0))
            if high_pass_s is None
            else dct_highpass(positions, span, tr, high_pass_s)
        )
        fixed = np.zeros((n_volumes, q + 2 + drift.shape[1]))
        fixed[:, :q] = task
        fixed[skip:, q] = 1.0
        fixed[skip:, q + 1] = positions / max(1, span - 1)
        fixed[skip:, q + 2 :] = drift
        self._fixed = fixed
        self._skip = skip
        self._q = q
        self._motion = bool(motion)
        names = [f"task_{j}" for j in range(q)] + ["constant", "trend"]
        names += [f"cosine_{k + 1}" for k in range(drift.shape[1])]
        if self._motion:
            names += ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
        self._columns = tuple(names)

    @property
    def n_regressors(self) -> int:
        """Number of columns of a row."""
        return len(self._columns)

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names (``task_<j>``, ``constant``, ``trend``, ``cosine_<k>``, motion)."""
        return self._columns

    def row(self, index: int, motion_params: ArrayLike | None = None) -> np.ndarray:
        """The regressors of volume `index` (0-based acquisition index, not skipped).

        Raises
        ------
        TimeseriesError
            If `index` is skipped or outside the run, or the motion
            parameters are missing (with ``motion=True``) or not 6 numbers.
        """
        i = operator.index(index)
        if not self._skip <= i < self._fixed.shape[0]:
            raise TimeseriesError(
                f"volume index {i} is outside the processed volumes {self._skip}..{self._fixed.shape[0] - 1}"
            )
        if not self._motion:
            return self._fixed[i].copy()
        if motion_params is None:
            raise TimeseriesError("this design has motion regressors: pass the volume's 6 motion parameters")
        m = np.asarray(motion_params, dtype=np.float64).ravel()
        if m.shape != (6,) or not np.all(np.isfinite(m)):
            raise TimeseriesError(f"motion_params must be 6 finite numbers (mm, radians), got {motion_params!r}")
        return np.concatenate([self._fixed[i], m])

    def contrast(self, task_contrast: ArrayLike) -> np.ndarray:
        """A task contrast (one weight per task regressor) padded with zeros to a row's length.

        Raises
        ------
        TimeseriesError
            If `task_contrast` does not have one weight per task regressor.
        """
        c = np.asarray(task_contrast, dtype=np.float64).ravel()
        if c.shape != (self._q,):
            raise TimeseriesError(f"task_contrast must have {self._q} weights (one per task regressor), got {c.shape}")
        return np.concatenate([c, np.zeros(self.n_regressors - self._q)])


class IncrementalGLM:
    """An ordinary least-squares GLM at every voxel, updated volume by volume.

    After ``n`` volumes with regressor rows ``f_t`` and voxel values
    ``y_t``, the sufficient statistics are ``G = sum f f'`` (p x p),
    ``D = sum f y'`` (p x voxels) and ``s = sum y**2`` (voxels), each a
    rank-one update per volume (Bagarinao, Matsuo, Nakai & Sato, 2003,
    NeuroImage 19:422-429, eqs. 17-18). With ``G = L L'`` (Cholesky) and
    ``A = L^-1 D``: ``beta = L'^-1 A``, the residual sum of squares
    ``RSS = s - sum(A**2)`` (eqs. 8-9, 22) and, for a contrast ``c`` with
    ``w = L^-1 c``, ``t = w'A / sqrt(RSS / (n - p) * w'w)`` (eq. 23): the
    batch OLS t-statistic on the same data. The p x p factor is computed
    afresh when a map is asked for (microseconds; the paper updates it
    recursively, which gives the same factor); the voxel-sized work is one
    pass to update and one matrix product for a map.

    Holds ``8 (p + 1)`` bytes per voxel; one instance per run, used from
    one thread at a time (:meth:`update` and :meth:`t_map` may run in a
    worker thread after the feedback is sent).

    Parameters
    ----------
    n_voxels : int
        Number of voxels per volume (e.g. the voxels of a brain mask).
    contrast : array_like, shape (p,)
        Contrast over the regressors (e.g.
        :meth:`WholeBrainDesign.contrast`); p is the row length.

    Raises
    ------
    TimeseriesError
        If `n_voxels` is not positive or the contrast is empty, not finite
        or all zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from nfd.timeseries import IncrementalGLM
    >>> rng = np.random.default_rng(0)
    >>> task = np.tile([0.0] * 5 + [1.0] * 5, 4)
    >>> glm = IncrementalGLM(n_voxels=2, contrast=[1.0, 0.0])
    >>> for x in task:  # voxel 0 responds to the task, voxel 1 does not
    ...     glm.update(np.array([100 + 2 * x, 100.0]) + rng.normal(0, 0.5, 2), [x, 1.0])
    >>> t = glm.t_map()
    >>> bool(t[0] > 8), bool(abs(t[1]) < 3)
    (True, True)
    """

    def __init__(self, n_voxels: int, contrast: ArrayLike) -> None:
        ensure_int(n_voxels, "n_voxels", minimum=1, error=TimeseriesError)
        c = np.asarray(contrast, dtype=np.float64).ravel()
        if c.size == 0 or not np.all(np.isfinite(c)) or not c.any():
            raise TimeseriesError(f"contrast must be finite weights, not all zero, one per regressor; got {contrast!r}")
        self._c = c
        p = c.size
        self._p = p
        self._v = int(n_voxels)
        self._gram = np.zeros((p, p))
        self._d = np.zeros((p, self._v))
        self._s = np.zeros(self._v)
        self._n = 0
        self._y64 = np.empty(self._v)

    @property
    def n(self) -> int:
        """Number of volumes so far."""
        return self._n

    @property
    def n_regressors(self) -> int:
        """Length p of a regressor row."""
        return self._p

    @property
    def n_voxels(self) -> int:
        """Voxels per volume."""
        return self._v

    @property
    def df(self) -> int:
        """Residual degrees of freedom, ``n - p``."""
        return self._n - self._p

    def update(self, volume: ArrayLike, regressors: ArrayLike) -> None:
        """Add one volume.

        Parameters
        ----------
        volume : array_like, shape (n_voxels,)
            The volume's voxel values (any real dtype; e.g.
            ``smoothed.ravel()[mask]``). Non-finite values count as 0.
        regressors : array_like, shape (p,)
            The volume's row of the design (e.g. :meth:`WholeBrainDesign.row`).

        Raises
        ------
        TimeseriesError
            If a shape is wrong or a regressor is not finite.
        """
        f = np.asarray(regressors, dtype=np.float64).ravel()
        if f.shape != (self._p,) or not np.all(np.isfinite(f)):
            raise TimeseriesError(f"regressors must be {self._p} finite numbers, got {regressors!r}")
        y = np.asarray(volume)
        if y.size != self._v:
            raise TimeseriesError(f"volume must have {self._v} voxels, got shape {y.shape}")
        y64 = self._y64
        y64[:] = y.reshape(-1)
        if not np.isfinite(y64).all():
            np.nan_to_num(y64, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        self._gram += np.outer(f, f)
        for j in range(self._p):
            if f[j] != 0.0:
                self._d[j] += f[j] * y64
        self._s += y64 * y64
        self._n += 1

    def _factor(self) -> np.ndarray | None:
        """Cholesky factor of the Gram matrix, or None while it is singular or df < 1."""
        if self._n <= self._p:
            return None
        try:
            factor = scipy.linalg.cholesky(self._gram, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return None
        diagonal = np.abs(np.diag(factor))
        if not diagonal.min() > 1e-7 * diagonal.max():
            return None
        return factor

    def t_map(self) -> np.ndarray:
        """The t-statistic of the contrast at every voxel, after the volumes so far.

        Returns
        -------
        numpy.ndarray
            float64, shape ``(n_voxels,)``; all NaN while the design is
            not yet estimable (fewer than p + 1 volumes, or collinear
            regressors); 0 at voxels without residual variance (e.g. all
            zero).

        Examples
        --------
        See :class:`IncrementalGLM`.
        """
        factor = self._factor()
        if factor is None:
            return np.full(self._v, math.nan)
        inverse = scipy.linalg.solve_triangular(factor, np.eye(self._p), lower=True, check_finite=False)
        a = inverse @ self._d
        w = inverse @ self._c
        effect = w @ a
        rss = np.einsum("ij,ij->j", a, a)
        del a
        np.subtract(self._s, rss, out=rss)
        # no residual variance (all-zero voxels, exact fits): t = 0; 1e-12 s is far above rounding
        valid = rss > 1e-12 * self._s
        np.multiply(rss, float(w @ w) / self.df, out=rss)
        np.sqrt(rss, out=rss, where=valid)
        t = np.zeros(self._v)
        np.divide(effect, rss, out=t, where=valid)
        return t

    def beta(self) -> np.ndarray:
        """OLS coefficients so far, shape ``(p, n_voxels)``; NaN while not estimable."""
        factor = self._factor()
        if factor is None:
            return np.full((self._p, self._v), math.nan)
        return scipy.linalg.cho_solve((factor, True), self._d, check_finite=False)

    def __repr__(self) -> str:
        return f"IncrementalGLM(n_voxels={self._v}, n_regressors={self._p}, n={self._n})"
