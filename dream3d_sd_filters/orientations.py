"""Crystal orientations in DREAM.3D's conventions: conversions, symmetry, IPF colours, grains.

Conventions (the same as DREAM.3D / DREAM3D-NX and EbsdLib, and as orix with
``direction="lab2crystal"``):

* Euler angles are Bunge ZXZ ``(phi1, Phi, phi2)`` in **radians**, ``phi1, phi2`` in
  ``[0, 2*pi)`` and ``Phi`` in ``[0, pi]``.
* Rotations are **passive**: an orientation transforms sample coordinates into crystal
  coordinates. The orientation matrix ``g`` satisfies ``v_crystal = g @ v_sample``.
* Quaternions are unit quaternions stored in DREAM.3D's order ``(x, y, z, w)`` (vector
  part first), canonical with ``w >= 0``. A quaternion ``q`` and the matrix ``g`` of the
  same orientation are related by the ordinary Hamilton formula, ``g v = q v q*``; this is
  the ``P = +1`` convention of Rowenhorst et al. (2015) that DREAM.3D uses, and orix's
  ``Rotation.from_euler(euler)`` gives the same quaternion in ``(w, x, y, z)`` order.
* Crystal symmetry acts in the crystal frame, so the orientations equivalent to ``q``
  are ``s * q`` for every proper rotation ``s`` of the Laue group. Hexagonal crystals have
  ``c`` along crystal ``z`` and ``a1`` along crystal ``x``, as in DREAM.3D.
* The fundamental zone is the Rodrigues-Frank zone of the Laue group, i.e. the
  equivalent closest to the identity (largest ``|w|``). For ``Cubic_High`` this is
  ``|r_i| <= sqrt(2) - 1`` and ``|r_1| + |r_2| + |r_3| <= 1``; for ``Hexagonal_High``
  ``|r_3| <= tan(15 deg)`` and the dodecagonal prism ``|r . n_k| <= 1`` for the six
  in-plane two-fold axes ``n_k``.
* Laue classes are DREAM.3D's ``CrystalStructures`` ids
  (:data:`dream3d_sd_filters.volume.LAUE_IDS`). Symmetry-aware functions support
  Cubic_High, Hexagonal_High and the classes whose axes are unambiguous (Cubic_Low,
  Hexagonal_Low, Tetragonal_High, Tetragonal_Low, OrthoRhombic, Triclinic); they raise
  :class:`~dream3d_sd_filters.errors.InputError` for the others.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .volume import LAUE_IDS, LAUE_NAMES

#: Angles above ``2*pi`` by more than this are taken as degrees; float32 files
#: store ``2*pi`` itself a few ulps high.
_RADIANS_TOLERANCE = 1e-3
#: Rows per block in the symmetry loops, to bound memory at 10^7 voxels.
_BLOCK = 1 << 17
#: Quaternion components below this are treated as zero in the Euler gimbal cases.
_GIMBAL_EPS = 1e-12
#: Ties in the fundamental-zone choice within this keep the input orientation, which
#: makes the reduction idempotent for orientations on the zone boundary.
_FZ_TIE = 1e-9


def _axis_angle_quaternions(axes: list[tuple[float, float, float]], angle: float) -> np.ndarray:
    axes_arr = np.asarray(axes, dtype=np.float64)
    axes_arr /= np.linalg.norm(axes_arr, axis=1, keepdims=True)
    half = angle / 2
    return np.concatenate(
        [axes_arr * np.sin(half), np.full((len(axes_arr), 1), np.cos(half))], axis=1
    )


def _build_operators() -> dict[int, np.ndarray]:
    identity = np.array([[0.0, 0.0, 0.0, 1.0]])
    xyz = [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
    diagonals = [(1, 1, 1), (-1, 1, 1), (1, -1, 1), (1, 1, -1)]
    face_diagonals = [(1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1)]
    # Two-fold axes in the basal plane every 30 deg, starting on a1 = x (DREAM.3D).
    basal = [(np.cos(a), np.sin(a), 0.0) for a in np.deg2rad(np.arange(0, 180, 30))]
    z = [(0, 0, 1)]
    c6 = np.concatenate(
        [identity] + [_axis_angle_quaternions(z, np.deg2rad(a)) for a in (60, 120, 180, 240, 300)]
    )
    c4 = np.concatenate(
        [identity] + [_axis_angle_quaternions(z, np.deg2rad(a)) for a in (90, 180, 270)]
    )
    d2 = np.concatenate([identity, _axis_angle_quaternions(xyz, np.pi)])
    t = np.concatenate(
        [
            d2,
            _axis_angle_quaternions(diagonals, 2 * np.pi / 3),
            _axis_angle_quaternions(diagonals, -2 * np.pi / 3),
        ]
    )
    o = np.concatenate(
        [
            t,
            _axis_angle_quaternions(xyz, np.pi / 2),
            _axis_angle_quaternions(xyz, -np.pi / 2),
            _axis_angle_quaternions(face_diagonals, np.pi),
        ]
    )
    d4 = np.concatenate(
        [c4, _axis_angle_quaternions([(1, 0, 0), (0, 1, 0), (1, 1, 0), (1, -1, 0)], np.pi)]
    )
    d6 = np.concatenate([c6, _axis_angle_quaternions(basal, np.pi)])
    operators = {
        LAUE_IDS["Hexagonal_High"]: d6,
        LAUE_IDS["Cubic_High"]: o,
        LAUE_IDS["Hexagonal_Low"]: c6,
        LAUE_IDS["Cubic_Low"]: t,
        LAUE_IDS["Triclinic"]: identity,
        LAUE_IDS["OrthoRhombic"]: d2,
        LAUE_IDS["Tetragonal_Low"]: c4,
        LAUE_IDS["Tetragonal_High"]: d4,
    }
    for ops in operators.values():
        ops[ops[:, 3] < 0] *= -1
        ops[np.abs(ops) < 1e-15] = 0.0
        ops.flags.writeable = False
    return operators


_OPERATORS: dict[int, np.ndarray] = _build_operators()

#: orix point groups with the same proper rotations as each supported Laue class.
_ORIX_LAUE_GROUPS: dict[int, str] = {
    LAUE_IDS["Hexagonal_High"]: "D6h",
    LAUE_IDS["Cubic_High"]: "Oh",
    LAUE_IDS["Hexagonal_Low"]: "C6h",
    LAUE_IDS["Cubic_Low"]: "Th",
    LAUE_IDS["Triclinic"]: "Ci",
    LAUE_IDS["OrthoRhombic"]: "D2h",
    LAUE_IDS["Tetragonal_Low"]: "C4h",
    LAUE_IDS["Tetragonal_High"]: "D4h",
}


def _supported_names() -> str:
    return ", ".join(LAUE_NAMES[k] for k in sorted(_OPERATORS))


def symmetry_operators(laue_id: int) -> np.ndarray:
    """Proper rotations of a Laue group as quaternions.

    Parameters
    ----------
    laue_id : int
        DREAM.3D crystal structure id (:data:`~dream3d_sd_filters.volume.LAUE_IDS`).

    Returns
    -------
    ndarray, shape (n, 4), float64, read-only
        Unit quaternions ``(x, y, z, w)`` with ``w >= 0``; the identity comes first.
        ``n`` is 24 for Cubic_High and 12 for Hexagonal_High.

    Raises
    ------
    InputError
        For Laue classes this module does not support.
    """
    laue_id = int(laue_id)
    if laue_id not in _OPERATORS:
        name = LAUE_NAMES.get(laue_id, f"unknown id {laue_id}")
        raise InputError(
            f"crystal structure {name} (Laue id {laue_id}) is not supported for "
            f"orientation symmetry; supported: {_supported_names()}"
        )
    return _OPERATORS[laue_id]


def check_radians(euler: np.ndarray, name: str = "EulerAngles") -> None:
    """Reject Euler angles that are not finite radians.

    Parameters
    ----------
    euler : array_like, shape (..., 3)
        Bunge Euler angles, expected in radians.
    name : str
        Array name used in the error message.

    Raises
    ------
    InputError
        If the last axis is not 3, a value is NaN or infinite, or the largest angle
        exceeds ``2*pi`` (the angles look like degrees).
    """
    euler = np.asarray(euler)
    if euler.ndim == 0 or euler.shape[-1] != 3:
        raise InputError(
            f"{name} must have 3 components (phi1, Phi, phi2), got shape {euler.shape}"
        )
    if euler.size == 0:
        return
    if not np.all(np.isfinite(euler)):
        raise InputError(f"{name} contains NaN or infinite values")
    largest = float(np.max(euler))
    if largest > 2 * np.pi + _RADIANS_TOLERANCE:
        raise InputError(
            f"{name} look like degrees (max {largest:.4g} > 2*pi); DREAM3D expects "
            f"radians: convert them with numpy.deg2rad"
        )


def _as_euler(euler: np.ndarray, name: str = "EulerAngles") -> np.ndarray:
    check_radians(euler, name)
    return np.asarray(euler, dtype=np.float64)


def _as_quaternion(quat: np.ndarray) -> np.ndarray:
    quat = np.asarray(quat, dtype=np.float64)
    if quat.ndim == 0 or quat.shape[-1] != 4:
        raise InputError(f"quaternions must have 4 components (x, y, z, w), got shape {quat.shape}")
    norm = np.linalg.norm(quat, axis=-1, keepdims=True)
    if np.any(norm == 0) or not np.all(np.isfinite(norm)):
        raise InputError("quaternions must be finite and non-zero")
    return quat / norm


def _multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of (x, y, z, w) quaternions, broadcasting."""
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def _conjugate(q: np.ndarray) -> np.ndarray:
    return q * np.array([-1.0, -1.0, -1.0, 1.0])


