"""ParaView plugin "SD Autoencode": encode and decode every slice with the model's autoencoder.

The output is the input with Phases, EulerAngles, FeatureIds and IPFColors replaced by the
reconstruction, plus ``ReconstructionError`` (float32, mean absolute difference of the
encoded channels, in [0, 2]); see ``dream3d_sd_filters.tasks.reconstruct_volume``.
Load it with Tools > Manage Plugins or ``PV_PLUGIN_PATH``; see docs/paraview.md.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)

from sd_paraview_bridge import algorithm  # noqa: E402

paraview_plugin_name = "SD Autoencode"
paraview_plugin_version = algorithm.PLUGIN_VERSION


@algorithm.sd_proxy(
    "SDAutoencode",
    "SD Autoencode",
    properties=(
        algorithm.SetPhasesArray,
        algorithm.SetEulerAnglesArray,
        algorithm.SetAxis,
        algorithm.SetPeriodic,
        *algorithm.MODEL_PROPERTIES,
    ),
    groups=(
        algorithm.ARRAYS_GROUP,
        algorithm.property_group("Slicing", "Axis", "Periodic"),
        algorithm.MODEL_GROUP,
    ),
)
class SDAutoencode(algorithm.SDVolumeFilter):
    """Reconstruct every slice (``dream3d_sd_filters.tasks.reconstruct_volume``)."""

    task = "autoencode"

    def __init__(self):
        super().__init__(defaults={})
