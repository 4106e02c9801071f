"""What every SD filter shares, without a framework: errors, parameters, data access, checks.

One definition of each filter (a module of this package) serves two front ends, so a
pipeline gives the same results in both:

* the DREAM3D-NX (simplnx) plugin, :mod:`dream3d_sd_filters.dream3d_nx`, which turns
  :class:`Param` lists into ``nx.Parameters``, :class:`NewGeometry` / :class:`NewMatrix` /
  :class:`NewArray` into output actions and reads and writes arrays through ``npview``;
* ``sd-filters pipeline run`` (:mod:`dream3d_sd_filters.filters.runner`), which keeps
  the arrays in a small in-memory tree.

Both hand a filter the parameter values as the ``.d3dpipeline`` JSON holds them (data
paths as ``"Geometry/Cell Data/Array"`` strings, choices as indices; a choice may also be
given by its name) and a :class:`DataAccess` onto their data. A filter first
``plan``\\ s (checks geometry type, array dtypes and component counts, parameter values;
returns the objects it will create; no array values are read, as in a DREAM3D-NX
preflight), then, once those objects exist, ``run``\\ s and returns the values of the
arrays it created. The computation itself is :mod:`dream3d_sd_filters.tasks`.

Problems are :class:`FilterError` (an :class:`~dream3d_sd_filters.errors.InputError`)
carrying a negative DREAM3D error code, see the ``*_ERROR`` constants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import InputError
from ..volume import LAUE_NAMES, Volume

#: What the package re-exports: the front ends' side of the filters (the helpers the
#: filter modules share stay here).
__all__ = [
    "ARRAY_COMPONENTS_ERROR",
    "ARRAY_DTYPE_ERROR",
    "ARRAY_MISSING_ERROR",
    "ARRAY_SHAPE_ERROR",
    "AXIS_CHOICES",
    "CHECKPOINT_ERROR",
    "GEOMETRY_ERROR",
    "INPAINT_MODE_CHOICES",
    "NOT_IN_MEMORY_ERROR",
    "OUTPUT_EXISTS_ERROR",
    "PARAMETER_ERROR",
    "PATH_KINDS",
    "SAMPLER_CHOICES",
    "TASK_ERROR",
    "UNEXPECTED_ERROR",
    "ArrayInfo",
    "DataAccess",
    "FilterError",
    "GeometryInfo",
    "Info",
    "Link",
    "MatrixInfo",
    "NewArray",
    "NewGeometry",
    "NewMatrix",
    "OtherInfo",
    "Output",
    "Param",
    "Progress",
    "RunResult",
    "SDFilter",
    "join",
    "parent",
]

# Error codes reported to DREAM3D-NX (negative, as simplnx requires).
GEOMETRY_ERROR = -8001  #: missing geometry, or not an image geometry
ARRAY_MISSING_ERROR = -8002  #: a selected array (or attribute matrix) does not exist
ARRAY_DTYPE_ERROR = -8003  #: wrong array data type
ARRAY_COMPONENTS_ERROR = -8004  #: wrong number of components
ARRAY_SHAPE_ERROR = -8005  #: array tuples do not match the geometry's cells
OUTPUT_EXISTS_ERROR = -8006  #: an output object already exists, or an output name is invalid
PARAMETER_ERROR = -8007  #: a parameter value is out of range or malformed
CHECKPOINT_ERROR = -8008  #: the model checkpoint is missing or lacks a needed part
TASK_ERROR = -8010  #: the data or model rejected the computation (an InputError while running)
NOT_IN_MEMORY_ERROR = -8011  #: an array's values cannot be read (out-of-core storage)
UNEXPECTED_ERROR = -8099  #: a bug: an exception that is not a user error

#: Names of the choices a user sees; the JSON holds their index.
AXIS_CHOICES = ("x", "y", "z")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
SAMPLER_CHOICES = ("dpmsolver++", "ddim", "ddpm")
INPAINT_MODE_CHOICES = ("consistent", "independent")
#: Laue classes the models encode, listed so that the choice index is the Laue id.
CRYSTAL_STRUCTURE_CHOICES = tuple(LAUE_NAMES[i] for i in range(2))
SLICE_OUTPUT_CHOICES = ("Image geometry", "Image files")
IMAGE_FORMAT_CHOICES = ("png", "tiff")

#: Array types: Phases int32, EulerAngles float32 (radians), CrystalStructures uint32, as
#: DREAM3D-NX writes them (and as its own "Compute IPF Colors" requires).
PHASES = ("int32",)
EULER = ("float32",)
STRUCTURES = ("uint32",)
MASK = ("bool", "uint8")

#: ``progress(done, total, message)``; True asks to stop (see dream3d_sd_filters.tasks).
Progress = Callable[[int, int, str], "bool | None"]


class FilterError(InputError):
    """A user error in a filter's parameters or data, with its DREAM3D error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Param:
    """One filter parameter, as both front ends present it.

    ``kind`` is one of: ``geometry`` (an image geometry path), ``array`` (an array path;
    ``dtypes`` and ``components`` restrict it), ``new_geometry`` (path of a geometry to
    create), ``name`` (name of an object to create), ``string``, ``checkpoint`` (a
    model folder or bundled model name; empty means the bundled ``"default"``),
    ``int``, ``float``, ``bool``, ``choice`` (``choices``; the value is an index),
    ``int_vector``/``float_vector`` (fixed length, element ``names``), ``output_dir``,
    and ``separator`` (a heading; only ``human_name`` is used).
    """

    key: str
    kind: str
    human_name: str
    help_text: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    components: tuple[int, ...] = ()
    names: tuple[str, ...] = ()


