"""DREAM3D-NX filter "SD Inpaint"; parameters and behaviour: docs/filters/SDInpaintFilter.md."""

from __future__ import annotations

from dream3d_sd_filters.filters import InpaintFilter

from ._common import SDFilterBase


class SDInpaintFilter(SDFilterBase):
    """ "SD Inpaint", an adapter over :class:`dream3d_sd_filters.filters.InpaintFilter`."""

    CORE = InpaintFilter()
