"""What every SD filter shares inside DREAM3D-NX: simplnx <-> filters translation.

A filter class here is a thin adapter over one :class:`dream3d_sd_filters.filters.SDFilter`
(``CORE``): its :class:`~dream3d_sd_filters.filters.Param` list becomes
``nx.Parameters``; ``preflight_impl`` runs ``CORE.plan`` on a view of the DataStructure
that reads only ``tdims``/``cdims``/``data_type`` (no ``npview``: preflight arrays have no
data) and declares the outputs with CreateImageGeometryAction / CreateAttributeMatrixAction
/ CreateArrayAction; ``execute_impl`` runs ``CORE.run``, which reads the inputs through
``npview``, sends progress with ``nx.IFilter.ProgressMessage``, stops between diffusion
steps once ``should_cancel`` is set, and writes the results into the created arrays
through ``npview``. Every problem comes back as an ``nx.Error`` with the code of
:mod:`~dream3d_sd_filters.filters` (negative); no exception escapes.

The rest of the project is imported absolutely (``dream3d_sd_filters.…``), so the plugin
also loads when DREAM3D-NX imports this folder as a top-level module
(``SIMPLNX_PYTHON_PLUGINS=/path/to/dream3d_sd_filters/dream3d_nx``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import simplnx as nx

from dream3d_sd_filters import filters as sd
from dream3d_sd_filters.errors import InputError

#: numpy dtype names of the simplnx DataType members that differ from them.
_DTYPE_NAMES = {"boolean": "bool"}


def data_type(dtype: np.dtype) -> nx.DataType:
    """The simplnx DataType of a numpy dtype."""
    name = np.dtype(dtype).name
    return getattr(nx.DataType, "boolean" if name == "bool" else name)


def numpy_dtype(value: nx.DataType) -> np.dtype:
    """The numpy dtype of a simplnx DataType."""
    return np.dtype(_DTYPE_NAMES.get(value.name, value.name))


def _parameter(param: sd.Param):
    """The simplnx parameter for one filters Param."""
    key, label, help_text, default = param.key, param.human_name, param.help_text, param.default
    if param.kind == "geometry":
        return nx.GeometrySelectionParameter(
            key, label, help_text, nx.DataPath(default), {nx.IGeometry.Type.Image}
        )
    if param.kind == "array":
        return nx.ArraySelectionParameter(
            key,
            label,
            help_text,
            nx.DataPath(default),
            {data_type(np.dtype(t)) for t in param.dtypes},
            [[c] for c in param.components],
        )
    if param.kind == "new_geometry":
        return nx.DataGroupCreationParameter(key, label, help_text, nx.DataPath(default))
    if param.kind == "name":
        return nx.DataObjectNameParameter(key, label, help_text, default)
    if param.kind in ("string", "checkpoint"):
        # A StringParameter, not a FileSystemPathParameter: simplnx rejects an empty
        # path, and empty must mean "the bundled model".
        return nx.StringParameter(key, label, help_text, default)
    if param.kind == "int":
        return nx.Int32Parameter(key, label, help_text, default)
    if param.kind == "float":
        return nx.Float64Parameter(key, label, help_text, default)
    if param.kind == "bool":
        return nx.BoolParameter(key, label, help_text, default)
    if param.kind == "choice":
        return nx.ChoicesParameter(key, label, help_text, default, list(param.choices))
    if param.kind == "int_vector":
        return nx.VectorInt32Parameter(key, label, help_text, list(default), list(param.names))
    if param.kind == "float_vector":
        return nx.VectorFloat32Parameter(key, label, help_text, list(default), list(param.names))
    if param.kind == "output_dir":
        return nx.FileSystemPathParameter(
            key,
            label,
            help_text,
            default,
            set(),
            nx.FileSystemPathParameter.PathType.OutputDir,
            True,
        )
    raise ValueError(f"no simplnx parameter for kind {param.kind!r}")


def make_parameters(core: sd.SDFilter) -> nx.Parameters:
    """``nx.Parameters`` for a filter: its Params in order, with headings and links."""
    params = nx.Parameters()
    linked_from = {link.from_key for link in core.links}
    for param in core.params:
        if param.kind == "separator":
            params.insert(nx.Parameters.Separator(param.human_name))
        elif param.key in linked_from:
            params.insert_linkable_parameter(_parameter(param))
        else:
            params.insert(_parameter(param))
    for link in core.links:
        params.link_parameters(link.from_key, link.to_key, link.value)
    return params


def plain_values(args: dict[str, Any]) -> dict[str, Any]:
    """Parameter values as the pipeline JSON holds them (DataPath -> "A/B/C", path -> str)."""

    def plain(value: Any) -> Any:
        if isinstance(value, nx.DataPath):
            return value.to_string("/")
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, tuple):
            return list(value)
        return value

    return {key: plain(value) for key, value in args.items()}


class NxData:
    """:class:`dream3d_sd_filters.filters.DataAccess` over an ``nx.DataStructure``."""

    def __init__(self, data_structure: nx.DataStructure) -> None:
        self.data_structure = data_structure

    def _object(self, path: str):
        data_path = nx.DataPath(path)
        if not path or not self.data_structure.exists(data_path):
            return None
        return self.data_structure[data_path]

    def describe(self, path: str) -> sd.Info | None:
        obj = self._object(path)
        if obj is None:
            return None
        if isinstance(obj, nx.ImageGeom):
            return sd.GeometryInfo(
                tuple(int(v) for v in obj.dimensions),
                tuple(float(v) for v in obj.spacing),
                tuple(float(v) for v in obj.origin),
            )
        if isinstance(obj, nx.AttributeMatrix):
            return sd.MatrixInfo(tuple(int(v) for v in obj.tuple_shape))
        if isinstance(obj, nx.IDataArray):
            return sd.ArrayInfo(
                numpy_dtype(obj.data_type),
                tuple(int(v) for v in obj.tdims),
                tuple(int(v) for v in obj.cdims),
            )
        return sd.OtherInfo(type(obj).__name__)

    def children(self, path: str) -> list[str]:
        found = []
        for child in self.data_structure.get_children(nx.DataPath(path)):
            if isinstance(child, nx.DataPath):
                found.append(child.to_string("/"))
            else:  # a bare name
                found.append(sd.join(path, str(child)))
        return found

    def view(self, path: str) -> np.ndarray:
        """The array's ``npview()``; FilterError if it has no in-memory store."""
        obj = self._object(path)
        if not isinstance(obj, nx.IDataArray):
            raise sd.FilterError(sd.NOT_IN_MEMORY_ERROR, f"{path!r} is not a data array")
        try:
            return obj.npview()
        except Exception as error:  # the bindings raise several types for non-memory stores
            raise sd.FilterError(
                sd.NOT_IN_MEMORY_ERROR,
                f"cannot access the values of {path!r} ({error}); out-of-core arrays are not "
                "supported: switch off out-of-core storage in the DREAM3D-NX preferences",
            ) from None

    def read(self, path: str) -> np.ndarray:
        return np.array(self.view(path), copy=True)


