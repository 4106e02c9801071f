"""RMSE, PSNR, SSIM and FSIM against scikit-image, torchmetrics, piq and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _piq_fsim import find_piq_wheel, load_piq_fsim
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.metrics.image import (
    CHANNEL_GROUPS,
    boundary_error_split,
    boundary_mask,
    fsim,
    phase_congruency,
    psnr,
    reconstruction_metrics,
    rmse,
    ssim,
)


def smooth_images(n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random images spanning [-1, 1]."""
    rng = np.random.default_rng(seed)
    images = ndimage.gaussian_filter(rng.random((n, c, h, w)), (0, 0, 3, 3))
    low = images.min(axis=(1, 2, 3), keepdims=True)
    high = images.max(axis=(1, 2, 3), keepdims=True)
    return (images - low) / (high - low) * 2 - 1


def add_noise(images: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(images + sigma * rng.standard_normal(images.shape), -1, 1)


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    reference = smooth_images(3, 4, 40, 48)
    return reference, add_noise(reference, 0.1)


def test_rmse_and_psnr_match_numpy_and_skimage(pair):
    reference, test = pair
    expected_rmse = np.sqrt(((reference - test) ** 2).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(rmse(reference, test), expected_rmse, rtol=1e-12)
    expected_psnr = [peak_signal_noise_ratio(r, t, data_range=2.0) for r, t in zip(reference, test)]
    np.testing.assert_allclose(psnr(reference, test), expected_psnr, rtol=1e-12)


def test_psnr_and_ssim_match_torchmetrics(pair):
    functional = pytest.importorskip("torchmetrics.functional.image")
    reference, test = (torch.from_numpy(x) for x in pair)
    expected_psnr = functional.peak_signal_noise_ratio(
        test, reference, data_range=2.0, reduction="none", dim=(1, 2, 3)
    )
    # torchmetrics keeps data_range in float32.
    np.testing.assert_allclose(psnr(reference, test), expected_psnr.numpy(), rtol=1e-7)
    # torchmetrics averages its SSIM map over reflect-padded borders too; its interior
    # (5 pixels in from each side) is the unpadded SSIM map of Wang et al.
    _, ssim_map = functional.structural_similarity_index_measure(
        test, reference, data_range=2.0, reduction="none", return_full_image=True
    )
    expected_ssim = ssim_map[..., 5:-5, 5:-5].mean(dim=(1, 2, 3))
    np.testing.assert_allclose(ssim(reference, test), expected_ssim.numpy(), atol=1e-10)


def test_ssim_matches_skimage_per_channel_mean(pair):
    reference, test = pair
    expected = [
        structural_similarity(
            r,
            t,
            data_range=2.0,
            channel_axis=0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for r, t in zip(reference, test)
    ]
    np.testing.assert_allclose(ssim(reference, test), expected, atol=1e-12)
    np.testing.assert_allclose(ssim(reference, reference), 1.0, atol=1e-12)


def test_identical_images_give_infinite_psnr_and_zero_rmse(pair):
    reference, _ = pair
    assert np.all(np.isinf(psnr(reference, reference)))
    assert np.all(rmse(reference, reference) == 0)


def test_fsim_identity_symmetry_and_monotone_in_noise():
    reference = smooth_images(2, 3, 32, 32)
    for channels in ((0,), (0, 1, 2)):
        ref = reference[:, channels]
        np.testing.assert_allclose(fsim(ref, ref), 1.0, atol=1e-12)
        noisy = add_noise(ref, 0.05)
        np.testing.assert_allclose(fsim(ref, noisy), fsim(noisy, ref), atol=1e-12)
        scores = [fsim(ref, add_noise(ref, sigma)).mean() for sigma in (0.02, 0.1, 0.3)]
        assert 1.0 > scores[0] > scores[1] > scores[2] > 0.3


def test_fsim_depends_only_on_the_mapped_0_255_values():
    reference = smooth_images(2, 1, 32, 40)
    test = add_noise(reference, 0.1)
    np.testing.assert_allclose(
        fsim(reference * 3 + 5, test * 3 + 5, data_range=6.0, data_min=2.0),
        fsim(reference, test),
        atol=1e-12,
    )


def test_phase_congruency_is_contrast_invariant_and_bounded():
    luminance = torch.from_numpy((smooth_images(2, 1, 40, 40)[:, 0] + 1) * 127.5)
    pc = phase_congruency(luminance)
    assert pc.min() >= 0 and pc.max() <= 1 and pc.max() > 0.5
    # Exact but for the 1e-4 guard that the reference adds to the energy norm.
    torch.testing.assert_close(phase_congruency(3 * luminance + 7), pc, rtol=0, atol=1e-5)


def test_fsim_gradient_term_by_hand_for_a_contrast_change():
    # Doubling the 0-255 values leaves phase congruency unchanged (up to the 1e-4 guard), so
    # FSIM reduces to the PC-weighted mean of the gradient similarity, computed here
    # with an independent Scharr filter (scipy, zero padding like MATLAB's conv2).
    reference = smooth_images(1, 1, 36, 44)
    test = 2 * (reference + 1) - 1  # 0-255 values doubled
    grey = (reference[0, 0] + 1) * 127.5
    scharr = np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]]) / 16
    gx = ndimage.correlate(grey, scharr, mode="constant")
    gy = ndimage.correlate(grey, scharr.T, mode="constant")
    g = np.hypot(gx, gy)
    gradient_similarity = (2 * g * 2 * g + 160) / (g**2 + 4 * g**2 + 160)
    pc = phase_congruency(torch.from_numpy(grey)[None])[0].numpy()
    expected = (gradient_similarity * pc).sum() / pc.sum()
    np.testing.assert_allclose(fsim(reference, test), [expected], rtol=1e-7)


