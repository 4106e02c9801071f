"""Grain orientations: uniformly random, or one rolling-texture component with a spread."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from ..orientations import (
    euler_to_matrix,
    matrix_to_euler,
    random_orientations,
    reduce_to_fundamental_zone,
)
from ..volume import LAUE_IDS

#: Rolling-texture component per Laue id, Bunge (phi1, Phi, phi2) in degrees:
#: Brass {110}<112> for cubic (the dominant rolling component of low stacking-fault
#: energy fcc metals) and basal {0001}<10-10> for hexagonal (c axis along the normal
#: direction z, as in rolled magnesium and titanium sheet).
ROLLING_COMPONENTS_DEG: dict[int, tuple[float, float, float]] = {
    LAUE_IDS["Cubic_High"]: (35.26, 45.0, 0.0),
    LAUE_IDS["Hexagonal_High"]: (0.0, 0.0, 0.0),
}


def textured_orientations(
    component_deg: tuple[float, float, float],
    spread_deg: float,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Orientations scattered about one component.

    Each orientation is the component followed by a rotation whose rotation vector
    has independent normal components of standard deviation ``spread_deg`` (an
    isotropic Gaussian, so the scatter does not depend on the frame it acts in).

    Parameters
    ----------
    component_deg : tuple of float
        Bunge Euler angles of the component, degrees.
    spread_deg : float
        Standard deviation of each rotation-vector component, degrees.
    n : int
        Number of orientations.
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    ndarray, shape (n, 3), float64
        Bunge Euler angles in radians (not reduced by symmetry).
    """
    component = euler_to_matrix(np.deg2rad(np.asarray(component_deg, dtype=np.float64)))
    scatter = Rotation.from_rotvec(rng.normal(0.0, np.deg2rad(spread_deg), size=(int(n), 3)))
    return matrix_to_euler(scatter.as_matrix() @ component)


def grain_orientations(
    laue_ids: np.ndarray, texture: str, spread_deg: float, rng: np.random.Generator
) -> np.ndarray:
    """One orientation per grain, in the fundamental zone of the grain's Laue group.

    Parameters
    ----------
    laue_ids : ndarray, shape (n,), int
        Laue id of each grain's phase (1 Cubic_High or 0 Hexagonal_High).
    texture : {'random', 'rolled'}
        Uniform orientations, or :data:`ROLLING_COMPONENTS_DEG` with a spread.
    spread_deg : float
        Spread of the ``rolled`` texture, degrees.
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    ndarray, shape (n, 3), float64
        Bunge Euler angles in radians.
    """
    laue_ids = np.asarray(laue_ids)
    euler = np.zeros((len(laue_ids), 3))
    for laue in np.unique(laue_ids):
        rows = np.flatnonzero(laue_ids == laue)
        if texture == "rolled":
            raw = textured_orientations(
                ROLLING_COMPONENTS_DEG[int(laue)], spread_deg, len(rows), rng
            )
        else:
            raw = random_orientations(len(rows), rng)
        euler[rows] = reduce_to_fundamental_zone(raw, int(laue))
    return euler
