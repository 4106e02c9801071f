"""ParaView plugin "SD Slice": the 2D slices the SD filters work on, as images.

* Output "Slice": slice ``Slice Index`` normal to ``Axis`` as a flat 2D image, in place:
  in-plane origin and spacing are the input's, and the image lies on the plane through
  the centres of that voxel layer.
* Output "Stack": every slice normal to ``Axis`` as the model sees it (rows and columns as
  in ``dream3d_sd_filters.tasks.slicing``: z -> (Y, X), y -> (Z, X), x -> (Z, Y)), stacked
  along the output's z. Spacing and origin are permuted with the axes; orientation arrays
  keep their values (Euler angles are not rotated into the new frame).

It copies every numeric array of the chosen centring (cell data by default; with point
data each point is a voxel) and needs neither torch nor dream3d_sd_filters.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)

import numpy as np  # noqa: E402
from paraview.util.vtkAlgorithm import smdomain, smproperty  # noqa: E402
from sd_paraview_bridge import algorithm, arrays  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkImageData  # noqa: E402
from vtkmodules.vtkCommonExecutionModel import vtkStreamingDemandDrivenPipeline  # noqa: E402

paraview_plugin_name = "SD Slice"
paraview_plugin_version = algorithm.PLUGIN_VERSION

SLICE, STACK = 0, 1
ASSOCIATIONS = (arrays.CELLS, arrays.POINTS)
#: Output (X, Y, Z) as input axes for a stack along x, y or z: (columns, rows, slices).
STACK_AXES = {"x": (1, 2, 0), "y": (0, 2, 1), "z": (0, 1, 2)}


def slice_geometry(
    extent: tuple[int, ...],
    spacing: tuple[float, ...],
    origin: tuple[float, ...],
    association: str,
    axis: str,
    mode: int,
    index: int,
) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
    """Output (extent, spacing, origin) of SD Slice for an input image's geometry.

    Parameters
    ----------
    extent, spacing, origin : sequences of 6, 3 and 3 numbers
        The input image's (point) extent, spacing and origin.
    association : {"cells", "points"}
    axis : {"x", "y", "z"}
    mode : {SLICE, STACK}
    index : int
        Slice index along ``axis`` (SLICE only), assumed in range.
    """
    points = np.array(extent[1::2]) - np.array(extent[::2]) + 1
    spacing = np.array(spacing, dtype=float)
    first_point = np.array(origin, dtype=float) + np.array(extent[::2]) * spacing
    a = "xyz".index(axis)
    if mode == STACK:
        order = list(STACK_AXES[axis])
        points, spacing, first_point = points[order], spacing[order], first_point[order]
    else:
        centre = 0.5 if association == arrays.CELLS and points[a] > 1 else 0.0
        first_point[a] += (index + centre) * spacing[a]
        points[a] = 1
    out_extent = tuple(int(v) for p in points for v in (0, p - 1))
    return out_extent, tuple(spacing), tuple(first_point)


def slice_array(values: np.ndarray, axis: str, mode: int, index: int) -> np.ndarray:
    """(Z, Y, X, C) voxels -> the output's (Z', Y', X', C) voxels."""
    a = "xyz".index(axis)
    if mode == STACK:
        x, y, z = STACK_AXES[axis]
        return np.transpose(values, (2 - z, 2 - y, 2 - x, 3))
    return np.take(values, [index], axis=2 - a)


@algorithm.sd_proxy("SDSlice", "SD Slice", input_arrays=False, properties=(algorithm.SetAxis,))
class SDSlice(algorithm.SDAlgorithm):
    """Extract one slice, or restack all slices, along an axis."""

    def __init__(self):
        super().__init__(n_inputs=1, defaults={"index": 0, "mode": SLICE, "association": 0})

    @smproperty.intvector(name="SliceIndex", label="Slice Index", default_values=0)
    @smdomain.intrange(min=0, max=4096)
    def SetSliceIndex(self, value):
        """Voxel layer along the axis (0-based), for the Slice output."""
        self._set("index", int(value))

    @smproperty.intvector(name="OutputMode", label="Output Mode", default_values=SLICE)
    @smdomain.xml(algorithm.enumeration_domain({SLICE: "Slice", STACK: "Stack"}))
    def SetOutputMode(self, value):
        self._set("mode", int(value))

    @smproperty.intvector(name="Data", default_values=0)
    @smdomain.xml(algorithm.enumeration_domain(("Cell Data", "Point Data")))
    def SetData(self, value):
        """Which arrays to slice; with point data each point is a voxel."""
        self._set("association", int(value))

    def _geometry(
        self,
        extent: tuple[int, ...],
        spacing: tuple[float, ...],
        origin: tuple[float, ...],
        index: int,
    ) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
        p = self._params
        return slice_geometry(
            extent, spacing, origin, ASSOCIATIONS[p["association"]], self.axis, p["mode"], index
        )

    def RequestInformation(self, request, inInfo, outInfo):
        source = inInfo[0].GetInformationObject(0)
        extent = source.Get(vtkStreamingDemandDrivenPipeline.WHOLE_EXTENT())
        a = "xyz".index(self.axis)
        # The index is checked in RequestData; here any valid layer gives the right shape.
        layers = extent[2 * a + 1] - extent[2 * a] + (self._params["association"] == 1)
        index = min(max(self._params["index"], 0), max(layers - 1, 0))
        geometry = self._geometry(
            extent, source.Get(vtkImageData.SPACING()), source.Get(vtkImageData.ORIGIN()), index
        )
        info = outInfo.GetInformationObject(0)
        info.Set(vtkStreamingDemandDrivenPipeline.WHOLE_EXTENT(), geometry[0], 6)
        info.Set(vtkImageData.SPACING(), geometry[1], 3)
        info.Set(vtkImageData.ORIGIN(), geometry[2], 3)
        return 1

    def RequestUpdateExtent(self, request, inInfo, outInfo):
        source = inInfo[0].GetInformationObject(0)
        whole = source.Get(vtkStreamingDemandDrivenPipeline.WHOLE_EXTENT())
        source.Set(vtkStreamingDemandDrivenPipeline.UPDATE_EXTENT(), whole, 6)
        return 1

    def execute(self, request, inInfo, outInfo):
        image = vtkImageData.GetData(inInfo[0], 0)
        output = vtkImageData.GetData(outInfo, 0)
        association = ASSOCIATIONS[self._params["association"]]
        mode, index = self._params["mode"], self._params["index"]
        dims, _ = arrays.voxel_layout(image, association)
        a = "xyz".index(self.axis)
        if mode == SLICE and not 0 <= index < dims[a]:
            raise arrays.BridgeError(
                f"slice index {index} is out of range: the input has {dims[a]} "
                f"{association[:-1]} layers along {self.axis}"
            )
        extent, spacing, origin = self._geometry(
            image.GetExtent(), image.GetSpacing(), image.GetOrigin(), index
        )
        output.SetExtent(extent)
        output.SetSpacing(spacing)
        output.SetOrigin(origin)
        data = image.GetCellData() if association == arrays.CELLS else image.GetPointData()
        names = [data.GetArrayName(i) for i in range(data.GetNumberOfArrays())]
        sliced = {
            name: slice_array(arrays.read_array(image, name, association), self.axis, mode, index)
            for name in names
            if name and data.GetArray(name) is not None
        }
        arrays.add_arrays(output, sliced, association)
        output.GetFieldData().ShallowCopy(image.GetFieldData())
        return 1
