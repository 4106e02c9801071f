"""A test double of the simplnx Python API (``import simplnx as nx``).

simplnx is conda-only, so the plugin tests run against this module instead. It is
written strictly from ``docs/dream3d-nx-reference.md`` (sections 1.2-1.6 and the
addendum), not from simplnx's source, and it is strict where the reference warns:

* ``DataPath`` and ``Uuid`` have no ``__eq__``/``__hash__`` (identity comparison only);
* ``Error``/``Warning`` take positional arguments only;
* ``IFilter.PreflightResult`` refuses ``output_actions`` together with ``errors``, and
  any non-None ``errors`` list (even ``[]``) means failure, here as in simplnx;
* parameters' ``allowed_types`` must be sets;
* arrays created in preflight (and every array a filter sees in preflight, as after
  ReadDREAM3D's preflight) have an empty store: ``npview()`` raises;
* output actions are applied to the DataStructure before ``execute_impl``;
* ``AtomicBoolProxy`` offers only ``__bool__``.

Extensions for tests, not part of simplnx: ``PyFilter.messages`` (every message the
filter sent) and ``PyFilter(filter, cancel_when=callable)`` (``should_cancel`` turns
true once ``cancel_when(messages)`` does).
"""

from __future__ import annotations

import copy
import enum
import os
import uuid as _uuid
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- basics


class Uuid:
    """``nx.Uuid('...')``; no value equality (see the reference's addendum)."""

    def __init__(self, text: str) -> None:
        self._text = str(_uuid.UUID(text))

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Uuid('{self._text}')"


class DataPath:
    """``nx.DataPath(["A", "B"])`` or ``nx.DataPath("A/B")``; no value equality."""

    def __init__(self, parts: list[str] | str | None = None) -> None:
        if parts is None:
            parts = []
        if isinstance(parts, str):
            parts = [p for p in parts.split("/") if p]
        if not all(isinstance(p, str) and p and "/" not in p for p in parts):
            raise ValueError(f"invalid DataPath parts {parts!r}")
        self._parts = list(parts)

    def create_child_path(self, name: str) -> DataPath:
        return DataPath([*self._parts, name])

    def parent(self) -> DataPath:
        return DataPath(self._parts[:-1])

    def name(self) -> str:
        return self._parts[-1] if self._parts else ""

    def with_name(self, name: str) -> DataPath:
        return DataPath([*self._parts[:-1], name])

    def parts(self) -> list[str]:
        return list(self._parts)

    def to_string(self, separator: str = "/") -> str:
        return separator.join(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def __repr__(self) -> str:
        return f"DataPath('{self.to_string()}')"

    __eq__ = object.__eq__
    __hash__ = None  # type: ignore[assignment]


class DataType(enum.Enum):
    int8 = 0
    uint8 = 1
    int16 = 2
    uint16 = 3
    int32 = 4
    uint32 = 5
    int64 = 6
    uint64 = 7
    float32 = 8
    float64 = 9
    boolean = 10


def _numpy_dtype(data_type: DataType) -> np.dtype:
    return np.dtype("bool" if data_type is DataType.boolean else data_type.name)


def convert_np_dtype_to_datatype(dtype: np.dtype) -> DataType:
    name = np.dtype(dtype).name
    return DataType.boolean if name == "bool" else DataType[name]


def get_all_data_types() -> set:
    return set(DataType)


class IGeometry:
    class Type(enum.Enum):
        Image = 0
        RectGrid = 1
        Vertex = 2
        Edge = 3
        Triangle = 4
        Quad = 5
        Tetrahedral = 6
        Hexahedral = 7


class Error:
    def __init__(self, code: int, message: str, /) -> None:
        self.code = int(code)
        self.message = str(message)

    def __repr__(self) -> str:
        return f"Error({self.code}, {self.message!r})"


class Warning:  # noqa: A001 - simplnx's name
    def __init__(self, code: int, message: str, /) -> None:
        self.code = int(code)
        self.message = str(message)

    def __repr__(self) -> str:
        return f"Warning({self.code}, {self.message!r})"


class Result:
    """``nx.Result(errors=None, warnings=None)``; any non-None ``errors`` is a failure."""

    def __init__(self, errors: list[Error] | None = None, warnings: list | None = None) -> None:
        self.errors = errors
        self.warnings = warnings if warnings is not None else []

    def valid(self) -> bool:
        return self.errors is None


class AtomicBoolProxy:
    """Only ``__bool__``: filters write ``if should_cancel: ...``."""

    def __init__(self, read) -> None:
        self._read = read

    def __bool__(self) -> bool:
        return bool(self._read())


# --------------------------------------------------------------------------- data


class DataObject:
    pass


class DataGroup(DataObject):
    pass


class AttributeMatrix(DataObject):
    def __init__(self, shape: list[int]) -> None:
        self._shape = [int(s) for s in shape]

    @property
    def tuple_shape(self) -> list[int]:
        return list(self._shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._shape))

    def resize_tuples(self, shape: list[int]) -> None:
        self._shape = [int(s) for s in shape]


