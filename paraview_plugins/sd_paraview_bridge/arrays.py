"""vtkImageData <-> voxel arrays in the sd-filters layout, without importing the package.

A :class:`VoxelGrid` holds what :class:`dream3d_sd_filters.volume.Volume` holds, as plain
numpy arrays: voxel arrays ``(Z, Y, X, C)``, ensemble tables ``(n_phases + 1, C)``, dims,
spacing, origin and length unit. Kitware's ParaView binaries cannot import the package
(no torch), so this module needs only numpy and VTK, and writes and reads the package's
``.npz`` layout (:mod:`dream3d_sd_filters.io.npz`) itself.

Voxels are the image's cells when the arrays are cell data (DREAM3D's convention, what the
XDMF reader gives for ``.dream3d`` files). Point-centred arrays are accepted too: each
point is then a voxel centred on it, and results go back to the points. VTK stores both
X fastest, which is the C order of ``(Z, Y, X, C)``, so arrays are reshaped, never
transposed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkDataArray, vtkStringArray
from vtkmodules.vtkCommonDataModel import vtkDataSetAttributes, vtkImageData, vtkImplicitFunction

CELLS = "cells"
POINTS = "points"
#: Laue ids (DREAM3D ``CrystalStructures``) of the two structures the models support.
LAUE_CHOICES = {"Hexagonal_High": 0, "Cubic_High": 1}
UNKNOWN_LAUE = 999
PRIMARY_PHASE = 0
#: Version of the ``.npz`` layout written here (``dream3d_sd_filters.io.npz``).
NPZ_FORMAT_VERSION = 1
#: Field-data names that dream3d_sd_filters.io.vtk uses for what VTK has no place for.
ENSEMBLE_PREFIX = "Ensemble:"
LENGTH_UNIT = "LengthUnit"
PHASE_NAMES = "PhaseNames"


class BridgeError(ValueError):
    """Bad input for a plugin; the message is one line naming the problem."""


@dataclass
class VoxelGrid:
    """An image volume as arrays, in the sd-filters conventions.

    Attributes
    ----------
    dims : (int, int, int)
        Voxels along (X, Y, Z).
    spacing, origin : (float, float, float)
        Voxel size and the corner of the first voxel, (X, Y, Z), in ``length_unit``.
    cell : dict of str to ndarray, shape (Z, Y, X, C)
    ensemble : dict of str to ndarray, shape (n_phases + 1, C)
    length_unit : str
    phase_names : list of str or None
    """

    dims: tuple[int, int, int]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cell: dict[str, np.ndarray] = field(default_factory=dict)
    ensemble: dict[str, np.ndarray] = field(default_factory=dict)
    length_unit: str = "Micrometer"
    phase_names: list[str] | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(Z, Y, X)."""
        return (self.dims[2], self.dims[1], self.dims[0])


def ensemble_tables(crystal_structures: tuple[int, int]) -> dict[str, np.ndarray]:
    """``CrystalStructures`` and ``PhaseTypes`` (uint32, (3, 1)) for two primary phases."""
    return {
        "CrystalStructures": np.array([[UNKNOWN_LAUE], *([c] for c in crystal_structures)], "u4"),
        "PhaseTypes": np.array([[UNKNOWN_LAUE], [PRIMARY_PHASE], [PRIMARY_PHASE]], "u4"),
    }


def _attributes(image: vtkImageData, association: str) -> vtkDataSetAttributes:
    return image.GetCellData() if association == CELLS else image.GetPointData()


def voxel_layout(image: vtkImageData, association: str) -> tuple[tuple[int, ...], np.ndarray]:
    """Voxel dims (X, Y, Z) and the world position of the first voxel's centre.

    Cells of an axis with a single point layer (a flat image) have no extent along it,
    so their centres lie on that layer.
    """
    points = np.array(image.GetDimensions())
    first_point = np.array(image.GetOrigin()) + np.array(image.GetExtent()[::2]) * np.array(
        image.GetSpacing()
    )
    if association == POINTS:
        return tuple(int(d) for d in points), first_point
    half = np.where(points > 1, 0.5, 0.0)
    return tuple(int(max(d - 1, 1)) for d in points), first_point + half * np.array(
        image.GetSpacing()
    )


