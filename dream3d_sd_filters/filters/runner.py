"""Run ``.d3dpipeline`` files made of the SD filters without DREAM3D-NX.

``sd-filters pipeline run`` executes pipelines built from this project's filters plus
"Read DREAM3D-NX File" (``ReadDREAM3DFilter``) and "Write DREAM3D NX File"
(``WriteDREAM3DFilter``), matched by uuid, on machines without DREAM3D-NX (clusters, CI).
Any other filter is refused before anything runs, with a message naming it and pointing
to ``nxrunner --execute``.

Design: one definition of each filter, two front ends. The filters' uuids, parameter
keys, defaults, input checks and task calls live in :mod:`dream3d_sd_filters.filters`.
The DREAM3D-NX plugin (:mod:`dream3d_sd_filters.dream3d_nx`) adapts them to simplnx's
DataStructure; this module adapts them to :class:`MemoryData`, a small in-memory tree of
image geometries, attribute matrices and arrays. Both run the same ``plan`` (the
preflight: checks and the objects to create), create those objects, then ``run`` and
store the returned arrays, so a pipeline file gives the same arrays in both. This runner
does not need simplnx, and it does not imitate simplnx's Python API.

Differences from DREAM3D-NX, on purpose:

* Relative file paths in a pipeline (the file to read or write, checkpoint folders,
  image output folders) resolve against the pipeline file's directory, so a pipeline
  and its data can move together; nxrunner resolves them against its working
  directory. ``--set`` values resolve against the current directory.
* Existing output files are not replaced unless ``overwrite`` is given.
* Reading goes through :func:`dream3d_sd_filters.io.dream3d.read_dream3d`: image
  geometries only (other objects are skipped with a note). Attribute matrices get the
  default names of the file's version: ``Cell Data``, ``Cell Feature Data``,
  ``Cell Ensemble Data`` (DREAM3D-NX, 8.0), or ``CellData``, ``CellFeatureData``,
  ``CellEnsembleData`` (DREAM.3D 6.x, 7.0).
* Writing goes through :func:`dream3d_sd_filters.io.dream3d.write_dream3d`, which
  writes one image geometry per file; a data structure holding several is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..volume import Volume
from . import FILTERS_BY_UUID
from .base import (
    ARRAY_MISSING_ERROR,
    PATH_KINDS,
    ArrayInfo,
    FilterError,
    GeometryInfo,
    Info,
    MatrixInfo,
    NewArray,
    NewGeometry,
    NewMatrix,
    OtherInfo,
    Output,
    Progress,
    SDFilter,
    join,
    parent,
)

READ_UUID = "0dbd31c7-19e0-4077-83ef-f4a6459a0e2d"
WRITE_UUID = "b3a95784-2ced-41ec-8d3d-0242ac130003"
READ_KEY = "import_data_object"
WRITE_KEYS = ("export_file_path", "write_xdmf_file")
#: Attribute-matrix names the reader gives, by .dream3d file version.
_MATRIX_NAMES = {
    "8.0": ("Cell Data", "Cell Feature Data", "Cell Ensemble Data"),
    "7.0": ("CellData", "CellFeatureData", "CellEnsembleData"),
}


# --------------------------------------------------------------------------- data


@dataclass
class _Geometry:
    info: GeometryInfo
    cell_data_name: str
    length_unit: str = "Micrometer"


class MemoryData:
    """An in-memory data structure the SD filters run on (see :class:`~.base.DataAccess`).

    Objects are kept by their path ``"A/B/C"``: image geometries, attribute matrices,
    numpy arrays (tuple shape + component shape, C order), string lists (phase names)
    and plain groups.
    """

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}

    def describe(self, path: str) -> Info | None:
        obj = self.objects.get(path)
        if obj is None:
            return None
        if isinstance(obj, _Geometry):
            return obj.info
        if isinstance(obj, MatrixInfo):
            return obj
        if isinstance(obj, np.ndarray):
            tuples = self._tuple_shape(path, obj)
            return ArrayInfo(obj.dtype, tuples, obj.shape[len(tuples) :])
        return OtherInfo("StringArray" if isinstance(obj, list) else "DataGroup")

    def _tuple_shape(self, path: str, array: np.ndarray) -> tuple[int, ...]:
        owner = self.objects.get(parent(path))
        if isinstance(owner, MatrixInfo):
            return owner.tuple_shape
        return array.shape[:1]

    def children(self, path: str) -> list[str]:
        prefix = path + "/" if path else ""
        return [p for p in self.objects if p.startswith(prefix) and "/" not in p[len(prefix) :]]

    def read(self, path: str) -> np.ndarray:
        array = self.objects.get(path)
        if not isinstance(array, np.ndarray):
            raise FilterError(ARRAY_MISSING_ERROR, f"{path!r} is not a data array")
        return array

    def create(self, outputs: list[Output]) -> None:
        """Create the objects of a filter's plan (arrays zero-filled, as simplnx does)."""
        for output in outputs:
            if isinstance(output, NewGeometry):
                x, y, z = output.dims
                self.objects[output.path] = _Geometry(
                    GeometryInfo(output.dims, output.spacing, output.origin),
                    output.cell_data_name,
                )
                self.objects[join(output.path, output.cell_data_name)] = MatrixInfo((z, y, x))
            elif isinstance(output, NewMatrix):
                self.objects[output.path] = MatrixInfo(tuple(output.tuple_shape))
            elif isinstance(output, NewArray):
                shape = tuple(output.tuple_shape) + tuple(output.component_shape)
                self.objects[output.path] = np.zeros(shape, dtype=output.dtype)

    def store(self, arrays: dict[str, np.ndarray]) -> None:
        """Fill created arrays with a filter's results (shape and dtype must match)."""
        for path, values in arrays.items():
            target = self.objects[path]
            target[...] = np.asarray(values).reshape(target.shape)

    def add_volume(self, path: str, volume: Volume, names: tuple[str, str, str]) -> None:
        """Add a volume read from a file as geometry ``path``."""
        cell, feature, ensemble = names
        for ancestor in _ancestors(path):
            self.objects.setdefault(ancestor, "DataGroup")
        self.objects[path] = _Geometry(
            GeometryInfo(volume.dims, volume.spacing, volume.origin), cell, volume.length_unit
        )
        self.objects[join(path, cell)] = MatrixInfo(volume.shape)
        for name, array in volume.cell_data.items():
            self.objects[join(path, cell, name)] = array
        for matrix, arrays in ((feature, volume.feature_data), (ensemble, volume.ensemble_data)):
            if arrays:
                n = next(iter(arrays.values())).shape[0]
                self.objects[join(path, matrix)] = MatrixInfo((n,))
                for name, array in arrays.items():
                    self.objects[join(path, matrix, name)] = array
        if volume.phase_names is not None and volume.ensemble_data:
            self.objects[join(path, ensemble, "PhaseNames")] = list(volume.phase_names)

    def geometries(self) -> list[str]:
        return [p for p, obj in self.objects.items() if isinstance(obj, _Geometry)]

    def to_volume(self, path: str) -> tuple[Volume, list[str]]:
        """The image geometry at ``path`` as a Volume, and notes on what it cannot hold."""
        geometry: _Geometry = self.objects[path]
        cell_path = join(path, geometry.cell_data_name)
        cell = {p.rsplit("/", 1)[-1]: self.objects[p] for p in self._arrays(cell_path)}
        feature: dict[str, np.ndarray] = {}
        ensemble: dict[str, np.ndarray] = {}
        phase_names = None
        notes = []
        for matrix in self.children(path):
            if matrix == cell_path or not isinstance(self.objects[matrix], MatrixInfo):
                continue
            arrays = {p.rsplit("/", 1)[-1]: self.objects[p] for p in self._arrays(matrix)}
            strings = [p for p in self.children(matrix) if isinstance(self.objects[p], list)]
            is_ensemble = "CrystalStructures" in arrays or "ensemble" in matrix.lower()
            role = ensemble if is_ensemble else feature
            if role:
                notes.append(
                    f"{matrix}: a second {'ensemble' if is_ensemble else 'feature'} matrix"
                )
                continue
            role.update(arrays)
            if is_ensemble and strings:
                phase_names = self.objects[strings[0]]
        info = geometry.info
        volume = Volume(
            dims=info.dims,
            spacing=info.spacing,
            origin=info.origin,
            length_unit=geometry.length_unit,
            cell_data=cell,
            feature_data=feature,
            ensemble_data=ensemble,
            phase_names=phase_names,
            name=path.rsplit("/", 1)[-1],
        )
        return volume, notes

    def _arrays(self, matrix: str) -> list[str]:
        return [p for p in self.children(matrix) if isinstance(self.objects[p], np.ndarray)]


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


