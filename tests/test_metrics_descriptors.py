"""Torch microstructure descriptors against brute-force numpy and against MCRpy itself."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.metrics.descriptors import (
    lineal_path,
    lineal_path_mcrpy,
    mcrpy_descriptors,
    microstructure_descriptors,
    phase_indicators,
    two_point_correlation,
    variation,
    volume_fraction,
)


def random_two_phase(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Encoded 4-channel images with a random two-phase channel 0 in {-1, +1}."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (n, 4, h, w))
    images[:, 0] = np.where(rng.random((n, h, w)) < rng.uniform(0.2, 0.7, (n, 1, 1)), 1.0, -1.0)
    return images


def blobs(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Encoded images whose phase channel has smooth periodic blobs (long runs)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal((n, h, w)), (0, 2, 2), mode="wrap")
    images = np.zeros((n, 4, h, w))
    images[:, 0] = np.clip(field / np.abs(field).max(), -1, 1)
    return images


def test_phase_indicators_threshold_channel_0_at_zero():
    images = np.zeros((1, 4, 1, 3))
    images[0, 0, 0] = [-0.5, 0.0, 0.25]
    expected = [[[[1, 1, 0]], [[0, 0, 1]]]]
    np.testing.assert_array_equal(phase_indicators(images).numpy(), expected)


def test_two_point_correlation_brute_force():
    images = random_two_phase(2, 12, 10)
    s2 = two_point_correlation(images, limit_to=4)
    assert s2.shape == (2, 2, 7, 7)
    second = images[:, 0] > 0
    for n in range(2):
        for p, phase in enumerate((~second[n], second[n])):
            for dy in range(-3, 4):
                for dx in range(-3, 4):
                    shifted = np.roll(phase, (dy, dx), axis=(0, 1))
                    expected = (phase & shifted).mean()
                    assert s2[n, p, 3 + dy, 3 + dx] == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(s2[:, :, 3, 3], volume_fraction(images), atol=1e-12)


def test_volume_fraction_sums_to_one():
    images = random_two_phase(3, 8, 8)
    fractions = volume_fraction(images)
    np.testing.assert_allclose(fractions[:, 1], (images[:, 0] > 0).mean(axis=(1, 2)))
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0)


def _brute_lineal_path(phase: np.ndarray, length: int, axis: int) -> float:
    h, w = phase.shape
    hits = 0
    for i in range(h):
        for j in range(w):
            cells = [
                phase[(i + k * (axis == 0)) % h, (j + k * (axis == 1)) % w] for k in range(length)
            ]
            hits += all(cells)
    return hits / (h * w)


def test_lineal_path_brute_force():
    images = blobs(2, 14, 11)
    curves = lineal_path(images, max_length=6)
    assert curves.shape == (2, 2, 2, 6)
    second = images[:, 0] > 0
    for n in range(2):
        for p, phase in enumerate((~second[n], second[n])):
            for d, axis in enumerate((1, 0)):  # x runs along the width
                expected = [_brute_lineal_path(phase, length, axis) for length in range(1, 7)]
                np.testing.assert_allclose(curves[n, p, d], expected, atol=1e-12)
    assert np.all(np.diff(curves, axis=-1) <= 0)


def test_lineal_path_of_stripes_distinguishes_x_and_y():
    # Vertical stripes of width 3 (phase 2) and 5 (phase 1) along x.
    row = np.where(np.arange(8) % 8 < 3, 1.0, -1.0)
    images = np.zeros((1, 4, 6, 8))
    images[0, 0] = row[None, :]
    curves = lineal_path(images, max_length=6)
    # Along y a stripe never ends; along x a segment of l pixels fits 3 - l + 1 times.
    np.testing.assert_allclose(curves[0, 1, 1], 3 / 8)
    np.testing.assert_allclose(curves[0, 1, 0], [3 / 8, 2 / 8, 1 / 8, 0, 0, 0])
    np.testing.assert_allclose(curves[0, 0, 0], [5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8, 0])


def test_variation_brute_force():
    images = random_two_phase(2, 9, 7)
    phase = (images[:, 0] > 0).astype(float)
    padded = np.concatenate([phase, phase[:, :1]], axis=1)
    padded = np.concatenate([padded, padded[:, :, :1]], axis=2)
    total = np.abs(np.diff(padded, axis=1)).sum(axis=(1, 2)) + np.abs(np.diff(padded, axis=2)).sum(
        axis=(1, 2)
    )
    values = variation(images)
    np.testing.assert_allclose(values[:, 1], total / (9 * 7), atol=1e-12)
    np.testing.assert_allclose(values[:, 0], values[:, 1], atol=1e-12)


def test_lineal_path_mcrpy_limits():
    images = np.ones((1, 1, 16, 16))
    soft = lineal_path_mcrpy(images, limit_to=3)
    assert soft.shape == (1, 2, 2, 4)
    np.testing.assert_allclose(soft[0, 1], 1.0, atol=1e-6)  # all inside phase 2
    np.testing.assert_allclose(soft[0, 0], 0.0, atol=1e-6)


def test_microstructure_descriptors_match_single_functions():
    images = torch.from_numpy(blobs(3, 16, 16)).float()
    values = microstructure_descriptors(images, limit_to=4, max_length=5)
    np.testing.assert_array_equal(values["volume_fraction"], volume_fraction(images))
    np.testing.assert_array_equal(values["two_point_correlation"], two_point_correlation(images, 4))
    np.testing.assert_array_equal(values["lineal_path"], lineal_path(images, 5))
    np.testing.assert_array_equal(values["variation"], variation(images))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: two_point_correlation(np.zeros((1, 1, 8, 8)), limit_to=5), "limit_to must be"),
        (lambda: lineal_path(np.zeros((1, 1, 8, 8)), max_length=0), "max_length must be"),
        (lambda: lineal_path_mcrpy(np.zeros((1, 1, 8, 8)), limit_to=4), "limit_to must be"),
        (lambda: volume_fraction(np.zeros((8, 8))), "must have shape (N, C, H, W)"),
        (lambda: mcrpy_descriptors(np.zeros((1, 1, 8, 8)), ["S2"]), "unknown MCRpy descriptor"),
        (
            lambda: mcrpy_descriptors(np.zeros((1, 1, 32, 32)), ["GramMatrices"], limit_to=8),
            "GramMatrices needs limit_to >= 16",
        ),
    ],
)
def test_bad_input_messages(call, message):
    with pytest.raises(InputError) as error:
        call()
    assert message in str(error.value)


# --- MCRpy itself (the [descriptors] extra; importing TensorFlow takes ~10 s) ---------


@pytest.fixture(scope="module")
def mcrpy_reference():
    # find_spec, not importorskip: TensorFlow must first be imported by
    # mcrpy_descriptors, which selects Keras 2 for GramMatrices.
    if importlib.util.find_spec("mcrpy") is None:
        pytest.skip("MCRpy needs the [descriptors] extra")
    images = np.concatenate([random_two_phase(2, 64, 64), blobs(2, 64, 64)])
    names = ["FFTCorrelations", "VolumeFractions", "Variation", "LinealPath"]
    return images, mcrpy_descriptors(images, names, limit_to=8)


@pytest.mark.slow
def test_torch_s2_and_volume_fraction_equal_mcrpy(mcrpy_reference):
    images, reference = mcrpy_reference
    assert reference["FFTCorrelations"].shape == (4, 2, 1, 15, 15)
    np.testing.assert_allclose(
        two_point_correlation(images, limit_to=8), reference["FFTCorrelations"][:, :, 0], atol=1e-12
    )
    np.testing.assert_array_equal(volume_fraction(images), reference["VolumeFractions"][:, :, 0])


@pytest.mark.slow
def test_torch_variation_equals_mcrpy(mcrpy_reference):
    images, reference = mcrpy_reference
    np.testing.assert_allclose(variation(images), reference["Variation"][:, :, 0, 0], atol=1e-12)


@pytest.mark.slow
def test_torch_lineal_path_equals_mcrpy_straight_lines(mcrpy_reference):
    images, reference = mcrpy_reference
    entries = reference["LinealPath"].reshape(4, 2, -1)
    # MCRpy's order per odd length 2k + 1 >= 3: diagonal, antidiagonal, x, y, then
    # 4(k - 1) Bresenham lines; entry 0 is the single pixel.
    x_index, y_index, start = [0], [0], 1
    for length in range(3, 2 * 8 + 2, 2):
        x_index.append(start + 2)
        y_index.append(start + 3)
        start += 2 * (length - 1)
    assert start == entries.shape[-1]
    ours = lineal_path_mcrpy(images, limit_to=8)
    np.testing.assert_allclose(ours[:, :, 0], entries[..., x_index], atol=1e-6)
    np.testing.assert_allclose(ours[:, :, 1], entries[..., y_index], atol=1e-6)


@pytest.mark.slow
def test_mcrpy_gram_matrices(mcrpy_reference):
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("GramMatrices needs tf-keras")
    images = blobs(1, 64, 64)
    grams = mcrpy_descriptors(images, ["GramMatrices"], limit_to=16)["GramMatrices"]
    assert grams.shape[:2] == (1, 2) and grams.size > 10_000
    assert np.all(np.isfinite(grams)) and grams.max() > 0
