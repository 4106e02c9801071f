"""DREAM3D-NX filter "SD Autoencode"; parameters and behaviour: docs/filters/SDAutoencodeFilter.md."""

from __future__ import annotations

from dream3d_sd_filters.filters import AutoencodeFilter

from ._common import SDFilterBase


class SDAutoencodeFilter(SDFilterBase):
    """ "SD Autoencode", an adapter over :class:`dream3d_sd_filters.filters.AutoencodeFilter`."""

    CORE = AutoencodeFilter()