def find_association(image: vtkImageData, name: str) -> str:
    """:data:`CELLS` if ``name`` is a cell array of ``image``, else :data:`POINTS` if it is a
    point array; BridgeError naming the available arrays otherwise."""
    if image.GetCellData().GetAbstractArray(name) is not None:
        return CELLS
    if image.GetPointData().GetAbstractArray(name) is not None:
        return POINTS
    raise BridgeError(
        f"the input has no array named {name!r} (cell arrays: {_names(image, CELLS)}; "
        f"point arrays: {_names(image, POINTS)})"
    )


def _names(image: vtkImageData, association: str) -> str:
    data = _attributes(image, association)
    names = [data.GetArrayName(i) for i in range(data.GetNumberOfArrays())]
    return ", ".join(n for n in names if n) or "none"


def read_array(image: vtkImageData, name: str, association: str) -> np.ndarray:
    """The array ``name`` as ``(Z, Y, X, C)`` voxels (a copy).

    Raises
    ------
    BridgeError
        The array is missing from ``association`` or is not numeric.
    """
    data = _attributes(image, association)
    array = data.GetArray(name)
    if array is None:
        kind = "cell" if association == CELLS else "point"
        raise BridgeError(
            f"the input has no numeric {kind} array named {name!r} "
            f"({kind} arrays: {_names(image, association)})"
        )
    dims, _ = voxel_layout(image, association)
    values = vtk_to_numpy(array)
    return np.array(values.reshape(dims[2], dims[1], dims[0], -1))


def _as_phases(name: str, values: np.ndarray) -> np.ndarray:
    if values.shape[3] != 1:
        raise BridgeError(f"phase array {name!r} has {values.shape[3]} components; 1 is needed")
    if values.dtype.kind in "iu":
        return values.astype(np.int32)
    # Readers and filters such as Calculator produce doubles; whole numbers are phases.
    if values.dtype.kind == "f" and np.array_equal(values, np.round(values)):
        return values.astype(np.int32)
    raise BridgeError(f"phase array {name!r} must hold whole numbers, got {values.dtype} values")


def read_grid(
    image: vtkImageData,
    phases: str,
    euler_angles: str | None,
    crystal_structures: tuple[int, int],
) -> tuple[VoxelGrid, str]:
    """The voxels of ``image`` that the tasks need: ``Phases`` and ``EulerAngles``.

    Parameters
    ----------
    image : vtkImageData
        Also a vtkUniformGrid (what the XDMF reader gives for ``.dream3d`` files).
    phases, euler_angles : str
        Names of the phase array (1 or 2) and the Bunge Euler angle array (radians, 3
        components); both cell arrays or both point arrays. ``euler_angles`` None reads
        the phases only.
    crystal_structures : (int, int)
        Laue ids of phases 1 and 2, used unless ``image`` carries
        ``Ensemble:CrystalStructures`` field data (files written by sd-filters).

    Returns
    -------
    grid : VoxelGrid
        Cell arrays ``Phases`` (int32) and ``EulerAngles`` (float32), whatever the names
        in ``image``.
    association : {"cells", "points"}
        Where the arrays were found.
    """
    association = find_association(image, phases)
    dims, first_centre = voxel_layout(image, association)
    spacing = np.array(image.GetSpacing(), dtype=float)
    cell = {"Phases": _as_phases(phases, read_array(image, phases, association))}
    if euler_angles is not None:
        euler = read_array(image, euler_angles, association)
        if euler.shape[3] != 3 or euler.dtype.kind != "f":
            raise BridgeError(
                f"Euler angle array {euler_angles!r} must be a float array with 3 components, "
                f"got {euler.dtype} with {euler.shape[3]}"
            )
        cell["EulerAngles"] = euler.astype(np.float32)
    ensemble = ensemble_tables(crystal_structures)
    stored = image.GetFieldData().GetArray(ENSEMBLE_PREFIX + "CrystalStructures")
    if stored is not None:
        ensemble = {"CrystalStructures": vtk_to_numpy(stored).reshape(-1, 1).astype("u4")}
    unit = image.GetFieldData().GetAbstractArray(LENGTH_UNIT)
    grid = VoxelGrid(
        dims=dims,
        spacing=tuple(float(s) for s in spacing),
        origin=tuple(float(o) for o in first_centre - 0.5 * spacing),
        cell=cell,
        ensemble=ensemble,
        length_unit=unit.GetValue(0) if isinstance(unit, vtkStringArray) else "Micrometer",
    )
    return grid, association