def _rgb_for_yiq(y: np.ndarray, i: float, q: float) -> np.ndarray:
    yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    target = np.stack([y, np.full_like(y, i), np.full_like(y, q)])
    return np.einsum("kc,chw->khw", np.linalg.inv(yiq), target)


@pytest.mark.parametrize(("i_ref", "i_test", "q_test"), [(0.0, 20.0, -15.0), (30.0, -30.0, 0.0)])
def test_fsimc_chroma_term_by_hand(i_ref, i_test, q_test):
    # Same luminance, uniform chroma: FSIMc = real((S_I S_Q)^0.03) exactly; the second
    # case has S_I < 0, where MATLAB's real() of the complex power gives cos(0.03 pi).
    luminance = (smooth_images(1, 1, 32, 32)[0, 0] + 1) * 100 + 20
    reference = _rgb_for_yiq(luminance, i_ref, 0.0)[None] / 127.5 - 1
    test = _rgb_for_yiq(luminance, i_test, q_test)[None] / 127.5 - 1
    s_i = (2 * i_ref * i_test + 200) / (i_ref**2 + i_test**2 + 200)
    s_q = 200 / (q_test**2 + 200)
    expected = abs(s_i * s_q) ** 0.03 * (math.cos(0.03 * math.pi) if s_i * s_q < 0 else 1.0)
    np.testing.assert_allclose(fsim(reference, test), [expected], rtol=1e-9)
    np.testing.assert_allclose(fsim(reference, test, chromatic=False), [1.0], rtol=1e-12)


def test_fsim_downsampling_rule_averages_2x2_blocks_from_384_pixels():
    # min(H, W) = 384 gives F = round(1.5) = 2: FSIM equals FSIM of the 2x2 block means.
    reference = smooth_images(1, 1, 384, 392)
    test = add_noise(reference, 0.1)

    def block_mean(x: np.ndarray) -> np.ndarray:
        return x.reshape(1, 1, 192, 2, 196, 2).mean(axis=(3, 5))

    np.testing.assert_allclose(
        fsim(reference, test), fsim(block_mean(reference), block_mean(test)), rtol=1e-12
    )


def test_fsim_matches_piq(tmp_path):
    wheel = find_piq_wheel()
    if wheel is None:
        pytest.skip("piq 0.8.0 wheel not found (see tests/_piq_fsim.py)")
    piq_fsim = load_piq_fsim(wheel, tmp_path)
    reference = smooth_images(4, 3, 64, 48)
    test = add_noise(reference, 0.1)
    for channels, chromatic in (((0,), False), ((0, 1, 2), True)):
        ref, tst = reference[:, channels], test[:, channels]
        expected = piq_fsim(
            torch.from_numpy(tst + 1),
            torch.from_numpy(ref + 1),
            reduction="none",
            data_range=2.0,
            chromatic=chromatic,
        ).numpy()
        # piq differs from FeatureSIM.m in small details (the orientation grid is
        # transposed, its median is the lower middle value, epsilon and YIQ rounding).
        np.testing.assert_allclose(fsim(ref, tst), expected, atol=2e-4)
    # The downsampling rule: F = 2 at min(H, W) = 384.
    reference = smooth_images(1, 1, 384, 384)
    test = add_noise(reference, 0.1)
    expected = piq_fsim(
        torch.from_numpy(test + 1), torch.from_numpy(reference + 1), data_range=2.0, chromatic=False
    ).item()
    np.testing.assert_allclose(fsim(reference, test), [expected], atol=2e-4)


