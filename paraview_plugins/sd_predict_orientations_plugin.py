"""ParaView plugin "SD Predict Grain Orientations": grain orientations for a phase map.

The model's orientation ControlNet generates, slice by slice, grains that fit the input's
phase map (``dream3d_sd_filters.tasks.predict_orientations``). The output is the input
with EulerAngles, FeatureIds and IPFColors added (Phases stays the given map) and the
field value ``PhaseAgreement``: the fraction of voxels where the model's own phase channel
agrees with the map. Needs a model with an orientation ControlNet. Load it with
Tools > Manage Plugins or ``PV_PLUGIN_PATH``; see docs/paraview.md.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)

from paraview.util.vtkAlgorithm import smdomain, smproperty  # noqa: E402
from sd_paraview_bridge import algorithm  # noqa: E402

paraview_plugin_name = "SD Predict Grain Orientations"
paraview_plugin_version = algorithm.PLUGIN_VERSION


@algorithm.sd_proxy(
    "SDPredictGrainOrientations",
    "SD Predict Grain Orientations",
    properties=(
        algorithm.SetPhasesArray,
        algorithm.SetAxis,
        algorithm.SetSampler,
        algorithm.steps_setter(25),
        algorithm.SetSeed,
        algorithm.SetPeriodic,
        *algorithm.MODEL_PROPERTIES,
    ),
    groups=(
        algorithm.property_group(
            "Input arrays", "PhasesArray", "Phase1CrystalStructure", "Phase2CrystalStructure"
        ),
        algorithm.property_group(
            "Prediction", "Axis", "Sampler", "Steps", "GuidanceScale", "Periodic", "Seed"
        ),
        algorithm.MODEL_GROUP,
    ),
)
class SDPredictGrainOrientations(algorithm.SDVolumeFilter):
    """Orientations for a phase map (``dream3d_sd_filters.tasks.predict_orientations``)."""

    task = "predict_orientations"
    reads_euler_angles = False
    field_scalars = {"phase_agreement": "PhaseAgreement"}

    def __init__(self):
        # 5.0 = dream3d_sd_filters.pipelines.microstructure_sd.ORIENTATION_GUIDANCE_SCALE,
        # spelled out because the proxy XML is built when ParaView loads the plugin.
        super().__init__(defaults={"steps": 25, "guidance_scale": 5.0})

    @smproperty.doublevector(name="GuidanceScale", label="Guidance Scale", default_values=5.0)
    @smdomain.doublerange(min=0.0, max=10.0)
    def SetGuidanceScale(self, value):
        """Classifier-free guidance: how strongly the grains follow the phase map."""
        self._set("guidance_scale", float(value))

    def task_args(self, image, grid, association):
        p = self._params
        return {
            "sampler": algorithm.SAMPLERS[p["sampler"]],
            "steps": p["steps"],
            "guidance_scale": p["guidance_scale"],
            "seed": p["seed"],
        }
