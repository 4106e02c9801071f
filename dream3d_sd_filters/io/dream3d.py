"""Read and write ``.dream3d`` files (HDF5) without simplnx.

Reading covers DREAM3D-NX files (``FileVersion`` 8.0, including the early layout with
``TupleShape``/``ComponentShape`` attributes and cell arrays placed directly under the
geometry) and DREAM.3D 6.x files (``FileVersion`` 7.0, ``/DataContainers`` with
``_SIMPL_GEOMETRY``). Writing produces the 8.0 layout documented in
``docs/dream3d-nx-reference.md`` section 3.1, plus the ``.xdmf`` sidecar ParaView opens.

Layout written (``X, Y, Z`` = ``volume.dims``)::

    /                                  @FileVersion "8.0"
    /DataStructure                     @NextObjectId
    /DataStructure/<name>              ImageGeom: @_DIMENSIONS u64 [X,Y,Z], @_ORIGIN, @_SPACING
                                       f32 [X,Y,Z], @Units u32, @Cell Data ID
    .../<name>/Cell Data               AttributeMatrix @TupleDims [Z,Y,X]; arrays (Z,Y,X,C)
    .../<name>/Cell Feature Data       AttributeMatrix @TupleDims [n_features+1] (if any)
    .../<name>/Cell Ensemble Data      AttributeMatrix @TupleDims [n_phases+1] (if any),
                                       phase names as the StringArray ``PhaseNames``
    /Pipeline                          @Pipeline Version 3, @Current Pipeline; dataset Pipeline

Every object carries ``ObjectType`` (fixed-length ASCII), ``ObjectId`` (u64, shape (1,))
and ``Importable`` (i32, shape (1,)); arrays carry ``TupleDimensions`` and
``ComponentDimensions`` (u64). ``bool`` arrays are stored as uint8 with ObjectType
``DataArray<bool>``. Spacing and origin are float32 on disk, as in DREAM3D-NX.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError
from ..volume import LENGTH_UNITS, Volume
from .atomic import atomic_output
from .stats import PhaseStatistics, read_phase_statistics
from .xdmf import xdmf_text

FILE_VERSION = "8.0"
LEGACY_FILE_VERSION = "7.0"
CELL_DATA = "Cell Data"
FEATURE_DATA = "Cell Feature Data"
ENSEMBLE_DATA = "Cell Ensemble Data"
PHASE_NAMES_ARRAY = "PhaseNames"
#: Ensemble string arrays read as phase names (DREAM.3D StatsGenerator, EBSD readers).
PHASE_NAME_ARRAYS = ("PhaseNames", "PhaseName", "Phase Names", "MaterialName", "Material Name")
#: Marker used by :func:`list_geometries` for DREAM.3D 6.x StatsGenerator containers.
STATS_KIND = "StatsGenerator statistics"
EMPTY_PIPELINE = {"isDisabled": False, "name": "Untitled Pipeline", "pipeline": [], "version": 1}

_V8_TYPE_NAMES: dict[np.dtype, str] = {
    np.dtype(t): t
    for t in (
        "int8",
        "uint8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "float32",
        "float64",
        "bool",
    )
}
_V7_TYPE_NAMES = {
    "int8_t": "int8",
    "uint8_t": "uint8",
    "int16_t": "int16",
    "uint16_t": "uint16",
    "int32_t": "int32",
    "uint32_t": "uint32",
    "int64_t": "int64",
    "uint64_t": "uint64",
    "float": "float32",
    "double": "float64",
    "bool": "bool",
}
_DTYPE_BY_TYPE_NAME: dict[str, np.dtype] = {
    **{name: dtype for dtype, name in _V8_TYPE_NAMES.items()},
    **{legacy: np.dtype(name) for legacy, name in _V7_TYPE_NAMES.items()},
}
# simplnx's LengthUnit enum: the first 27 units are numbered in order, then 100 and 101.
_UNIT_CODES: dict[str, int] = {
    **{unit: code for code, unit in enumerate(LENGTH_UNITS[:27])},
    "Unspecified": 100,
    "Unknown": 101,
}
_UNIT_BY_CODE = {code: unit for unit, code in _UNIT_CODES.items()}
# DREAM.3D 6.x GeometryType values, named like the DREAM3D-NX ObjectTypes.
_V7_GEOMETRY_KINDS = {
    0: "ImageGeom",
    1: "RectGridGeom",
    2: "VertexGeom",
    3: "EdgeGeom",
    4: "TriangleGeom",
    5: "QuadGeom",
    6: "TetrahedralGeom",
    7: "HexahedralGeom",
}
_V7_CELL, _V7_CELL_FEATURE, _V7_CELL_ENSEMBLE = 3, 7, 11


# --------------------------------------------------------------------------- attributes


def write_str_attr(obj: h5py.HLObject, name: str, text: str) -> None:
    """Write ``text`` as a scalar fixed-length ASCII attribute, as simplnx does.

    simplnx reads variable-length string attributes (h5py's default) as ``""``, which
    makes a file unloadable, so the type is built by hand: ``H5T_C_S1`` of size
    ``len(text)``, ``STR_NULLTERM`` padding, scalar dataspace.
    """
    raw = text.encode("ascii")
    size = max(len(raw), 1)
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(size)
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    if name in obj.attrs:
        del obj.attrs[name]
    aid = h5py.h5a.create(obj.id, name.encode(), tid, h5py.h5s.create(h5py.h5s.SCALAR))
    aid.write(np.array(raw, dtype=f"S{size}"), mtype=tid)


def _write_num_attr(obj: h5py.HLObject, name: str, values: object, dtype: str) -> None:
    obj.attrs.create(name, np.asarray(values, dtype=dtype).reshape(-1))


def _write_object_attrs(obj: h5py.HLObject, object_type: str, object_id: int) -> None:
    write_str_attr(obj, "ObjectType", object_type)
    _write_num_attr(obj, "ObjectId", [object_id], "uint64")
    _write_num_attr(obj, "Importable", [1], "int32")


def _str_attr(obj: h5py.HLObject, name: str) -> str | None:
    value = obj.attrs.get(name)
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").rstrip("\x00")
    return str(value)


def _int_list_attr(obj: h5py.HLObject, *names: str) -> list[int] | None:
    """First of ``names`` present on ``obj``, as a list of ints (scalar or vector form)."""
    for name in names:
        value = obj.attrs.get(name)
        if value is not None:
            return [int(v) for v in np.ravel(value)]
    return None


# --------------------------------------------------------------------------- opening


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


@contextmanager
def _open(path: str | os.PathLike) -> Iterator[tuple[Path, h5py.File]]:
    """Open ``path`` read-only; turn every HDF5 failure into a one-line InputError."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"file not found: {p}")
    if p.is_dir():
        raise InputError(f"{p} is a directory, not a .dream3d file")
    if not h5py.is_hdf5(p):
        raise InputError(f"{p} is not an HDF5 file, so it cannot be a .dream3d file")
    try:
        handle = h5py.File(p, "r")
    except OSError as error:
        raise InputError(
            f"{p} is truncated or damaged; HDF5 cannot open it ({_first_line(error)})"
        ) from None
    try:
        with handle:
            yield p, handle
    except (OSError, RuntimeError) as error:
        raise InputError(
            f"{p} is truncated or damaged; reading it failed ({_first_line(error)})"
        ) from None


def _file_version(path: Path, handle: h5py.File) -> str:
    version = _str_attr(handle, "FileVersion")
    if version in (FILE_VERSION, LEGACY_FILE_VERSION):
        return version
    if version is None:
        if "DataStructure" in handle:
            return FILE_VERSION
        if "DataContainers" in handle:
            return LEGACY_FILE_VERSION
        top = ", ".join(repr(k) for k in handle) or "nothing"
        raise InputError(
            f"{path} is an HDF5 file but not a .dream3d file: no FileVersion attribute "
            f"(top level holds {top})"
        )
    raise InputError(
        f"{path} has .dream3d FileVersion {version!r}; this reader knows 7.0 (DREAM.3D 6.x) "
        "and 8.0 (DREAM3D-NX)"
    )


# --------------------------------------------------------------------------- scanning


@dataclass
class _Container:
    """A top-level object of a .dream3d file: a geometry, a data group, a stats holder."""

    name: str
    kind: str
    group: h5py.Group
    version: str


def _scan(handle: h5py.File, version: str) -> list[_Container]:
    if version == FILE_VERSION:
        return list(_scan_v8(handle.get("DataStructure"), prefix=""))
    return _scan_v7(handle.get("DataContainers"))


def _scan_v8(group: h5py.Group | None, prefix: str) -> Iterator[_Container]:
    if group is None:
        return
    for name, obj in group.items():
        object_type = _str_attr(obj, "ObjectType")
        if object_type is None:
            continue  # helpers without ObjectId (e.g. XDMF's _VertexIndices) are not objects
        if object_type == "DataGroup" and isinstance(obj, h5py.Group):
            nested = list(_scan_v8(obj, prefix=f"{prefix}{name}/"))
            if any(c.kind.endswith("Geom") for c in nested):
                yield from nested
                continue
        yield _Container(prefix + name, object_type, obj, FILE_VERSION)


def _scan_v7(group: h5py.Group | None) -> list[_Container]:
    found = []
    for name, dc in (group or {}).items():
        if not isinstance(dc, h5py.Group):
            continue
        geometry = dc.get("_SIMPL_GEOMETRY")
        code = None if geometry is None else _int_list_attr(geometry, "GeometryType")
        kind = _V7_GEOMETRY_KINDS.get(code[0]) if code else None
        if kind is None:
            kind = STATS_KIND if _v7_statistics_group(dc) is not None else "no geometry"
        found.append(_Container(name, kind, dc, LEGACY_FILE_VERSION))
    return found


def _v7_statistics_group(dc: h5py.Group) -> h5py.Group | None:
    for am in dc.values():
        if isinstance(am, h5py.Group) and _int_list_attr(am, "AttributeMatrixType") == [
            _V7_CELL_ENSEMBLE
        ]:
            stats = am.get("Statistics")
            if isinstance(stats, h5py.Group):
                return stats
    return None


def _listing(containers: list[_Container]) -> str:
    return ", ".join(f"{c.name!r} ({c.kind})" for c in containers) or "nothing"


def list_geometries(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Name and kind of every top-level object in a .dream3d file.

    Parameters
    ----------
    path : path-like
        A ``.dream3d`` file (version 7.0 or 8.0).

    Returns
    -------
    list of (str, str)
        ``(name, kind)`` pairs; kind is a DREAM3D-NX ObjectType such as ``"ImageGeom"``,
        ``"TriangleGeom"`` or ``"DataGroup"``, :data:`STATS_KIND` for a DREAM.3D 6.x
        StatsGenerator container, or ``"no geometry"``.
    """
    with _open(path) as (p, handle):
        return [(c.name, c.kind) for c in _scan(handle, _file_version(p, handle))]


def file_overview(path: str | os.PathLike) -> str:
    """One line saying which DREAM3D version wrote ``path`` and what it holds."""
    with _open(path) as (p, handle):
        version = _file_version(p, handle)
        writer = "DREAM3D-NX" if version == FILE_VERSION else "DREAM.3D 6.x"
        return (
            f"{p.name}: .dream3d file version {version} ({writer}); "
            f"holds {_listing(_scan(handle, version))}"
        )


def _select_image(path: Path, containers: list[_Container], geometry: str | None) -> _Container:
    if geometry is not None:
        match = [c for c in containers if c.name == geometry]
        if not match:
            raise InputError(
                f"{path} has no geometry named {geometry!r}; it holds {_listing(containers)}"
            )
        if match[0].kind != "ImageGeom":
            raise InputError(
                f"{geometry!r} in {path} is a {match[0].kind}, not an image geometry; "
                "sd-filters reads image (voxel) data only"
            )
        return match[0]
    images = [c for c in containers if c.kind == "ImageGeom"]
    if len(images) == 1:
        return images[0]
    if len(images) > 1:
        names = ", ".join(repr(c.name) for c in images)
        raise InputError(
            f"{path} holds {len(images)} image geometries ({names}); choose one with "
            "--geometry NAME (geometry=NAME in Python)"
        )
    stats = [c for c in containers if c.kind == STATS_KIND]
    if stats:
        phases = len(_v7_statistics_group(stats[0].group) or {})
        raise InputError(
            f"{path} holds only StatsGenerator statistics (container {stats[0].name!r}, "
            f"{phases} phase(s)), no voxels; use `sd-filters synth --stats {path.name}` "
            "to build a volume from them"
        )
    raise InputError(
        f"{path} holds no image geometry: {_listing(containers)}; sd-filters reads image "
        "(voxel) data only"
    )


# --------------------------------------------------------------------------- reading arrays


@dataclass
class _Arrays:
    cell: dict[str, np.ndarray]
    feature: dict[str, np.ndarray]
    ensemble: dict[str, np.ndarray]
    phase_names: list[str] | None
    notes: list[str]


def _array_dtype(ds: h5py.Dataset) -> np.dtype | None:
    object_type = _str_attr(ds, "ObjectType") or ""
    if not (object_type.startswith("DataArray<") and object_type.endswith(">")):
        return None
    return _DTYPE_BY_TYPE_NAME.get(object_type[len("DataArray<") : -1])


def _read_data(ds: h5py.Dataset, dtype: np.dtype) -> np.ndarray:
    if ds.dtype.kind not in "iuf" or ds.dtype.itemsize != (
        1 if dtype == np.bool_ else dtype.itemsize
    ):
        raise InputError(
            f"array {ds.name!r} is stored as {ds.dtype} but labelled "
            f"{_str_attr(ds, 'ObjectType')}; the file is inconsistent"
        )
    data = ds[()]
    if dtype == np.bool_:
        return data.astype(bool)
    return data.astype(dtype.newbyteorder("="), copy=False)


def _read_cell_array(ds: h5py.Dataset, dtype: np.dtype, zyx: tuple[int, int, int]) -> np.ndarray:
    n_cells = int(np.prod(zyx))
    components = ds.size // n_cells if n_cells else 0
    if ds.size != n_cells * components or components == 0 or tuple(ds.shape[:3]) != zyx:
        z, y, x = zyx
        raise InputError(
            f"cell array {ds.name!r} has shape {tuple(ds.shape)} but the geometry is "
            f"{x} x {y} x {z} voxels (X, Y, Z), i.e. (Z, Y, X, C) = ({z}, {y}, {x}, C) "
            "(dims mismatch)"
        )
    return _read_data(ds, dtype).reshape(*zyx, components)


def _read_table_array(ds: h5py.Dataset, dtype: np.dtype) -> np.ndarray:
    data = _read_data(ds, dtype)
    return data.reshape(data.shape[0] if data.ndim else 1, -1)


def _read_strings(ds: h5py.Dataset) -> list[str] | None:
    if ds.dtype.kind not in "SO" or ds.ndim > 1:
        return None
    values = np.ravel(ds.asstr(errors="replace")[()])
    return [str(v).rstrip("\x00") for v in values]


def _collect(
    arrays: _Arrays,
    matrix: h5py.Group,
    role: str,
    zyx: tuple[int, int, int],
) -> None:
    """Read every array of an attribute matrix into ``arrays`` under ``role``."""
    for name, obj in matrix.items():
        where = obj.name
        object_type = _str_attr(obj, "ObjectType") or "untyped"
        if isinstance(obj, h5py.Group):
            what = "StatsGenerator statistics" if name == "Statistics" else object_type
            arrays.notes.append(f"{where}: {what} (not an array)")
            continue
        if _int_list_attr(obj, "Importable") == [0]:
            continue
        if object_type in ("StringArray", "StringDataArray"):
            strings = _read_strings(obj)
            if role == "ensemble" and name in PHASE_NAME_ARRAYS and strings is not None:
                arrays.phase_names = strings
            else:
                arrays.notes.append(f"{where}: string array")
            continue
        dtype = _array_dtype(obj)
        if dtype is None:
            arrays.notes.append(f"{where}: {object_type}")
            continue
        if role == "cell":
            arrays.cell[name] = _read_cell_array(obj, dtype, zyx)
        else:
            getattr(arrays, role)[name] = _read_table_array(obj, dtype)


def _v8_matrix_role(
    matrix: h5py.Group, cell_id: int | None, zyx: tuple[int, int, int]
) -> str | None:
    object_id = _int_list_attr(matrix, "ObjectId")
    tuple_dims = _int_list_attr(matrix, "TupleDims", "TupleDimensions", "TupleShape") or []
    if cell_id is not None and object_id == [cell_id]:
        return "cell"
    if cell_id is None and tuple(tuple_dims) == zyx:
        return "cell"
    if "ensemble" in matrix.name.rsplit("/", 1)[-1].lower() or "CrystalStructures" in matrix:
        return "ensemble"
    if len(tuple_dims) == 1:
        return "feature"
    return None


def _read_v8_image(container: _Container) -> tuple[dict, _Arrays]:
    geom = container.group
    dims = _int_list_attr(geom, "_DIMENSIONS")
    origin = geom.attrs.get("_ORIGIN", np.zeros(3))
    spacing = geom.attrs.get("_SPACING", np.ones(3))
    if dims is None or len(dims) != 3:
        raise InputError(f"image geometry {geom.name!r} has no valid _DIMENSIONS attribute")
    x, y, z = dims
    zyx = (z, y, x)
    unit_code = _int_list_attr(geom, "Units")
    arrays = _Arrays({}, {}, {}, None, [])
    unit = "Micrometer"
    if unit_code:
        if unit_code[0] in _UNIT_BY_CODE:
            unit = _UNIT_BY_CODE[unit_code[0]]
        else:
            arrays.notes.append(f"{geom.name}: unknown length unit code {unit_code[0]}")
    cell_id = (_int_list_attr(geom, "Cell Data ID") or [None])[0]
    roles_seen: set[str] = set()
    for name, obj in geom.items():
        object_type = _str_attr(obj, "ObjectType")
        if object_type is None or _int_list_attr(obj, "Importable") == [0]:
            continue
        if object_type == "AttributeMatrix":
            role = _v8_matrix_role(obj, cell_id, zyx)
            if role is None or (role != "cell" and role in roles_seen):
                arrays.notes.append(f"{obj.name}: extra attribute matrix")
                continue
            roles_seen.add(role)
            _collect(arrays, obj, role, zyx)
        elif isinstance(obj, h5py.Dataset) and _array_dtype(obj) is not None:
            # The early 8.0 layout keeps cell arrays directly under the geometry.
            arrays.cell[name] = _read_cell_array(obj, _array_dtype(obj), zyx)
        else:
            arrays.notes.append(f"{obj.name}: {object_type}")
    geometry = {
        "dims": (x, y, z),
        "spacing": tuple(float(v) for v in np.ravel(spacing)),
        "origin": tuple(float(v) for v in np.ravel(origin)),
        "length_unit": unit,
    }
    return geometry, arrays


def _preferred(matrices: list[h5py.Group], preferred: tuple[str, ...]) -> list[h5py.Group]:
    """Order matrices so the conventionally named one comes first."""
    return sorted(matrices, key=lambda m: m.name.rsplit("/", 1)[-1] not in preferred)


def _read_v7_image(container: _Container) -> tuple[dict, _Arrays]:
    dc = container.group
    geom = dc["_SIMPL_GEOMETRY"]
    try:
        dims = [int(v) for v in np.ravel(geom["DIMENSIONS"][()])]
        origin = np.ravel(geom["ORIGIN"][()]) if "ORIGIN" in geom else np.zeros(3)
        spacing = np.ravel(geom["SPACING"][()]) if "SPACING" in geom else np.ones(3)
    except KeyError:
        raise InputError(f"image geometry {geom.name!r} has no DIMENSIONS dataset") from None
    if len(dims) != 3:
        raise InputError(f"image geometry {geom.name!r} has DIMENSIONS {dims}, expected X, Y, Z")
    x, y, z = dims
    zyx = (z, y, x)
    arrays = _Arrays({}, {}, {}, None, [])
    by_type: dict[int, list[h5py.Group]] = {}
    for name, matrix in dc.items():
        if name == "_SIMPL_GEOMETRY" or not isinstance(matrix, h5py.Group):
            continue
        matrix_type = (_int_list_attr(matrix, "AttributeMatrixType") or [-1])[0]
        by_type.setdefault(matrix_type, []).append(matrix)
    for matrix in by_type.pop(_V7_CELL, []):
        _collect(arrays, matrix, "cell", zyx)
    for code, role, names in (
        (_V7_CELL_FEATURE, "feature", ("CellFeatureData", FEATURE_DATA)),
        (_V7_CELL_ENSEMBLE, "ensemble", ("CellEnsembleData", ENSEMBLE_DATA)),
    ):
        first, *rest = _preferred(by_type.pop(code, []), names) or [None]
        if first is not None:
            _collect(arrays, first, role, zyx)
        arrays.notes.extend(f"{m.name}: extra {role} attribute matrix" for m in rest)
    for code, matrices in by_type.items():
        arrays.notes.extend(f"{m.name}: attribute matrix of type {code}" for m in matrices)
    geometry = {
        "dims": (x, y, z),
        "spacing": tuple(float(v) for v in spacing),
        "origin": tuple(float(v) for v in origin),
    }
    return geometry, arrays


def read_dream3d_with_notes(
    path: str | os.PathLike, geometry: str | None = None
) -> tuple[Volume, list[str]]:
    """Like :func:`read_dream3d`, also returning what was in the file but not loaded.

    Returns
    -------
    volume : Volume
    notes : list of str
        One entry per skipped object (neighbour lists, string arrays other than phase
        names, statistics groups, extra attribute matrices), as ``"<hdf5 path>: <what>"``.
    """
    with _open(path) as (p, handle):
        version = _file_version(p, handle)
        container = _select_image(p, _scan(handle, version), geometry)
        reader = _read_v8_image if version == FILE_VERSION else _read_v7_image
        geometry_fields, arrays = reader(container)
    names = arrays.phase_names
    if names is not None and arrays.ensemble:
        n_tuples = next(iter(arrays.ensemble.values())).shape[0]
        if len(names) != n_tuples:
            arrays.notes.append(f"phase names: {len(names)} names for {n_tuples} ensemble tuples")
            names = None
    try:
        volume = Volume(
            cell_data=arrays.cell,
            feature_data=arrays.feature,
            ensemble_data=arrays.ensemble,
            phase_names=names,
            name=container.name.rsplit("/", 1)[-1],
            **geometry_fields,
        )
    except InputError as error:
        raise InputError(f"{p}: {error}") from None
    return volume, arrays.notes


def read_dream3d(path: str | os.PathLike, geometry: str | None = None) -> Volume:
    """Read one image geometry of a ``.dream3d`` file into a :class:`Volume`.

    Parameters
    ----------
    path : path-like
        File written by DREAM3D-NX (version 8.0) or DREAM.3D 6.x (version 7.0).
    geometry : str, optional
        Name of the image geometry (data container) to read; needed only when the
        file holds several.

    Returns
    -------
    Volume
        Cell arrays ``(Z, Y, X, C)``, feature and ensemble arrays ``(n, C)`` with the
        dtypes stored in the file (``DataArray<bool>`` comes back as bool), phase names
        if the ensemble holds a PhaseName(s)/MaterialName string array, spacing/origin
        (float32 in the file) and the length unit (``Units``; Micrometer if absent).

    Raises
    ------
    InputError
        Missing, non-HDF5 or truncated file; no image geometry (the message lists what
        the file holds); several image geometries and no ``geometry``; a cell array whose
        shape does not match the geometry ("dims mismatch"); arrays a Volume rejects.
    """
    return read_dream3d_with_notes(path, geometry)[0]


def read_stats(path: str | os.PathLike) -> list[PhaseStatistics]:
    """Read the StatsGenerator statistics of a DREAM.3D 6.x ``.dream3d`` file.

    Parameters
    ----------
    path : path-like
        A file holding a ``Statistics`` group in a cell-ensemble attribute matrix
        (written by DREAM.3D's StatsGenerator, e.g. ``CubicSingleEquiaxed.dream3d``).

    Returns
    -------
    list of PhaseStatistics
        One entry per phase, in phase order (phase 1 first).

    Raises
    ------
    InputError
        If the file cannot be read or holds no statistics.
    """
    with _open(path) as (p, handle):
        version = _file_version(p, handle)
        containers = _scan(handle, version)
        holders = [c for c in containers if c.version == LEGACY_FILE_VERSION]
        for container in holders:
            stats = _v7_statistics_group(container.group)
            if stats is None:
                continue
            ensemble = stats.parent
            structures = _ensemble_column(ensemble, "CrystalStructures")
            phase_types = _ensemble_column(ensemble, "PhaseTypes")
            names = next(
                (
                    _read_strings(ensemble[n])
                    for n in PHASE_NAME_ARRAYS
                    if isinstance(ensemble.get(n), h5py.Dataset)
                ),
                None,
            )
            result = []
            for key in sorted((k for k in stats if k.isdigit()), key=int):
                phase = int(key)
                result.append(
                    read_phase_statistics(
                        stats[key],
                        phase=phase,
                        crystal_structure=_entry(structures, phase, 999),
                        phase_type=_entry(phase_types, phase, 999),
                        name=names[phase] if names and phase < len(names) else f"Phase {phase}",
                    )
                )
            if result:
                return result
        raise InputError(f"{p} holds no StatsGenerator statistics; it holds {_listing(containers)}")


def _ensemble_column(ensemble: h5py.Group, name: str) -> np.ndarray | None:
    ds = ensemble.get(name)
    return None if not isinstance(ds, h5py.Dataset) else np.ravel(ds[()])


def _entry(values: np.ndarray | None, index: int, default: int) -> int:
    return default if values is None or index >= values.size else int(values[index])


# --------------------------------------------------------------------------- writing


def _check_name(kind: str, name: str) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise InputError(f"{kind} name {name!r} cannot be stored in a .dream3d file (no '/')")


class _Ids:
    """Hands out ObjectIds 1, 2, ... in writing order."""

    def __init__(self) -> None:
        self.next = 1

    def take(self) -> int:
        self.next += 1
        return self.next - 1


def _create_array(
    parent: h5py.Group,
    name: str,
    array: np.ndarray,
    tuple_dims: tuple[int, ...],
    ids: _Ids,
    compression: str | None,
) -> None:
    _check_name("array", name)
    dtype = array.dtype
    data = array.view(np.uint8) if dtype == np.bool_ else array
    data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
    options = {}
    if compression is not None and data.size:
        options = {"compression": "gzip", "compression_opts": 5, "shuffle": True}
    ds = parent.create_dataset(name, data=data, **options)
    _write_object_attrs(ds, f"DataArray<{_V8_TYPE_NAMES[dtype]}>", ids.take())
    _write_num_attr(ds, "TupleDimensions", tuple_dims, "uint64")
    _write_num_attr(ds, "ComponentDimensions", array.shape[len(tuple_dims) :], "uint64")


def _create_string_array(parent: h5py.Group, name: str, values: list[str], ids: _Ids) -> None:
    encoded = [v.encode("utf-8") for v in values]
    ascii_only = all(v.isascii() for v in values)
    dtype = h5py.string_dtype("ascii" if ascii_only else "utf-8")
    ds = parent.create_dataset(name, shape=(len(encoded),), dtype=dtype)
    if encoded:
        ds[...] = np.array(encoded, dtype=object)
    _write_object_attrs(ds, "StringArray", ids.take())
    _write_num_attr(ds, "TupleDimensions", [len(encoded)], "uint64")


def _create_matrix(
    parent: h5py.Group, name: str, tuple_dims: tuple[int, ...], ids: _Ids
) -> tuple[h5py.Group, int]:
    group = parent.create_group(name)
    object_id = ids.take()
    _write_object_attrs(group, "AttributeMatrix", object_id)
    _write_num_attr(group, "TupleDims", tuple_dims, "uint64")
    return group, object_id


def _write_fixed_string_dataset(parent: h5py.Group, name: str, text: str) -> None:
    raw = text.encode("utf-8")
    size = len(raw) + 1  # simplnx writes the terminating NUL into the dataset
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(size)
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    dsid = h5py.h5d.create(parent.id, name.encode(), tid, h5py.h5s.create(h5py.h5s.SCALAR))
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array(raw, dtype=f"S{size}"), mtype=tid)


def _pipeline_text(pipeline_json: str | None) -> tuple[str, str]:
    if pipeline_json is None:
        return json.dumps(EMPTY_PIPELINE), EMPTY_PIPELINE["name"]
    try:
        parsed = json.loads(pipeline_json)
    except ValueError as error:
        raise InputError(f"pipeline_json is not valid JSON: {error}") from None
    name = parsed.get("name") if isinstance(parsed, dict) else None
    return pipeline_json, str(name or EMPTY_PIPELINE["name"])


def _write_v8(
    volume: Volume, target: Path, compression: str | None, pipeline_json: str | None
) -> None:
    _check_name("geometry", volume.name)
    pipeline, pipeline_name = _pipeline_text(pipeline_json)
    ids = _Ids()
    with h5py.File(target, "w") as handle:
        write_str_attr(handle, "FileVersion", FILE_VERSION)
        structure = handle.create_group("DataStructure")
        geom = structure.create_group(volume.name)
        _write_object_attrs(geom, "ImageGeom", ids.take())
        _write_num_attr(geom, "_DIMENSIONS", volume.dims, "uint64")
        _write_num_attr(geom, "_ORIGIN", volume.origin, "float32")
        _write_num_attr(geom, "_SPACING", volume.spacing, "float32")
        _write_num_attr(geom, "Units", [_UNIT_CODES[volume.length_unit]], "uint32")
        cell, cell_id = _create_matrix(geom, CELL_DATA, volume.shape, ids)
        _write_num_attr(geom, "Cell Data ID", [cell_id], "uint64")
        for name, array in volume.cell_data.items():
            _create_array(cell, name, array, volume.shape, ids, compression)
        if volume.feature_data:
            n_features = next(iter(volume.feature_data.values())).shape[0]
            features, _ = _create_matrix(geom, FEATURE_DATA, (n_features,), ids)
            for name, array in volume.feature_data.items():
                _create_array(features, name, array, (n_features,), ids, compression)
        if volume.ensemble_data or volume.phase_names is not None:
            n_tuples = (
                volume.n_phases + 1 if volume.ensemble_data else len(volume.phase_names or [])
            )
            ensemble, _ = _create_matrix(geom, ENSEMBLE_DATA, (n_tuples,), ids)
            for name, array in volume.ensemble_data.items():
                _create_array(ensemble, name, array, (n_tuples,), ids, compression)
            if volume.phase_names is not None:
                if PHASE_NAMES_ARRAY in volume.ensemble_data:
                    raise InputError(
                        f"ensemble array {PHASE_NAMES_ARRAY!r} clashes with the phase names"
                    )
                _create_string_array(ensemble, PHASE_NAMES_ARRAY, volume.phase_names, ids)
        _write_num_attr(structure, "NextObjectId", [ids.next], "uint64")
        pipeline_group = handle.create_group("Pipeline")
        _write_num_attr(pipeline_group, "Pipeline Version", [3], "int32")
        write_str_attr(pipeline_group, "Current Pipeline", pipeline_name)
        _write_fixed_string_dataset(pipeline_group, "Pipeline", pipeline)


def write_dream3d(
    volume: Volume,
    path: str | os.PathLike,
    compression: str | None = None,
    pipeline_json: str | None = None,
    xdmf: bool = True,
) -> Path:
    """Write ``volume`` as a DREAM3D-NX (file version 8.0) ``.dream3d`` file.

    The file and its ``.xdmf`` sidecar are written to temporary names and renamed
    only when both are complete. Existing files at ``path`` are replaced; use
    :func:`dream3d_sd_filters.io.write_volume` for the overwrite checks.

    Parameters
    ----------
    volume : Volume
        What to write; ``volume.name`` becomes the ImageGeom name.
    path : path-like
        Output file, normally ending in ``.dream3d``.
    compression : {None, "gzip"}
        ``"gzip"`` stores arrays deflate-compressed (level 5, with shuffle), which
        DREAM3D-NX reads with stock HDF5.
    pipeline_json : str, optional
        ``.d3dpipeline`` JSON stored in ``/Pipeline/Pipeline``; an empty pipeline by
        default.
    xdmf : bool
        Also write ``<path stem>.xdmf`` so ParaView opens the file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        Unknown compression, invalid pipeline JSON, or names containing ``/``.
    """
    if compression not in (None, "gzip"):
        raise InputError(f"unknown compression {compression!r}; use None or 'gzip'")
    out = Path(path)
    with ExitStack() as stack:
        tmp = stack.enter_context(atomic_output(out))
        tmp_xdmf = stack.enter_context(atomic_output(out.with_suffix(".xdmf"))) if xdmf else None
        _write_v8(volume, tmp, compression, pipeline_json)
        if tmp_xdmf is not None:
            tmp_xdmf.write_text(xdmf_text(volume, out.name), encoding="utf-8")
    return out