def separator(title: str) -> Param:
    """A parameter-list heading."""
    return Param(key="", kind="separator", human_name=title)


@dataclass(frozen=True)
class Link:
    """``to_key`` is used only while parameter ``from_key`` has ``value``."""

    from_key: str
    to_key: str
    value: Any


#: Parameter kinds whose value is a file-system path (resolved by the pipeline runner).
PATH_KINDS = ("checkpoint", "output_dir")


# --------------------------------------------------------------------------- data access


@dataclass(frozen=True)
class GeometryInfo:
    """An image geometry: ``dims`` (X, Y, Z), ``spacing`` and ``origin`` (X, Y, Z)."""

    dims: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    @property
    def cell_shape(self) -> tuple[int, int, int]:
        """Tuple shape (Z, Y, X) of the cell arrays."""
        x, y, z = self.dims
        return (z, y, x)


@dataclass(frozen=True)
class MatrixInfo:
    """An attribute matrix with its tuple shape (slowest first)."""

    tuple_shape: tuple[int, ...]


@dataclass(frozen=True)
class ArrayInfo:
    """A data array: numpy dtype, tuple shape (slowest first) and component shape."""

    dtype: np.dtype
    tuple_shape: tuple[int, ...]
    component_shape: tuple[int, ...]

    @property
    def components(self) -> int:
        return int(np.prod(self.component_shape))


@dataclass(frozen=True)
class OtherInfo:
    """Any other object (data group, string array, neighbour list, other geometry)."""

    kind: str


Info = GeometryInfo | MatrixInfo | ArrayInfo | OtherInfo


class DataAccess(Protocol):
    """What a filter needs to see of a data structure. Paths are ``"A/B/C"`` strings."""

    def describe(self, path: str) -> Info | None:
        """The object at ``path``, or None if there is none."""

    def children(self, path: str) -> list[str]:
        """Full paths of the children of ``path``."""

    def read(self, path: str) -> np.ndarray:
        """The values of an array, shape tuple_shape + component_shape (execute only)."""


@dataclass(frozen=True)
class NewGeometry:
    """An image geometry to create, with an empty cell attribute matrix."""

    path: str
    dims: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    cell_data_name: str


@dataclass(frozen=True)
class NewMatrix:
    """An attribute matrix to create."""

    path: str
    tuple_shape: tuple[int, ...]


@dataclass(frozen=True)
class NewArray:
    """A data array to create (filled by ``run``)."""

    path: str
    dtype: np.dtype
    tuple_shape: tuple[int, ...]
    component_shape: tuple[int, ...]


Output = NewGeometry | NewMatrix | NewArray


@dataclass
class RunResult:
    """Values for every :class:`NewArray` of the plan, and lines to report to the user."""

    arrays: dict[str, np.ndarray]
    messages: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def parent(path: str) -> str:
    """``"A/B/C"`` -> ``"A/B"`` (``""`` for a top-level object)."""
    return path.rsplit("/", 1)[0] if "/" in path else ""


def join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