def test_reconstruction_metrics_per_group(pair):
    reference, test = pair
    metrics = reconstruction_metrics(reference, test)
    assert set(metrics) == {"phase", "grain"}
    phase, grain = metrics["phase"], metrics["grain"]
    assert set(phase) == {"rmse", "psnr", "ssim", "fsim"}
    np.testing.assert_allclose(phase["psnr"], psnr(reference[:, :1], test[:, :1]).mean())
    np.testing.assert_allclose(grain["ssim"], ssim(reference[:, 1:], test[:, 1:]).mean())
    np.testing.assert_allclose(grain["fsim"], fsim(reference[:, 1:], test[:, 1:]).mean())
    assert all(isinstance(value, float) for group in metrics.values() for value in group.values())
    torch_metrics = reconstruction_metrics(torch.from_numpy(reference), torch.from_numpy(test))
    assert torch_metrics == metrics


def test_constant_images_have_undefined_fsim():
    flat = np.zeros((1, 1, 16, 16))
    assert np.isnan(fsim(flat, flat)).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: psnr(np.zeros((2, 1, 8, 8)), np.zeros((2, 1, 8, 9))), "differ in shape"),
        (lambda: rmse(np.zeros((8, 8)), np.zeros((8, 8))), "must have shape (N, C, H, W)"),
        (lambda: ssim(np.zeros((1, 1, 8, 8)), np.zeros((1, 1, 8, 8))), "smaller than the 11-pixel"),
        (lambda: fsim(np.zeros((1, 2, 8, 8)), np.zeros((1, 2, 8, 8))), "1 (grey) or 3 (RGB)"),
        (lambda: psnr(np.zeros((1, 1, 8, 8)), np.zeros((1, 1, 8, 8)), data_range=0), "data_range"),
        (
            lambda: rmse(np.full((1, 1, 4, 4), np.nan), np.zeros((1, 1, 4, 4))),
            "reference contains NaN",
        ),
        (
            lambda: reconstruction_metrics(np.zeros((1, 3, 16, 16)), np.zeros((1, 3, 16, 16))),
            "expected 4-channel",
        ),
    ],
)
def test_bad_input_messages(call, message):
    with pytest.raises(InputError, match=None) as error:
        call()
    assert message in str(error.value)


def test_boundary_error_split_locates_the_error_at_boundaries() -> None:
    # Two grains split at x = 8 (and, periodically, at x = 0): columns 0, 7, 8 and 15 are
    # next to a boundary.
    image = -np.ones((1, 4, 16, 16), dtype=np.float32)
    image[:, 1:, :, 8:] = 0.5
    image[:, 0, :, 8:] = 1.0
    expected = np.zeros((1, 16, 16), dtype=bool)
    expected[:, :, [0, 7, 8, 15]] = True
    assert np.array_equal(boundary_mask(image), expected)

    blurred = image.copy()
    blurred[:, :, :, [7, 8]] = image[:, :, :, [7, 8]].mean(axis=3, keepdims=True)
    split = boundary_error_split(image, blurred)
    for group in ("phase", "grain"):
        assert split[group]["boundary_pixel_fraction"] == 0.25
        assert split[group]["boundary_error_share"] == 1.0
        assert split[group]["psnr_without_boundary_error"] == math.inf
        pooled = psnr(
            image[:, list(CHANNEL_GROUPS[group])], blurred[:, list(CHANNEL_GROUPS[group])]
        )
        assert split[group]["psnr_without_interior_error"] == pytest.approx(pooled[0])

    noisy_interior = image.copy()
    noisy_interior[:, :, 4, 3] += 0.1
    split = boundary_error_split(image, noisy_interior)
    assert split["phase"]["boundary_error_share"] == 0.0
    assert split["phase"]["psnr_without_interior_error"] == math.inf
