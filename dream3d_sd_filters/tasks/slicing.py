"""Cut volumes into 4-channel image stacks along x, y or z, and stack images back.

Cell arrays are stored (Z, Y, X, C). A slice normal to ``axis`` is the image:

====  ===================  ==================
axis  slice index runs on  image rows, columns
====  ===================  ==================
z     Z                    Y, X
y     Y                    Z, X
x     X                    Z, Y
====  ===================  ==================
"""

from __future__ import annotations

import numpy as np

from ..data.encoding import encode_voxels
from ..errors import InputError
from ..volume import Volume

AXES = ("x", "y", "z")
#: Array axis of (Z, Y, X, C) that each slicing axis runs along.
_ARRAY_AXIS = {"z": 0, "y": 1, "x": 2}


def check_axis(axis: str) -> str:
    """Return ``axis`` lower-cased; InputError unless it is x, y or z."""
    if str(axis).lower() not in AXES:
        raise InputError(f"slicing axis must be x, y or z, got {axis!r}")
    return str(axis).lower()


def to_slices(array: np.ndarray, axis: str) -> np.ndarray:
    """(Z, Y, X, C) cell array -> (N, C, H, W) stack of slices normal to ``axis`` (a view)."""
    moved = np.moveaxis(array, _ARRAY_AXIS[check_axis(axis)], 0)  # (N, H, W, C)
    return np.moveaxis(moved, -1, 1)


def from_slices(stack: np.ndarray, axis: str) -> np.ndarray:
    """Inverse of :func:`to_slices`: (N, C, H, W) -> (Z, Y, X, C), C-contiguous."""
    moved = np.moveaxis(stack, 1, -1)
    return np.ascontiguousarray(np.moveaxis(moved, 0, _ARRAY_AXIS[check_axis(axis)]))


def slice_shape(volume: Volume, axis: str) -> tuple[int, int, int]:
    """(number of slices, image height, image width) along ``axis``."""
    z, y, x = volume.shape
    return {"z": (z, y, x), "y": (y, z, x), "x": (x, z, y)}[check_axis(axis)]


def volume_to_images(volume: Volume, axis: str = "z", encoding: str = "euler") -> np.ndarray:
    """Encode a two-phase volume as a stack of 4-channel images.

    Parameters
    ----------
    volume : Volume
        Needs cell arrays Phases (1 or 2) and EulerAngles (radians), and the ensemble
        array CrystalStructures.
    axis : {"x", "y", "z"}
        Slice normal.
    encoding : {"euler", "ipf"}

    Returns
    -------
    ndarray, shape (N, 4, H, W), float32
    """
    volume.require("Phases", "EulerAngles")
    structures = volume.crystal_structures
    if structures is None:
        raise InputError(
            f"volume {volume.name!r} has no CrystalStructures ensemble array; the model needs "
            "the crystal structure of each phase"
        )
    phases = volume.cell_data["Phases"][..., 0]
    if phases.size and (phases.min() < 1 or phases.max() > 2):
        raise InputError(
            f"Phases must be 1 or 2 everywhere (the models are two-phase), found "
            f"[{phases.min()}, {phases.max()}]"
        )
    encoded = encode_voxels(phases, volume.cell_data["EulerAngles"], structures, encoding)
    return np.ascontiguousarray(to_slices(encoded, axis), dtype=np.float32)
