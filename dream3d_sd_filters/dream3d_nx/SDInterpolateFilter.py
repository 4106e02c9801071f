"""DREAM3D-NX filter "SD Interpolate"; parameters and behaviour: docs/filters/SDInterpolateFilter.md."""

from __future__ import annotations

from dream3d_sd_filters.filters import InterpolateFilter

from ._common import SDFilterBase


class SDInterpolateFilter(SDFilterBase):
    """ "SD Interpolate", an adapter over :class:`dream3d_sd_filters.filters.InterpolateFilter`."""

    CORE = InterpolateFilter()
