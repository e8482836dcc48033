"""A saved model's two files: a JSON of metadata holding the SHA-256 of an npz of arrays, read as one.

:func:`read_pinned` reads the npz's bytes once, hashes those bytes, and loads the arrays from the same bytes
(``allow_pickle=False``), so that what was checked is what is used (a file swapped between a check and a load
cannot slip in), the way nfd reads its decoder and EEG models. Both the autoencoder (``model.json`` +
``model.npz``) and the ComBat model (``combat.json`` + ``combat.npz``) are read through it.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nfd.normative._errors import NormativeError

__all__ = ["read_pinned"]


def read_pinned(
    folder: Path, stem: str, what: str, expected_sha256: str | None = None
) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """``<stem>.json``'s metadata and ``<stem>.npz``'s arrays, once the npz's SHA-256 matches the JSON's.

    Parameters
    ----------
    folder : Path
        The model folder.
    stem : str
        ``"model"`` or ``"combat"``.
    what : str
        What the folder is, for the messages (``"a model folder"``).
    expected_sha256 : str, optional
        A hash the caller pinned too (e.g. the daemon's configuration): the bytes must match it as well.

    Raises
    ------
    NormativeError
        A missing or unreadable file, or a hash mismatch (one line naming the file).
    """
    meta_path, npz = folder / f"{stem}.json", folder / f"{stem}.npz"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as error:
        raise NormativeError(f"{meta_path}: cannot read ({error}), expected {what}") from None
    try:
        payload = npz.read_bytes()
    except OSError:
        raise NormativeError(f"{npz}: missing, expected the arrays {meta_path.name} describes") from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != meta.get("sha256"):
        raise NormativeError(f"{npz}: SHA-256 differs from {meta_path.name}'s, expected the file it was saved with")
    if expected_sha256 is not None and digest != expected_sha256.strip().lower():
        raise NormativeError(f"{npz} has sha256 {digest}, but {expected_sha256.strip().lower()} was pinned; "
                             "refusing to use it")  # fmt: skip
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        arrays = {name: np.asarray(data[name]) for name in data.files}
    return meta, arrays
