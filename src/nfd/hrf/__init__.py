"""Per-region HRF estimation (``nfd hrf estimate``), in PyHRF's formats.

PyHRF estimated the haemodynamic response function per parcel by joint detection-estimation (Ciuciu et al.
2003; Vincent et al. 2010; Chaari et al. 2013) but is Python 2 only. This subpackage estimates, per parcel,
one HRF shared by its voxels with per-voxel, per-condition response amplitudes:

- :class:`HrfEstimator` (``fit(bold, parcellation, paradigm)``): the methods of :data:`METHODS` —
  ``"fir"``, a regularised FIR (second-order smoothness prior whose strength is estimated from the data, zero
  at both ends under the zero constraint), ``"basis"``, SPM's canonical HRF with its temporal and
  dispersion derivatives, and ``"r1glm"``, the rank-one GLM (Pedregosa et al. 2015, NeuroImage 105:209), one
  HRF per voxel; drifts as PyHRF models them (polynomial or cosine), several runs at once, parcels in
  parallel (joblib), each parcel's activity tested (F-test on the informed basis, Bonferroni over parcels);
  its maps (:meth:`HrfEstimator.hrf_map`, :meth:`HrfEstimator.amplitude_map`,
  :meth:`HrfEstimator.contrast_map`) and :class:`ParcelResult` s;
- :func:`hrf_shape` (:class:`HrfShape`: time to peak, FWHM, undershoot), :func:`parse_contrast` and
  :func:`load_contrasts` (PyHRF's contrasts JSON, names checked against the paradigm);
- :func:`write_outputs` (``hrf.tsv`` for ``[signal] hrf``, ``hrf_mapped.nii.gz``, amplitude and contrast
  maps, ``parcels.tsv``, ``hrf.png``, ``report.html``) and :func:`main`, the command line.

The paradigm is read by :func:`nfd.design.load_protocol` (PyHRF's CSV: quoted names, numbers ending in a
bare ``.``), the HRF files are :func:`nfd.design.write_hrf_tsv`'s. The maths are pure functions on arrays
(:mod:`nfd.hrf._design`, :mod:`nfd.hrf._fit`). Errors are :class:`HrfError` (a :class:`ValueError`), one
line naming the file, parcel or option.

>>> from nfd.hrf import METHODS
>>> METHODS
('fir', 'basis', 'r1glm')
"""

from __future__ import annotations

from nfd.hrf._cli import main
from nfd.hrf._contrasts import load_contrasts, parse_contrast
from nfd.hrf._errors import HrfError
from nfd.hrf._estimator import METHODS, HrfEstimator, ParcelResult
from nfd.hrf._fit import ParcelFit
from nfd.hrf._outputs import plot_hrfs, write_outputs
from nfd.hrf._shape import HrfShape, hrf_shape

__all__ = [
    "METHODS",
    "HrfError",
    "HrfEstimator",
    "HrfShape",
    "ParcelFit",
    "ParcelResult",
    "hrf_shape",
    "load_contrasts",
    "main",
    "parse_contrast",
    "plot_hrfs",
    "write_outputs",
]