class Args:
    """Typed, checked access to a filter's parameter values (defaults filled in)."""

    def __init__(self, params: Iterable[Param], values: dict[str, Any]) -> None:
        self.params = {p.key: p for p in params if p.kind != "separator"}
        self.values = {k: values.get(k, p.default) for k, p in self.params.items()}

    def error(self, key: str, what: str) -> FilterError:
        return FilterError(PARAMETER_ERROR, f"{self.params[key].human_name} ({key}) {what}")

    def path(self, key: str) -> str:
        value = self.values[key]
        text = str(value if value is not None else "").strip().strip("/")
        if not text:
            raise self.error(key, "is empty; select an object")
        return text

    def file(self, key: str) -> str:
        """A file-system path; must not be empty."""
        text = self.string(key).strip()
        if not text:
            raise self.error(key, "is empty; choose a path")
        return text

    def string(self, key: str) -> str:
        return str(self.values[key] if self.values[key] is not None else "")

    def name(self, key: str) -> str:
        text = self.string(key).strip()
        if not text or "/" in text:
            raise FilterError(
                OUTPUT_EXISTS_ERROR,
                f"{self.params[key].human_name} ({key}) must be a non-empty name without '/', "
                f"got {text!r}",
            )
        return text

    def int(self, key: str, minimum: int | None = None) -> int:
        value = self.values[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)):
            raise self.error(key, f"must be an integer, got {value!r}")
        if float(value) != int(value):
            raise self.error(key, f"must be an integer, got {value!r}")
        if minimum is not None and int(value) < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        return int(value)

    def float(self, key: str, low: float | None = None, high: float | None = None) -> float:
        value = self.values[key]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise self.error(key, f"must be a number, got {value!r}")
        if not np.isfinite(value):
            raise self.error(key, f"must be a finite number, got {value}")
        if low is not None and value < low:
            raise self.error(key, f"must be at least {low}, got {value}")
        if high is not None and value > high:
            raise self.error(key, f"must be at most {high}, got {value}")
        return float(value)

    def bool(self, key: str) -> bool:
        value = self.values[key]
        if not isinstance(value, (bool, np.bool_)):
            raise self.error(key, f"must be true or false, got {value!r}")
        return bool(value)

    def choice(self, key: str) -> str:
        """The chosen option's name (the value is its index, or the name itself)."""
        choices = self.params[key].choices
        value = self.values[key]
        if isinstance(value, str) and value in choices:
            return value
        if (
            isinstance(value, (int, np.integer))
            and not isinstance(value, bool)
            and 0 <= value < len(choices)
        ):
            return choices[int(value)]
        options = ", ".join(f"{i} = {c}" for i, c in enumerate(choices))
        raise self.error(key, f"must be one of {options}; got {value!r}")

    def vector(self, key: str, kind: type) -> tuple:
        value = self.values[key]
        size = len(self.params[key].default)
        if not isinstance(value, (list, tuple)) or len(value) != size:
            raise self.error(key, f"must be a list of {size} numbers, got {value!r}")
        try:
            converted = tuple(kind(v) for v in value)
        except (TypeError, ValueError):
            raise self.error(key, f"must be a list of {size} numbers, got {value!r}") from None
        if kind is int and any(float(v) != int(v) for v in value):
            raise self.error(key, f"must hold integers, got {value!r}")
        return converted


def image_geometry(data: DataAccess, path: str) -> GeometryInfo:
    """The image geometry at ``path``; FilterError(GEOMETRY_ERROR) otherwise."""
    info = data.describe(path)
    if info is None:
        raise FilterError(GEOMETRY_ERROR, f"geometry {path!r} does not exist")
    if not isinstance(info, GeometryInfo):
        kind = info.kind if isinstance(info, OtherInfo) else type(info).__name__[:-4]
        raise FilterError(GEOMETRY_ERROR, f"{path!r} is a {kind}, not an image geometry")
    return info


def cell_matrix(data: DataAccess, geometry_path: str, geometry: GeometryInfo) -> str:
    """Path of the geometry's cell attribute matrix (the one with (Z, Y, X) tuples).

    The name is not assumed: DREAM.3D 6.x files keep ``CellData``.
    """
    matrices = [
        child
        for child in data.children(geometry_path)
        if isinstance(m := data.describe(child), MatrixInfo)
        and m.tuple_shape == geometry.cell_shape
    ]
    if not matrices:
        raise FilterError(
            ARRAY_MISSING_ERROR,
            f"image geometry {geometry_path!r} has no cell attribute matrix with "
            f"{geometry.cell_shape} (Z, Y, X) tuples",
        )
    return sorted(matrices, key=lambda p: not p.endswith("/Cell Data"))[0]


