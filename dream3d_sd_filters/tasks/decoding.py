"""Turn model output back into DREAM3D cell arrays."""

from __future__ import annotations

import numpy as np

from ..data.encoding import decode_images
from ..orientations import ipf_colors, segment_features
from ..volume import Volume
from .slicing import from_slices


def images_to_cell_arrays(
    images: np.ndarray,
    crystal_structures: np.ndarray,
    axis: str = "z",
    encoding: str = "euler",
    threshold_deg: float = 5.0,
    periodic: bool = False,
) -> dict[str, np.ndarray]:
    """Decode a stack of 4-channel images into DREAM3D cell arrays (Z, Y, X, C).

    Parameters
    ----------
    images : ndarray, shape (N, 4, H, W)
        Model output, one slice per image, in the order of the slicing axis.
    crystal_structures : ndarray, shape (3,)
        Laue ids of (phase 0, phase 1, phase 2).
    axis : {"x", "y", "z"}
        The axis the images were cut along.
    encoding : {"euler"}
    threshold_deg : float
        Misorientation (degrees) below which neighbouring voxels of one phase belong to
        the same grain (DREAM3D's "Segment Features (Misorientation)").
    periodic : bool
        Let grains continue across opposite faces.

    Returns
    -------
    dict
        ``Phases`` int32 (1-based), ``EulerAngles`` float32 radians in the fundamental
        zone, ``FeatureIds`` int32 (1-based), ``IPFColors`` uint8 (reference [001]).
    """
    phases, euler = decode_images(images, crystal_structures, encoding)
    phases = from_slices(phases[:, None], axis)
    euler = from_slices(np.moveaxis(euler, -1, 1), axis)
    feature_ids = segment_features(
        euler, phases[..., 0], crystal_structures, threshold_deg, periodic=periodic
    )
    return {
        "Phases": phases.astype(np.int32),
        "EulerAngles": euler.astype(np.float32),
        "FeatureIds": feature_ids[..., None].astype(np.int32),
        "IPFColors": ipf_colors(euler, phases[..., 0], crystal_structures),
    }


def with_cell_arrays(template: Volume, arrays: dict[str, np.ndarray], **changes) -> Volume:
    """A copy of ``template`` (geometry, units, ensemble) with some cell arrays replaced.

    Feature arrays of the template are dropped, because the grains changed.
    """
    return template.replace(cell_data={**template.cell_data, **arrays}, feature_data={}, **changes)
