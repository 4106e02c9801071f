"""DREAM3D-NX filter "SD Slice Volume"; parameters and behaviour: docs/filters/SDSliceVolumeFilter.md."""

from __future__ import annotations

from dream3d_sd_filters.filters import SliceVolumeFilter

from ._common import SDFilterBase


class SDSliceVolumeFilter(SDFilterBase):
    """ "SD Slice Volume", an adapter over :class:`dream3d_sd_filters.filters.SliceVolumeFilter`."""

    CORE = SliceVolumeFilter()
