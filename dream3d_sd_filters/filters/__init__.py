"""The SD filters without a framework: one definition each, for two front ends.

Each filter module defines one :class:`~.base.SDFilter` (uuid, parameters, input
checks, and a thin call of its :mod:`dream3d_sd_filters.tasks` function);
:mod:`.base` holds what they share; :mod:`.runner` runs ``.d3dpipeline`` files of these
filters without DREAM3D-NX. The DREAM3D-NX plugin (:mod:`dream3d_sd_filters.dream3d_nx`)
wraps the same objects. Importing this package imports neither simplnx nor torch.
"""

from . import base
from .autoencode import AutoencodeFilter
from .base import *  # noqa: F403 (the shared API, listed once in base.__all__)
from .base import SDFilter
from .generate import GenerateFilter
from .inpaint import InpaintFilter
from .interpolate import InterpolateFilter
from .predict_orientations import PredictOrientationsFilter
from .slice_volume import SliceVolumeFilter

#: Every SD filter, in the order DREAM3D-NX lists them.
FILTERS: tuple[SDFilter, ...] = (
    SliceVolumeFilter(),
    AutoencodeFilter(),
    GenerateFilter(),
    InpaintFilter(),
    InterpolateFilter(),
    PredictOrientationsFilter(),
)
FILTERS_BY_UUID: dict[str, SDFilter] = {f.uuid: f for f in FILTERS}

__all__ = [
    *base.__all__,
    "FILTERS",
    "FILTERS_BY_UUID",
    "AutoencodeFilter",
    "GenerateFilter",
    "InpaintFilter",
    "InterpolateFilter",
    "PredictOrientationsFilter",
    "SliceVolumeFilter",
]