def selected_array(args: Args, data: DataAccess, key: str) -> tuple[str, ArrayInfo]:
    """The array parameter ``key`` selects, checked against its ``dtypes`` and ``components``."""
    param = args.params[key]
    path = args.path(key)
    info = data.describe(path)
    label = f"{param.human_name} {path!r}"
    if info is None:
        raise FilterError(ARRAY_MISSING_ERROR, f"{label} does not exist")
    if not isinstance(info, ArrayInfo):
        kind = info.kind if isinstance(info, OtherInfo) else type(info).__name__[:-4]
        raise FilterError(ARRAY_MISSING_ERROR, f"{label} is a {kind}, not a data array")
    if param.dtypes and info.dtype.name not in param.dtypes:
        raise FilterError(
            ARRAY_DTYPE_ERROR,
            f"{label} has data type {info.dtype.name}; this filter needs {' or '.join(param.dtypes)}",
        )
    if param.components and info.components not in param.components:
        need = " or ".join(str(c) for c in param.components)
        raise FilterError(
            ARRAY_COMPONENTS_ERROR,
            f"{label} has {info.components} component(s); this filter needs {need}",
        )
    return path, info


def selected_cell_array(
    args: Args, data: DataAccess, key: str, geometry_path: str, geometry: GeometryInfo
) -> tuple[str, ArrayInfo]:
    """:func:`selected_array`, which must also be a cell array of the geometry."""
    path, info = selected_array(args, data, key)
    name = args.params[key].human_name
    if parent(parent(path)) != geometry_path:
        raise FilterError(
            ARRAY_SHAPE_ERROR,
            f"{name} {path!r} is not a cell array of geometry {geometry_path!r}",
        )
    if info.tuple_shape != geometry.cell_shape:
        raise FilterError(
            ARRAY_SHAPE_ERROR,
            f"{name} {path!r} has {info.tuple_shape} tuples but geometry "
            f"{geometry_path!r} has {geometry.cell_shape} (Z, Y, X) cells",
        )
    return path, info


def check_free(data: DataAccess, path: str) -> str:
    """``path`` itself, if nothing exists there yet and its parent does."""
    if data.describe(path) is not None:
        raise FilterError(
            OUTPUT_EXISTS_ERROR, f"output {path!r} already exists; choose another name"
        )
    if parent(path) and data.describe(parent(path)) is None:
        raise FilterError(
            OUTPUT_EXISTS_ERROR, f"cannot create {path!r}: {parent(path)!r} does not exist"
        )
    return path


def cell_arrays_out(
    cell_path: str, shape: tuple[int, int, int], names: dict[str, str]
) -> list[NewArray]:
    """The standard decoded arrays (Phases, EulerAngles, FeatureIds, IPFColors) to create.

    ``names`` maps the standard name to the name to create (a subset may be given).
    """
    layout = {
        "Phases": ("int32", 1),
        "EulerAngles": ("float32", 3),
        "FeatureIds": ("int32", 1),
        "IPFColors": ("uint8", 3),
        "ReconstructionError": ("float32", 1),
    }
    return [
        NewArray(join(cell_path, name), np.dtype(layout[std][0]), shape, (layout[std][1],))
        for std, name in names.items()
    ]


def ensemble_out(path: str) -> list[Output]:
    """A two-phase ensemble attribute matrix with CrystalStructures and PhaseTypes."""
    return [
        NewMatrix(path, (3,)),
        NewArray(join(path, "CrystalStructures"), np.dtype("uint32"), (3,), (1,)),
        NewArray(join(path, "PhaseTypes"), np.dtype("uint32"), (3,), (1,)),
    ]


def axis_dims(dims: tuple[int, int, int], axis: str) -> tuple[int, int, int]:
    """(number of slices, image height, image width) along ``axis`` for dims (X, Y, Z)."""
    x, y, z = dims
    return {"z": (z, y, x), "y": (y, z, x), "x": (x, z, y)}[axis]


def slice_frame(values: tuple[float, float, float], axis: str) -> tuple[float, float, float]:
    """Spacing or origin (X, Y, Z) seen in slices along ``axis``: (column, row, slice)."""
    x, y, z = values
    return {"z": (x, y, z), "y": (x, z, y), "x": (y, z, x)}[axis]


