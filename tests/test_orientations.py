"""Tests of dream3d_sd_filters.orientations against hand-computed cases and orix."""

from __future__ import annotations

import numpy as np
import pytest
from orix.plot import IPFColorKeyTSL
from orix.quaternion import Orientation, Rotation, symmetry
from orix.vector import Vector3d

from dream3d_sd_filters import orientations as ori
from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.volume import LAUE_IDS

CUBIC = LAUE_IDS["Cubic_High"]
HEXAGONAL = LAUE_IDS["Hexagonal_High"]
ORIX_GROUPS = {CUBIC: symmetry.Oh, HEXAGONAL: symmetry.D6h}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


def _same_rotation(euler_a: np.ndarray, euler_b: np.ndarray, atol: float = 1e-9) -> None:
    np.testing.assert_allclose(
        ori.euler_to_matrix(euler_a), ori.euler_to_matrix(euler_b), atol=atol
    )


def _gimbal_cases() -> np.ndarray:
    return np.array(
        [
            [0.3, 0.0, 0.5],
            [0.3, np.pi, 0.5],
            [5.0, 1e-9, 1.0],
            [2.0, np.pi - 1e-9, 6.0],
            [0.0, 0.0, 0.0],
            [2 * np.pi, np.pi, 2 * np.pi],
        ]
    )


def test_euler_quaternion_round_trip(rng: np.random.Generator) -> None:
    euler = np.concatenate([ori.random_orientations(2000, rng), _gimbal_cases()])
    back = ori.quaternion_to_euler(ori.euler_to_quaternion(euler))
    _same_rotation(euler, back)
    assert back.shape == euler.shape
    assert np.all((back[:, [0, 2]] >= 0) & (back[:, [0, 2]] < 2 * np.pi))
    assert np.all((back[:, 1] >= 0) & (back[:, 1] <= np.pi))
    # Away from gimbal lock the angles themselves come back.
    generic = (euler[:, 1] > 1e-3) & (euler[:, 1] < np.pi - 1e-3)
    diff = np.angle(np.exp(1j * (back[generic] - euler[generic])))
    np.testing.assert_allclose(diff, 0, atol=1e-9)


def test_euler_matrix_round_trip(rng: np.random.Generator) -> None:
    euler = np.concatenate([ori.random_orientations(2000, rng), _gimbal_cases()])
    matrix = ori.euler_to_matrix(euler)
    np.testing.assert_allclose(
        matrix @ np.swapaxes(matrix, -1, -2), np.broadcast_to(np.eye(3), matrix.shape), atol=1e-12
    )
    _same_rotation(euler, ori.matrix_to_euler(matrix))
    np.testing.assert_allclose(
        ori.quaternion_to_matrix(ori.euler_to_quaternion(euler)), matrix, atol=1e-12
    )


def test_gimbal_cases_put_the_rotation_in_phi1() -> None:
    euler = ori.quaternion_to_euler(
        ori.euler_to_quaternion(np.array([[0.3, 0.0, 0.5], [0.9, np.pi, 0.5]]))
    )
    np.testing.assert_allclose(euler, [[0.8, 0.0, 0.0], [0.4, np.pi, 0.0]], atol=1e-12)


def test_quaternion_order_and_sign_phi1_90() -> None:
    # phi1 = 90 deg: the sample x axis becomes crystal -y, a -90 deg rotation about z,
    # stored vector part first with w >= 0.
    quat = ori.euler_to_quaternion(np.deg2rad([90.0, 0.0, 0.0]))
    np.testing.assert_allclose(quat, [0, 0, -np.sqrt(0.5), np.sqrt(0.5)], atol=1e-15)
    g = ori.euler_to_matrix(np.deg2rad([90.0, 0.0, 0.0]))
    np.testing.assert_allclose(g @ [1.0, 0.0, 0.0], [0, -1, 0], atol=1e-15)
    # Negated quaternions are the same orientation.
    np.testing.assert_allclose(ori.quaternion_to_euler(-quat), [np.pi / 2, 0, 0], atol=1e-12)


