"""The SD filters as a DREAM3D-NX (simplnx) Python plugin.

DREAM3D-NX finds it through the ``simplnx.plugins`` entry point once the package is
pip-installed into its conda environment, or through ``SIMPLNX_PYTHON_PLUGINS`` (see
docs/dream3d-nx.md). Importing this subpackage imports ``simplnx``; importing
``dream3d_sd_filters`` does not. Import errors are not caught: DREAM3D-NX shows them.
"""

from .Plugin import SDFiltersPlugin
from .SDAutoencodeFilter import SDAutoencodeFilter
from .SDGenerateMicrostructureFilter import SDGenerateMicrostructureFilter
from .SDInpaintFilter import SDInpaintFilter
from .SDInterpolateFilter import SDInterpolateFilter
from .SDPredictGrainOrientationsFilter import SDPredictGrainOrientationsFilter
from .SDSliceVolumeFilter import SDSliceVolumeFilter

__all__ = [
    "SDAutoencodeFilter",
    "SDFiltersPlugin",
    "SDGenerateMicrostructureFilter",
    "SDInpaintFilter",
    "SDInterpolateFilter",
    "SDPredictGrainOrientationsFilter",
    "SDSliceVolumeFilter",
    "get_plugin",
]


def get_plugin() -> SDFiltersPlugin:
    """The plugin object DREAM3D-NX loads."""
    return SDFiltersPlugin()