# --------------------------------------------------------------------------- models


def resolve_checkpoint(checkpoint: str) -> Path:
    """The checkpoint folder: ``""`` = the bundled ``"default"`` model; FilterError if absent."""
    from ..pipelines.microstructure_sd import resolve_pretrained

    try:
        return resolve_pretrained(checkpoint.strip() or "default")
    except InputError as error:
        raise FilterError(CHECKPOINT_ERROR, str(error)) from None


def model_card(checkpoint: str) -> dict[str, Any]:
    """The checkpoint's model card (cheap: no weights are loaded)."""
    from ..models.card import read_model_card

    try:
        return read_model_card(resolve_checkpoint(checkpoint))
    except FilterError:
        raise
    except InputError as error:
        raise FilterError(CHECKPOINT_ERROR, str(error)) from None


def require_controlnet(checkpoint: str, task: str, what: str) -> None:
    """FilterError unless the checkpoint has the ``task`` ControlNet."""
    have = model_card(checkpoint).get("controlnets", {})
    if task not in have:
        name = checkpoint.strip() or "the bundled default model"
        raise FilterError(
            CHECKPOINT_ERROR,
            f"{what} needs the {task} ControlNet, which {name!r} does not include "
            f"(it has: {', '.join(have) or 'none'})",
        )


def require_surrogates(checkpoint: str, properties: Iterable[str], what: str) -> None:
    """FilterError unless the checkpoint has a surrogate for each of ``properties``."""
    have = model_card(checkpoint).get("surrogates", {})
    missing = sorted(set(properties) - set(have))
    if missing:
        name = checkpoint.strip() or "the bundled default model"
        raise FilterError(
            CHECKPOINT_ERROR,
            f"{what} needs a surrogate for {', '.join(missing)}, which {name!r} does not "
            f"include (it has: {', '.join(have) or 'none'}); set it to 0",
        )


_MODEL_CACHE: dict[tuple, Any] = {}


def load_model(checkpoint: str, device: str):
    """A :class:`~dream3d_sd_filters.pipelines.MicrostructureSD`, kept for the next call.

    One model stays loaded (keyed by folder, card time stamp and device), so re-running
    a pipeline in the DREAM3D-NX GUI does not reload the weights each time.
    """
    import torch

    from ..pipelines import MicrostructureSD

    folder = resolve_checkpoint(checkpoint)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise FilterError(PARAMETER_ERROR, "device 'cuda' was chosen but no CUDA GPU is available")
    card = folder / "model_card.json"
    key = (str(folder.resolve()), card.stat().st_mtime_ns if card.exists() else 0, device)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE.clear()
        _MODEL_CACHE[key] = MicrostructureSD.from_pretrained(folder, device=device)
    return _MODEL_CACHE[key]


def selected_model(args: Args):
    """The model that the Checkpoint and Device parameters select (see :func:`load_model`)."""
    return load_model(args.string("checkpoint"), args.choice("device"))


def task_settings(args: Args) -> dict[str, Any]:
    """Check the filter's shared model and slicing parameters; their task keyword arguments.

    Covers whichever of the parameters made by :func:`model_params`, :func:`axis_param`,
    :func:`periodic_param`, ``guidance_scale`` and ``surrogate_guidance_scale`` the filter has. Checkpoint and Device
    are checked (the checkpoint must exist) but are not task arguments: see
    :func:`selected_model`.
    """
    readers: dict[str, tuple[str | None, Callable[[str], Any]]] = {
        "checkpoint": (None, lambda key: resolve_checkpoint(args.string(key))),
        "device": (None, args.choice),
        "slicing_axis": ("axis", args.choice),
        "sampler": ("sampler", args.choice),
        "num_steps": ("steps", lambda key: args.int(key, 1)),
        "seed": ("seed", lambda key: args.int(key, 0)),
        "batch_size": ("batch_size", lambda key: args.int(key, 1)),
        "guidance_scale": ("guidance_scale", lambda key: args.float(key, 0.0)),
        "surrogate_guidance_scale": ("surrogate_guidance_scale", lambda key: args.float(key, 0.0)),
        "periodic": ("periodic", args.bool),
    }
    settings = {}
    for key, (argument, read) in readers.items():
        if key in args.params:
            value = read(key)
            if argument is not None:
                settings[argument] = value
    return settings


# --------------------------------------------------------------------------- parameters