def test_conversions_agree_with_orix(rng: np.random.Generator) -> None:
    euler = ori.random_orientations(500, rng)
    rotation = Rotation.from_euler(euler)  # orix default: Bunge, lab2crystal
    np.testing.assert_allclose(
        ori.euler_to_quaternion(euler), rotation.data[:, [1, 2, 3, 0]], atol=1e-12
    )
    np.testing.assert_allclose(ori.euler_to_matrix(euler), rotation.to_matrix(), atol=1e-12)
    np.testing.assert_allclose(
        ori.quaternion_to_euler(rotation.data[:, [1, 2, 3, 0]]), rotation.to_euler(), atol=1e-9
    )


@pytest.mark.parametrize(("laue_id", "count"), [(CUBIC, 24), (HEXAGONAL, 12)])
def test_symmetry_operators_are_orix_proper_rotations(laue_id: int, count: int) -> None:
    operators = ori.symmetry_operators(laue_id)
    assert operators.shape == (count, 4)
    np.testing.assert_array_equal(operators[0], [0, 0, 0, 1])
    group = ORIX_GROUPS[laue_id]
    proper = group[~group.improper].data[:, [1, 2, 3, 0]]
    overlap = np.abs(operators @ proper.T)
    assert np.allclose(overlap.max(axis=0), 1) and np.allclose(overlap.max(axis=1), 1)


def _rodrigues(euler: np.ndarray) -> np.ndarray:
    quat = ori.euler_to_quaternion(euler)
    return quat[:, :3] / quat[:, 3:]


def test_cubic_reduction_lands_in_fundamental_zone(rng: np.random.Generator) -> None:
    euler = ori.random_orientations(20000, rng)
    reduced = ori.reduce_to_fundamental_zone(euler, CUBIC)
    r = np.abs(_rodrigues(reduced))
    assert r.max() <= np.sqrt(2) - 1 + 1e-9
    assert r.sum(axis=1).max() <= 1 + 1e-9
    np.testing.assert_allclose(ori.misorientation_angle(euler, reduced, CUBIC), 0, atol=1e-6)
    # orix's reduce() picks the same equivalent (up to the sign of the quaternion).
    expected = Orientation.from_euler(euler, symmetry.Oh).reduce().data[:, [1, 2, 3, 0]]
    overlap = np.abs(np.sum(ori.euler_to_quaternion(reduced) * expected, axis=1))
    np.testing.assert_allclose(overlap, 1, atol=1e-9)
    # Symmetric equivalents of an orientation reduce to the same angles.
    equivalent = _rotate(euler[:200], (1, 1, 1), 120, crystal=True)
    equivalent = _rotate(equivalent, (0, 1, 0), 90, crystal=True)
    _same_rotation(ori.reduce_to_fundamental_zone(equivalent, CUBIC), reduced[:200])


def test_hexagonal_reduction_lands_in_fundamental_zone(rng: np.random.Generator) -> None:
    euler = ori.random_orientations(20000, rng)
    reduced = ori.reduce_to_fundamental_zone(euler, HEXAGONAL)
    r = _rodrigues(reduced)
    assert np.abs(r[:, 2]).max() <= np.tan(np.deg2rad(15)) + 1e-9
    two_fold_axes = np.deg2rad(np.arange(0, 180, 30))
    prism = np.abs(r[:, :2] @ np.stack([np.cos(two_fold_axes), np.sin(two_fold_axes)]))
    assert prism.max() <= 1 + 1e-9
    np.testing.assert_allclose(ori.misorientation_angle(euler, reduced, HEXAGONAL), 0, atol=1e-6)


@pytest.mark.parametrize("laue_id", [CUBIC, HEXAGONAL])
def test_reduction_is_idempotent(rng: np.random.Generator, laue_id: int) -> None:
    euler = ori.random_orientations(5000, rng)
    # Boundary and gimbal cases: ties and ill-defined angles.
    edge = np.deg2rad([[45.0, 0.0, 0.0], [0.0, 45.0, 0.0], [15.0, 0.0, 0.0], [30.0, 90.0, 0.0]])
    once = ori.reduce_to_fundamental_zone(np.concatenate([euler, edge, _gimbal_cases()]), laue_id)
    twice = ori.reduce_to_fundamental_zone(once, laue_id)
    _same_rotation(once, twice)
    np.testing.assert_allclose(np.angle(np.exp(1j * (twice - once))), 0, atol=1e-9)


