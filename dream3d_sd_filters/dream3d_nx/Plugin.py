"""The DREAM3D-NX (simplnx) plugin object: identity and the list of filter classes."""

from __future__ import annotations

import simplnx as nx

from .SDAutoencodeFilter import SDAutoencodeFilter
from .SDGenerateMicrostructureFilter import SDGenerateMicrostructureFilter
from .SDInpaintFilter import SDInpaintFilter
from .SDInterpolateFilter import SDInterpolateFilter
from .SDPredictGrainOrientationsFilter import SDPredictGrainOrientationsFilter
from .SDSliceVolumeFilter import SDSliceVolumeFilter

# Classes, not instances: DREAM3D-NX instantiates each with no arguments.
_filters = [
    SDSliceVolumeFilter,
    SDAutoencodeFilter,
    SDGenerateMicrostructureFilter,
    SDInpaintFilter,
    SDInterpolateFilter,
    SDPredictGrainOrientationsFilter,
]


class SDFiltersPlugin:
    """Latent-diffusion filters for two-phase polycrystal microstructures."""

    def id(self) -> nx.Uuid:
        return nx.Uuid("46d5e597-ebb9-4bca-b243-7432256ad6e1")

    def name(self) -> str:
        return "SDFilters"

    def description(self) -> str:
        return (
            "Stable-diffusion filters for two-phase polycrystals: slice, autoencode, "
            "generate, inpaint, interpolate, predict grain orientations (dream3d-sd-filters)."
        )

    def vendor(self) -> str:
        return "dream3d-sd-filters"

    def get_filters(self):
        return _filters