def model_params(
    sampler: bool = False, steps: int | None = None, seed: bool = True, batch: int | None = 16
) -> list[Param]:
    """The "Model" group: checkpoint, device and the sampling settings asked for."""
    params = [
        separator("Model"),
        Param(
            "checkpoint",
            "checkpoint",
            "Checkpoint",
            "Model folder (written by `sd-train` / save_pretrained) or the name of a bundled "
            "model; empty = the bundled 'default' model.",
            "",
        ),
        Param(
            "device",
            "choice",
            "Device",
            "Where the network runs: auto = the GPU if one is available, else the CPU.",
            0,
            choices=DEVICE_CHOICES,
        ),
    ]
    if sampler:
        params.append(
            Param(
                "sampler",
                "choice",
                "Sampler",
                "Diffusion sampler: DPM-Solver++ (good in ~25 steps), DDIM, or DDPM (needs "
                "hundreds of steps).",
                0,
                choices=SAMPLER_CHOICES,
            )
        )
    if steps is not None:
        params.append(
            Param("num_steps", "int", "Number of Steps", "Denoising steps (more = slower).", steps)
        )
    if seed:
        params.append(
            Param("seed", "int", "Seed", "Random seed; the same seed gives the same result.", 0)
        )
    if batch is not None:
        params.append(
            Param(
                "batch_size",
                "int",
                "Batch Size",
                "Images processed at once; lower it if the device runs out of memory.",
                batch,
            )
        )
    return params


def axis_param() -> Param:
    return Param(
        "slicing_axis",
        "choice",
        "Slicing Axis",
        "The model works on 2D slices normal to this axis.",
        2,
        choices=AXIS_CHOICES,
    )


def periodic_param(default: bool) -> Param:
    return Param(
        "periodic",
        "bool",
        "Periodic Slices",
        "Treat slices as periodic (wrap around their edges); off for cuts of real samples.",
        default,
    )


def geometry_param(key: str = "input_image_geometry_path", label: str = "Input") -> Param:
    return Param(
        key,
        "geometry",
        f"{label} Image Geometry",
        "The image geometry to work on.",
        "DataContainer",
    )


def _cell_array_param(
    key: str, label: str, array: str, what: str, dtypes: tuple[str, ...], components: int
) -> Param:
    """An input cell array, by default ``array`` of the default geometry's Cell Data."""
    return Param(
        key,
        "array",
        label,
        f"{what} ({dtypes[0]}, {components} component{'s' if components > 1 else ''}).",
        f"DataContainer/Cell Data/{array}",
        dtypes=dtypes,
        components=(components,),
    )


def phases_param(key: str = "cell_phases_array_path") -> Param:
    return _cell_array_param(key, "Phases", "Phases", "Cell phase ids, 1 or 2", PHASES, 1)


def euler_param(key: str = "cell_euler_angles_array_path") -> Param:
    return _cell_array_param(
        key, "Euler Angles", "EulerAngles", "Cell Bunge Euler angles in radians", EULER, 3
    )


def structures_param() -> Param:
    return Param(
        "crystal_structures_array_path",
        "array",
        "Crystal Structures",
        "Ensemble Laue class ids (uint32, 1 component); phases 1 and 2 must be Cubic_High "
        "or Hexagonal_High.",
        "DataContainer/Cell Ensemble Data/CrystalStructures",
        dtypes=STRUCTURES,
        components=(1,),
    )


def volume_params(euler: bool = True) -> list[Param]:
    """The "Input Data" group of a two-phase volume: geometry, Phases, (EulerAngles,)
    CrystalStructures."""
    return [
        separator("Input Data"),
        geometry_param(),
        phases_param(),
        *([euler_param()] if euler else []),
        structures_param(),
    ]


#: The cell arrays of a decoded microstructure.
CELL_ARRAYS = ("Phases", "EulerAngles", "FeatureIds", "IPFColors")
#: Key of the parameter that names each created cell array (of :data:`CELL_ARRAYS`).
OUTPUT_NAME_KEYS = {
    "Phases": "output_phases_array_name",
    "EulerAngles": "output_euler_angles_array_name",
    "FeatureIds": "output_feature_ids_array_name",
    "IPFColors": "output_ipf_colors_array_name",
}