def _canonical(q: np.ndarray) -> np.ndarray:
    return np.where(q[..., 3:4] < 0, -q, q)


def _scalar_part_matrix(operators: np.ndarray) -> np.ndarray:
    """(4, n) matrix ``M`` with ``(q @ M)[k] = w(operators[k] * q)``."""
    return np.concatenate([-operators[:, :3], operators[:, 3:]], axis=1).T


def euler_to_quaternion(euler: np.ndarray) -> np.ndarray:
    """Bunge Euler angles to unit quaternions.

    Parameters
    ----------
    euler : array_like, shape (..., 3)
        ``(phi1, Phi, phi2)`` in radians.

    Returns
    -------
    ndarray, shape (..., 4), float64
        Quaternions ``(x, y, z, w)`` with ``w >= 0``. For ``phi1 = 90 deg`` alone this is
        ``(0, 0, -sin 45, cos 45)``.
    """
    euler = _as_euler(euler)
    sigma = 0.5 * (euler[..., 0] + euler[..., 2])
    delta = 0.5 * (euler[..., 0] - euler[..., 2])
    c = np.cos(0.5 * euler[..., 1])
    s = np.sin(0.5 * euler[..., 1])
    quat = np.stack(
        [-s * np.cos(delta), -s * np.sin(delta), -c * np.sin(sigma), c * np.cos(sigma)], axis=-1
    )
    return _canonical(quat)


