"""Interpolation: how the diffusion model blends two microstructures (Figs. 4-5).

For each pair (A, B) the pipeline noises both latents to timestep t, mixes them with
weight gamma and denoises (paper eq. 14). Every image of the gamma x t grid is
compared with both endpoints by SSIM and FSIM, per channel group; the heatmaps are
the means over pairs. At t = 0 this is plain latent interpolation, and gamma = 0
(resp. 1) gives back A (resp. B) up to the autoencoder's error; larger t lets the
model repair the blend into a plausible microstructure, at the cost of fidelity to
the endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..metrics.image import CHANNEL_GROUPS, fsim, ssim
from ..report import Section, Table
from .common import EvaluationResult, Stopwatch, check_count, progress_callback, save_figure
from .figures import heatmaps_figure, interpolation_grid_figure

DEFAULT_GAMMAS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_TIMESTEPS: tuple[int, ...] = (0, 250, 500, 750)

_GROUP_NAMES = {"grain": "orientation", "phase": "phase"}


def _similarity(
    grid: np.ndarray, endpoint: np.ndarray, channels: tuple[int, ...]
) -> dict[str, np.ndarray]:
    t, g = grid.shape[:2]
    flat = grid.reshape(t * g, *grid.shape[2:])[:, list(channels)]
    reference = np.broadcast_to(endpoint[list(channels)], flat.shape)
    return {
        "ssim": ssim(reference, flat).reshape(t, g),
        "fsim": fsim(reference, flat).reshape(t, g),
    }


def evaluate_interpolation(
    model: Any,
    pairs: np.ndarray,
    folder: Path,
    gammas: Sequence[float] = DEFAULT_GAMMAS,
    timesteps: Sequence[int] = DEFAULT_TIMESTEPS,
    steps: int = 25,
    seed: int = 0,
    progress: bool = False,
) -> EvaluationResult:
    """Interpolate between image pairs and measure similarity to both endpoints.

    Parameters
    ----------
    model : MicrostructureSD
    pairs : ndarray, shape (P, 2, 4, H, W)
        Endpoint pairs (A, B) in [-1, 1].
    folder : Path
        Where the figures are written.
    gammas, timesteps : sequences
        The grid; see :meth:`MicrostructureSD.interpolate`.
    steps : int
        DDIM steps for the full noise range.
    seed : int
        Pair ``i`` uses noise seed ``seed + i``.
    progress : bool

    Returns
    -------
    EvaluationResult
        ``metrics[metric][group]["vs_a" | "vs_b"]`` is a (T, G) nested list: the mean
        over pairs of SSIM (``metric = "ssim"``) or FSIM between each grid image and
        endpoint A or B, for group "grain" (orientation channels) or "phase". FSIM
        cells are NaN where it is undefined for every pair (constant images).
    """
    pairs = np.asarray(pairs, dtype=np.float32)
    if pairs.ndim != 5 or pairs.shape[1:3] != (2, 4):
        raise InputError(f"pairs must have shape (P, 2, 4, H, W), got {pairs.shape}")
    steps = check_count(steps, "steps")
    gammas, timesteps = [float(g) for g in gammas], [int(t) for t in timesteps]
    watch = Stopwatch()
    grids = []
    for i, (a, b) in enumerate(pairs):
        with watch("model"):
            grids.append(
                model.interpolate(
                    a,
                    b,
                    gammas,
                    timesteps,
                    steps=steps,
                    seed=seed + i,
                    callback=progress_callback(
                        f"interpolating pair {i + 1}/{len(pairs)}", progress
                    ),
                )
            )
    with watch("metrics"):
        per_pair: dict[str, dict[str, dict[str, list[np.ndarray]]]] = {
            metric: {group: {"vs_a": [], "vs_b": []} for group in CHANNEL_GROUPS}
            for metric in ("ssim", "fsim")
        }
        for grid, (a, b) in zip(grids, pairs):
            for group, channels in CHANNEL_GROUPS.items():
                for key, endpoint in (("vs_a", a), ("vs_b", b)):
                    for metric, values in _similarity(grid, endpoint, channels).items():
                        per_pair[metric][group][key].append(values)
        means = {
            metric: {
                group: {key: _nanmean_stack(values) for key, values in by_endpoint.items()}
                for group, by_endpoint in by_group.items()
            }
            for metric, by_group in per_pair.items()
        }
    sections = []
    with watch("figures"):
        grid_figures = [
            (
                save_figure(
                    interpolation_grid_figure(
                        grids[0], pairs[0, 0], pairs[0, 1], gammas, timesteps, group
                    ),
                    folder,
                    f"interpolation_grid_{group}.png",
                ),
                f"Interpolation grid of the first pair, {_GROUP_NAMES[group]} channels (Fig. 4).",
            )
            for group in CHANNEL_GROUPS
        ]
        heatmaps = [
            (
                save_figure(
                    heatmaps_figure(
                        {
                            f"{metric.upper()} vs {end[-1].upper()}": means[metric][group][end]
                            for metric in ("ssim", "fsim")
                            for end in ("vs_a", "vs_b")
                        },
                        gammas,
                        timesteps,
                        f"Similarity to the endpoints, {_GROUP_NAMES[group]} channels",
                    ),
                    folder,
                    f"interpolation_heatmaps_{group}.png",
                ),
                f"SSIM and FSIM against A and B, {_GROUP_NAMES[group]} channels, mean over "
                f"{len(pairs)} pair(s) (Fig. 5).",
            )
            for group in CHANNEL_GROUPS
        ]
    rows = [
        [
            f"t = {t}",
            *[means[metric][group][end][r, c] for c in range(len(gammas))],
        ]
        for metric, group, end in (("ssim", "grain", "vs_a"), ("ssim", "grain", "vs_b"))
        for r, t in enumerate(timesteps)
    ]
    half = len(timesteps)
    sections.append(
        Section(
            "Interpolation (Figs. 4-5)",
            text=[
                f"{len(pairs)} pair(s) of validation images from different volumes; "
                f"{steps} DDIM steps for the full noise range. Each grid image is compared with "
                "endpoint A and endpoint B. A good interpolation moves smoothly from high "
                "similarity to A (gamma = 0) to high similarity to B (gamma = 1)."
            ],
            tables=[
                Table(
                    "SSIM vs A, orientation channels",
                    ["", *[f"γ = {g:g}" for g in gammas]],
                    rows[:half],
                ),
                Table(
                    "SSIM vs B, orientation channels",
                    ["", *[f"γ = {g:g}" for g in gammas]],
                    rows[half:],
                ),
            ],
            images=grid_figures + heatmaps,
        )
    )
    metrics = {
        "n_pairs": len(pairs),
        "gammas": gammas,
        "timesteps": timesteps,
        "steps": steps,
        **means,
    }
    return EvaluationResult(metrics, sections, watch.seconds)


def _nanmean_stack(values: list[np.ndarray]) -> np.ndarray:
    stacked = np.stack(values)
    finite = np.isfinite(stacked)
    counts = finite.sum(axis=0)
    totals = np.where(finite, stacked, 0.0).sum(axis=0)
    return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)
