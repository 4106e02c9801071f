"""The 4-channel image encoding shared by the dataset, the models and the tasks.

Channel 0 is the phase: phase 1 -> -1, phase 2 -> +1. Channels 1-3 hold the grain
orientation, in one of two encodings:

``"euler"`` (default, invertible)
    Bunge angles (phi1, Phi, phi2) reduced to the fundamental zone of the pixel's
    Laue group, each mapped linearly from ``[0, bound]`` to ``[-1, 1]``, where the
    bounds (:data:`EULER_BOUNDS`) enclose the fundamental zones of every supported
    Laue group. The bounds are the same for all groups, so a channel value means the
    same angle whatever the symmetry, and the symmetry can be chosen at decoding time.
    Decoding maps back and reduces to the fundamental zone again, so any network
    output is a valid orientation.
``"ipf"``
    The paper's encoding: IPF colours along sample Z, scaled to ``[-1, 1]``.
    Not invertible (the rotation about Z is lost), so it cannot be decoded back
    into EulerAngles.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..volume import LAUE_IDS, LAUE_NAMES

ENCODINGS: tuple[str, ...] = ("euler", "ipf")

#: Laue groups whose orientations the models encode.
SUPPORTED_LAUE_IDS: tuple[int, ...] = (LAUE_IDS["Cubic_High"], LAUE_IDS["Hexagonal_High"])

#: Upper bounds (radians) of (phi1, Phi, phi2) over the Rodrigues-Frank fundamental
#: zones of the supported groups, as produced by
#: :func:`dream3d_sd_filters.orientations.reduce_to_fundamental_zone`: phi1 and phi2
#: span the full circle, Phi stays below 1.058 (cubic) and 1.604 (hexagonal).
#: tests/test_encoding.py checks that reduced random orientations stay inside.
EULER_BOUNDS: tuple[float, float, float] = (2 * np.pi, 1.62, 2 * np.pi)


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise InputError(f"unknown orientation encoding {encoding!r}; use one of {ENCODINGS}")


def check_supported_structures(crystal_structures: np.ndarray) -> np.ndarray:
    """Return the Laue ids of phases 1 and 2; InputError for a structure the models lack."""
    crystal_structures = np.asarray(crystal_structures).ravel()
    if len(crystal_structures) < 3:
        raise InputError(
            f"two phases are needed, but the crystal structures describe {len(crystal_structures) - 1}"
        )
    for phase in (1, 2):
        laue = int(crystal_structures[phase])
        if laue not in SUPPORTED_LAUE_IDS:
            raise InputError(
                f"phase {phase} has crystal structure {LAUE_NAMES.get(laue, laue)}, which the "
                f"model does not support; supported: "
                f"{', '.join(LAUE_NAMES[k] for k in SUPPORTED_LAUE_IDS)}"
            )
    return crystal_structures


def encode_images(
    phases: np.ndarray,
    euler: np.ndarray,
    crystal_structures: np.ndarray,
    encoding: str = "euler",
) -> np.ndarray:
    """Encode phase and orientation maps as 4-channel images.

    Parameters
    ----------
    phases : ndarray, shape (N, H, W), integer
        Phase ids, 1 or 2.
    euler : ndarray, shape (N, H, W, 3), float
        Bunge Euler angles in radians.
    crystal_structures : ndarray, shape (n_phases + 1,)
        Laue id per phase (entry 0 unused), see :data:`dream3d_sd_filters.volume.LAUE_IDS`.
    encoding : {"euler", "ipf"}
        Orientation encoding, see the module docstring.

    Returns
    -------
    ndarray, shape (N, 4, H, W), float32
        Values in [-1, 1].
    """
    from ..orientations import check_radians, ipf_colors, reduce_to_fundamental_zone

    _check_encoding(encoding)
    phases = np.asarray(phases)
    if phases.ndim != 3 or euler.shape != (*phases.shape, 3):
        raise InputError(
            f"phases must be (N, H, W) and euler (N, H, W, 3); got {phases.shape} and {euler.shape}"
        )
    if phases.size and (phases.min() < 1 or phases.max() > 2):
        raise InputError(f"phases must be 1 or 2, found values in [{phases.min()}, {phases.max()}]")
    check_radians(euler)
    crystal_structures = check_supported_structures(crystal_structures)
    out = np.empty((phases.shape[0], 4, *phases.shape[1:]), dtype=np.float32)
    out[:, 0] = np.where(phases == 2, 1.0, -1.0)
    if encoding == "ipf":
        rgb = ipf_colors(euler, phases, crystal_structures)
        out[:, 1:] = np.moveaxis(rgb.astype(np.float32) / 127.5 - 1.0, -1, 1)
        return out
    reduced = np.empty_like(euler, dtype=np.float64)
    for phase in (1, 2):
        sel = phases == phase
        if sel.any():
            reduced[sel] = reduce_to_fundamental_zone(euler[sel], int(crystal_structures[phase]))
    scaled = np.clip(2.0 * reduced / np.asarray(EULER_BOUNDS) - 1.0, -1.0, 1.0)
    out[:, 1:] = np.moveaxis(scaled, -1, 1)
    return out


def decode_images(
    images: np.ndarray, crystal_structures: np.ndarray, encoding: str = "euler"
) -> tuple[np.ndarray, np.ndarray]:
    """Turn 4-channel images back into phases and fundamental-zone Euler angles.

    Parameters
    ----------
    images : ndarray, shape (N, 4, H, W), float
        Encoded images (values outside [-1, 1] are clipped).
    crystal_structures : ndarray, shape (n_phases + 1,)
        Laue id per phase.
    encoding : {"euler"}
        Only the invertible encoding can be decoded.

    Returns
    -------
    phases : ndarray, shape (N, H, W), int32
        1 where channel 0 < 0, else 2.
    euler : ndarray, shape (N, H, W, 3), float32
        Bunge angles in radians, in the fundamental zone of each pixel's phase.
    """
    from ..orientations import reduce_to_fundamental_zone

    _check_encoding(encoding)
    if encoding != "euler":
        raise InputError(
            f"the {encoding!r} encoding is not invertible; only 'euler' images decode to orientations"
        )
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] != 4:
        raise InputError(f"images must have shape (N, 4, H, W), got {images.shape}")
    crystal_structures = check_supported_structures(crystal_structures)
    phases = np.where(images[:, 0] >= 0, 2, 1).astype(np.int32)
    scaled = np.clip(np.moveaxis(images[:, 1:], 1, -1), -1.0, 1.0)
    euler = (scaled + 1.0) * 0.5 * np.asarray(EULER_BOUNDS, dtype=np.float32)
    for phase in (1, 2):
        sel = phases == phase
        if sel.any():
            euler[sel] = reduce_to_fundamental_zone(euler[sel], int(crystal_structures[phase]))
    return phases, euler.astype(np.float32)


def encode_voxels(
    phases: np.ndarray, euler: np.ndarray, crystal_structures: np.ndarray, encoding: str = "euler"
) -> np.ndarray:
    """Encode any array of voxels, encoding each distinct (phase, orientation) only once.

    Microstructures hold ~10^3 grains but ~10^6-10^7 voxels, so encoding the distinct
    rows and indexing back is much cheaper than encoding every voxel.

    Parameters
    ----------
    phases : ndarray, shape (...), integer
        Phase ids, 1 or 2.
    euler : ndarray, shape (..., 3), float
        Bunge Euler angles in radians.
    crystal_structures : ndarray, shape (n_phases + 1,)
    encoding : {"euler", "ipf"}

    Returns
    -------
    ndarray, shape (..., 4), float32
    """
    phases = np.asarray(phases)
    euler = np.asarray(euler)
    rows = np.concatenate([phases.reshape(-1, 1).astype(np.float64), euler.reshape(-1, 3)], axis=1)
    unique, inverse = np.unique(rows, axis=0, return_inverse=True)
    table = encode_images(
        unique[None, None, :, 0].astype(np.int32),
        unique[None, None, :, 1:],
        crystal_structures,
        encoding,
    )[0, :, 0, :].T
    return table[inverse.reshape(-1)].reshape(*phases.shape, 4)
