"""Full-reference image metrics: RMSE, PSNR, SSIM and FSIM / FSIMc.

Images are batches of shape (N, C, H, W), numpy arrays or torch tensors of any float
dtype; every computation runs in float64 on the CPU and returns one value per image
as a numpy array of shape (N,). The project's 4-channel images hold the phase in
channel 0 and the orientation encoding in channels 1-3, all in [-1, 1], so the
default ``data_range`` is 2. :func:`reconstruction_metrics` reports every metric per
channel group (:data:`CHANNEL_GROUPS`), as in the paper: grey FSIM on the phase
channel, colour FSIMc on the three orientation channels.

FSIM follows the reference MATLAB code of Zhang et al. (``FeatureSIM.m``, IEEE TIP
20(8), 2011): Kovesi's phase congruency from log-Gabor filters (4 scales, 4
orientations, smallest wavelength 6 pixels, scale factor 2, sigma_f 0.55,
dTheta/sigma 1.2, k = 2) with its noise compensation, Scharr gradient magnitude,
T1 = 0.85, T2 = 160, chroma constants T3 = T4 = 200 on YIQ and lambda = 0.03, after
scaling the data range to 0-255 and the reference downsampling by
``F = max(1, round(min(H, W) / 256))``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError

#: Channel indices of the metric groups of the 4-channel encoding.
CHANNEL_GROUPS: dict[str, tuple[int, ...]] = {"phase": (0,), "grain": (1, 2, 3)}

# FSIM constants of FeatureSIM.m, for images on the 0-255 scale.
_T1_PHASE_CONGRUENCY = 0.85
_T2_GRADIENT = 160.0
_T3_T4_CHROMA = 200.0
_LAMBDA_CHROMA = 0.03

# Phase congruency parameters of phasecong2 in FeatureSIM.m.
_N_SCALES = 4
_N_ORIENTATIONS = 4
_MIN_WAVELENGTH = 6.0
_SCALE_FACTOR = 2.0
_SIGMA_ON_F = 0.55
_DTHETA_ON_SIGMA = 1.2
_NOISE_K = 2.0
_EPSILON = 1e-4
# Empirical factor by which Kovesi's noise estimate overshoots for the PC_2 measure.
_NOISE_RESCALE = 1.7

#: Images processed together by the FFT-based phase congruency (bounds memory).
_FSIM_CHUNK = 16


def as_image_batch(images: Any, name: str = "images") -> torch.Tensor:
    """Convert an (N, C, H, W) numpy array or tensor to a float64 CPU tensor.

    Raises
    ------
    InputError
        If the input is not 4-dimensional, is empty, or holds non-finite values.
    """
    if isinstance(images, torch.Tensor):
        tensor = images.detach().to(device="cpu", dtype=torch.float64)
    else:
        array = np.asarray(images)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise InputError(f"{name} must be numeric, got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))
    if tensor.ndim != 4:
        raise InputError(f"{name} must have shape (N, C, H, W), got {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise InputError(f"{name} is empty: shape {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return tensor


def _pair(reference: Any, test: Any) -> tuple[torch.Tensor, torch.Tensor]:
    ref = as_image_batch(reference, "reference")
    tst = as_image_batch(test, "test")
    if ref.shape != tst.shape:
        raise InputError(
            f"reference and test images differ in shape: {tuple(ref.shape)} vs {tuple(tst.shape)}"
        )
    return ref, tst


def _check_data_range(data_range: float) -> float:
    if not (math.isfinite(data_range) and data_range > 0):
        raise InputError(f"data_range must be a positive number, got {data_range}")
    return float(data_range)


def rmse(reference: Any, test: Any) -> np.ndarray:
    """Root-mean-square error per image.

    Parameters
    ----------
    reference, test : array_like or Tensor, shape (N, C, H, W)
        Images on the same scale.

    Returns
    -------
    ndarray, shape (N,), float64
        ``sqrt(mean((reference - test)**2))`` over channels and pixels, in the
        images' units.
    """
    ref, tst = _pair(reference, test)
    return (ref - tst).square().mean(dim=(1, 2, 3)).sqrt().numpy()


def psnr(reference: Any, test: Any, data_range: float = 2.0) -> np.ndarray:
    """Peak signal-to-noise ratio per image, in dB.

    Parameters
    ----------
    reference, test : array_like or Tensor, shape (N, C, H, W)
        Images on the same scale.
    data_range : float
        Peak-to-peak range of the images (2 for values in [-1, 1]).

    Returns
    -------
    ndarray, shape (N,), float64
        ``10 log10(data_range**2 / MSE)``, with the MSE over channels and pixels of each
        image; ``inf`` for identical images.
    """
    data_range = _check_data_range(data_range)
    ref, tst = _pair(reference, test)
    mse = (ref - tst).square().mean(dim=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse.numpy())


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    window = torch.exp(-offsets.square() / (2 * sigma**2))
    return window / window.sum()


def ssim(
    reference: Any,
    test: Any,
    data_range: float = 2.0,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> np.ndarray:
    """Structural similarity (Wang et al. 2004) per image, averaged over channels.

    Local statistics use a Gaussian window without padding (the "valid" region), with
    population variances, as in the original paper; this equals
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``. (torchmetrics also averages over a reflect-padded
    border and so gives slightly different values.)

    Parameters
    ----------
    reference, test : array_like or Tensor, shape (N, C, H, W)
        Images on the same scale; H and W at least ``win_size``.
    data_range : float
        Peak-to-peak range of the images (2 for values in [-1, 1]).
    win_size : int
        Odd side of the Gaussian window, in pixels.
    sigma : float
        Standard deviation of the Gaussian window, in pixels.
    k1, k2 : float
        Stabilising constants; ``C1 = (k1 * data_range)**2``, ``C2 = (k2 * data_range)**2``.

    Returns
    -------
    ndarray, shape (N,), float64
        Mean SSIM over channels and window positions of each image, in [-1, 1].
    """
    data_range = _check_data_range(data_range)
    ref, tst = _pair(reference, test)
    if win_size < 1 or win_size % 2 == 0:
        raise InputError(f"win_size must be a positive odd integer, got {win_size}")
    n, c, h, w = ref.shape
    if h < win_size or w < win_size:
        raise InputError(f"images of {h} x {w} pixels are smaller than the {win_size}-pixel window")
    window = _gaussian_window(win_size, sigma)
    kernel_rows = window.view(1, 1, win_size, 1)
    kernel_cols = window.view(1, 1, 1, win_size)

    def local_mean(x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(n * c, 1, x.shape[-2], x.shape[-1])
        return F.conv2d(F.conv2d(x, kernel_rows), kernel_cols)

    mu_x, mu_y = local_mean(ref), local_mean(tst)
    var_x = local_mean(ref * ref) - mu_x.square()
    var_y = local_mean(tst * tst) - mu_y.square()
    cov_xy = local_mean(ref * tst) - mu_x * mu_y
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / (
        (mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2)
    )
    return ssim_map.reshape(n, -1).mean(dim=1).numpy()


def _centred_frequency_grid(size: int) -> torch.Tensor:
    """Frequencies normalised to +-0.5, as the ranges of FeatureSIM.m's filter grids."""
    if size % 2:
        return torch.arange(-(size - 1) / 2, (size - 1) / 2 + 1, dtype=torch.float64) / (size - 1)
    return torch.arange(-size / 2, size / 2, dtype=torch.float64) / size