def box_mask(image: vtkImageData, association: str, box: vtkImplicitFunction) -> np.ndarray:
    """Voxels whose centres lie inside ``box`` (any vtkImplicitFunction), shape (Z, Y, X)."""
    dims, first_centre = voxel_layout(image, association)
    spacing = np.array(image.GetSpacing())
    axes = [first_centre[k] + spacing[k] * np.arange(dims[k]) for k in range(3)]
    zz, yy, xx = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    centres = np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1)
    values = numpy_to_vtk(np.ascontiguousarray(centres), deep=1)
    result = numpy_to_vtk(np.zeros(len(centres)), deep=1)
    box.FunctionValue(values, result)
    return (vtk_to_numpy(result) <= 0).reshape(dims[2], dims[1], dims[0])


def _vtk_array(name: str, values: np.ndarray) -> vtkDataArray:
    flat = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values[:, None]
    if flat.dtype == np.bool_:
        flat = flat.view(np.uint8)
    array = numpy_to_vtk(np.ascontiguousarray(flat[:, 0] if flat.shape[1] == 1 else flat), deep=1)
    array.SetName(name)
    return array


def add_arrays(output: vtkImageData, arrays: dict[str, np.ndarray], association: str) -> None:
    """Add (or replace) ``(Z, Y, X, C)`` voxel arrays on ``output``'s cells or points."""
    data = _attributes(output, association)
    for name, values in arrays.items():
        data.AddArray(_vtk_array(name, values))


def set_field_data(output: vtkImageData, grid: VoxelGrid, scalars: dict[str, float]) -> None:
    """Store the ensemble, length unit and phase names as field data (io.vtk's names), and
    each scalar result as a one-value field array; saved as ``.vti``, the output then
    reads back into sd-filters with its crystal structures."""
    fields = output.GetFieldData()
    for name, table in grid.ensemble.items():
        fields.AddArray(_vtk_array(ENSEMBLE_PREFIX + name, table))
    strings = {LENGTH_UNIT: grid.length_unit}
    if grid.phase_names is not None:
        strings[PHASE_NAMES] = json.dumps(grid.phase_names)
    for name, text in strings.items():
        array = vtkStringArray()
        array.SetName(name)
        array.InsertNextValue(text)
        fields.AddArray(array)
    for name, value in scalars.items():
        fields.AddArray(_vtk_array(name, np.array([value], dtype=np.float64)))


def new_image(grid: VoxelGrid, origin: tuple[float, float, float]) -> vtkImageData:
    """A vtkImageData of ``grid.dims`` cells (points at the voxel corners), no arrays."""
    image = vtkImageData()
    image.SetDimensions(*(d + 1 for d in grid.dims))
    image.SetSpacing(*grid.spacing)
    image.SetOrigin(*origin)
    return image


def write_npz(grid: VoxelGrid, path: str) -> None:
    """Write ``grid`` in the ``dream3d_sd_filters.io.npz`` layout (read by ``io.read_volume``)."""
    members = {
        "meta/format_version": np.array(NPZ_FORMAT_VERSION, dtype=np.int64),
        "meta/dims": np.array(grid.dims, dtype=np.int64),
        "meta/spacing": np.array(grid.spacing, dtype=np.float64),
        "meta/origin": np.array(grid.origin, dtype=np.float64),
        "meta/length_unit": np.array(grid.length_unit),
        "meta/name": np.array("ParaView"),
    }
    if grid.phase_names is not None:
        members["meta/phase_names"] = np.array(grid.phase_names, dtype=str)
    members.update({f"cell/{k}": v for k, v in grid.cell.items()})
    members.update({f"ensemble/{k}": v for k, v in grid.ensemble.items()})
    np.savez(path, **members)


def read_npz(path: str) -> VoxelGrid:
    """Read an ``.npz`` volume written by ``dream3d_sd_filters.io.write_volume``."""
    with np.load(path, allow_pickle=False) as archive:
        members = {key: archive[key] for key in archive.files}
    names = members.get("meta/phase_names")
    return VoxelGrid(
        dims=tuple(int(d) for d in members["meta/dims"]),
        spacing=tuple(float(s) for s in members["meta/spacing"]),
        origin=tuple(float(o) for o in members["meta/origin"]),
        cell={k[5:]: v for k, v in members.items() if k.startswith("cell/")},
        ensemble={k[9:]: v for k, v in members.items() if k.startswith("ensemble/")},
        length_unit=str(members["meta/length_unit"]),
        phase_names=None if names is None else [str(n) for n in names],
    )
