"""DREAM3D-NX filter "SD Generate Microstructure"; parameters and behaviour: docs/filters/SDGenerateMicrostructureFilter.md."""

from __future__ import annotations

from dream3d_sd_filters.filters import GenerateFilter

from ._common import SDFilterBase


class SDGenerateMicrostructureFilter(SDFilterBase):
    """ "SD Generate Microstructure", an adapter over :class:`dream3d_sd_filters.filters.GenerateFilter`."""

    CORE = GenerateFilter()