def _log_gabor_filters(height: int, width: int) -> torch.Tensor:
    """Frequency-domain filters of shape (orientations, scales, H, W), zero frequency at [0, 0]."""
    y, x = torch.meshgrid(
        _centred_frequency_grid(height), _centred_frequency_grid(width), indexing="ij"
    )
    radius = torch.sqrt(x.square() + y.square())
    # Low-pass (radius 0.45, order 15) so that no filter reaches the FFT corners, which
    # would upset the normalisation of phase congruency.
    lowpass = torch.fft.ifftshift(1.0 / (1.0 + (radius / 0.45) ** (2 * 15)))
    theta = torch.fft.ifftshift(torch.atan2(-y, x))
    radius = torch.fft.ifftshift(radius)
    radius[0, 0] = 1.0  # avoids log(0); the DC value is reset to zero below
    radial = []
    for scale in range(_N_SCALES):
        centre_frequency = 1.0 / (_MIN_WAVELENGTH * _SCALE_FACTOR**scale)
        log_gabor = torch.exp(
            -torch.log(radius / centre_frequency).square() / (2 * math.log(_SIGMA_ON_F) ** 2)
        )
        log_gabor = log_gabor * lowpass
        log_gabor[0, 0] = 0.0
        radial.append(log_gabor)
    theta_sigma = math.pi / _N_ORIENTATIONS / _DTHETA_ON_SIGMA
    angular = []
    for orientation in range(_N_ORIENTATIONS):
        angle = orientation * math.pi / _N_ORIENTATIONS
        # atan2 of sine and cosine differences avoids the angular wrap-around.
        d_sin = torch.sin(theta) * math.cos(angle) - torch.cos(theta) * math.sin(angle)
        d_cos = torch.cos(theta) * math.cos(angle) + torch.sin(theta) * math.sin(angle)
        d_theta = torch.atan2(d_sin, d_cos).abs()
        angular.append(torch.exp(-d_theta.square() / (2 * theta_sigma**2)))
    return torch.stack(angular)[:, None] * torch.stack(radial)[None, :]