def quaternion_to_euler(quat: np.ndarray) -> np.ndarray:
    """Unit quaternions to Bunge Euler angles.

    Parameters
    ----------
    quat : array_like, shape (..., 4)
        Quaternions ``(x, y, z, w)``; they are normalised first, and ``q`` and ``-q``
        give the same angles.

    Returns
    -------
    ndarray, shape (..., 3), float64
        ``(phi1, Phi, phi2)`` in radians, ``phi1, phi2`` in ``[0, 2*pi)``, ``Phi`` in
        ``[0, pi]``. In the gimbal cases ``Phi = 0`` and ``Phi = pi`` only a sum or a
        difference of ``phi1`` and ``phi2`` is defined, and ``phi2`` is set to 0.
    """
    quat = _as_quaternion(quat)
    x, y, z, w = np.moveaxis(quat, -1, 0)
    # Half-sum and half-difference of phi1 and phi2 are each well conditioned away from
    # one gimbal case, unlike phi1 and phi2 themselves.
    cos_half = np.hypot(w, z)
    sin_half = np.hypot(x, y)
    sigma = np.arctan2(-z, w)
    delta = np.arctan2(-y, -x)
    delta = np.where(sin_half < _GIMBAL_EPS, sigma, delta)
    sigma = np.where(cos_half < _GIMBAL_EPS, delta, sigma)
    phi1 = np.mod(sigma + delta, 2 * np.pi)
    phi2 = np.mod(sigma - delta, 2 * np.pi)
    # mod can round a tiny negative angle up to exactly 2*pi.
    phi1 = np.where(phi1 >= 2 * np.pi, 0.0, phi1)
    phi2 = np.where(phi2 >= 2 * np.pi, 0.0, phi2)
    big_phi = 2 * np.arctan2(sin_half, cos_half)
    return np.stack([phi1, big_phi, phi2], axis=-1)


