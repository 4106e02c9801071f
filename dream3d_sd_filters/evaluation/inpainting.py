"""Inpainting: how well the model fills a masked region (Table 2, Figs. 6-7).

Each mask shape covers a quarter of the image. The model fills the masked pixels
(RePaint in latent space; the known pixels are kept exactly), and the result is
compared with the original by SSIM and FSIM per channel group and by the statistical
descriptors of the phase channel: a good inpainting need not reproduce the hidden
pixels, but it must be statistically indistinguishable from the original.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..metrics.descriptors import PHASES, microstructure_descriptors
from ..report import Section, Table
from .common import (
    EvaluationResult,
    Stopwatch,
    check_count,
    group_similarity,
    progress_callback,
    save_figure,
)
from .figures import correlation_maps_figure, inpainting_figure, lineal_path_figure

#: Mask shapes of :func:`make_mask`, each covering a quarter of the image.
MASK_SHAPES: tuple[str, ...] = ("centre-square", "stripe", "blobs")

#: Columns of the descriptor table: key in the metrics -> heading.
DESCRIPTOR_COLUMNS: dict[str, str] = {
    "volume_fraction": "|ΔVf| phase 2",
    "two_point_correlation": "MAD S2",
    "lineal_path": "MAD lineal path",
    "variation": "|Δ variation|",
}

_MASK_COVERAGE = 0.25


def make_mask(shape: str, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A mask covering a quarter of an image.

    Parameters
    ----------
    shape : {"centre-square", "stripe", "blobs"}
        A centred square of half the side; a vertical stripe of a quarter of the width
        through the centre; or random blobs (periodic Gaussian-smoothed noise with
        sigma = min(H, W) / 16, thresholded at its 75th percentile).
    height, width : int
    seed : int
        Seed of the blobs.

    Returns
    -------
    ndarray of bool, shape (height, width)
        True where the model must fill in.
    """
    from scipy.ndimage import gaussian_filter

    if shape not in MASK_SHAPES:
        raise InputError(f"unknown mask shape {shape!r}; use one of {MASK_SHAPES}")
    mask = np.zeros((height, width), dtype=bool)
    if shape == "centre-square":
        h, w = height // 2, width // 2
        top, left = (height - h) // 2, (width - w) // 2
        mask[top : top + h, left : left + w] = True
    elif shape == "stripe":
        w = max(1, width // 4)
        left = (width - w) // 2
        mask[:, left : left + w] = True
    else:
        noise = np.random.default_rng(seed).standard_normal((height, width))
        smooth = gaussian_filter(noise, sigma=min(height, width) / 16, mode="wrap")
        mask = smooth > np.quantile(smooth, 1 - _MASK_COVERAGE)
    return mask


def descriptor_differences(
    original: dict[str, np.ndarray], inpainted: dict[str, np.ndarray]
) -> dict[str, float]:
    """Mean absolute differences of the descriptors of original and inpainted images.

    Parameters
    ----------
    original, inpainted : dict of ndarray
        Outputs of :func:`~dream3d_sd_filters.metrics.descriptors.microstructure_descriptors`
        for the same N images.

    Returns
    -------
    dict of float
        ``"volume_fraction"``: mean |ΔVf| of phase 2; ``"two_point_correlation"`` and
        ``"lineal_path"``: mean absolute difference over images, phases, shifts or
        lengths and directions; ``"variation"``: mean |Δ| of the variation.
    """
    return {
        "volume_fraction": float(
            np.abs(original["volume_fraction"][:, 1] - inpainted["volume_fraction"][:, 1]).mean()
        ),
        **{
            name: float(np.abs(original[name] - inpainted[name]).mean())
            for name in ("two_point_correlation", "lineal_path")
        },
        "variation": float(
            np.abs(original["variation"][:, 0] - inpainted["variation"][:, 0]).mean()
        ),
    }


def evaluate_inpainting(
    model: Any,
    images: np.ndarray,
    folder: Path,
    masks: dict[str, np.ndarray],
    steps: int = 50,
    jump_length: int = 10,
    jump_n_sample: int = 3,
    seed: int = 0,
    batch_size: int = 16,
    n_show: int = 3,
    progress: bool = False,
) -> EvaluationResult:
    """Inpaint every image under every mask and compare with the originals.

    Parameters
    ----------
    model : MicrostructureSD
    images : ndarray, shape (N, 4, H, W)
        Validation images in [-1, 1].
    folder : Path
        Where the figures are written.
    masks : dict of str to ndarray of bool, shape (H, W)
        Mask name -> mask (True = fill in), e.g. from :func:`make_mask`.
    steps, jump_length, jump_n_sample : int
        RePaint settings, see :meth:`MicrostructureSD.inpaint`.
    seed, batch_size : int
    n_show : int
        Examples drawn per mask.
    progress : bool

    Returns
    -------
    EvaluationResult
        ``metrics["masks"][name]`` holds ``"coverage"`` (masked fraction), ``"ssim"``
        and ``"fsim"`` per group (means over images, original vs inpainted, whole
        image) and ``"descriptor_differences"`` (see :func:`descriptor_differences`).
    """
    images = np.asarray(images, dtype=np.float32)
    height, width = images.shape[-2:]
    for name, mask in masks.items():
        if np.shape(mask) != (height, width):
            raise InputError(
                f"mask {name!r} has shape {np.shape(mask)}, expected {(height, width)}"
            )
    steps = check_count(steps, "steps")
    limit_to = min(16, height // 2, width // 2)
    watch = Stopwatch()
    with watch("descriptors"):
        original_descriptors = microstructure_descriptors(images, limit_to=limit_to)
    results: dict[str, dict[str, Any]] = {}
    sections = []
    for name, mask in masks.items():
        mask = np.asarray(mask, dtype=bool)
        with watch("model"):
            inpainted = model.inpaint(
                images,
                mask,
                steps=steps,
                jump_length=jump_length,
                jump_n_sample=jump_n_sample,
                seed=seed,
                batch_size=batch_size,
                callback=progress_callback(f"inpainting ({name})", progress),
            )
        with watch("metrics"):
            similarity = group_similarity(images, inpainted)
        with watch("descriptors"):
            inpainted_descriptors = microstructure_descriptors(inpainted, limit_to=limit_to)
            differences = descriptor_differences(original_descriptors, inpainted_descriptors)
        results[name] = {
            "coverage": float(mask.mean()),
            **similarity,
            "descriptor_differences": differences,
        }
        with watch("figures"):
            shown = slice(0, min(n_show, len(images)))
            s2_original = original_descriptors["two_point_correlation"][:, 1].mean(axis=0)
            s2_inpainted = inpainted_descriptors["two_point_correlation"][:, 1].mean(axis=0)
            figures = [
                (
                    save_figure(
                        inpainting_figure(images[shown], mask, inpainted[shown], name),
                        folder,
                        f"inpainting_{name}.png",
                    ),
                    "Original, masked (grey = filled in by the model) and inpainted (Fig. 6).",
                ),
                (
                    save_figure(
                        correlation_maps_figure(
                            s2_original,
                            s2_inpainted,
                            f"Two-point correlation of phase 2, mean over {len(images)} images",
                        ),
                        folder,
                        f"inpainting_{name}_s2.png",
                    ),
                    "Two-point correlation maps, original vs inpainted (Fig. 7).",
                ),
                (
                    save_figure(
                        lineal_path_figure(
                            original_descriptors["lineal_path"].mean(axis=0),
                            inpainted_descriptors["lineal_path"].mean(axis=0),
                            PHASES,
                            f"Lineal path, mean over {len(images)} images",
                        ),
                        folder,
                        f"inpainting_{name}_lineal_path.png",
                    ),
                    "Lineal-path functions, original vs inpainted (Fig. 7).",
                ),
            ]
        sections.append(Section(f"Mask: {name}", images=figures))
    summary = Section(
        "Table 2: inpainting",
        text=[
            f"{len(images)} validation images, {steps} RePaint steps (jump length {jump_length}, "
            f"{jump_n_sample} samples per jump). Each mask covers about a quarter of the image; "
            "the known pixels are kept exactly, so whole-image SSIM/FSIM are high by "
            "construction and the descriptor differences are the real test. Differences are "
            "mean absolute differences between each original and its inpainted version, over "
            f"images (two-point correlation up to {limit_to - 1} pixels, lineal path up to "
            f"{limit_to} pixels, both phases)."
        ],
        tables=[
            Table(
                "Similarity of inpainted to original images",
                ["mask", "coverage", "SSIM grain", "SSIM phase", "FSIM grain", "FSIM phase"],
                [
                    [
                        name,
                        r["coverage"],
                        r["ssim"]["grain"],
                        r["ssim"]["phase"],
                        r["fsim"]["grain"],
                        r["fsim"]["phase"],
                    ]
                    for name, r in results.items()
                ],
            ),
            Table(
                "Descriptor differences, original vs inpainted (Table 2 layout)",
                ["mask", *DESCRIPTOR_COLUMNS.values()],
                [
                    [name, *[r["descriptor_differences"][k] for k in DESCRIPTOR_COLUMNS]]
                    for name, r in results.items()
                ],
            ),
        ],
    )
    metrics = {
        "n_images": len(images),
        "steps": steps,
        "jump_length": jump_length,
        "jump_n_sample": jump_n_sample,
        "descriptor_limit": limit_to,
        "masks": results,
    }
    return EvaluationResult(metrics, [summary, *sections], watch.seconds)
