"""VTK XML image data (``.vti``) via pyvista, with arrays on cells (voxels).

A Volume of ``X x Y x Z`` voxels is a ``pyvista.ImageData`` of ``(X+1, Y+1, Z+1)``
points; origin and spacing carry over unchanged. VTK orders cells X fastest, which is
the C order of a ``(Z, Y, X, C)`` array, so arrays are only reshaped, never transposed.
What VTK has no place for travels as field data: feature and ensemble arrays
(``Feature:<name>``, ``Ensemble:<name>``), ``PhaseNames`` (a JSON list), ``LengthUnit``,
``GeometryName`` and ``BoolArrays`` (names of bool arrays, stored as uint8).
pyvista is imported inside the functions (it is an optional extra, ``.[vtk]``).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..volume import Volume
from .atomic import atomic_output

_PREFIXES = {"Feature:": "feature_data", "Ensemble:": "ensemble_data"}
_META = ("PhaseNames", "LengthUnit", "GeometryName", "BoolArrays")


def _pyvista():  # noqa: ANN202 - module object
    try:
        import pyvista
    except ImportError:
        raise InputError(
            "reading or writing .vti files needs pyvista; install it with "
            "`pip install dream3d-sd-filters[vtk]`"
        ) from None
    return pyvista


def write_vti(volume: Volume, path: str | os.PathLike) -> Path:
    """Write ``volume`` as VTK XML image data with cell arrays, atomically.

    Parameters
    ----------
    volume : Volume
    path : path-like
        Output file ending in ``.vti``.

    Returns
    -------
    Path
        ``path``.
    """
    pv = _pyvista()
    x, y, z = volume.dims
    grid = pv.ImageData(
        dimensions=(x + 1, y + 1, z + 1), spacing=volume.spacing, origin=volume.origin
    )
    bool_arrays = []

    def storable(key: str, array: np.ndarray) -> np.ndarray:
        if array.dtype == np.bool_:
            bool_arrays.append(key)
            return array.view(np.uint8)
        return array

    for name, array in volume.cell_data.items():
        flat = storable(name, array).reshape(volume.n_cells, array.shape[3])
        grid.cell_data[name] = flat[:, 0] if flat.shape[1] == 1 else flat
    for prefix, attr in _PREFIXES.items():
        for name, array in getattr(volume, attr).items():
            grid.field_data[prefix + name] = storable(prefix + name, array)
    if volume.phase_names is not None:
        # VTK string arrays are ASCII only; JSON escapes the rest ("Ti-\u03b1").
        grid.field_data["PhaseNames"] = np.array([json.dumps(volume.phase_names)])
    grid.field_data["LengthUnit"] = np.array([volume.length_unit])
    grid.field_data["GeometryName"] = np.array([volume.name])
    grid.field_data["BoolArrays"] = np.array(bool_arrays or [""])
    out = Path(path)
    with atomic_output(out) as tmp:
        grid.save(tmp, binary=True)
    return out


def read_vti(path: str | os.PathLike) -> Volume:
    """Read VTK image data; cell arrays become ``(Z, Y, X, C)`` cell data.

    Point arrays are ignored. Field data written by :func:`write_vti` restores feature
    and ensemble arrays, phase names, length unit and name.

    Raises
    ------
    InputError
        Missing or unreadable file, not image data, or no cell arrays.
    """
    pv = _pyvista()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"file not found: {p}")
    # VTK reports damage as warnings and returns an empty grid; keep them for the message.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            grid = pv.read(p)
        except Exception as error:  # noqa: BLE001 - VTK raises many types for bad files
            raise InputError(f"{p} is not a readable VTK file ({error})") from None
    if not isinstance(grid, pv.ImageData):
        raise InputError(f"{p} holds {type(grid).__name__}, not VTK image data")
    points = tuple(int(d) for d in grid.dimensions)
    if min(points) < 1 or grid.n_cells == 0:
        reason = str(caught[0].message).strip().splitlines()[-1] if caught else "no cells"
        raise InputError(f"{p} is not a readable VTK image file ({reason})")
    x, y, z = (max(d - 1, 1) for d in points)
    if not grid.cell_data.keys():
        raise InputError(
            f"{p} has no cell arrays (point arrays: {', '.join(grid.point_data.keys()) or 'none'}); "
            "sd-filters needs values per voxel"
        )
    field = {k: np.asarray(grid.field_data[k]) for k in grid.field_data.keys()}
    bools = {str(n) for n in field.get("BoolArrays", []) if str(n)}

    def restored(key: str, array: np.ndarray) -> np.ndarray:
        return array.astype(bool) if key in bools else array

    cell = {}
    for name in grid.cell_data.keys():
        values = np.asarray(grid.cell_data[name])
        cell[name] = restored(name, values.reshape(z, y, x, -1))
    tables: dict[str, dict[str, np.ndarray]] = {attr: {} for attr in _PREFIXES.values()}
    for key, value in field.items():
        for prefix, attr in _PREFIXES.items():
            if key.startswith(prefix):
                tables[attr][key[len(prefix) :]] = restored(key, value)
    names = field.get("PhaseNames")
    unit = field.get("LengthUnit")
    geometry_name = field.get("GeometryName")
    try:
        return Volume(
            dims=(x, y, z),
            spacing=tuple(float(s) for s in grid.spacing),
            origin=tuple(float(o) for o in grid.origin),
            length_unit=str(unit[0]) if unit is not None and unit.size else "Micrometer",
            cell_data=cell,
            phase_names=None if names is None else _phase_names(p, names),
            name=str(geometry_name[0])
            if geometry_name is not None and geometry_name.size
            else p.stem,
            **tables,  # type: ignore[arg-type]
        )
    except InputError as error:
        raise InputError(f"{p}: {error}") from None


def _phase_names(path: Path, field: np.ndarray) -> list[str]:
    try:
        names = json.loads(str(field.reshape(-1)[0]))
    except (ValueError, IndexError):
        names = None
    if not isinstance(names, list):
        raise InputError(f"{path}: field data 'PhaseNames' is not a JSON list of names")
    return [str(n) for n in names]
