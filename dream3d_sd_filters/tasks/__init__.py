"""Microstructure tasks on volumes, returning DREAM3D arrays.

The adapters (CLI, DREAM3D-NX filters, ParaView plugins) call these functions and
nothing deeper.
"""

from ..pipelines.microstructure_sd import Cancelled
from .decoding import images_to_cell_arrays
from .design import VERIFY_METHODS, DesignResult, design_microstructures, verified_array_name
from .progress import Progress, tqdm_progress
from .slicing import AXES, from_slices, slice_shape, to_slices, volume_to_images
from .volume_tasks import (
    INPAINT_MODES,
    InpaintResult,
    OrientationResult,
    generate_volume,
    inpaint_volume,
    interpolate_volume,
    predict_orientations,
    reconstruct_volume,
    slice_continuity,
)

__all__ = [
    "VERIFY_METHODS",
    "DesignResult",
    "design_microstructures",
    "verified_array_name",
    "AXES",
    "INPAINT_MODES",
    "Cancelled",
    "InpaintResult",
    "OrientationResult",
    "Progress",
    "from_slices",
    "generate_volume",
    "images_to_cell_arrays",
    "inpaint_volume",
    "interpolate_volume",
    "predict_orientations",
    "reconstruct_volume",
    "slice_continuity",
    "slice_shape",
    "to_slices",
    "tqdm_progress",
    "volume_to_images",
]
