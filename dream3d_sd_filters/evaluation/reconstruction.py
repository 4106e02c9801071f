"""Reconstruction: how faithfully the autoencoder reproduces images (Table 1, Figs. 2-3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..metrics.image import CHANNEL_GROUPS, boundary_error_split, psnr, reconstruction_metrics
from ..report import Section, Table
from .common import EvaluationResult, Stopwatch, check_count, save_figure
from .figures import histogram_figure, reconstruction_figure

#: The paper's Table 1 (autoencoder reconstruction, grain = orientation channels). From
#: the project specification; the paper body was not available to check them.
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "grain": {"rmse": 0.010, "psnr": 40.2, "ssim": 0.995, "fsim": 0.81},
    "phase": {"rmse": 0.018, "psnr": 35.2, "ssim": 0.988, "fsim": 0.86},
}

METRIC_NAMES: dict[str, str] = {"rmse": "RMSE", "psnr": "PSNR (dB)", "ssim": "SSIM", "fsim": "FSIM"}


def evaluate_reconstruction(
    model: Any,
    images: np.ndarray,
    folder: Path,
    batch_size: int = 32,
    n_show: int = 4,
    progress: bool = False,
) -> EvaluationResult:
    """Reconstruct images with the autoencoder and measure Table 1.

    Parameters
    ----------
    model : MicrostructureSD
        Anything with ``reconstruct(images, batch_size=...) -> images``.
    images : ndarray, shape (N, 4, H, W)
        Validation images in [-1, 1].
    folder : Path
        Where the figures are written.
    batch_size : int
        Images per autoencoder pass.
    n_show : int
        Examples drawn in the figure.
    progress : bool
        Show a progress bar over the batches.

    Returns
    -------
    EvaluationResult
        ``metrics["table1"][group][metric]`` for group "grain" (orientation channels,
        FSIMc) and "phase" (grey FSIM), metric "rmse", "psnr" (dB), "ssim", "fsim": means
        over the N images; ``metrics["psnr_per_image"][group]`` lists every image's PSNR;
        ``metrics["error_location"][group]`` says how much of the error sits next to
        grain and phase boundaries (:func:`~dream3d_sd_filters.metrics.image.boundary_error_split`).
    """
    from tqdm.auto import tqdm

    batch_size = check_count(batch_size, "batch_size")
    images = np.asarray(images, dtype=np.float32)
    watch = Stopwatch()
    with watch("model"):
        parts = [
            model.reconstruct(images[i : i + batch_size], batch_size=batch_size)
            for i in tqdm(
                range(0, len(images), batch_size),
                desc="reconstructing",
                unit="batch",
                disable=not progress,
            )
        ]
        reconstructions = np.concatenate(parts)
    with watch("metrics"):
        table = reconstruction_metrics(images, reconstructions)
        per_image = {
            group: psnr(images[:, list(channels)], reconstructions[:, list(channels)])
            for group, channels in CHANNEL_GROUPS.items()
        }
        location = boundary_error_split(images, reconstructions)
    with watch("figures"):
        shown = slice(0, min(n_show, len(images)))
        examples = save_figure(
            reconstruction_figure(images[shown], reconstructions[shown]),
            folder,
            "reconstruction_examples.png",
        )
        finite = {
            f"{group} ({'orientation' if group == 'grain' else 'phase'})": values[
                np.isfinite(values)
            ]
            for group, values in per_image.items()
        }
        histogram = None
        if all(len(v) for v in finite.values()):
            histogram = save_figure(
                histogram_figure(finite, "PSNR (dB)", "PSNR of each validation image"),
                folder,
                "reconstruction_psnr.png",
            )
    rows = [
        [
            f"{group} ({source})",
            *[values[m] for m in METRIC_NAMES],
        ]
        for group in ("grain", "phase")
        for source, values in (("this model", table[group]), ("paper", PAPER_TABLE1[group]))
    ]
    section = Section(
        "Table 1: autoencoder reconstruction",
        text=[
            f"Mean over {len(images)} validation images of each image's RMSE, PSNR, SSIM and "
            "FSIM between the original and its encode-decode reconstruction, for the grain "
            "orientation channels (FSIMc, colour) and the phase channel (grey FSIM). Values "
            "are in the encoded range [-1, 1] (data range 2). The paper's numbers are from the "
            "project specification and unverified."
        ],
        tables=[
            Table("Reconstruction quality", ["channels", *METRIC_NAMES.values()], rows),
            Table(
                "Where the error sits: pixels within one pixel of a grain or phase boundary",
                [
                    "channels",
                    "boundary pixels",
                    "share of squared error",
                    "PSNR if boundaries were exact (dB)",
                    "PSNR if interiors were exact (dB)",
                ],
                [[group, *location[group].values()] for group in ("grain", "phase")],
            ),
        ],
        images=[(examples, "Originals, reconstructions and absolute error maps (Figs. 2-3).")],
    )
    if histogram is not None:
        section.images.append((histogram, "Distribution of per-image PSNR."))
    metrics = {
        "n_images": len(images),
        "table1": table,
        "paper_table1": PAPER_TABLE1,
        "psnr_per_image": per_image,
        "error_location": location,
    }
    return EvaluationResult(metrics, [section], watch.seconds)
