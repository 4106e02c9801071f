"""NumPy ``.npz`` archives holding a whole :class:`Volume`, bit for bit.

Archive members: ``meta/dims`` (int64 X, Y, Z), ``meta/spacing`` and ``meta/origin``
(float64 X, Y, Z), ``meta/length_unit`` and ``meta/name`` (str), ``meta/phase_names``
(str array, only when the volume has names), then ``cell/<name>`` ``(Z, Y, X, C)``,
``feature/<name>`` and ``ensemble/<name>`` ``(n, C)`` arrays with their own dtypes.
Nothing is pickled, so archives load with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..volume import Volume
from .atomic import atomic_output

NPZ_FORMAT_VERSION = 1
_GROUPS = {"cell": "cell_data", "feature": "feature_data", "ensemble": "ensemble_data"}


def write_npz(volume: Volume, path: str | os.PathLike, compress: bool = False) -> Path:
    """Write ``volume`` to ``path`` atomically.

    Parameters
    ----------
    volume : Volume
    path : path-like
        Output file ending in ``.npz``.
    compress : bool
        Deflate the members (``np.savez_compressed``).

    Returns
    -------
    Path
        ``path``.
    """
    members: dict[str, np.ndarray] = {
        "meta/format_version": np.array(NPZ_FORMAT_VERSION, dtype=np.int64),
        "meta/dims": np.array(volume.dims, dtype=np.int64),
        "meta/spacing": np.array(volume.spacing, dtype=np.float64),
        "meta/origin": np.array(volume.origin, dtype=np.float64),
        "meta/length_unit": np.array(volume.length_unit),
        "meta/name": np.array(volume.name),
    }
    if volume.phase_names is not None:
        members["meta/phase_names"] = np.array(volume.phase_names, dtype=str).reshape(-1)
    for prefix, attr in _GROUPS.items():
        for name, array in getattr(volume, attr).items():
            members[f"{prefix}/{name}"] = array
    out = Path(path)
    with atomic_output(out) as tmp:
        (np.savez_compressed if compress else np.savez)(tmp, **members)
    return out


def read_npz(path: str | os.PathLike) -> Volume:
    """Read a volume written by :func:`write_npz`.

    Raises
    ------
    InputError
        Missing file, not a zip/npz archive, or an archive without ``meta/dims``.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"file not found: {p}")
    try:
        with np.load(p, allow_pickle=False) as archive:
            members = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise InputError(f"{p} is not a readable .npz archive ({error})") from None
    if "meta/dims" not in members:
        raise InputError(
            f"{p} was not written by sd-filters: it has no 'meta/dims' entry "
            f"(members: {', '.join(sorted(members)) or 'none'})"
        )
    fields: dict[str, object] = {attr: {} for attr in _GROUPS.values()}
    for key, value in members.items():
        prefix, _, name = key.partition("/")
        if prefix in _GROUPS:
            fields[_GROUPS[prefix]][name] = value  # type: ignore[index]
    names = members.get("meta/phase_names")
    try:
        return Volume(
            dims=tuple(int(v) for v in members["meta/dims"]),
            spacing=tuple(float(v) for v in members.get("meta/spacing", np.ones(3))),
            origin=tuple(float(v) for v in members.get("meta/origin", np.zeros(3))),
            length_unit=str(members.get("meta/length_unit", "Micrometer")),
            name=str(members.get("meta/name", "DataContainer")),
            phase_names=None if names is None else [str(n) for n in names],
            **fields,  # type: ignore[arg-type]
        )
    except InputError as error:
        raise InputError(f"{p}: {error}") from None
