"""DREAM3D-NX filter "SD Predict Grain Orientations"; parameters and behaviour: docs/filters/SDPredictGrainOrientationsFilter.md."""

from __future__ import annotations

from dream3d_sd_filters.filters import PredictOrientationsFilter

from ._common import SDFilterBase


class SDPredictGrainOrientationsFilter(SDFilterBase):
    """ "SD Predict Grain Orientations", an adapter over :class:`dream3d_sd_filters.filters.PredictOrientationsFilter`."""

    CORE = PredictOrientationsFilter()