def test_reduction_keeps_shape_and_rejects_unsupported_structures() -> None:
    euler = np.zeros((2, 3, 5, 3))
    assert ori.reduce_to_fundamental_zone(euler, CUBIC).shape == euler.shape
    with pytest.raises(InputError, match="Trigonal_High .*not supported.*supported: .*Cubic_High"):
        ori.reduce_to_fundamental_zone(euler, LAUE_IDS["Trigonal_High"])


def _rotate(
    euler: np.ndarray, axis: tuple[float, float, float], angle_deg: float, crystal: bool
) -> np.ndarray:
    """Compose an orientation with a rotation given in the crystal or the sample frame."""
    unit = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    half = np.deg2rad(angle_deg) / 2
    turn = np.r_[unit * np.sin(half), np.cos(half)]
    rotation = Rotation(turn[[3, 0, 1, 2]])
    start = Rotation.from_euler(euler)
    return (rotation * start if crystal else start * rotation).to_euler()


def test_sigma3_misorientation_is_60_degrees(rng: np.random.Generator) -> None:
    euler = ori.random_orientations(50, rng)
    twin = _rotate(euler, (1, 1, 1), 60, crystal=True)
    np.testing.assert_allclose(
        np.rad2deg(ori.misorientation_angle(euler, twin, CUBIC)), 60, atol=1e-6
    )


def test_90_degrees_about_cube_axis_is_no_misorientation(rng: np.random.Generator) -> None:
    euler = ori.random_orientations(50, rng)
    for axis in [(1, 0, 0), (0, 1, 0), (0, 0, 1)]:
        turned = _rotate(euler, axis, 90, crystal=True)
        np.testing.assert_allclose(ori.misorientation_angle(euler, turned, CUBIC), 0, atol=1e-6)
    # The same rotation applied in the sample frame does change the orientation.
    turned = _rotate(euler, (0, 0, 1), 90, crystal=False)
    assert np.all(ori.misorientation_angle(euler, turned, CUBIC) > 1e-3)


@pytest.mark.parametrize("laue_id", [CUBIC, HEXAGONAL])
def test_misorientation_agrees_with_orix_and_broadcasts(
    rng: np.random.Generator, laue_id: int
) -> None:
    a = ori.random_orientations(300, rng)
    b = ori.random_orientations(300, rng)
    group = ORIX_GROUPS[laue_id]
    expected = Orientation.from_euler(a, group).angle_with(Orientation.from_euler(b, group))
    np.testing.assert_allclose(ori.misorientation_angle(a, b, laue_id), expected, atol=1e-9)
    grid = ori.misorientation_angle(a[:4, None, :], b[None, :5, :], laue_id)
    assert grid.shape == (4, 5)
    np.testing.assert_allclose(grid[2, 3], ori.misorientation_angle(a[2], b[3], laue_id))
    largest = {CUBIC: 62.8, HEXAGONAL: 93.9}[laue_id]
    assert np.rad2deg(ori.misorientation_angle(a, b, laue_id)).max() <= largest


def test_random_orientations_are_uniform(rng: np.random.Generator) -> None:
    euler = ori.random_orientations(40000, rng)
    assert euler.shape == (40000, 3)
    # Haar measure: cos(Phi) and phi1, phi2 are uniform.
    for values, low, high in [
        (np.cos(euler[:, 1]), -1, 1),
        (euler[:, 0], 0, 2 * np.pi),
        (euler[:, 2], 0, 2 * np.pi),
    ]:
        counts, _ = np.histogram(values, bins=10, range=(low, high))
        assert np.all(np.abs(counts - 4000) < 300)


def test_degrees_are_detected() -> None:
    degrees = np.array([[10.0, 45.0, 300.0]])
    message = r"EulerAngles look like degrees \(max 300 > 2\*pi\); DREAM3D expects radians"
    with pytest.raises(InputError, match=message):
        ori.check_radians(degrees)
    for call in (
        lambda: ori.euler_to_quaternion(degrees),
        lambda: ori.euler_to_matrix(degrees),
        lambda: ori.reduce_to_fundamental_zone(degrees, CUBIC),
        lambda: ori.ipf_colors(degrees, np.ones(1, int), np.array([999, 1])),
    ):
        with pytest.raises(InputError, match="look like degrees"):
            call()
    ori.check_radians(np.full((2, 3), np.float32(2 * np.pi)))
    with pytest.raises(InputError, match="NaN"):
        ori.check_radians(np.array([0.0, np.nan, 0.0]))
    with pytest.raises(InputError, match="3 components"):
        ori.check_radians(np.zeros((4, 2)))