def output_name_params(prefix: str, names: Iterable[str]) -> list[Param]:
    """Name parameters for created cell arrays, each defaulting to ``prefix`` + its name."""
    return [
        Param(
            OUTPUT_NAME_KEYS[n],
            "name",
            f"Output {n}",
            f"Name of the created cell array holding the result's {n}.",
            f"{prefix}{n}",
        )
        for n in names
    ]


def output_names(args: Args, names: Iterable[str]) -> dict[str, str]:
    """Standard name -> the name :func:`output_name_params` gives the created array."""
    return {n: args.name(OUTPUT_NAME_KEYS[n]) for n in names}


def new_geometry_params(default: str) -> list[Param]:
    return [
        separator("Output Data"),
        Param(
            "output_image_geometry_path",
            "new_geometry",
            "Output Image Geometry",
            "Path of the image geometry to create.",
            default,
        ),
        Param(
            "cell_data_name",
            "name",
            "Cell Attribute Matrix",
            "Name of the created geometry's cell attribute matrix.",
            "Cell Data",
        ),
    ]


def ensemble_name_param() -> Param:
    return Param(
        "cell_ensemble_data_name",
        "name",
        "Ensemble Attribute Matrix",
        "Name of the created attribute matrix holding CrystalStructures and PhaseTypes.",
        "Cell Ensemble Data",
    )


# --------------------------------------------------------------------------- inputs and outputs


def distinct(paths: Iterable[str]) -> None:
    """FilterError if two outputs have the same path."""
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            raise FilterError(OUTPUT_EXISTS_ERROR, f"two outputs are both named {path!r}")
        seen.add(path)


@dataclass(frozen=True)
class VolumeInputs:
    """The checked selections of a two-phase volume (array paths)."""

    geometry_path: str
    geometry: GeometryInfo
    phases: str
    euler: str | None
    structures: str

    @property
    def cell_path(self) -> str:
        """The attribute matrix holding the Phases array."""
        return parent(self.phases)


def volume_inputs(
    args: Args,
    data: DataAccess,
    geometry_key: str = "input_image_geometry_path",
    phases_key: str = "cell_phases_array_path",
    euler_key: str | None = "cell_euler_angles_array_path",
) -> VolumeInputs:
    """Check the selected geometry, its Phases (and EulerAngles) and CrystalStructures."""
    geometry_path = args.path(geometry_key)
    geometry = image_geometry(data, geometry_path)
    phases, _ = selected_cell_array(args, data, phases_key, geometry_path, geometry)
    euler = None
    if euler_key is not None:
        euler, _ = selected_cell_array(args, data, euler_key, geometry_path, geometry)
    structures, _ = selected_array(args, data, "crystal_structures_array_path")
    return VolumeInputs(geometry_path, geometry, phases, euler, structures)


def read_volume(data: DataAccess, inputs: VolumeInputs) -> Volume:
    """The selected arrays as a Volume with the geometry's dims, spacing and origin."""
    cell_data = {"Phases": data.read(inputs.phases)}
    if inputs.euler is not None:
        cell_data["EulerAngles"] = data.read(inputs.euler)
    geometry = inputs.geometry
    return Volume(
        dims=geometry.dims,
        spacing=geometry.spacing,
        origin=geometry.origin,
        cell_data=cell_data,
        ensemble_data={"CrystalStructures": data.read(inputs.structures).reshape(-1, 1)},
        name=inputs.geometry_path.rsplit("/", 1)[-1],
    )


@dataclass(frozen=True)
class NewVolume:
    """Where a filter puts the volume it creates."""

    cell_path: str
    ensemble_path: str


def new_geometry(
    args: Args,
    dims: tuple[int, int, int],
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
) -> tuple[NewGeometry, str]:
    """The Output Image Geometry to create, and the path of its cell attribute matrix."""
    path = args.path("output_image_geometry_path")
    cell_name = args.name("cell_data_name")
    return NewGeometry(path, dims, spacing, origin, cell_name), join(path, cell_name)


def new_volume(
    args: Args,
    dims: tuple[int, int, int],
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
) -> tuple[list[Output], NewVolume]:
    """A new geometry with the :data:`CELL_ARRAYS` and a two-phase ensemble matrix."""
    geometry, cell = new_geometry(args, dims, spacing, origin)
    ensemble = join(geometry.path, args.name("cell_ensemble_data_name"))
    distinct([cell, ensemble])
    x, y, z = dims
    outputs: list[Output] = [
        geometry,
        *cell_arrays_out(cell, (z, y, x), {n: n for n in CELL_ARRAYS}),
        *ensemble_out(ensemble),
    ]
    return outputs, NewVolume(cell, ensemble)