# --------------------------------------------------------------------------- pipeline file


@dataclass
class Step:
    """One filter of a pipeline: its position (1-based), identity and parameter values."""

    number: int
    uuid: str
    name: str
    values: dict[str, Any]
    filter: SDFilter | None = None  # None for the Read / Write filters

    @property
    def title(self) -> str:
        return self.filter.human_name if self.filter else _BUILTIN_NAMES[self.uuid]


_BUILTIN_NAMES = {READ_UUID: "Read DREAM3D-NX File", WRITE_UUID: "Write DREAM3D NX File"}


@dataclass
class Pipeline:
    """A parsed pipeline file."""

    path: Path
    name: str
    text: str
    steps: list[Step]
    warnings: list[str] = field(default_factory=list)


def _fail(path: Path, message: str) -> InputError:
    return InputError(f"{path.name}: {message}")


def load_pipeline(path: str | os.PathLike, overrides: list[str] = ()) -> Pipeline:
    """Read a ``.d3dpipeline`` file, check every filter is supported, apply ``--set`` values.

    Parameters
    ----------
    path : path-like
        The pipeline (JSON). Argument values are read in the current format
        ``{"value": ..., "version": 1}`` and in the older raw form (with a warning).
    overrides : list of str
        ``"key=value"`` (every filter with that parameter) or ``"N.key=value"`` (filter
        number N, counting from 1). The value is JSON if it parses (numbers, true, lists),
        else a string; a choice may be given by name. Relative paths resolve against the
        current directory.

    Returns
    -------
    Pipeline
        Relative paths already resolved (see the module notes).

    Raises
    ------
    InputError
        Missing file, invalid JSON, missing keys, an unsupported filter, a bad override.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pipeline file not found: {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise _fail(path, f"not a valid pipeline: not JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("pipeline"), list):
        raise _fail(path, "not a valid pipeline: no 'pipeline' list of filters")
    pipeline = Pipeline(path, str(document.get("name") or path.stem), text, [])
    for number, node in enumerate(document["pipeline"], start=1):
        step = _parse_node(path, number, node, pipeline.warnings)
        if step is not None:
            pipeline.steps.append(step)
    _apply_overrides(pipeline, overrides)
    for step in pipeline.steps:
        _resolve_paths(step, path.parent.resolve())
    return pipeline


def _parse_node(path: Path, number: int, node: Any, warnings: list[str]) -> Step | None:
    where = f"filter {number}"
    if not isinstance(node, dict):
        raise _fail(path, f"not a valid pipeline: {where} is not a JSON object")
    identity = node.get("filter")
    if not isinstance(identity, dict) or not isinstance(identity.get("uuid"), str):
        raise _fail(path, f"not a valid pipeline: {where} has no 'filter' with a 'uuid'")
    uuid = identity["uuid"].strip("{}").lower()
    name = str(identity.get("name") or "unnamed")
    if "args" not in node or not isinstance(node["args"], dict):
        raise _fail(path, f"not a valid pipeline: {where} ({name}) has no 'args' object")
    if node.get("isDisabled"):
        warnings.append(f"{where} ({name}) is disabled; skipped")
        return None
    sd_filter = FILTERS_BY_UUID.get(uuid)
    if sd_filter is None and uuid not in _BUILTIN_NAMES:
        raise _fail(
            path,
            f"{where} '{name}' (uuid {uuid}) is not one of the SD filters or Read/Write "
            f"DREAM3D, which are all `sd-filters pipeline run` can execute; run this pipeline "
            f"in DREAM3D-NX: nxrunner --execute {path}",
        )
    known = (
        sd_filter.defaults()
        if sd_filter is not None
        else {READ_KEY: None}
        if uuid == READ_UUID
        else dict.fromkeys(WRITE_KEYS)
    )
    values: dict[str, Any] = {}
    old_format = False
    for key, raw in node["args"].items():
        if key == "parameters_version":
            expected = sd_filter.parameters_version if sd_filter else 1
            if raw != expected:
                warnings.append(f"{where} ({name}): parameters_version {raw}, expected {expected}")
            continue
        if isinstance(raw, dict) and "value" in raw and set(raw) <= {"value", "version"}:
            values[key] = raw["value"]
        else:
            values[key] = raw
            old_format = True
        if key not in known:
            warnings.append(f"{where} ({name}): unknown parameter '{key}' ignored")
            del values[key]
    if old_format:
        warnings.append(
            f"{where} ({name}): arguments in the old format (raw values, not "
            '{"value": ..., "version": 1}); read anyway'
        )
    return Step(number, uuid, name, values, sd_filter)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _apply_overrides(pipeline: Pipeline, overrides: list[str]) -> None:
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set needs KEY=VALUE or N.KEY=VALUE, got {item!r}")
        key = key.strip()
        number = None
        head, dot, tail = key.partition(".")
        if dot and head.isdigit():
            number, key = int(head), tail
        steps = [s for s in pipeline.steps if number is None or s.number == number]
        if number is not None and not steps:
            raise InputError(f"--set {item}: the pipeline has no (enabled) filter {number}")
        targets = [s for s in steps if key in _keys(s)]
        if not targets:
            raise InputError(
                f"--set {item}: no filter{f' {number}' if number else ''} of the pipeline "
                f"has a parameter '{key}'"
            )
        value = _parse_value(text)
        for step in targets:
            if _is_path_key(step, key) and isinstance(value, str) and value:
                value = _absolute_override(step, key, value)
            step.values[key] = value


def _keys(step: Step) -> list[str]:
    if step.filter is not None:
        return list(step.filter.defaults())
    return [READ_KEY, "file_path"] if step.uuid == READ_UUID else list(WRITE_KEYS)


def _is_path_key(step: Step, key: str) -> bool:
    if step.filter is not None:
        return step.filter.param(key).kind in PATH_KINDS
    return key in ("file_path", "export_file_path")


def _absolute_override(step: Step, key: str, value: str) -> str:
    if key == "checkpoint" and not Path(value).exists():
        return value  # a bundled model name
    return str(Path(value).expanduser().resolve())


def _resolve_paths(step: Step, base: Path) -> None:
    def resolve(value: str, must_exist: bool = False) -> str:
        candidate = Path(value).expanduser()
        if candidate.is_absolute():
            return value
        if must_exist and not (base / candidate).exists():
            return value
        return str(base / candidate)

    if step.filter is not None:
        for key, value in step.values.items():
            kind = step.filter.param(key).kind
            if kind in PATH_KINDS and isinstance(value, str) and value.strip():
                step.values[key] = resolve(value, must_exist=kind == "checkpoint")
    elif step.uuid == WRITE_UUID and isinstance(step.values.get("export_file_path"), str):
        step.values["export_file_path"] = resolve(step.values["export_file_path"])
    elif step.uuid == READ_UUID:
        if "file_path" in step.values:  # an override of the file alone
            current = step.values.get(READ_KEY)
            step.values[READ_KEY] = {
                **(current if isinstance(current, dict) else {}),
                "file_path": step.values.pop("file_path"),
            }
        spec = step.values.get(READ_KEY)
        if isinstance(spec, dict) and isinstance(spec.get("file_path"), str):
            spec["file_path"] = resolve(spec["file_path"])


# --------------------------------------------------------------------------- running


def _where(step: Step) -> str:
    return f"filter {step.number} ({step.title})"


def _read_spec(step: Step) -> tuple[Path, list[str] | None]:
    spec = step.values.get(READ_KEY)
    if not isinstance(spec, dict) or not isinstance(spec.get("file_path"), str):
        raise InputError(
            f"{_where(step)}: {READ_KEY} must be {{'file_path': ..., 'data_paths': [...] | null}}"
        )
    paths = spec.get("data_paths")
    if paths is not None and not (
        isinstance(paths, list) and all(isinstance(p, str) for p in paths)
    ):
        raise InputError(f"{_where(step)}: data_paths must be a list of paths or null")
    return Path(spec["file_path"]), paths


def _write_spec(step: Step) -> tuple[Path, bool]:
    target = step.values.get("export_file_path")
    xdmf = step.values.get("write_xdmf_file", True)
    if not isinstance(target, str) or not target:
        raise InputError(f"{_where(step)}: export_file_path must be a file path")
    if not isinstance(xdmf, bool):
        raise InputError(f"{_where(step)}: write_xdmf_file must be true or false")
    return Path(target), xdmf


def check_outputs(pipeline: Pipeline, overwrite: bool) -> None:
    """Refuse, before anything runs, to replace existing files (unless ``overwrite``)."""
    from ..io import check_output_path

    inputs = [_read_spec(s)[0] for s in pipeline.steps if s.uuid == READ_UUID]
    for step in pipeline.steps:
        if step.uuid == WRITE_UUID:
            target, xdmf = _write_spec(step)
            if target.suffix.lower() != ".dream3d":
                raise InputError(f"{_where(step)}: {target.name!r} must end in .dream3d")
            check_output_path(target, inputs, overwrite)
            if xdmf:
                check_output_path(target.with_suffix(".xdmf"), inputs, overwrite)


def _read(step: Step, data: MemoryData, report: Callable[[str], None]) -> None:
    import h5py

    from ..io.dream3d import list_geometries, read_dream3d_with_notes

    source, wanted = _read_spec(step)
    if not source.is_file():
        raise InputError(f"{_where(step)}: file not found: {source}")
    with h5py.File(source, "r") as handle:
        version = handle.attrs.get("FileVersion", b"8.0")
    version = version.decode() if isinstance(version, bytes) else str(version)
    names = _MATRIX_NAMES.get(version, _MATRIX_NAMES["8.0"])
    loaded = 0
    for name, kind in list_geometries(source):
        if wanted is not None and not any(
            w.strip("/") == name or w.strip("/").startswith(name + "/") for w in wanted
        ):
            continue
        if kind != "ImageGeom":
            report(f"{_where(step)}: skipped {name!r} ({kind}); only image geometries are read")
            continue
        if data.describe(name) is not None:
            raise InputError(f"{_where(step)}: {name!r} already exists in the data structure")
        volume, notes = read_dream3d_with_notes(source, name)
        for note in notes:
            report(f"{_where(step)}: not loaded: {note}")
        data.add_volume(name, volume, names)
        loaded += 1
        if wanted is not None:
            _keep_only(data, name, wanted)
    if not loaded:
        raise InputError(f"{_where(step)}: {source.name} holds no image geometry to read")


def _keep_only(data: MemoryData, geometry: str, wanted: list[str]) -> None:
    """Drop the objects of ``geometry`` that ``data_paths`` does not list (or contain)."""
    keep = [w.strip("/") for w in wanted]
    for path in [p for p in data.objects if p.startswith(geometry + "/")]:
        listed = any(
            path == k or path.startswith(k + "/") or k.startswith(path + "/") for k in keep
        )
        if not listed:
            del data.objects[path]


def _write(step: Step, data: MemoryData, pipeline: Pipeline, report: Callable[[str], None]) -> None:
    from ..io.dream3d import write_dream3d

    target, xdmf = _write_spec(step)
    geometries = data.geometries()
    if len(geometries) != 1:
        raise InputError(
            f"{_where(step)}: sd-filters writes one image geometry per .dream3d file, but the "
            f"data structure holds {len(geometries)} ({', '.join(geometries) or 'none'}); "
            "run this pipeline with nxrunner, or split it"
        )
    volume, notes = data.to_volume(geometries[0])
    for note in notes:
        report(f"{_where(step)}: not written: {note}")
    write_dream3d(volume, target, pipeline_json=pipeline.text, xdmf=xdmf)
    report(f"{_where(step)}: wrote {target}")


def run_pipeline(
    pipeline: Pipeline,
    progress: Callable[[Step], Progress | None] | None = None,
    report: Callable[[str], None] = lambda line: None,
    overwrite: bool = False,
) -> MemoryData:
    """Execute a pipeline filter by filter (each: plan, create outputs, run, store).

    Parameters
    ----------
    pipeline : Pipeline
    progress : callable, optional
        ``progress(step)`` returns the :data:`~.base.Progress` for that filter.
    report : callable
        Receives one-line notes (warnings, what each filter did).
    overwrite : bool
        Replace existing output files.

    Returns
    -------
    MemoryData
        The data structure after the last filter.

    Raises
    ------
    InputError
        The first problem, prefixed with the filter's number and name.
    """
    for warning in pipeline.warnings:
        report(warning)
    check_outputs(pipeline, overwrite)
    data = MemoryData()
    for step in pipeline.steps:
        if step.uuid == READ_UUID:
            _read(step, data, report)
        elif step.uuid == WRITE_UUID:
            _write(step, data, pipeline, report)
        else:
            try:
                outputs = step.filter.plan(step.values, data)
                data.create(outputs)
                result = step.filter.run(
                    step.values, data, progress(step) if progress is not None else None
                )
            except InputError as error:
                raise InputError(f"{_where(step)}: {error}") from None
            data.store(result.arrays)
            for message in result.messages:
                report(f"{_where(step)}: {message}")
    return data