def _noise_energy_terms(filters: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per orientation: the mean squared smallest-scale filter value and the expected
    noise energy squared per unit noise power (Kovesi's estimate)."""
    h, w = filters.shape[-2:]
    spatial = torch.fft.ifft2(filters).real * math.sqrt(h * w)  # (O, S, H, W)
    sum_an2 = spatial.square().sum(dim=(1, 2, 3))
    sum_ai_aj = torch.zeros(filters.shape[0], dtype=torch.float64)
    for i in range(_N_SCALES - 1):
        sum_ai_aj = sum_ai_aj + (spatial[:, i : i + 1] * spatial[:, i + 1 :]).sum(dim=(1, 2, 3))
    em_n = filters[:, 0].square().sum(dim=(1, 2))
    return em_n, 2 * sum_an2 + 4 * sum_ai_aj


def _median_over_pixels(values: torch.Tensor) -> torch.Tensor:
    """MATLAB's median along the last axis (mean of the two middle values if even)."""
    ordered = values.sort(dim=-1).values
    count = ordered.shape[-1]
    return 0.5 * (ordered[..., (count - 1) // 2] + ordered[..., count // 2])


def phase_congruency(luminance: torch.Tensor) -> torch.Tensor:
    """Kovesi's phase congruency (PC_2 with noise compensation) of FeatureSIM.m.

    Parameters
    ----------
    luminance : Tensor, shape (N, H, W), float64
        Grey images on the 0-255 scale.

    Returns
    -------
    Tensor, shape (N, H, W), float64
        Phase congruency in [0, 1]; 0 where the image has no energy at all.
    """
    n, h, w = luminance.shape
    filters = _log_gabor_filters(h, w)
    em_n, noise_energy2_per_power = _noise_energy_terms(filters)
    responses = torch.fft.ifft2(torch.fft.fft2(luminance)[:, None, None] * filters[None])
    even, odd = responses.real, responses.imag  # (N, O, S, H, W)
    amplitude = responses.abs()
    sum_even, sum_odd = even.sum(dim=2), odd.sum(dim=2)
    norm = torch.sqrt(sum_even.square() + sum_odd.square()) + _EPSILON
    mean_even, mean_odd = (sum_even / norm)[:, :, None], (sum_odd / norm)[:, :, None]
    energy = (even * mean_even + odd * mean_odd - (even * mean_odd - odd * mean_even).abs()).sum(
        dim=2
    )
    # Noise power from the median smallest-scale response (Rayleigh statistics).
    median_e2 = _median_over_pixels(amplitude[:, :, 0].square().reshape(n, _N_ORIENTATIONS, -1))
    noise_power = -median_e2 / math.log(0.5) / em_n
    tau = torch.sqrt(noise_power * noise_energy2_per_power / 2)
    threshold = (tau * math.sqrt(math.pi / 2) + _NOISE_K * tau * math.sqrt(2 - math.pi / 2)) / (
        _NOISE_RESCALE
    )
    energy = (energy - threshold[:, :, None, None]).clamp(min=0).sum(dim=1)
    amplitude_sum = amplitude.sum(dim=(1, 2))
    return torch.where(amplitude_sum > 0, energy / amplitude_sum.clamp(min=1e-300), 0.0)


def _reference_downsample(images: torch.Tensor) -> torch.Tensor:
    """FeatureSIM.m's downsampling: F x F box filter ('same', zero padding), every F-th pixel."""
    # MATLAB rounds halves up (Python would round 2.5 to 2).
    factor = max(1, math.floor(min(images.shape[-2:]) / 256 + 0.5))
    if factor == 1:
        return images
    n, c, h, w = images.shape
    before, after = factor - 1 - factor // 2, factor // 2
    padded = F.pad(images.reshape(n * c, 1, h, w), (before, after, before, after))
    box = torch.full((1, 1, factor, factor), 1.0 / factor**2, dtype=images.dtype)
    smoothed = F.conv2d(padded, box)[:, :, ::factor, ::factor]
    return smoothed.reshape(n, c, *smoothed.shape[-2:])


def _gradient_magnitude(luminance: torch.Tensor) -> torch.Tensor:
    scharr = torch.tensor([[3.0, 0.0, -3.0], [10.0, 0.0, -10.0], [3.0, 0.0, -3.0]]) / 16
    kernels = torch.stack([scharr, scharr.T])[:, None].to(torch.float64)
    gradients = F.conv2d(luminance[:, None], kernels, padding=1)
    return gradients.square().sum(dim=1).sqrt()


def _similarity(a: torch.Tensor, b: torch.Tensor, constant: float) -> torch.Tensor:
    return (2 * a * b + constant) / (a.square() + b.square() + constant)


def _fsim_chunk(ref: torch.Tensor, tst: torch.Tensor, chromatic: bool) -> torch.Tensor:
    ref, tst = _reference_downsample(ref), _reference_downsample(tst)
    if ref.shape[1] == 3:
        yiq = torch.tensor(
            [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
            dtype=torch.float64,
        )
        ref = torch.einsum("kc,nchw->nkhw", yiq, ref)
        tst = torch.einsum("kc,nchw->nkhw", yiq, tst)
    lum_ref, lum_tst = ref[:, 0], tst[:, 0]
    pc_ref, pc_tst = phase_congruency(lum_ref), phase_congruency(lum_tst)
    pc_max = torch.maximum(pc_ref, pc_tst)
    similarity = (
        _similarity(pc_ref, pc_tst, _T1_PHASE_CONGRUENCY)
        * _similarity(_gradient_magnitude(lum_ref), _gradient_magnitude(lum_tst), _T2_GRADIENT)
        * pc_max
    )
    if chromatic:
        chroma = _similarity(ref[:, 1], tst[:, 1], _T3_T4_CHROMA) * _similarity(
            ref[:, 2], tst[:, 2], _T3_T4_CHROMA
        )
        # MATLAB's real(z.^lambda): a negative base gives |z|^lambda cos(lambda pi).
        chroma_term = chroma.abs() ** _LAMBDA_CHROMA
        chroma_term = torch.where(
            chroma < 0, chroma_term * math.cos(_LAMBDA_CHROMA * math.pi), chroma_term
        )
        similarity = similarity * chroma_term
    weight = pc_max.sum(dim=(1, 2))
    return torch.where(
        weight > 0, similarity.sum(dim=(1, 2)) / weight.clamp(min=1e-300), float("nan")
    )


def fsim(
    reference: Any,
    test: Any,
    data_range: float = 2.0,
    data_min: float = -1.0,
    chromatic: bool | None = None,
) -> np.ndarray:
    """Feature similarity index FSIM, or FSIMc for colour images (Zhang et al. 2011).

    Parameters
    ----------
    reference, test : array_like or Tensor, shape (N, C, H, W), C = 1 or 3
        Images on the same scale. One channel is grey; three channels are read as RGB
        and converted to YIQ.
    data_range, data_min : float
        The images' value range is ``[data_min, data_min + data_range]``; it is mapped
        to 0-255, the scale the FSIM constants assume. The offset matters only at the
        image border, where the reference's zero-padded gradient filter sees an edge
        to the value 0 (defaults: [-1, 1]).
    chromatic : bool, optional
        For three channels: FSIMc with the I and Q chroma terms (default) or grey FSIM
        on the luminance Y. Must be false or None for one channel.

    Returns
    -------
    ndarray, shape (N,), float64
        FSIM per image, 1 for identical images; NaN where neither image has any
        phase-congruent feature (a constant image), where the index is 0/0.

    Notes
    -----
    Follows the reference MATLAB implementation ``FeatureSIM.m`` (see the module
    docstring), including its zero padding of the gradient filter.
    """
    data_range = _check_data_range(data_range)
    ref, tst = _pair(reference, test)
    channels = ref.shape[1]
    if channels not in (1, 3):
        raise InputError(f"FSIM needs 1 (grey) or 3 (RGB) channels, got {channels}")
    if chromatic is None:
        chromatic = channels == 3
    if chromatic and channels != 3:
        raise InputError("FSIMc (chromatic=True) needs 3-channel images")
    ref = (ref - data_min) * (255.0 / data_range)
    tst = (tst - data_min) * (255.0 / data_range)
    scores = [
        _fsim_chunk(ref[i : i + _FSIM_CHUNK], tst[i : i + _FSIM_CHUNK], chromatic)
        for i in range(0, ref.shape[0], _FSIM_CHUNK)
    ]
    return torch.cat(scores).numpy()


def reconstruction_metrics(
    original: Any, reconstructed: Any, data_range: float = 2.0, data_min: float = -1.0
) -> dict[str, dict[str, float]]:
    """RMSE, PSNR, SSIM and FSIM of a reconstruction, per channel group, averaged over images.

    Parameters
    ----------
    original, reconstructed : array_like or Tensor, shape (N, 4, H, W)
        Encoded microstructure images (channel 0 phase, channels 1-3 orientation).
    data_range, data_min : float
        Every channel's values lie in ``[data_min, data_min + data_range]``.

    Returns
    -------
    dict
        ``{"phase": {...}, "grain": {...}}``, each with ``"rmse"``, ``"psnr"`` (dB),
        ``"ssim"`` and ``"fsim"`` as floats: means over images of the per-image values.
        The phase group uses grey FSIM, the grain (orientation) group FSIMc. PSNR
        averages only the finite per-image values (identical images give ``inf``,
        reported when all are identical); FSIM averages only the images where it is
        defined (see :func:`fsim`).
    """
    ref, tst = _pair(original, reconstructed)
    if ref.shape[1] != 4:
        raise InputError(f"expected 4-channel images (phase + 3 orientation), got {ref.shape[1]}")
    results: dict[str, dict[str, float]] = {}
    for group, channels in CHANNEL_GROUPS.items():
        a, b = ref[:, list(channels)], tst[:, list(channels)]
        psnr_values = psnr(a, b, data_range)
        finite = np.isfinite(psnr_values)
        fsim_values = fsim(a, b, data_range, data_min)
        results[group] = {
            "rmse": float(rmse(a, b).mean()),
            "psnr": float(psnr_values[finite].mean()) if finite.any() else math.inf,
            "ssim": float(ssim(a, b, data_range).mean()),
            "fsim": float(np.nanmean(fsim_values)) if np.isfinite(fsim_values).any() else math.nan,
        }
    return results


def boundary_mask(images: Any, tolerance: float = 1e-3) -> np.ndarray:
    """Pixels within one pixel (8-neighbourhood) of a grain or phase boundary.

    Parameters
    ----------
    images : array_like or Tensor, shape (N, C, H, W)
        Piecewise-constant encoded microstructures.
    tolerance : float
        A neighbour whose value differs by more than this in any channel lies across a
        boundary.

    Returns
    -------
    ndarray, shape (N, H, W), bool
        True next to a boundary. Images wrap around (periodic), as the training slices do.
    """
    ref = as_image_batch(images).numpy()
    mask = np.zeros((ref.shape[0], *ref.shape[2:]), dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                shifted = np.roll(ref, (dy, dx), axis=(2, 3))
                mask |= (np.abs(shifted - ref) > tolerance).any(axis=1)
    return mask


def boundary_error_split(
    original: Any, reconstructed: Any, data_range: float = 2.0
) -> dict[str, dict[str, float]]:
    """Where the reconstruction error sits: next to boundaries or inside grains.

    Parameters
    ----------
    original, reconstructed : array_like or Tensor, shape (N, 4, H, W)
        Encoded microstructure images; boundaries are taken from ``original`` with
        :func:`boundary_mask`.
    data_range : float
        Peak-to-peak range of the images.

    Returns
    -------
    dict
        Per channel group (:data:`CHANNEL_GROUPS`): ``"boundary_pixel_fraction"``,
        ``"boundary_error_share"`` (fraction of the summed squared error on boundary
        pixels), and ``"psnr_without_boundary_error"`` / ``"psnr_without_interior_error"``
        (dB): the PSNR over all pixels if the error of the boundary (interior) pixels
        were zero, pooled over the images.
    """
    ref, tst = _pair(original, reconstructed)
    mask = boundary_mask(ref)
    data_range = _check_data_range(data_range)
    results: dict[str, dict[str, float]] = {}
    for group, channels in CHANNEL_GROUPS.items():
        squared = (ref[:, list(channels)] - tst[:, list(channels)]).square().mean(dim=1).numpy()
        total = squared.sum()
        on_boundary = squared[mask].sum()
        with np.errstate(divide="ignore"):
            results[group] = {
                "boundary_pixel_fraction": float(mask.mean()),
                "boundary_error_share": float(on_boundary / total) if total else math.nan,
                "psnr_without_boundary_error": float(
                    10 * np.log10(data_range**2 * squared.size / (total - on_boundary))
                ),
                "psnr_without_interior_error": float(
                    10 * np.log10(data_range**2 * squared.size / on_boundary)
                ),
            }
    return results