def quaternion_to_matrix(quat: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(x, y, z, w)``, shape (..., 4), to orientation matrices (..., 3, 3)."""
    quat = _as_quaternion(quat)
    x, y, z, w = np.moveaxis(quat, -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """Orientation matrices, shape (..., 3, 3), to quaternions ``(x, y, z, w)``, ``w >= 0``.

    Raises
    ------
    InputError
        If a matrix is not a proper rotation (orthonormal, determinant +1) to 1e-4.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim < 2 or matrix.shape[-2:] != (3, 3):
        raise InputError(f"orientation matrices must have shape (..., 3, 3), got {matrix.shape}")
    gram = np.einsum("...ji,...jk->...ik", matrix, matrix)
    if not np.allclose(gram, np.eye(3), atol=1e-4) or np.any(np.linalg.det(matrix) < 0):
        raise InputError("orientation matrices must be proper rotations (orthonormal, det +1)")
    m = matrix
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # Shepperd's method: divide by the largest of the four candidate components.
    candidates = np.stack(
        [
            np.stack(
                [
                    1 + 2 * m[..., 0, 0] - trace,
                    m[..., 0, 1] + m[..., 1, 0],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 2, 1] - m[..., 1, 2],
                ],
                axis=-1,
            ),
            np.stack(
                [
                    m[..., 0, 1] + m[..., 1, 0],
                    1 + 2 * m[..., 1, 1] - trace,
                    m[..., 1, 2] + m[..., 2, 1],
                    m[..., 0, 2] - m[..., 2, 0],
                ],
                axis=-1,
            ),
            np.stack(
                [
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 1, 2] + m[..., 2, 1],
                    1 + 2 * m[..., 2, 2] - trace,
                    m[..., 1, 0] - m[..., 0, 1],
                ],
                axis=-1,
            ),
            np.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1],
                    1 + trace,
                ],
                axis=-1,
            ),
        ],
        axis=-2,
    )
    diagonal = np.stack(
        [1 + 2 * m[..., 0, 0] - trace, 1 + 2 * m[..., 1, 1] - trace, 1 + 2 * m[..., 2, 2] - trace]
        + [1 + trace],
        axis=-1,
    )
    best = np.argmax(diagonal, axis=-1)
    quat = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    quat /= np.linalg.norm(quat, axis=-1, keepdims=True)
    return _canonical(quat)