def _ipf(euler_deg: list[list[float]], laue_id: int, direction=(0, 0, 1)) -> np.ndarray:
    euler = np.deg2rad(np.asarray(euler_deg, dtype=float))
    return ori.ipf_colors(
        euler, np.ones(len(euler), int), np.array([999, laue_id]), direction
    ).astype(int)


def test_cubic_ipf_corners() -> None:
    phi_111 = np.rad2deg(np.arccos(1 / np.sqrt(3)))
    colors = _ipf([[0, 0, 0], [0, 45, 90], [0, phi_111, 45], [37, 90, 0]], CUBIC)
    # [001] || Z red, [101] || Z green, [111] || Z blue; a 90 deg tilt about x is [010] || Z.
    np.testing.assert_allclose(colors, [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 0, 0]], atol=3)
    # The reference direction is a sample direction: [100] of the identity lies along X.
    np.testing.assert_allclose(_ipf([[0, 0, 0]], CUBIC, direction=(2, 0, 0)), [[255, 0, 0]], atol=3)


def test_hexagonal_ipf_c_axis_is_red() -> None:
    colors = _ipf([[0, 0, 0], [73, 0, 11], [0, 90, 0]], HEXAGONAL)
    np.testing.assert_allclose(colors[:2], [[255, 0, 0], [255, 0, 0]], atol=3)
    # c axis in the sample plane: no red left.
    assert colors[2, 0] <= 3


def test_ipf_matches_orix_per_voxel_and_blacks_out_phase_0(rng: np.random.Generator) -> None:
    grains = ori.random_orientations(40, rng)
    grain_of_voxel = rng.integers(0, 40, size=(6, 7, 8))
    euler = grains[grain_of_voxel]
    phases = rng.integers(0, 4, size=(6, 7, 8, 1))
    structures = np.array([999, CUBIC, HEXAGONAL, LAUE_IDS["Unknown"]])
    colors = ori.ipf_colors(euler, phases, structures, direction=(0, 1, 1))
    assert colors.shape == (6, 7, 8, 3) and colors.dtype == np.uint8
    phases = phases[..., 0]
    assert not colors[phases == 0].any() and not colors[phases == 3].any()
    for phase, group in [(1, symmetry.Oh), (2, symmetry.D6h)]:
        key = IPFColorKeyTSL(group, direction=Vector3d([0, 1, 1]))
        expected = key.orientation2color(Orientation.from_euler(euler[phases == phase], group))
        np.testing.assert_array_equal(
            colors[phases == phase], np.rint(expected * 255).astype(np.uint8)
        )


def test_ipf_rejects_bad_input() -> None:
    euler = np.zeros((2, 3))
    with pytest.raises(InputError, match="Phases must lie in 0..1"):
        ori.ipf_colors(euler, np.array([1, 2]), np.array([999, 1]))
    with pytest.raises(InputError, match="does not match"):
        ori.ipf_colors(euler, np.array([1, 1, 1]), np.array([999, 1]))
    with pytest.raises(InputError, match="reference direction"):
        ori.ipf_colors(euler, np.array([1, 1]), np.array([999, 1]), direction=(0, 0, 0))
    with pytest.raises(InputError, match="Monoclinic"):
        ori.ipf_colors(euler, np.array([1, 1]), np.array([999, LAUE_IDS["Monoclinic"]]))


def _two_grain_image(
    rng: np.random.Generator, step_deg: float, noise_deg: float = 0.3
) -> np.ndarray:
    """(20, 30, 3) Euler image: a vertical boundary, the right grain turned by step_deg."""
    base = np.array([0.7, 0.9, 1.3])
    euler = np.broadcast_to(base, (20, 30, 3)).copy()
    euler[:, 15:, 0] += np.deg2rad(step_deg)
    # Euler noise of this size, away from Phi = 0, is a misorientation of about noise_deg.
    euler += rng.uniform(-1, 1, euler.shape) * np.deg2rad(noise_deg) / 3
    return euler


