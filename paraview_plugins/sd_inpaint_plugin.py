"""ParaView plugin "SD Inpaint": fill a region of a microstructure volume with the diffusion model.

The region is a mask array (nonzero = fill) or an interactive box (Position, Rotation and
Scale of a unit box, ParaView's box widget). The output is the input with Phases and
EulerAngles filled inside the region, FeatureIds re-segmented, IPFColors recomputed and
the field value ``InpaintContinuity`` (see ``dream3d_sd_filters.tasks.InpaintResult``).
Load it with Tools > Manage Plugins or ``PV_PLUGIN_PATH``; see docs/paraview.md.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)

import numpy as np  # noqa: E402
from paraview.util.vtkAlgorithm import smdomain, smhint, smproperty  # noqa: E402
from sd_paraview_bridge import algorithm, arrays  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkImageData  # noqa: E402

paraview_plugin_name = "SD Inpaint"
paraview_plugin_version = algorithm.PLUGIN_VERSION

MASK_FROM_ARRAY, MASK_FROM_BOX = 0, 1
INPAINT_MODES = ("consistent", "independent")
#: Name of the mask while it travels to the task (removed from the result).
_MASK = "SDInpaintMask"

_BOX_GROUP = f"""
<PropertyGroup label="Mask Box" panel_widget="InteractiveBox">
  <Property name="BoxPosition" function="Position"/>
  <Property name="BoxRotation" function="Rotation"/>
  <Property name="BoxScale" function="Scale"/>
  <Hints>
    <PropertyWidgetDecorator type="GenericDecorator" mode="visibility" property="MaskSource"
      value="{MASK_FROM_BOX}"/>
  </Hints>
</PropertyGroup>"""


@algorithm.sd_proxy(
    "SDInpaint",
    "SD Inpaint",
    properties=(
        algorithm.SetPhasesArray,
        algorithm.SetEulerAnglesArray,
        algorithm.SetAxis,
        algorithm.steps_setter(50),
        algorithm.SetSeed,
        algorithm.SetPeriodic,
        *algorithm.MODEL_PROPERTIES,
    ),
    groups=(
        algorithm.ARRAYS_GROUP,
        _BOX_GROUP,
        algorithm.property_group(
            "Inpainting",
            "Axis",
            "Mode",
            "Steps",
            "JumpLength",
            "JumpNSample",
            "RestartFraction",
            "Periodic",
            "Seed",
        ),
        algorithm.MODEL_GROUP,
    ),
)
class SDInpaint(algorithm.SDVolumeFilter):
    """Inpaint the masked voxels slice by slice (``dream3d_sd_filters.tasks.inpaint_volume``)."""

    task = "inpaint"
    field_scalars = {"continuity": "InpaintContinuity"}

    def __init__(self):
        super().__init__(
            defaults={
                "mask_source": MASK_FROM_ARRAY,
                "mask_array": "Mask",
                "box_position": (0.0, 0.0, 0.0),
                "box_rotation": (0.0, 0.0, 0.0),
                "box_scale": (1.0, 1.0, 1.0),
                "mode": 0,
                "steps": 50,
                "jump_length": 10,
                "jump_n_sample": 3,
                # dream3d_sd_filters.tasks.volume_tasks.CONSISTENT_RESTART_FRACTION
                "restart_fraction": 0.9,
            },
        )

    @smproperty.intvector(name="MaskSource", label="Mask Source", default_values=MASK_FROM_ARRAY)
    @smdomain.xml(algorithm.enumeration_domain({MASK_FROM_ARRAY: "Array", MASK_FROM_BOX: "Box"}))
    def SetMaskSource(self, value):
        self._set("mask_source", int(value))

    @smproperty.stringvector(name="MaskArray", label="Mask Array", default_values="Mask")
    @smdomain.xml(algorithm.ARRAY_LIST_DOMAIN)
    @smhint.xml(
        "<NoDefault/>"
        '<PropertyWidgetDecorator type="GenericDecorator" mode="visibility" '
        f'property="MaskSource" value="{MASK_FROM_ARRAY}"/>'
    )
    def SetMaskArray(self, name):
        """Array (same centring as Phases) whose nonzero voxels are filled."""
        self._set("mask_array", name or "")

    @smproperty.doublevector(name="BoxPosition", label="Box Position", default_values=[0, 0, 0])
    def SetBoxPosition(self, x, y, z):
        self._set("box_position", (x, y, z))

    @smproperty.doublevector(name="BoxRotation", label="Box Rotation", default_values=[0, 0, 0])
    def SetBoxRotation(self, x, y, z):
        self._set("box_rotation", (x, y, z))

    @smproperty.doublevector(name="BoxScale", label="Box Scale", default_values=[1, 1, 1])
    def SetBoxScale(self, x, y, z):
        self._set("box_scale", (x, y, z))

    @smproperty.intvector(name="Mode", default_values=0)
    @smdomain.xml(algorithm.enumeration_domain(INPAINT_MODES))
    def SetMode(self, value):
        """consistent: each slice starts from its filled neighbour; independent: from noise."""
        self._set("mode", int(value))

    @smproperty.intvector(
        name="JumpLength", label="Jump Length", default_values=10, panel_visibility="advanced"
    )
    @smdomain.intrange(min=1, max=100)
    def SetJumpLength(self, value):
        self._set("jump_length", int(value))

    @smproperty.intvector(
        name="JumpNSample", label="Jump N Sample", default_values=3, panel_visibility="advanced"
    )
    @smdomain.intrange(min=1, max=10)
    def SetJumpNSample(self, value):
        self._set("jump_n_sample", int(value))

    @smproperty.doublevector(
        name="RestartFraction",
        label="Restart Fraction",
        default_values=0.9,
        panel_visibility="advanced",
    )
    @smdomain.doublerange(min=0.01, max=0.99)
    def SetRestartFraction(self, value):
        self._set("restart_fraction", float(value))

    def _mask(self, image: vtkImageData, association: str) -> np.ndarray:
        if self._params["mask_source"] == MASK_FROM_BOX:
            from paraview.modules.vtkPVVTKExtensionsMisc import vtkPVBox

            # vtkPVBox places the unit box exactly as ParaView's box widget draws it.
            box = vtkPVBox()
            box.SetUseReferenceBounds(0)
            box.SetPosition(*self._params["box_position"])
            box.SetRotation(*self._params["box_rotation"])
            box.SetScale(*self._params["box_scale"])
            return arrays.box_mask(image, association, box)
        name = self._params["mask_array"]
        if arrays.find_association(image, name) != association:
            raise arrays.BridgeError(
                f"mask array {name!r} and phase array {self._params['phases_array']!r} must "
                "both be cell arrays or both point arrays"
            )
        return arrays.read_array(image, name, association)[..., 0] != 0

    def task_args(self, image, grid, association):
        grid.cell[_MASK] = self._mask(image, association).astype(np.uint8)[..., None]
        p = self._params
        return {
            "mask_array": _MASK,
            "mode": INPAINT_MODES[p["mode"]],
            "steps": p["steps"],
            "jump_length": p["jump_length"],
            "jump_n_sample": p["jump_n_sample"],
            "restart_fraction": p["restart_fraction"],
            "seed": p["seed"],
        }
