"""ComBat harmonisation across sites through neuroHarmonize, kept as arrays and JSON.

ComBat (Johnson, Li & Rabinovic 2007, Biostatistics 8:118-127; for imaging Fortin et al. 2018, NeuroImage
167:104-120) models each feature as ``x = alpha + X beta + gamma_site + delta_site * eps``, estimates the
site's additive (gamma) and multiplicative (delta) effects with empirical Bayes and removes them, keeping the
covariates' effects (here age and sex). neuroHarmonize (Pomponio et al. 2020, NeuroImage 208:116450) splits
that into :func:`harmonizationLearn` (fit, here on the training controls only) and :func:`harmonizationApply`
(held-out controls and patients, no refit).

neuroHarmonize 2.4.5's ``harmonizationApply`` builds its site one-hot columns from the sites present in the
data it is given, so data lacking some training sites fail (a shape error in
``applyStandardizationAcrossFeatures``) or, worse, are re-coded onto the wrong sites. :func:`apply_combat`
therefore pads the data with one dummy row per absent training site and drops them afterwards: each row's
harmonised value depends only on its own site's parameters and covariates, so the padding changes nothing
else (tested against neuroHarmonize on the full data).

Covariates are numbers for neuroHarmonize: a numeric column is used as is (age in years), a non-numeric one
(sex) is coded 0, 1, ... in the sorted order of the training labels, the coding kept with the model.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nfd._files import file_sha256, write_atomic
from nfd.normative._errors import NormativeError

__all__ = ["ComBatModel", "apply_combat", "fit_combat", "load_combat", "save_combat"]

_ARRAYS = ("b_hat", "stand_mean", "var_pooled", "gamma_star", "delta_star")


@dataclasses.dataclass(frozen=True)
class ComBatModel:
    """A fitted ComBat model (neuroHarmonize's parameters as plain arrays).

    Attributes
    ----------
    sites : tuple of str
        Training site labels, sorted (neuroHarmonize's order).
    covariates : tuple of str
        Covariate names, in the design's order.
    codes : dict of str to dict of str to float
        Numeric codes of each categorical covariate's labels (e.g. ``{"sex": {"F": 0.0, "M": 1.0}}``).
    b_hat : ndarray, (n_sites + n_covariates, n_features)
        Regression coefficients of the design (site one-hot, then covariates), feature units.
    stand_mean : ndarray, (n_features,)
        Grand mean (feature units).
    var_pooled : ndarray, (n_features,)
        Pooled residual variance (feature units squared).
    gamma_star, delta_star : ndarray, (n_sites, n_features)
        Empirical-Bayes additive (standardised units) and multiplicative (ratio) site effects.
    eb : bool
        Whether empirical Bayes was used.
    """

    sites: tuple[str, ...]
    covariates: tuple[str, ...]
    codes: dict[str, dict[str, float]]
    b_hat: npt.NDArray[np.float64]
    stand_mean: npt.NDArray[np.float64]
    var_pooled: npt.NDArray[np.float64]
    gamma_star: npt.NDArray[np.float64]
    delta_star: npt.NDArray[np.float64]
    eb: bool = True

    def as_neuroharmonize(self) -> dict[str, Any]:
        """The parameters as the dict :func:`neuroHarmonize.harmonizationApply` reads (no smoothing)."""
        return {
            "SITE_labels": np.asarray(self.sites, dtype=object),
            "info_dict": {"ref_level": None},
            "smooth_model": {"perform_smoothing": False, "smooth_cols": []},
            "B_hat": self.b_hat,
            "stand_mean": self.stand_mean[:, None],
            "var_pooled": self.var_pooled[:, None],
            "gamma_star": self.gamma_star,
            "delta_star": self.delta_star,
            "eb": self.eb,
        }


def _encode(
    covariates: Mapping[str, npt.ArrayLike], names: Sequence[str], codes: dict[str, dict[str, float]] | None
) -> tuple[dict[str, npt.NDArray[np.float64]], dict[str, dict[str, float]]]:
    """Covariates as float columns; ``codes`` None learns the categorical codes, else applies them."""
    learned: dict[str, dict[str, float]] = {} if codes is None else codes
    columns: dict[str, npt.NDArray[np.float64]] = {}
    for name in names:
        if name not in covariates:
            raise NormativeError(f"covariate {name!r} missing, expected columns {', '.join(names)}")
        values = np.asarray(covariates[name])
        categorical = name in learned if codes is not None else values.dtype.kind not in "biuf"
        if categorical:
            labels = [str(v) for v in values]
            if codes is None:
                learned[name] = {label: float(i) for i, label in enumerate(sorted(set(labels)))}
            unknown = [label for label in labels if label not in learned[name]]
            if unknown:
                raise NormativeError(f"covariate {name}: label {unknown[0]!r} not in the training data")
            columns[name] = np.array([learned[name][label] for label in labels])
        else:
            columns[name] = values.astype(np.float64)
        if not np.all(np.isfinite(columns[name])):
            raise NormativeError(f"covariate {name}: missing or non-finite values, expected a value per subject")
    return columns, learned


def _covars_frame(sites: Sequence[Any], columns: Mapping[str, npt.NDArray[np.float64]]) -> Any:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    frame = pd.DataFrame({"SITE": np.asarray([str(s) for s in sites], dtype=object)})
    for name, values in columns.items():
        frame[name] = values
    return frame


def fit_combat(
    features: npt.ArrayLike,
    sites: Sequence[Any],
    covariates: Mapping[str, npt.ArrayLike] | None = None,
    *,
    eb: bool = True,
) -> tuple[ComBatModel, npt.NDArray[np.float64]]:
    """Fit ComBat on (training control) features with neuroHarmonize's ``harmonizationLearn``.

    Parameters
    ----------
    features : array_like, (n_subjects, n_features)
        Feature values (any unit, e.g. Fisher z).
    sites : sequence, (n_subjects,)
        Site labels (compared as strings); at least two sites, two subjects each.
    covariates : mapping of str to sequence, optional
        Columns to preserve (e.g. ``{"age": years, "sex": labels}``).
    eb : bool
        Empirical Bayes estimates of the site effects.

    Returns
    -------
    model : ComBatModel
    harmonised : ndarray, (n_subjects, n_features)
        The training data harmonised (neuroHarmonize's output).
    """
    from neuroHarmonize import harmonizationLearn  # type: ignore[import-untyped, import-not-found, unused-ignore]

    data = np.asarray(features, dtype=np.float64)
    labels = [str(s) for s in sites]
    unique, counts = np.unique(labels, return_counts=True)
    if len(labels) != data.shape[0] or len(unique) < 2 or counts.min() < 2:
        raise NormativeError(f"sites {dict(zip(unique, counts, strict=True))}, expected >= 2 sites of >= 2 subjects")
    names = tuple(covariates or {})
    columns, codes = _encode(covariates or {}, names, None)
    fitted, harmonised = harmonizationLearn(data, _covars_frame(labels, columns), eb=eb)
    model = ComBatModel(
        sites=tuple(str(s) for s in fitted["SITE_labels"]),
        covariates=names,
        codes=codes,
        b_hat=np.asarray(fitted["B_hat"], dtype=np.float64),
        stand_mean=np.asarray(fitted["stand_mean"], dtype=np.float64)[:, 0].copy(),
        var_pooled=np.asarray(fitted["var_pooled"], dtype=np.float64)[:, 0].copy(),
        gamma_star=np.asarray(fitted["gamma_star"], dtype=np.float64),
        delta_star=np.asarray(fitted["delta_star"], dtype=np.float64),
        eb=eb,
    )
    return model, np.asarray(harmonised, dtype=np.float64)


def apply_combat(
    model: ComBatModel,
    features: npt.ArrayLike,
    sites: Sequence[Any],
    covariates: Mapping[str, npt.ArrayLike] | None = None,
) -> npt.NDArray[np.float64]:
    """Harmonise new data with a fitted model (neuroHarmonize's ``harmonizationApply``, padded for absent sites).

    Parameters
    ----------
    model : ComBatModel
    features : array_like, (n_subjects, n_features)
        Feature values in the training data's unit.
    sites : sequence, (n_subjects,)
        Site labels, each one of the model's sites.
    covariates : mapping of str to sequence, optional
        The model's covariates for these subjects.

    Returns
    -------
    ndarray, (n_subjects, n_features)

    Raises
    ------
    NormativeError
        A site the model was not fitted on, a missing covariate or a feature count that differs.
    """
    from neuroHarmonize import harmonizationApply  # type: ignore[import-untyped, import-not-found, unused-ignore]

    data = np.atleast_2d(np.asarray(features, dtype=np.float64))
    labels = [str(s) for s in sites]
    if data.shape != (len(labels), model.stand_mean.size):
        raise NormativeError(f"features {data.shape}, expected ({len(labels)}, {model.stand_mean.size})")
    unknown = sorted(set(labels) - set(model.sites))
    if unknown:
        raise NormativeError(f"site {unknown[0]!r} not among the ComBat model's sites {', '.join(model.sites)}")
    columns, _ = _encode(covariates or {}, model.covariates, model.codes)
    absent = [site for site in model.sites if site not in set(labels)]
    if absent:
        data = np.vstack([data, np.repeat(model.stand_mean[None, :], len(absent), axis=0)])
        columns = {
            name: np.concatenate([v, np.full(len(absent), v[0] if v.size else 0.0)]) for name, v in columns.items()
        }
    result = harmonizationApply(data, _covars_frame(labels + absent, columns), model.as_neuroharmonize())
    return np.asarray(result, dtype=np.float64)[: len(labels)]


def save_combat(model: ComBatModel, folder: str | os.PathLike[str]) -> None:
    """Write ``combat.npz`` (the arrays) and ``combat.json`` (labels, codes and the npz's SHA-256) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "combat.npz", **{name: getattr(model, name) for name in _ARRAYS})
    meta = {
        "sites": list(model.sites),
        "covariates": list(model.covariates),
        "codes": model.codes,
        "eb": model.eb,
        "sha256": file_sha256(folder / "combat.npz"),
    }
    write_atomic(folder / "combat.json", (json.dumps(meta, indent=2) + "\n").encode())


def load_combat(folder: str | os.PathLike[str]) -> ComBatModel:
    """Read a model written by :func:`save_combat`, refusing an ``combat.npz`` whose SHA-256 differs.

    Raises
    ------
    NormativeError
        A missing file or a hash mismatch (one line naming the file).
    """
    from nfd.normative._pinned import read_pinned

    meta, stored = read_pinned(Path(folder), "combat", "a ComBat model folder")
    arrays = {name: np.asarray(stored[name], dtype=np.float64) for name in _ARRAYS}
    return ComBatModel(
        sites=tuple(meta["sites"]), covariates=tuple(meta["covariates"]), codes=meta["codes"], eb=bool(meta["eb"]),
        **arrays,
    )  # fmt: skip