def output_actions(outputs: list[sd.Output]) -> nx.OutputActions:
    """The simplnx actions that create a plan's outputs."""
    actions = nx.OutputActions()
    for output in outputs:
        path = nx.DataPath(output.path)
        if isinstance(output, sd.NewGeometry):
            action = nx.CreateImageGeometryAction(
                path,
                list(output.dims),
                list(output.origin),
                list(output.spacing),
                output.cell_data_name,
            )
        elif isinstance(output, sd.NewMatrix):
            action = nx.CreateAttributeMatrixAction(path, list(output.tuple_shape))
        elif isinstance(output, sd.NewArray):
            action = nx.CreateArrayAction(
                type=data_type(output.dtype),
                t_dims=list(output.tuple_shape),
                c_dims=list(output.component_shape),
                path=path,
            )
        else:
            raise TypeError(f"unknown output {output!r}")
        actions.append_action(action)
    return actions


def _error(error: BaseException) -> nx.Error:
    if isinstance(error, sd.FilterError):
        return nx.Error(error.code, str(error))
    if isinstance(error, InputError):
        return nx.Error(sd.TASK_ERROR, str(error))
    return nx.Error(sd.UNEXPECTED_ERROR, f"{type(error).__name__}: {error}")


def _progress(message_handler, should_cancel):
    """A tasks-style ``progress(done, total, message)`` that reports and polls cancel."""
    last = {"percent": -1}

    def report(done: int, total: int, message: str) -> bool:
        percent = int(100 * done / total) if total else 100
        if percent != last["percent"]:
            last["percent"] = percent
            message_handler(nx.IFilter.ProgressMessage(f"{message}: {done}/{total}", percent))
        return bool(should_cancel)

    return report


def _info(message_handler, text: str) -> None:
    message_handler(nx.IFilter.Message(nx.IFilter.Message.Type.Info, text))


class SDFilterBase:
    """A simplnx Python filter driven by ``CORE`` (set by each subclass)."""

    CORE: sd.SDFilter

    def uuid(self) -> nx.Uuid:
        return nx.Uuid(self.CORE.uuid)

    def human_name(self) -> str:
        return self.CORE.human_name

    def class_name(self) -> str:
        return self.CORE.name

    def name(self) -> str:
        return self.CORE.name

    def default_tags(self) -> list[str]:
        return list(self.CORE.tags)

    def clone(self):
        return type(self)()

    def parameters(self) -> nx.Parameters:
        return make_parameters(self.CORE)

    def parameters_version(self) -> int:
        return self.CORE.parameters_version

    def preflight_impl(
        self,
        data_structure: nx.DataStructure,
        args: dict,
        message_handler: nx.IFilter.MessageHandler,
        should_cancel: nx.AtomicBoolProxy,
    ) -> nx.IFilter.PreflightResult:
        try:
            outputs = self.CORE.plan(plain_values(args), NxData(data_structure))
            actions = output_actions(outputs)
        except Exception as error:  # reported to the user as an nx.Error, never raised
            return nx.IFilter.PreflightResult(errors=[_error(error)])
        return nx.IFilter.PreflightResult(output_actions=actions)

    def execute_impl(
        self,
        data_structure: nx.DataStructure,
        args: dict,
        message_handler: nx.IFilter.MessageHandler,
        should_cancel: nx.AtomicBoolProxy,
    ) -> nx.IFilter.ExecuteResult:
        if should_cancel:
            return nx.Result()
        data = NxData(data_structure)
        try:
            # Imported here so that DREAM3D-NX starts without loading torch.
            from dream3d_sd_filters.tasks import Cancelled
        except Exception as error:
            return nx.Result(errors=[_error(error)])
        _info(message_handler, f"{self.CORE.human_name}: loading the model and running")
        try:
            result = self.CORE.run(
                plain_values(args), data, _progress(message_handler, should_cancel)
            )
            for path, values in result.arrays.items():
                view = data.view(path)
                view[...] = np.asarray(values).reshape(view.shape)
        except Cancelled:
            return nx.Result()
        except Exception as error:  # reported to the user as an nx.Error, never raised
            return nx.Result(errors=[_error(error)])
        for line in result.messages:
            _info(message_handler, line)
        return nx.Result()