class ImageGeom(DataObject):
    def __init__(self, dims: list[int], origin: list[float], spacing: list[float]) -> None:
        self._dims = tuple(int(d) for d in dims)
        self._origin = tuple(np.float32(v) for v in origin)
        self._spacing = tuple(np.float32(v) for v in spacing)

    @property
    def dimensions(self) -> tuple[int, int, int]:
        return self._dims

    @property
    def spacing(self) -> tuple:
        return self._spacing

    @property
    def origin(self) -> tuple:
        return self._origin

    @property
    def num_x_cells(self) -> int:
        return self._dims[0]

    @property
    def num_y_cells(self) -> int:
        return self._dims[1]

    @property
    def num_z_cells(self) -> int:
        return self._dims[2]


class DataStore:
    """In-memory store; ``values is None`` plays simplnx's EmptyDataStore."""

    def __init__(self, values: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self._values = values
        self._shape = shape
        self._dtype = dtype

    def npview(self) -> np.ndarray:
        if self._values is None:
            raise RuntimeError(
                "npview(): the array has no data store (EmptyDataStore during preflight)"
            )
        return self._values


class IDataArray(DataObject):
    def __init__(
        self, data_type: DataType, tdims: list[int], cdims: list[int], values: np.ndarray | None
    ) -> None:
        self._data_type = data_type
        self._tdims = [int(t) for t in tdims]
        self._cdims = [int(c) for c in cdims]
        shape = tuple(self._tdims + self._cdims)
        if values is not None:
            values = np.ascontiguousarray(values, dtype=_numpy_dtype(data_type)).reshape(shape)
        self.store = DataStore(values, shape, _numpy_dtype(data_type))

    @property
    def tdims(self) -> list[int]:
        return list(self._tdims)

    @property
    def cdims(self) -> list[int]:
        return list(self._cdims)

    @property
    def data_type(self) -> DataType:
        return self._data_type

    @property
    def dtype(self) -> np.dtype:
        return _numpy_dtype(self._data_type)

    def npview(self) -> np.ndarray:
        return self.store.npview()


class DataArray(IDataArray):
    pass


def _key(path: DataPath | str) -> str:
    if isinstance(path, DataPath):
        return path.to_string("/")
    if isinstance(path, str):
        return "/".join(p for p in path.split("/") if p)
    raise TypeError(f"expected nx.DataPath or str, got {type(path).__name__}")


class DataStructure:
    def __init__(self) -> None:
        self._objects: dict[str, DataObject] = {}

    def __getitem__(self, path: DataPath | str) -> DataObject:
        key = _key(path)
        if key not in self._objects:
            raise KeyError(f"no object at '{key}'")
        return self._objects[key]

    def exists(self, path: DataPath | str) -> bool:
        return _key(path) in self._objects

    def get_children(self, path: DataPath | str) -> list[DataPath]:
        key = _key(path)
        prefix = key + "/" if key else ""
        return [
            DataPath(p)
            for p in self._objects
            if p.startswith(prefix) and "/" not in p[len(prefix) :]
        ]

    def hierarchy_to_str(self) -> str:
        return "\n".join(
            "  " * k.count("/") + k.rsplit("/", 1)[-1] + f" ({type(o).__name__})"
            for k, o in self._objects.items()
        )

    def remove(self, path: DataPath | str) -> bool:
        key = _key(path)
        doomed = [k for k in self._objects if k == key or k.startswith(key + "/")]
        for k in doomed:
            del self._objects[k]
        return bool(doomed)

    def _insert(self, path: DataPath, obj: DataObject) -> Result:
        key = _key(path)
        if key in self._objects:
            return Result(errors=[Error(-101, f"'{key}' already exists")])
        parent = _key(path.parent())
        if parent and parent not in self._objects:
            return Result(errors=[Error(-102, f"parent '{parent}' of '{key}' does not exist")])
        self._objects[key] = obj
        return Result()

    def _emptied(self) -> DataStructure:
        """A copy whose arrays have no data (what preflight sees in simplnx)."""
        clone = DataStructure()
        for key, obj in self._objects.items():
            if isinstance(obj, IDataArray):
                obj = DataArray(obj.data_type, obj.tdims, obj.cdims, None)
            clone._objects[key] = copy.copy(obj)
        return clone


# --------------------------------------------------------------------------- actions


class IDataAction:
    class Mode(enum.Enum):
        Preflight = 0
        Execute = 1


class CreateArrayAction(IDataAction):
    def __init__(
        self,
        type: DataType,  # noqa: A002 - simplnx's keyword
        t_dims: list[int],
        c_dims: list[int],
        path: DataPath,
        data_format: str = "",
    ) -> None:
        if not isinstance(type, DataType) or not isinstance(path, DataPath):
            raise TypeError("CreateArrayAction(type: DataType, t_dims, c_dims, path: DataPath)")
        self.type, self.t_dims, self.c_dims, self.path = type, list(t_dims), list(c_dims), path
        self.data_format = data_format

    def apply(self, data_structure: DataStructure, mode: IDataAction.Mode) -> Result:
        parent = data_structure._objects.get(_key(self.path.parent()))
        if isinstance(parent, AttributeMatrix) and parent.tuple_shape != self.t_dims:
            return Result(
                errors=[
                    Error(
                        -103,
                        f"tuple shape {self.t_dims} of '{_key(self.path)}' differs from its "
                        f"attribute matrix's {parent.tuple_shape}",
                    )
                ]
            )
        values = None
        if mode is IDataAction.Mode.Execute:
            values = np.zeros(self.t_dims + self.c_dims, dtype=_numpy_dtype(self.type))
        array = DataArray(self.type, self.t_dims, self.c_dims, values)
        return data_structure._insert(self.path, array)


class CreateAttributeMatrixAction(IDataAction):
    def __init__(self, path: DataPath, shape: list[int]) -> None:
        if not isinstance(path, DataPath):
            raise TypeError("CreateAttributeMatrixAction(path: DataPath, shape)")
        self.path, self.shape = path, list(shape)

    def apply(self, data_structure: DataStructure, mode: IDataAction.Mode) -> Result:
        return data_structure._insert(self.path, AttributeMatrix(self.shape))


class CreateImageGeometryAction(IDataAction):
    def __init__(
        self,
        path: DataPath,
        dims: list[int],
        origin: list[float],
        spacing: list[float],
        cell_attribute_matrix_name: str,
    ) -> None:
        if not isinstance(path, DataPath) or len(dims) != 3:
            raise TypeError(
                "CreateImageGeometryAction(path: DataPath, dims[3], origin, spacing, name)"
            )
        self.path, self.dims = path, [int(d) for d in dims]
        self.origin, self.spacing = list(origin), list(spacing)
        self.cell_attribute_matrix_name = cell_attribute_matrix_name

    def apply(self, data_structure: DataStructure, mode: IDataAction.Mode) -> Result:
        result = data_structure._insert(self.path, ImageGeom(self.dims, self.origin, self.spacing))
        if result.errors is not None:
            return result
        x, y, z = self.dims
        cell = self.path.create_child_path(self.cell_attribute_matrix_name)
        return data_structure._insert(cell, AttributeMatrix([z, y, x]))


class OutputActions:
    def __init__(self) -> None:
        self.actions: list[IDataAction] = []
        self.deferred_actions: list[IDataAction] = []

    def append_action(self, action: IDataAction) -> None:
        self.actions.append(action)

    def append_deferred_action(self, action: IDataAction) -> None:
        self.deferred_actions.append(action)


# --------------------------------------------------------------------------- parameters


class _Parameter:
    def __init__(self, name: str, human_name: str, help_text: str, default_value) -> None:
        self.name, self.human_name, self.help_text = name, human_name, help_text
        self.default_value = default_value

    def validate(self, value, data_structure: DataStructure) -> list[Error]:
        return []


def _require_set(allowed_types) -> set:
    if not isinstance(allowed_types, set):
        raise TypeError(f"allowed_types must be a set, got {type(allowed_types).__name__}")
    return allowed_types


def _require_path(value, name: str) -> list[Error]:
    if not isinstance(value, DataPath):
        return [Error(-200, f"'{name}' needs an nx.DataPath, got {type(value).__name__}")]
    return []


class ArraySelectionParameter(_Parameter):
    def __init__(
        self,
        name,
        human_name,
        help_text,
        default_value,
        allowed_types,
        required_comps=None,
        location=None,
    ):
        super().__init__(name, human_name, help_text, default_value)
        self.allowed_types = _require_set(allowed_types)
        self.required_comps = required_comps or []

    def validate(self, value, data_structure):
        errors = _require_path(value, self.name)
        if errors:
            return errors
        if not data_structure.exists(value):
            return [Error(-201, f"'{self.name}': array '{value.to_string()}' does not exist")]
        array = data_structure[value]
        if not isinstance(array, IDataArray):
            return [Error(-202, f"'{self.name}': '{value.to_string()}' is not an array")]
        if array.data_type not in self.allowed_types:
            return [Error(-203, f"'{self.name}': data type {array.data_type.name} not allowed")]
        if self.required_comps and array.cdims not in self.required_comps:
            return [Error(-204, f"'{self.name}': components {array.cdims} not allowed")]
        return []


class GeometrySelectionParameter(_Parameter):
    def __init__(self, name, human_name, help_text, default_value, allowed_types):
        super().__init__(name, human_name, help_text, default_value)
        self.allowed_types = _require_set(allowed_types)

    def validate(self, value, data_structure):
        errors = _require_path(value, self.name)
        if errors:
            return errors
        if not data_structure.exists(value):
            return [Error(-205, f"'{self.name}': geometry '{value.to_string()}' does not exist")]
        if not isinstance(data_structure[value], ImageGeom) or (
            IGeometry.Type.Image not in self.allowed_types
        ):
            return [Error(-206, f"'{self.name}': '{value.to_string()}' is not an allowed geometry")]
        return []


class DataGroupCreationParameter(_Parameter):
    def validate(self, value, data_structure):
        errors = _require_path(value, self.name)
        if errors:
            return errors
        if data_structure.exists(value):
            return [Error(-207, f"'{self.name}': '{value.to_string()}' already exists")]
        return []


class DataObjectNameParameter(_Parameter):
    def validate(self, value, data_structure):
        if not isinstance(value, str) or not value or "/" in value:
            return [Error(-208, f"'{self.name}': invalid name {value!r}")]
        return []


class StringParameter(_Parameter):
    def validate(self, value, data_structure):
        return [] if isinstance(value, str) else [Error(-209, f"'{self.name}' needs a str")]


class BoolParameter(_Parameter):
    def validate(self, value, data_structure):
        return [] if isinstance(value, bool) else [Error(-210, f"'{self.name}' needs a bool")]


class Int32Parameter(_Parameter):
    def validate(self, value, data_structure):
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
        return [] if ok else [Error(-211, f"'{self.name}' needs an int32, got {value!r}")]


class Float64Parameter(_Parameter):
    def validate(self, value, data_structure):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [Error(-212, f"'{self.name}' needs a number, got {value!r}")]


class ChoicesParameter(_Parameter):
    def __init__(self, name, human_name, help_text, default_value: int, choices: list[str]):
        super().__init__(name, human_name, help_text, default_value)
        self.choices = list(choices)

    def validate(self, value, data_structure):
        ok = isinstance(value, int) and 0 <= value < len(self.choices)
        return [] if ok else [Error(-213, f"'{self.name}': choice {value!r} out of range")]


class _VectorParameter(_Parameter):
    _kind: type = float

    def __init__(
        self, name, human_name, help_text, default_value: list, names: list[str] | None = None
    ):
        super().__init__(name, human_name, help_text, list(default_value))
        self.names = list(names or [])

    def validate(self, value, data_structure):
        ok = isinstance(value, list) and len(value) == len(self.default_value)
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if ok and self._kind is int:
            ok = all(isinstance(v, int) for v in value)
        return [] if ok else [Error(-214, f"'{self.name}': bad vector {value!r}")]


class VectorInt32Parameter(_VectorParameter):
    _kind = int


class VectorFloat32Parameter(_VectorParameter):
    _kind = float


class FileSystemPathParameter(_Parameter):
    class PathType(enum.Enum):
        InputFile = 0
        InputDir = 1
        OutputFile = 2
        OutputDir = 3

    def __init__(
        self,
        name,
        human_name,
        help_text,
        default_value,
        extensions_type,
        path_type,
        accept_all_extensions=False,
    ):
        super().__init__(name, human_name, help_text, default_value)
        self.extensions_type = _require_set(extensions_type)
        self.path_type = path_type
        self.accept_all_extensions = accept_all_extensions

    def validate(self, value, data_structure):
        if not isinstance(value, (str, os.PathLike)):
            return [Error(-215, f"'{self.name}' needs a path")]
        if not os.fspath(value):
            return [Error(-3001, f"'{self.name}': File System Path must not be empty")]
        path = Path(value)
        kinds = FileSystemPathParameter.PathType
        if self.path_type is kinds.InputDir and not path.is_dir():
            return [Error(-4, f"'{self.name}': '{path}' does not exist")]
        if self.path_type is kinds.InputFile and not path.is_file():
            return [Error(-2, f"'{self.name}': '{path}' does not exist")]
        return []


class Parameters:
    class Separator:
        def __init__(self, name: str) -> None:
            self.name = name

    def __init__(self) -> None:
        self._items: list = []
        self._params: dict[str, _Parameter] = {}
        self._linkable: set[str] = set()
        self._links: list[tuple[str, str, object]] = []

    def insert(self, item) -> None:
        if isinstance(item, _Parameter):
            if item.name in self._params:
                raise ValueError(f"duplicate parameter key '{item.name}'")
            self._params[item.name] = item
        elif not isinstance(item, Parameters.Separator):
            raise TypeError(f"cannot insert {type(item).__name__}")
        self._items.append(item)

    def insert_linkable_parameter(self, parameter) -> None:
        if not isinstance(parameter, (BoolParameter, ChoicesParameter)):
            raise TypeError("only Bool and Choices parameters are linkable")
        self.insert(parameter)
        self._linkable.add(parameter.name)

    def link_parameters(self, from_key: str, to_key: str, value) -> None:
        if from_key not in self._linkable or to_key not in self._params:
            raise ValueError(f"cannot link '{from_key}' -> '{to_key}'")
        self._links.append((from_key, to_key, value))

    def keys(self) -> list[str]:
        return list(self._params)

    def __getitem__(self, key: str) -> _Parameter:
        return self._params[key]

    def is_active(self, key: str, args: dict) -> bool:
        """Unlinked parameters are always active; linked ones when a link's value matches."""
        links = [(f, v) for f, t, v in self._links if t == key]
        return not links or any(args[f] == v for f, v in links)


# --------------------------------------------------------------------------- filters


class IFilter:
    ExecuteResult = Result

    class Message:
        class Type(enum.Enum):
            Info = 0
            Debug = 1
            Progress = 2
            Warning = 3
            Error = 4

        def __init__(self, type, message: str) -> None:  # noqa: A002 - simplnx's name
            self.type = type
            self.message = message

    class ProgressMessage(Message):
        def __init__(self, message: str, progress: int) -> None:
            if not isinstance(progress, (int, np.integer)) or isinstance(progress, bool):
                raise TypeError(f"progress must be an int, got {progress!r}")
            super().__init__(IFilter.Message.Type.Progress, message)
            self.progress = int(progress)

    class MessageHandler:
        def __init__(self, callback) -> None:
            self._callback = callback

        def __call__(self, message) -> None:
            if not isinstance(message, IFilter.Message):
                raise TypeError(f"expected nx.IFilter.Message, got {type(message).__name__}")
            self._callback(message)

    class PreflightValue:
        def __init__(self, name: str, value: str) -> None:
            self.name, self.value = name, value

    class PreflightResult:
        def __init__(self, output_actions=None, errors=None, warnings=None, preflight_values=None):
            if output_actions is not None and errors is not None:
                raise ValueError(
                    "PreflightResult cannot be constructed with both output_actions and errors set"
                )
            self.output_actions = output_actions
            self.errors = errors
            self.warnings = warnings if warnings is not None else []
            self.preflight_values = preflight_values or []


_PY_FILTER_METHODS = (
    "name",
    "class_name",
    "uuid",
    "human_name",
    "default_tags",
    "parameters",
    "parameters_version",
)


class PyFilter:
    """Wraps a Python filter as simplnx does (``CxPybind.hpp``), plus test hooks."""

    def __init__(self, filter_instance, cancel_when=None) -> None:
        for method in _PY_FILTER_METHODS:
            getattr(filter_instance, method)()
        if not isinstance(filter_instance.uuid(), Uuid):
            raise TypeError("uuid() must return nx.Uuid")
        if not isinstance(filter_instance.parameters(), Parameters):
            raise TypeError("parameters() must return nx.Parameters")
        self.filter = filter_instance
        self.messages: list[IFilter.Message] = []
        self._cancel_when = cancel_when

    def _resolve(self, kwargs: dict) -> tuple[dict, list[Warning]]:
        params = self.filter.parameters()
        warnings = [
            Warning(-1, f"unknown argument key '{k}'") for k in kwargs if k not in params.keys()
        ]
        args = {k: copy.copy(params[k].default_value) for k in params.keys()}
        args.update({k: v for k, v in kwargs.items() if k in params.keys()})
        for key in params.keys():
            if isinstance(args[key], str) and isinstance(
                params[key],
                (ArraySelectionParameter, GeometrySelectionParameter, DataGroupCreationParameter),
            ):
                raise TypeError(f"pass '{key}' as nx.DataPath, not str")
        return args, warnings

    def _validate(self, args: dict, data_structure: DataStructure) -> list[Error]:
        params = self.filter.parameters()
        errors = []
        for key in params.keys():
            if params.is_active(key, args):
                errors += params[key].validate(args[key], data_structure)
        return errors

    def _handler(self) -> IFilter.MessageHandler:
        return IFilter.MessageHandler(self.messages.append)

    def _should_cancel(self) -> AtomicBoolProxy:
        return AtomicBoolProxy(
            lambda: self._cancel_when is not None and self._cancel_when(self.messages)
        )

    def _preflight(self, data_structure: DataStructure, kwargs: dict):
        args, warnings = self._resolve(kwargs)
        errors = self._validate(args, data_structure)
        if errors:
            return None, args, Result(errors=errors, warnings=warnings)
        try:
            result = self.filter.preflight_impl(
                data_structure._emptied(), args, self._handler(), self._should_cancel()
            )
        except Exception as error:  # simplnx turns these into error -42000
            return None, args, Result(errors=[Error(-42000, f"Python exception: {error}")])
        if not isinstance(result, IFilter.PreflightResult):
            raise TypeError("preflight_impl must return nx.IFilter.PreflightResult")
        warnings += result.warnings
        if result.errors is not None:
            return None, args, Result(errors=result.errors, warnings=warnings)
        return result.output_actions or OutputActions(), args, Result(warnings=warnings)

    def preflight2(self, data_structure: DataStructure, **kwargs) -> Result:
        """Validate and preflight; the output actions are tried on a preflight copy."""
        actions, _, result = self._preflight(data_structure, kwargs)
        if actions is None:
            return result
        trial = data_structure._emptied()
        for action in actions.actions:
            applied = action.apply(trial, IDataAction.Mode.Preflight)
            if applied.errors is not None:
                return Result(errors=applied.errors, warnings=result.warnings)
        return result

    def execute2(self, data_structure: DataStructure, **kwargs) -> Result:
        """Preflight, apply the output actions, execute, apply deferred actions."""
        actions, args, result = self._preflight(data_structure, kwargs)
        if actions is None:
            return result
        for action in actions.actions:
            applied = action.apply(data_structure, IDataAction.Mode.Execute)
            if applied.errors is not None:
                return Result(errors=applied.errors, warnings=result.warnings)
        try:
            executed = self.filter.execute_impl(
                data_structure, args, self._handler(), self._should_cancel()
            )
        except Exception as error:  # simplnx turns these into error -42002
            return Result(errors=[Error(-42002, f"Python exception: {error}")])
        if not isinstance(executed, Result):
            raise TypeError("execute_impl must return nx.Result")
        if executed.errors is not None:
            return Result(errors=executed.errors, warnings=result.warnings + executed.warnings)
        if self._should_cancel():
            return Result(errors=[Error(-1, "Filter cancelled")])
        for action in actions.deferred_actions:
            action.apply(data_structure, IDataAction.Mode.Execute)
        return Result(warnings=result.warnings + executed.warnings)


def load_python_plugin(module) -> list[PyFilter]:
    """Load a plugin module as ``PythonPlugin::Create`` does; returns the wrapped filters."""
    plugin = module.get_plugin()
    plugin_id = plugin.id()
    if not isinstance(plugin_id, Uuid):
        raise TypeError("plugin id() must return nx.Uuid")
    for method in ("name", "description", "vendor"):
        if not isinstance(getattr(plugin, method)(), str):
            raise TypeError(f"plugin {method}() must return str")
    filters = [PyFilter(cls()) for cls in plugin.get_filters()]
    uuids = [str(f.filter.uuid()) for f in filters]
    if len(set(uuids)) != len(uuids):
        raise RuntimeError("two filters share a uuid")
    return filters
