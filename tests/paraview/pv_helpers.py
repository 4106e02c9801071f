"""Constants and helpers shared by the ParaView plugin tests (imported by name, not a conftest)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "paraview_plugins"
#: Plugin file -> the proxy it registers.
PLUGINS = {
    "sd_inpaint_plugin.py": "SDInpaint",
    "sd_generate_plugin.py": "SDGenerateMicrostructure",
    "sd_autoencode_plugin.py": "SDAutoencode",
    "sd_slice_plugin.py": "SDSlice",
    "sd_predict_orientations_plugin.py": "SDPredictGrainOrientations",
}
#: Geometry of the test volume, (X, Y, Z): slices of 32 x 32 fit the untrained test model.
DIMS = (32, 32, 8)
SPACING = (0.5, 0.25, 2.0)
ORIGIN = (1.0, -2.0, 0.5)
#: SD Inpaint settings that keep a run to a few network calls.
FAST_INPAINT = {"Steps": 2, "JumpNSample": 1, "Mode": "independent"}

needs_display = pytest.mark.skipif(
    not os.environ.get("DISPLAY"),
    reason="rendering needs an X server (Debian's ParaView is GLX-only); run under Xvfb -noreset",
)


def image_from_arrays(
    arrays: dict[str, np.ndarray], point_centred: bool = False, field: dict | None = None
):
    """A vtkImageData with the test geometry holding ``(Z, Y, X, C)`` arrays.

    Cell arrays by default; with ``point_centred`` the image has one point per voxel,
    placed at the voxel centres, and the arrays are point data.
    """
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData

    image = vtkImageData()
    extra = 0 if point_centred else 1
    image.SetDimensions(*(d + extra for d in DIMS))
    image.SetSpacing(*SPACING)
    shift = 0.5 if point_centred else 0.0
    image.SetOrigin(*(o + shift * s for o, s in zip(ORIGIN, SPACING)))
    data = image.GetPointData() if point_centred else image.GetCellData()
    for name, values in arrays.items():
        flat = np.ascontiguousarray(values.reshape(-1, values.shape[-1]))
        array = numpy_to_vtk(flat[:, 0] if flat.shape[1] == 1 else flat, deep=1)
        array.SetName(name)
        data.AddArray(array)
    for name, values in (field or {}).items():
        array = numpy_to_vtk(np.ascontiguousarray(values), deep=1)
        array.SetName(name)
        image.GetFieldData().AddArray(array)
    return image


def write_vti(image, path: Path) -> Path:
    """Write ``image`` with VTK's XML writer (pyvista must stay out of this venv)."""
    from vtkmodules.vtkIOXML import vtkXMLImageDataWriter

    writer = vtkXMLImageDataWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(image)
    assert writer.Write() == 1
    return path


def box_mask() -> tuple[dict[str, list[float]], np.ndarray]:
    """A box (ParaView Position/Scale of the unit box) and the voxels whose centres it holds.

    The box spans voxels x 4..11, y 8..19 and z 3..4 (two slices), computed here
    independently of the plugin.
    """
    lo = np.array([4, 8, 3])
    hi = np.array([12, 20, 5])
    position = np.array(ORIGIN) + lo * np.array(SPACING)
    scale = (hi - lo) * np.array(SPACING)
    mask = np.zeros(DIMS[::-1], dtype=bool)
    mask[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]] = True
    return {"BoxPosition": list(position), "BoxScale": list(scale)}, mask


def fetch(pv, proxy):
    """Update ``proxy`` and return (its output data object, the error messages it raised)."""
    from paraview import servermanager
    from vtkmodules.util.misc import calldata_type
    from vtkmodules.util.vtkConstants import VTK_STRING

    errors: list[str] = []

    @calldata_type(VTK_STRING)
    def on_error(caller, event, message):
        errors.append(message)

    algorithm = proxy.GetClientSideObject()
    tag = algorithm.AddObserver("ErrorEvent", on_error)
    try:
        proxy.UpdatePipeline()
    finally:
        algorithm.RemoveObserver(tag)
    return servermanager.Fetch(proxy), errors


def cell_array(image, name: str, point_data: bool = False) -> np.ndarray:
    """Array ``name`` of ``image`` as ``(Z, Y, X, C)`` voxels."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    data = image.GetPointData() if point_data else image.GetCellData()
    array = data.GetArray(name)
    assert array is not None, f"output lacks array {name!r}"
    dims = image.GetDimensions() if point_data else [max(d - 1, 1) for d in image.GetDimensions()]
    return vtk_to_numpy(array).reshape(dims[2], dims[1], dims[0], -1)