def new_volume_values(target: NewVolume, volume: Volume) -> dict[str, np.ndarray]:
    """The values of :func:`new_volume`'s arrays, taken from a task's Volume."""
    values = {join(target.cell_path, k): volume.cell_data[k] for k in CELL_ARRAYS}
    for name in ("CrystalStructures", "PhaseTypes"):
        values[join(target.ensemble_path, name)] = volume.ensemble_data[name]
    return values


# --------------------------------------------------------------------------- filters


class SDFilter:
    """Base of the SD filters: metadata, parameters, ``plan`` and ``run``.

    Subclasses set the class attributes and implement ``_setup`` (check the inputs,
    return the outputs plus whatever ``_compute`` needs) and ``_compute``.
    """

    uuid: str
    name: str
    human_name: str
    description: str
    tags: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    links: tuple[Link, ...] = ()
    #: Bumped when parameters are added or removed (written to the pipeline JSON).
    parameters_version: int = 1

    def defaults(self) -> dict[str, Any]:
        """Every parameter key with its default value."""
        return {p.key: p.default for p in self.params if p.kind != "separator"}

    def param(self, key: str) -> Param:
        return next(p for p in self.params if p.key == key)

    def plan(self, values: dict[str, Any], data: DataAccess) -> list[Output]:
        """Check parameters and inputs (no array values read); the objects to create."""
        outputs, _ = self._setup(Args(self.params, values), data)
        for output in outputs:
            if not _inside_new(output, outputs):
                check_free(data, output.path)
        return outputs

    def run(
        self, values: dict[str, Any], data: DataAccess, progress: Progress | None = None
    ) -> RunResult:
        """Compute; the planned outputs must exist in ``data`` already.

        Raises :class:`~dream3d_sd_filters.tasks.Cancelled` when ``progress`` returns True.
        """
        args = Args(self.params, values)
        _, state = self._setup(args, data)
        return self._compute(args, data, state, progress)

    def _setup(self, args: Args, data: DataAccess) -> tuple[list[Output], Any]:
        raise NotImplementedError

    def _compute(
        self, args: Args, data: DataAccess, state: Any, progress: Progress | None
    ) -> RunResult:
        raise NotImplementedError


def _inside_new(output: Output, outputs: list[Output]) -> bool:
    """True if ``output`` lies inside a geometry or matrix that the plan creates."""
    return any(
        output.path.startswith(other.path + "/")
        for other in outputs
        if isinstance(other, (NewGeometry, NewMatrix))
    )


class CellArraysFilter(SDFilter):
    """A filter that adds :attr:`outputs` (cell arrays) next to its input volume's Phases.

    Subclasses set ``outputs`` and ``euler`` (whether the EulerAngles are an input),
    may check more in ``_check`` (its result is handed to ``_run``), and implement
    ``_run``, which returns the task's cell arrays and a line for the user.
    """

    #: Standard names of the created arrays; ``output_names`` gives their names.
    outputs: tuple[str, ...] = CELL_ARRAYS
    euler: bool = True

    def _names(self, args: Args) -> dict[str, str]:
        return output_names(args, self.outputs)

    def _check(self, args: Args, data: DataAccess, inputs: VolumeInputs) -> Any:
        return None

    def _setup(self, args, data):
        inputs = (
            volume_inputs(args, data) if self.euler else volume_inputs(args, data, euler_key=None)
        )
        extra = self._check(args, data, inputs)
        task_settings(args)
        if not isinstance(data.describe(inputs.cell_path), MatrixInfo):
            raise FilterError(
                ARRAY_MISSING_ERROR,
                f"the Phases array {inputs.phases!r} is not in an attribute matrix",
            )
        names = self._names(args)
        distinct(names.values())
        return cell_arrays_out(inputs.cell_path, inputs.geometry.cell_shape, names), (inputs, extra)

    def _compute(self, args, data, state, progress):
        inputs, extra = state
        cell_data, message = self._run(args, data, read_volume(data, inputs), extra, progress)
        names = self._names(args)
        return RunResult({join(inputs.cell_path, names[k]): cell_data[k] for k in names}, [message])

    def _run(
        self, args: Args, data: DataAccess, volume: Volume, extra: Any, progress: Progress | None
    ) -> tuple[dict[str, np.ndarray], str]:
        raise NotImplementedError