def test_segmentation_splits_at_10_degrees_and_joins_at_3(rng: np.random.Generator) -> None:
    phases = np.ones((20, 30), dtype=np.int32)
    structures = np.array([999, CUBIC])
    for step, count in [(0.0, 1), (10.0, 2), (3.0, 1)]:
        ids = ori.segment_features(
            _two_grain_image(rng, step), phases, structures, threshold_deg=5.0
        )
        assert ids.dtype == np.int32 and ids.shape == (20, 30)
        assert ids.max() == count and ids.min() == 1
    ids = ori.segment_features(_two_grain_image(rng, 10.0), phases, structures)
    assert np.all(ids[:, :15] == 1) and np.all(ids[:, 15:] == 2)


def test_segmentation_respects_symmetry_phases_and_min_size(rng: np.random.Generator) -> None:
    euler = np.zeros((4, 6, 8, 3))
    # A 90 deg turn about crystal z is the same cubic orientation, not hexagonal.
    euler[:, :, 4:, 0] = np.pi / 2
    phases = np.ones((4, 6, 8), dtype=np.int32)
    assert ori.segment_features(euler, phases, np.array([999, CUBIC])).max() == 1
    assert ori.segment_features(euler, phases, np.array([999, HEXAGONAL])).max() == 2
    phases[:, :, 6:] = 2
    phases[0, 0, 0] = 0
    ids = ori.segment_features(euler, phases, np.array([999, CUBIC, CUBIC]))
    assert ids[0, 0, 0] == 0 and ids[0, 0, 1] == 1 and ids.max() == 2
    assert np.all(ids[:, :, 6:] == 2)
    euler[1, 1, 1, 0] = 1.0  # a one-voxel feature inside feature 1
    ids = ori.segment_features(euler, phases, np.array([999, CUBIC, CUBIC]), min_size=2)
    assert ids[1, 1, 1] == 0 and ids.max() == 2


def test_periodic_segmentation_joins_across_the_edge() -> None:
    euler = np.zeros((5, 40, 3))
    euler[:, 10:30, 0] = 1.0
    phases = np.ones((5, 40), dtype=np.int32)
    structures = np.array([999, CUBIC])
    ids = ori.segment_features(euler, phases, structures)
    assert ids.max() == 3 and ids[0, 0] == 1 and ids[0, 39] == 3
    ids = ori.segment_features(euler, phases, structures, periodic=True)
    assert ids.max() == 2 and ids[0, 0] == ids[0, 39] == 1


def test_segmentation_matches_voronoi_grains_in_3d(rng: np.random.Generator) -> None:
    from scipy.spatial import cKDTree
    from skimage.measure import label

    shape = (16, 20, 24)
    centres = np.stack(np.meshgrid(*[np.arange(n) + 0.5 for n in shape], indexing="ij"), -1)
    seeds = rng.random((30, 3)) * shape
    grain = cKDTree(seeds).query(centres.reshape(-1, 3))[1].reshape(shape)
    grain_euler = ori.random_orientations(30, rng)
    ids = ori.segment_features(grain_euler[grain], np.ones(shape, int), np.array([999, CUBIC]))
    expected = label(grain, background=-1, connectivity=1)
    # Same partition, unless two touching grains happen to be within 5 deg.
    pairs = np.unique(np.stack([ids.ravel(), expected.ravel()]), axis=1)
    assert pairs.shape[1] == expected.max() == ids.max()


def test_segmentation_rejects_bad_input() -> None:
    euler = np.zeros((3, 4, 3))
    phases = np.ones((3, 4), dtype=np.int32)
    with pytest.raises(InputError, match="threshold"):
        ori.segment_features(euler, phases, np.array([999, 1]), threshold_deg=0)
    with pytest.raises(InputError, match="Tetragonal_High|Trigonal_Low"):
        ori.segment_features(euler, phases, np.array([999, LAUE_IDS["Trigonal_Low"]]))
    with pytest.raises(InputError, match=r"\(Z, Y, X, 3\) or \(Y, X, 3\)"):
        ori.segment_features(np.zeros((4, 3)), np.ones(4, int), np.array([999, 1]))
