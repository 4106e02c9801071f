"""ParaView plugin "SD Generate Microstructure": a source of generated two-phase microstructures.

It generates ``Number Of Slices`` independent 2D microstructures and stacks them as the
z-slices of one vtkImageData with cell arrays Phases, EulerAngles, FeatureIds and
IPFColors (``dream3d_sd_filters.tasks.generate_volume``), and the crystal structures as
``Ensemble:CrystalStructures`` field data, so that a saved ``.vti`` reads back into
sd-filters. Load it with Tools > Manage Plugins or ``PV_PLUGIN_PATH``; see docs/paraview.md.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)

from paraview.util.vtkAlgorithm import smdomain, smproperty  # noqa: E402
from sd_paraview_bridge import algorithm, arrays  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkImageData  # noqa: E402
from vtkmodules.vtkCommonExecutionModel import vtkStreamingDemandDrivenPipeline  # noqa: E402

paraview_plugin_name = "SD Generate Microstructure"
paraview_plugin_version = algorithm.PLUGIN_VERSION


@algorithm.sd_proxy(
    "SDGenerateMicrostructure",
    "SD Generate Microstructure",
    source=True,
    properties=(
        algorithm.SetSampler,
        algorithm.steps_setter(25),
        algorithm.SetSeed,
        algorithm.periodic_setter(True, "Circular padding: the slices tile seamlessly."),
        *algorithm.MODEL_PROPERTIES,
    ),
    groups=(
        algorithm.property_group(
            "Generation",
            "NumberOfSlices",
            "ImageSize",
            "Sampler",
            "Steps",
            "Seed",
            "Periodic",
            "Phase1CrystalStructure",
            "Phase2CrystalStructure",
        ),
        algorithm.property_group("Geometry", "Spacing", "Origin"),
        algorithm.MODEL_GROUP,
    ),
)
class SDGenerateMicrostructure(algorithm.SDAlgorithm):
    """Generate 2D microstructures stacked along z."""

    def __init__(self):
        super().__init__(
            n_inputs=0,
            defaults={
                "n": 4,
                "size": (64, 64),
                "steps": 25,
                "periodic": True,
                "spacing": (1.0, 1.0, 1.0),
                "origin": (0.0, 0.0, 0.0),
            },
        )

    @smproperty.intvector(name="NumberOfSlices", label="Number Of Slices", default_values=4)
    @smdomain.intrange(min=1, max=256)
    def SetNumberOfSlices(self, value):
        """How many independent microstructures (z-slices)."""
        self._set("n", int(value))

    @smproperty.intvector(name="ImageSize", label="Image Size", default_values=[64, 64])
    def SetImageSize(self, width, height):
        """Slice width (X) and height (Y) in voxels; multiples of the model's downsampling."""
        self._set("size", (int(width), int(height)))

    @smproperty.doublevector(name="Spacing", default_values=[1, 1, 1])
    @smdomain.doublerange(min=1e-9)
    def SetSpacing(self, x, y, z):
        """Voxel size (X, Y, Z) in micrometres."""
        self._set("spacing", (float(x), float(y), float(z)))

    @smproperty.doublevector(name="Origin", default_values=[0, 0, 0])
    def SetOrigin(self, x, y, z):
        """Corner of the first voxel."""
        self._set("origin", (float(x), float(y), float(z)))

    def _extent(self) -> tuple[int, int, int, int, int, int]:
        width, height = self._params["size"]
        return (0, width, 0, height, 0, int(self._params["n"]))

    def RequestInformation(self, request, inInfo, outInfo):
        info = outInfo.GetInformationObject(0)
        info.Set(vtkStreamingDemandDrivenPipeline.WHOLE_EXTENT(), self._extent(), 6)
        info.Set(vtkImageData.SPACING(), self._params["spacing"], 3)
        info.Set(vtkImageData.ORIGIN(), self._params["origin"], 3)
        return 1

    def execute(self, request, inInfo, outInfo):
        output = vtkImageData.GetData(outInfo, 0)
        p = self._params
        width, height = p["size"]
        args = {
            "n": p["n"],
            "size": [height, width],
            "crystal_structures": list(self.crystal_structures),
            "spacing": list(p["spacing"]),
            "sampler": algorithm.SAMPLERS[p["sampler"]],
            "steps": p["steps"],
            "seed": p["seed"],
            "batch_size": p["batch_size"],
            "periodic": p["periodic"],
        }
        ran = self.run_task("generate", None, args)
        if ran is not None:
            result, scalars = ran
            output.ShallowCopy(arrays.new_image(result, p["origin"]))
            arrays.add_arrays(output, result.cell, arrays.CELLS)
            arrays.set_field_data(output, result, scalars)
        return 1
