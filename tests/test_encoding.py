"""The 4-channel image encoding: bounds, round trips and errors."""

from __future__ import annotations

import numpy as np
import pytest

from dream3d_sd_filters.data.encoding import EULER_BOUNDS, decode_images, encode_images
from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.orientations import (
    misorientation_angle,
    random_orientations,
    reduce_to_fundamental_zone,
)
from dream3d_sd_filters.volume import LAUE_IDS

CUBIC, HEX = LAUE_IDS["Cubic_High"], LAUE_IDS["Hexagonal_High"]


@pytest.mark.parametrize("laue", [CUBIC, HEX])
def test_fundamental_zone_fits_inside_the_encoding_bounds(laue):
    euler = reduce_to_fundamental_zone(
        random_orientations(50_000, np.random.default_rng(laue)), laue
    )
    assert np.all(euler >= 0)
    assert np.all(euler <= np.asarray(EULER_BOUNDS))


def _maps(rng, n=3, size=16):
    phases = rng.integers(1, 3, size=(n, size, size))
    euler = random_orientations(n * size * size, rng).reshape(n, size, size, 3)
    return phases, euler


@pytest.mark.parametrize("structures", [(999, CUBIC, HEX), (999, HEX, HEX), (999, CUBIC, CUBIC)])
def test_euler_encoding_round_trips_orientations(structures):
    rng = np.random.default_rng(1)
    phases, euler = _maps(rng)
    images = encode_images(phases, euler, np.array(structures))
    assert images.shape == (3, 4, 16, 16) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1
    np.testing.assert_array_equal(images[:, 0], np.where(phases == 2, 1.0, -1.0))
    phases_back, euler_back = decode_images(images, np.array(structures))
    np.testing.assert_array_equal(phases_back, phases)
    for phase in (1, 2):
        sel = phases == phase
        angle = misorientation_angle(euler[sel], euler_back[sel], structures[phase])
        assert np.degrees(angle).max() < 0.01


def test_ipf_encoding_is_colour_and_not_decodable():
    rng = np.random.default_rng(2)
    phases, euler = _maps(rng, n=1)
    images = encode_images(phases, euler, np.array([999, CUBIC, CUBIC]), encoding="ipf")
    assert images[:, 1:].min() >= -1 and images[:, 1:].max() <= 1
    with pytest.raises(InputError, match="not invertible"):
        decode_images(images, np.array([999, CUBIC, CUBIC]), encoding="ipf")


def test_encoding_errors_name_the_problem():
    rng = np.random.default_rng(3)
    phases, euler = _maps(rng, n=1)
    with pytest.raises(InputError, match="does not support"):
        encode_images(phases, euler, np.array([999, CUBIC, LAUE_IDS["Triclinic"]]))
    with pytest.raises(InputError, match="degrees"):
        encode_images(phases, np.degrees(euler), np.array([999, CUBIC, CUBIC]))
    with pytest.raises(InputError, match="phases must be 1 or 2"):
        encode_images(phases + 1, euler, np.array([999, CUBIC, CUBIC]))
    with pytest.raises(InputError, match="unknown orientation encoding"):
        encode_images(phases, euler, np.array([999, CUBIC, CUBIC]), encoding="rgb")