def euler_to_matrix(euler: np.ndarray) -> np.ndarray:
    """Bunge Euler angles (..., 3) in radians to orientation matrices (..., 3, 3).

    ``g = Rz(phi2) Rx(Phi) Rz(phi1)`` with passive elementary rotations, so that
    ``v_crystal = g @ v_sample``. Row ``i`` of ``g`` is crystal axis ``i`` in sample
    coordinates, and column ``j`` is sample axis ``j`` in crystal coordinates.
    """
    euler = _as_euler(euler)
    c1, cc, c2 = np.moveaxis(np.cos(euler), -1, 0)
    s1, ss, s2 = np.moveaxis(np.sin(euler), -1, 0)
    rows = [
        [c1 * c2 - s1 * s2 * cc, s1 * c2 + c1 * s2 * cc, s2 * ss],
        [-c1 * s2 - s1 * c2 * cc, -s1 * s2 + c1 * c2 * cc, c2 * ss],
        [s1 * ss, -c1 * ss, cc],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def matrix_to_euler(matrix: np.ndarray) -> np.ndarray:
    """Orientation matrices (..., 3, 3) to Bunge Euler angles (..., 3) in radians.

    Ranges and gimbal handling as in :func:`quaternion_to_euler`.
    """
    return quaternion_to_euler(matrix_to_quaternion(matrix))


def _reduce_quaternions(quat: np.ndarray, operators: np.ndarray) -> np.ndarray:
    """Equivalent of each (N, 4) quaternion closest to the identity, canonical."""
    scalar = _scalar_part_matrix(operators)
    out = np.empty_like(quat)
    for start in range(0, len(quat), _BLOCK):
        block = quat[start : start + _BLOCK]
        closeness = np.abs(block @ scalar)
        best = np.argmax(closeness, axis=1)
        keep = closeness[:, 0] >= closeness[np.arange(len(block)), best] - _FZ_TIE
        best[keep] = 0
        out[start : start + _BLOCK] = _canonical(_multiply(operators[best], block))
    return out


def reduce_to_fundamental_zone(euler: np.ndarray, laue_id: int) -> np.ndarray:
    """Map orientations to their symmetric equivalent in the fundamental zone.

    Parameters
    ----------
    euler : array_like, shape (..., 3)
        Bunge Euler angles in radians.
    laue_id : int
        DREAM.3D crystal structure id.

    Returns
    -------
    ndarray, shape (..., 3), float64
        Euler angles of the equivalent orientation inside the Rodrigues-Frank
        fundamental zone (the equivalent with the smallest rotation angle). Idempotent;
        on the zone boundary the input is kept.

    Raises
    ------
    InputError
        Angles in degrees, or an unsupported Laue class.
    """
    operators = symmetry_operators(laue_id)
    euler = _as_euler(euler)
    quat = euler_to_quaternion(euler).reshape(-1, 4)
    return quaternion_to_euler(_reduce_quaternions(quat, operators)).reshape(euler.shape)


def _max_symmetric_scalar(delta: np.ndarray, operators: np.ndarray) -> np.ndarray:
    """``max_k |w(s_k * delta)|`` for (N, 4) quaternions, computed blockwise."""
    scalar = _scalar_part_matrix(operators)
    out = np.empty(len(delta))
    for start in range(0, len(delta), _BLOCK):
        out[start : start + _BLOCK] = np.abs(delta[start : start + _BLOCK] @ scalar).max(axis=1)
    return out


def misorientation_angle(euler_a: np.ndarray, euler_b: np.ndarray, laue_id: int) -> np.ndarray:
    """Disorientation angle between orientations of the same Laue class.

    Parameters
    ----------
    euler_a, euler_b : array_like, shape (..., 3)
        Bunge Euler angles in radians; the leading shapes broadcast.
    laue_id : int
        DREAM.3D crystal structure id shared by both orientations.

    Returns
    -------
    ndarray, shape broadcast(...), float64
        Smallest rotation angle, in radians, over all symmetric equivalents of
        ``g_b g_a^-1`` (at most 62.8 deg for cubic, 93.8 deg for hexagonal).
    """
    operators = symmetry_operators(laue_id)
    qa = euler_to_quaternion(_as_euler(euler_a, "euler_a"))
    qb = euler_to_quaternion(_as_euler(euler_b, "euler_b"))
    qa, qb = np.broadcast_arrays(qa, qb)
    shape = qa.shape[:-1]
    delta = _multiply(qb.reshape(-1, 4), _conjugate(qa.reshape(-1, 4)))
    reduced = _reduce_quaternions(delta, operators)
    # atan2 keeps full precision for small angles, where arccos(w) would not.
    angle = 2 * np.arctan2(np.linalg.norm(reduced[:, :3], axis=1), np.abs(reduced[:, 3]))
    return angle.reshape(shape)


def random_orientations(n: int, rng: np.random.Generator) -> np.ndarray:
    """Orientations drawn uniformly (Haar measure) from SO(3).

    Parameters
    ----------
    n : int
        Number of orientations.
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    ndarray, shape (n, 3), float64
        Bunge Euler angles in radians.
    """
    if int(n) < 0:
        raise InputError(f"number of orientations must be >= 0, got {n}")
    # A normalised isotropic 4D Gaussian is uniform on S^3, hence Haar on SO(3).
    quat = rng.standard_normal((int(n), 4))
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    return quaternion_to_euler(quat)


def _check_phases(
    phases: np.ndarray, spatial_shape: tuple[int, ...], crystal_structures: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    phases = np.asarray(phases)
    if phases.shape == spatial_shape + (1,):
        phases = phases[..., 0]
    if phases.shape != spatial_shape:
        raise InputError(
            f"Phases has shape {phases.shape}, which does not match EulerAngles' "
            f"spatial shape {spatial_shape}"
        )
    if phases.dtype.kind not in "iub":
        raise InputError(f"Phases must be integers, got dtype {phases.dtype}")
    structures = np.asarray(crystal_structures).reshape(-1)
    if structures.dtype.kind not in "iu":
        raise InputError(f"CrystalStructures must be integers, got dtype {structures.dtype}")
    if phases.size and (phases.min() < 0 or phases.max() >= len(structures)):
        raise InputError(
            f"Phases must lie in 0..{len(structures) - 1} (CrystalStructures has "
            f"{len(structures)} entries), got {phases.min()}..{phases.max()}"
        )
    return phases.astype(np.int64, copy=False), structures.astype(np.int64)


def _group_equal_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Representatives of the distinct rows of a float64 (N, C) array and each row's group.

    Sorting a 64-bit hash is several times faster than ``np.unique(axis=0)``. Rows that
    collide in the hash may end up in more than one group, which costs time only.
    """
    bits = np.ascontiguousarray(rows).view(np.uint64)
    hashed = np.zeros(len(rows), dtype=np.uint64)
    multiplier = np.uint64(0x9E3779B97F4A7C15)
    for column in bits.T:
        hashed = (hashed ^ column) * multiplier
    order = np.argsort(hashed, kind="stable")
    sorted_rows = rows[order]
    new_group = np.r_[
        True,
        (hashed[order][1:] != hashed[order][:-1])
        | np.any(sorted_rows[1:] != sorted_rows[:-1], axis=1),
    ]
    group_of_sorted = np.cumsum(new_group) - 1
    group = np.empty(len(rows), dtype=np.int64)
    group[order] = group_of_sorted
    return sorted_rows[new_group], group


def ipf_colors(
    euler: np.ndarray,
    phases: np.ndarray,
    crystal_structures: np.ndarray,
    direction: tuple[float, float, float] = (0.0, 0.0, 1.0),
) -> np.ndarray:
    """Inverse-pole-figure colours, as DREAM.3D's "Compute IPF Colors".

    The crystal direction parallel to the sample ``direction`` is coloured with orix's
    TSL key (``IPFColorKeyTSL``): for cubic, ``[001]`` red, ``[101]`` green, ``[111]``
    blue; for hexagonal, ``[0001]`` red, ``[2-1-10]`` green, ``[10-10]`` blue. Colours
    inside the standard triangle follow orix's interpolation and may differ from
    DREAM.3D's by a few levels.

    Parameters
    ----------
    euler : array_like, shape (..., 3)
        Bunge Euler angles in radians.
    phases : array_like of int, shape (...) or (..., 1)
        Phase of each point; phase 0 is coloured black.
    crystal_structures : array_like of int, shape (n_phases + 1,)
        Laue id per phase; entry 0 is ignored. Phases of Unknown structure (999) are
        black.
    direction : sequence of 3 floats
        Sample reference direction; normalised here.

    Returns
    -------
    ndarray, shape (..., 3), uint8
        RGB colours.

    Raises
    ------
    InputError
        Angles in degrees, mismatched shapes, phases outside ``crystal_structures``, a
        zero direction, or a phase that is present with an unsupported Laue class.

    Notes
    -----
    Points are grouped into runs of equal consecutive (phase, orientation) and only the
    distinct orientations are coloured, so grain-structured volumes of 10^7 voxels
    with 10^3 orientations cost about as much as 10^3 orientations.
    """
    from orix.plot import IPFColorKeyTSL
    from orix.quaternion import Orientation, symmetry
    from orix.vector import Vector3d

    euler = _as_euler(euler)
    spatial_shape = euler.shape[:-1]
    phases, structures = _check_phases(phases, spatial_shape, crystal_structures)
    reference = np.asarray(direction, dtype=np.float64).reshape(-1)
    if reference.shape != (3,) or not np.all(np.isfinite(reference)) or not reference.any():
        raise InputError(
            f"IPF reference direction must be 3 finite numbers, not all 0: {direction}"
        )
    reference = reference / np.linalg.norm(reference)

    flat_euler = euler.reshape(-1, 3)
    flat_phases = phases.reshape(-1)
    if len(flat_phases) == 0:
        return np.zeros(spatial_shape + (3,), dtype=np.uint8)

    keys = np.concatenate([flat_phases[:, None].astype(np.float64), flat_euler], axis=1)
    run_start = np.flatnonzero(np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)])
    run_length = np.diff(np.r_[run_start, len(keys)])
    distinct, run_to_distinct = _group_equal_rows(keys[run_start])
    distinct_colors = np.zeros((len(distinct), 3), dtype=np.uint8)
    distinct_phases = distinct[:, 0].astype(np.int64)
    for phase in np.unique(distinct_phases):
        laue_id = int(structures[phase])
        if phase == 0 or laue_id == LAUE_IDS["Unknown"]:
            continue
        symmetry_operators(laue_id)  # raises InputError for unsupported classes
        point_group = getattr(symmetry, _ORIX_LAUE_GROUPS[laue_id])
        key = IPFColorKeyTSL(point_group, direction=Vector3d(reference))
        rows = np.flatnonzero(distinct_phases == phase)
        # orix holds (orientations x symmetry operators) arrays, so bound the block size.
        for start in range(0, len(rows), _BLOCK):
            block = rows[start : start + _BLOCK]
            # orix's from_euler default ("lab2crystal", Bunge) is DREAM.3D's convention.
            orientation = Orientation.from_euler(distinct[block, 1:], symmetry=point_group)
            rgb = key.orientation2color(orientation)
            distinct_colors[block] = np.rint(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)
    colors = np.repeat(distinct_colors[run_to_distinct], run_length, axis=0)
    return colors.reshape(spatial_shape + (3,))


def compile_ipf_kernels() -> None:
    """Compile orix's numba kernels of :func:`ipf_colors` in this process.

    numba caches compiled kernels beside orix's sources, and that cache is not safe
    against several processes compiling the same kernels at once (seen with numba 0.68
    and orix 0.15: a corrupted cache that segfaults every later import of orix.plot).
    Parents call this before they start worker processes, so that workers only read
    the cache.
    """
    cubic, hexagonal = LAUE_IDS["Cubic_High"], LAUE_IDS["Hexagonal_High"]
    ipf_colors(
        np.zeros((2, 3)), np.array([1, 2]), np.array([LAUE_IDS["Unknown"], cubic, hexagonal])
    )


def _neighbour_slices(
    spatial_shape: tuple[int, ...], periodic: bool
) -> list[tuple[tuple[slice, ...], tuple[slice, ...]]]:
    """Index expressions selecting the two sides of every face-neighbour pair."""
    everything = slice(None)
    pairs = []
    for axis, size in enumerate(spatial_shape):
        if size < 2:
            continue
        before = [everything] * len(spatial_shape)
        after = [everything] * len(spatial_shape)
        before[axis], after[axis] = slice(0, size - 1), slice(1, size)
        pairs.append((tuple(before), tuple(after)))
        if periodic and size > 2:
            before[axis], after[axis] = slice(size - 1, size), slice(0, 1)
            pairs.append((tuple(before), tuple(after)))
    return pairs


def segment_features(
    euler: np.ndarray,
    phases: np.ndarray,
    crystal_structures: np.ndarray,
    threshold_deg: float = 5.0,
    periodic: bool = False,
    min_size: int = 1,
) -> np.ndarray:
    """Group points into features by misorientation, as "Segment Features (Misorientation)".

    Face neighbours belong to the same feature when they have the same phase and their
    disorientation is below ``threshold_deg``; features are the connected components of
    that graph.

    Parameters
    ----------
    euler : array_like, shape (Z, Y, X, 3) or (Y, X, 3)
        Bunge Euler angles in radians.
    phases : array_like of int, shape (Z, Y, X), (Y, X) or with a trailing axis of 1
        Phase per point; phase 0 points get FeatureId 0.
    crystal_structures : array_like of int, shape (n_phases + 1,)
        Laue id per phase; entry 0 is ignored.
    threshold_deg : float
        Misorientation tolerance in degrees, in ``(0, 180]``.
    periodic : bool
        Also connect the first and last layers along each axis (longer than 2).
    min_size : int
        Features with fewer points get FeatureId 0.

    Returns
    -------
    ndarray, shape (Z, Y, X) or (Y, X), int32
        FeatureIds, 1-based and numbered in order of each feature's first point in
        C order; 0 for phase 0 and for features smaller than ``min_size``.

    Raises
    ------
    InputError
        Angles in degrees, mismatched shapes, bad parameters, or a phase that is present
        with an unsupported Laue class.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    euler = _as_euler(euler)
    if euler.ndim not in (3, 4):
        raise InputError(
            f"EulerAngles must have shape (Z, Y, X, 3) or (Y, X, 3), got {euler.shape}"
        )
    if not 0 < float(threshold_deg) <= 180:
        raise InputError(
            f"misorientation threshold must be in (0, 180] degrees, got {threshold_deg}"
        )
    if int(min_size) < 1:
        raise InputError(f"minimum feature size must be >= 1, got {min_size}")
    spatial_shape = euler.shape[:-1]
    phases, structures = _check_phases(phases, spatial_shape, crystal_structures)
    flat_phases = phases.reshape(-1)
    count = flat_phases.size
    present = np.unique(flat_phases)
    for phase in present[present > 0]:
        symmetry_operators(int(structures[phase]))  # raises InputError for unsupported classes

    quat = euler_to_quaternion(euler)
    min_cos = np.cos(np.deg2rad(float(threshold_deg)) / 2)
    index = np.arange(count).reshape(spatial_shape)
    sources, targets = [], []
    # Slices are views, so the bulk test below costs no gathers.
    for before, after in _neighbour_slices(spatial_shape, periodic):
        phase_before = phases[before]
        # |q_a . q_b| is |w| of the misorientation without symmetry: most pairs inside a
        # grain pass this test, and only the rest needs the symmetry operators.
        dot = np.abs(np.einsum("...i,...i->...", quat[before], quat[after]))
        joined = (phase_before == phases[after]) & (phase_before > 0)
        close = joined & (dot > min_cos)
        undecided = joined & ~close
        first = index[before][undecided]
        second = index[after][undecided]
        undecided_phase = phase_before[undecided]
        accepted = np.zeros(len(first), dtype=bool)
        flat_quat = quat.reshape(-1, 4)
        for phase in np.unique(undecided_phase):
            rows = np.flatnonzero(undecided_phase == phase)
            delta = _multiply(flat_quat[second[rows]], _conjugate(flat_quat[first[rows]]))
            operators = symmetry_operators(int(structures[phase]))
            accepted[rows] = _max_symmetric_scalar(delta, operators) > min_cos
        sources += [index[before][close], first[accepted]]
        targets += [index[after][close], second[accepted]]
    sources_all = np.concatenate(sources) if sources else np.zeros(0, dtype=np.int64)
    targets_all = np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64)
    graph = coo_matrix(
        (np.ones(len(sources_all), dtype=np.int8), (sources_all, targets_all)),
        shape=(count, count),
    ).tocsr()
    _, labels = connected_components(graph, directed=False)

    feature_ids = np.zeros(count, dtype=np.int32)
    active = np.flatnonzero(flat_phases > 0)
    if len(active) == 0:
        return feature_ids.reshape(spatial_shape)
    components, first_point, inverse, sizes = np.unique(
        labels[active], return_index=True, return_inverse=True, return_counts=True
    )
    kept = sizes >= int(min_size)
    order = np.argsort(first_point[kept], kind="stable")
    number = np.zeros(len(components), dtype=np.int32)
    number[np.flatnonzero(kept)[order]] = np.arange(1, order.size + 1, dtype=np.int32)
    feature_ids[active] = number[inverse.reshape(-1)]
    return feature_ids.reshape(spatial_shape)
