"""Matplotlib figures of the evaluation report, after the paper's Figs. 2-9.

Every function returns a :class:`matplotlib.figure.Figure` (Agg backend, nothing is
shown); :func:`~dream3d_sd_filters.evaluation.common.save_figure` writes it. Images are
encoded microstructures, shape (4, H, W) in [-1, 1]: the three orientation channels
are drawn as RGB (each channel mapped from [-1, 1] to [0, 1], so equal colours are
equal orientations) and the phase channel in grey (black = phase 1, white = phase 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Absolute errors above this are drawn saturated: the encoded range is 2, and
# reconstruction errors of a useful model are far smaller.
_ERROR_VMAX = 0.5


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def orientation_rgb(image: np.ndarray) -> np.ndarray:
    """Orientation channels 1-3 of one (4, H, W) image as an RGB array (H, W, 3) in [0, 1]."""
    return np.clip((np.moveaxis(np.asarray(image[1:4], dtype=np.float32), 0, -1) + 1) / 2, 0, 1)


def phase_grey(image: np.ndarray) -> np.ndarray:
    """Phase channel of one (4, H, W) image as grey values (H, W) in [0, 1]."""
    return np.clip((np.asarray(image[0], dtype=np.float32) + 1) / 2, 0, 1)


def panel_grid(
    cells: Sequence[Sequence[np.ndarray]],
    row_labels: Sequence[str],
    col_labels: Sequence[str] | None = None,
    error_rows: Sequence[int] = (),
    title: str | None = None,
    cell_inches: float = 1.5,
) -> Any:
    """A grid of image panels without axes.

    Parameters
    ----------
    cells : rows of arrays
        Each array is RGB (H, W, 3) or grey (H, W) in [0, 1]; error rows hold absolute
        errors (H, W), drawn with a shared colour bar from 0 to 0.5.
    row_labels, col_labels : sequences of str
    error_rows : sequence of int
        Indices of the rows that are error maps.
    """
    plt = _pyplot()
    n_rows, n_cols = len(cells), max(len(row) for row in cells)
    figure, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(cell_inches * n_cols + 1.2, cell_inches * n_rows + (0.4 if title else 0)),
        squeeze=False,
        layout="constrained",
    )
    error_image = None
    for r, row in enumerate(cells):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row):
                ax.axis("off")
                continue
            if r in error_rows:
                error_image = ax.imshow(row[c], cmap="magma", vmin=0, vmax=_ERROR_VMAX)
            elif row[c].ndim == 2:
                ax.imshow(row[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(row[c], interpolation="nearest")
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=8)
            if r == 0 and col_labels is not None:
                ax.set_title(col_labels[c], fontsize=8)
    if error_image is not None:
        bar = figure.colorbar(error_image, ax=axes.ravel().tolist(), shrink=0.6, pad=0.02)
        bar.set_label("absolute error", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def reconstruction_figure(originals: np.ndarray, reconstructions: np.ndarray) -> Any:
    """Originals, reconstructions and error maps, orientation and phase (paper Figs. 2-3).

    Parameters
    ----------
    originals, reconstructions : ndarray, shape (K, 4, H, W)
        A few examples (one column each).
    """
    error = np.abs(np.asarray(originals, np.float32) - np.asarray(reconstructions, np.float32))
    cells = [
        [orientation_rgb(x) for x in originals],
        [orientation_rgb(x) for x in reconstructions],
        [e[1:4].mean(axis=0) for e in error],
        [phase_grey(x) for x in originals],
        [phase_grey(x) for x in reconstructions],
        [e[0] for e in error],
    ]
    labels = [
        "original\norientation",
        "reconstructed\norientation",
        "|error|\norientation",
        "original\nphase",
        "reconstructed\nphase",
        "|error|\nphase",
    ]
    return panel_grid(
        cells,
        labels,
        [f"image {i + 1}" for i in range(len(originals))],
        error_rows=(2, 5),
        title="Autoencoder reconstruction (orientation error: mean over the 3 channels)",
    )


def interpolation_grid_figure(
    grid: np.ndarray,
    image_a: np.ndarray,
    image_b: np.ndarray,
    gammas: Sequence[float],
    timesteps: Sequence[int],
    group: str,
) -> Any:
    """The gamma x timestep interpolation grid between two images (paper Fig. 4).

    Parameters
    ----------
    grid : ndarray, shape (T, G, 4, H, W)
        Output of :meth:`MicrostructureSD.interpolate`.
    image_a, image_b : ndarray, shape (4, H, W)
        The endpoints, shown in the first and last columns.
    group : {"grain", "phase"}
        Draw the orientation channels or the phase channel.
    """
    draw = orientation_rgb if group == "grain" else phase_grey
    cells = [[draw(image_a), *[draw(x) for x in row], draw(image_b)] for row in grid]
    return panel_grid(
        cells,
        [f"t = {t}" for t in timesteps],
        ["A", *[f"γ = {g:g}" for g in gammas], "B"],
        title=f"Interpolation from A to B ({'orientation' if group == 'grain' else 'phase'})",
    )


def heatmaps_figure(
    maps: dict[str, np.ndarray], gammas: Sequence[float], timesteps: Sequence[int], title: str
) -> Any:
    """Annotated heatmaps of similarity over the gamma x timestep grid (paper Fig. 5).

    Parameters
    ----------
    maps : dict of str to ndarray, shape (T, G)
        Panel title -> values in [0, 1] (NaN cells are left blank).
    """
    plt = _pyplot()
    figure, axes = plt.subplots(
        1,
        len(maps),
        figsize=(3.0 * len(maps) + 0.8, 0.5 * len(timesteps) + 1.4),
        squeeze=False,
        layout="constrained",
    )
    image = None
    for ax, (name, values) in zip(axes[0], maps.items()):
        image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        for (r, c), value in np.ndenumerate(values):
            if np.isfinite(value):
                colour = "black" if value > 0.6 else "white"
                ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=7, color=colour)
        ax.set_xticks(range(len(gammas)), [f"{g:g}" for g in gammas], fontsize=7)
        ax.set_yticks(range(len(timesteps)), [str(t) for t in timesteps], fontsize=7)
        ax.set_xlabel("γ", fontsize=8)
        ax.set_title(name, fontsize=9)
    axes[0, 0].set_ylabel("timestep t", fontsize=8)
    if image is not None:
        figure.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
    figure.suptitle(title, fontsize=10)
    return figure


def inpainting_figure(
    originals: np.ndarray, mask: np.ndarray, inpainted: np.ndarray, mask_name: str
) -> Any:
    """Original, masked and inpainted images, orientation and phase (paper Fig. 6).

    Parameters
    ----------
    originals, inpainted : ndarray, shape (K, 4, H, W)
    mask : ndarray of bool, shape (H, W)
        True where the model had to fill in; drawn as mid grey in the masked panels.
    """
    rows, labels = [], []
    for k, (original, result) in enumerate(zip(originals, inpainted)):
        masked_rgb = orientation_rgb(original)
        masked_rgb[mask] = 0.5
        masked_grey = phase_grey(original)
        masked_grey[mask] = 0.5
        rows.append(
            [
                orientation_rgb(original),
                masked_rgb,
                orientation_rgb(result),
                phase_grey(original),
                masked_grey,
                phase_grey(result),
            ]
        )
        labels.append(f"image {k + 1}")
    columns = [
        "original\norientation",
        "masked",
        "inpainted",
        "original\nphase",
        "masked",
        "inpainted",
    ]
    return panel_grid(rows, labels, columns, title=f"Inpainting, mask: {mask_name}")


def correlation_maps_figure(original: np.ndarray, inpainted: np.ndarray, title: str) -> Any:
    """Two-point correlation maps of original and inpainted images, and their difference.

    Parameters
    ----------
    original, inpainted : ndarray, shape (2L - 1, 2L - 1)
        S2 of one phase over shifts ``-(L-1)..L-1`` in y (rows) and x (columns).
    """
    plt = _pyplot()
    half = (original.shape[0] - 1) // 2
    extent = (-half - 0.5, half + 0.5, half + 0.5, -half - 0.5)
    figure, axes = plt.subplots(1, 3, figsize=(10.5, 3.2), layout="constrained")
    low = min(original.min(), inpainted.min())
    high = max(original.max(), inpainted.max())
    for ax, values, name in ((axes[0], original, "original"), (axes[1], inpainted, "inpainted")):
        image = ax.imshow(values, cmap="viridis", vmin=low, vmax=high, extent=extent)
        ax.set_title(f"S2, {name}", fontsize=9)
        figure.colorbar(image, ax=ax, shrink=0.8)
    difference = inpainted - original
    bound = max(float(np.abs(difference).max()), 1e-6)
    image = axes[2].imshow(difference, cmap="coolwarm", vmin=-bound, vmax=bound, extent=extent)
    axes[2].set_title("inpainted - original", fontsize=9)
    figure.colorbar(image, ax=axes[2], shrink=0.8)
    for ax in axes:
        ax.set_xlabel("shift x (pixels)", fontsize=8)
        ax.set_ylabel("shift y (pixels)", fontsize=8)
    figure.suptitle(title, fontsize=10)
    return figure


def lineal_path_figure(
    original: np.ndarray, inpainted: np.ndarray, phases: Sequence[str], title: str
) -> Any:
    """Lineal-path curves of original and inpainted images, per phase and direction.

    Parameters
    ----------
    original, inpainted : ndarray, shape (2, 2, L)
        Mean lineal path per phase and direction (x, y) for lengths 1..L pixels.
    """
    plt = _pyplot()
    lengths = np.arange(1, original.shape[-1] + 1)
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True, layout="constrained")
    for p, ax in enumerate(axes):
        for d, (direction, style) in enumerate((("x", "-"), ("y", "--"))):
            ax.plot(lengths, original[p, d], "k" + style, label=f"original, {direction}")
            ax.plot(lengths, inpainted[p, d], "C1" + style, label=f"inpainted, {direction}")
        ax.set_title(phases[p], fontsize=9)
        ax.set_xlabel("segment length (pixels)", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("lineal path L(l)", fontsize=8)
    axes[0].legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    return figure


def sample_grid_figure(images: np.ndarray, n_cols: int = 8) -> Any:
    """Generated samples: orientation above phase for each (paper Fig. 8a).

    Parameters
    ----------
    images : ndarray, shape (K, 4, H, W)
    """
    rows, labels = [], []
    for start in range(0, len(images), n_cols):
        chunk = images[start : start + n_cols]
        rows.append([orientation_rgb(x) for x in chunk])
        rows.append([phase_grey(x) for x in chunk])
        labels += ["orientation", "phase"]
    return panel_grid(rows, labels, title="Generated samples")


def histogram_figure(values: dict[str, np.ndarray], xlabel: str, title: str, bins: int = 20) -> Any:
    """Overlaid density histograms on shared bins (paper Fig. 8b).

    Parameters
    ----------
    values : dict of str to 1-D ndarray
        Label -> samples; the first is drawn filled, the others as outlines.
    """
    plt = _pyplot()
    everything = np.concatenate([np.ravel(v) for v in values.values()])
    edges = np.histogram_bin_edges(everything, bins=bins)
    if edges[0] == edges[-1]:
        edges = np.linspace(edges[0] - 0.5, edges[0] + 0.5, bins + 1)
    figure, ax = plt.subplots(figsize=(5.5, 3.4), layout="constrained")
    for k, (label, samples) in enumerate(values.items()):
        kwargs = {"alpha": 0.35} if k == 0 else {"histtype": "step", "linewidth": 1.8}
        ax.hist(np.ravel(samples), bins=edges, density=True, label=label, color=f"C{k}", **kwargs)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel("density", fontsize=9)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return figure


def curves_figure(
    x: np.ndarray,
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    xlabel: str,
    ylabel: str,
    title: str,
) -> Any:
    """Mean curves with a one-standard-deviation band (paper Fig. 8c).

    Parameters
    ----------
    curves : dict of str to (mean, std)
        Label -> two 1-D arrays of the length of ``x``.
    """
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(5.5, 3.4), layout="constrained")
    for k, (label, (mean, std)) in enumerate(curves.items()):
        ax.plot(x, mean, color=f"C{k}", label=label)
        ax.fill_between(x, mean - std, mean + std, color=f"C{k}", alpha=0.15)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return figure


def boundary_figure(
    phase_maps: np.ndarray,
    outputs: np.ndarray,
    phase_boundaries: np.ndarray,
    grain_boundaries: np.ndarray,
) -> Any:
    """Orientation ControlNet examples: input phase map, output, and boundary overlay.

    Parameters
    ----------
    phase_maps : ndarray, shape (K, H, W), int (1 or 2)
    outputs : ndarray, shape (K, 4, H, W)
    phase_boundaries, grain_boundaries : ndarray of bool, shape (K, H, W)
        Boundary pixels of the input phases and of the output grains; the overlay
        shows phase-boundary pixels that are also output grain boundaries in green,
        those that are not in red, and the other output grain boundaries in white.
    """
    rows = []
    for phases, output, pb, gb in zip(phase_maps, outputs, phase_boundaries, grain_boundaries):
        overlay = np.zeros((*phases.shape, 3), dtype=np.float32)
        overlay[gb] = 1.0
        overlay[pb & gb] = (0.1, 0.8, 0.1)
        overlay[pb & ~gb] = (0.9, 0.1, 0.1)
        rows.append(
            [(phases == 2).astype(np.float32), orientation_rgb(output), phase_grey(output), overlay]
        )
    return panel_grid(
        rows,
        [f"image {k + 1}" for k in range(len(rows))],
        ["input phases", "output\norientation", "output\nphase", "boundaries"],
        title="Orientation ControlNet (green: phase boundary matched by a grain boundary, "
        "red: missed)",
    )


def property_figure(
    training: np.ndarray, generated: dict[float, np.ndarray], name: str, unit: str
) -> Any:
    """Property distributions of generated samples per target, against the training set
    (paper Fig. 9).

    Parameters
    ----------
    training : 1-D ndarray
        Property labels of the training images.
    generated : dict of float to 1-D ndarray
        Target value -> properties of the samples generated for it.
    """
    plt = _pyplot()
    suffix = f" {unit}" if unit not in ("", "1") else ""
    everything = np.concatenate([training, *[np.ravel(v) for v in generated.values()]])
    everything = everything[np.isfinite(everything)]
    edges = np.histogram_bin_edges(everything, bins=30)
    figure, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
    ax.hist(training, bins=edges, density=True, color="0.6", alpha=0.6, label="training set")
    for k, (target, values) in enumerate(generated.items()):
        finite = np.ravel(values)[np.isfinite(np.ravel(values))]
        ax.hist(
            finite,
            bins=edges,
            density=True,
            histtype="step",
            linewidth=1.8,
            color=f"C{k}",
            label=f"target {target:.3g}{suffix}",
        )
        ax.axvline(target, color=f"C{k}", linestyle="--", linewidth=1)
    ax.set_xlabel(f"{name} ({unit})" if suffix else name, fontsize=9)
    ax.set_ylabel("density", fontsize=9)
    ax.legend(fontsize=8)
    ax.set_title(f"{name} of generated samples per target", fontsize=10)
    return figure
