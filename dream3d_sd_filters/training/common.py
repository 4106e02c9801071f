"""Pieces shared by the trainers: runs, checkpoints, logs, schedules, batches, image grids."""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..io.atomic import atomic_output
from ..models.card import read_model_card
from ..pipelines.microstructure_sd import resolve_pretrained

#: Model card name and weights subfolder of each trained part, in a pipeline folder.
_PARTS = {"autoencoder": ("autoencoder", "vae"), "diffusion": ("latent_diffusion", "unet")}
_PIPELINE_FIELDS = ("channels", "orientation_encoding", "image_size", "padding", "scaling_factor")


def locate_part(name_or_path: str | Path, part: str) -> tuple[Path, Path, dict[str, Any]]:
    """Folder, weights folder and model card of a trained autoencoder or diffusion model.

    Parameters
    ----------
    name_or_path : str or path-like
        A ``final/`` folder of ``sd-train vae`` or ``sd-train ldm``, or a pipeline folder
        (``sd-train bundle`` output, or a bundled model name such as ``"default"``), whose
        ``vae/`` or ``unet/`` part is used. This is how ControlNets are trained on top of
        the shipped model.
    part : {"autoencoder", "diffusion"}

    Returns
    -------
    folder : Path
        The checkpoint or pipeline folder; other checkpoints refer to it by this path.
    weights : Path
        The diffusers ``save_pretrained`` folder of the part.
    card : dict
        The part's model card. For a pipeline: its ``autoencoder`` or ``diffusion``
        section plus the pipeline-wide fields (encoding, image size, padding, scaling
        factor), and for the diffusion part ``autoencoder`` naming the pipeline itself.
    """
    model, subfolder = _PARTS[part]
    folder = resolve_pretrained(name_or_path)
    card = read_model_card(folder)
    if card.get("model") == "pipeline":
        shared = {k: card[k] for k in _PIPELINE_FIELDS if k in card}
        part_card = {**card.get(part, {}), **shared, "model": model}
        if part == "diffusion":
            part_card["autoencoder"] = str(folder)
        return folder, folder / subfolder, part_card
    if card.get("model") != model:
        wanted = "an autoencoder" if part == "autoencoder" else "a latent diffusion model"
        raise InputError(f"{str(folder)!r} holds a {card.get('model')!r} model, not {wanted}")
    return folder, folder if part == "autoencoder" else folder / subfolder, card


def lr_lambda(warmup_steps: int, max_steps: int, min_ratio: float):
    """Linear warm-up, then cosine decay to ``min_ratio`` of the peak learning rate."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(warmup_steps, 1)
        progress = min((step - warmup_steps) / max(max_steps - warmup_steps, 1), 1.0)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def batch_indices(n_items: int, batch_size: int, seed: int, step: int, rank: int) -> np.ndarray:
    """Random batch for a step, a pure function of (seed, step, rank).

    Stateless sampling makes resumed runs draw exactly the batches an uninterrupted run
    would, and gives each data-parallel process its own batches.
    """
    rng = np.random.default_rng([seed, step, rank])
    return rng.choice(n_items, size=batch_size, replace=n_items < batch_size)


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """A torch generator for one training step, a pure function of (seed, step, rank)."""
    return torch.Generator().manual_seed(
        int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])
    )


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random circular shift and dihedral flip of a batch, the same for every channel.

    The images are slices of periodic volumes, so circular shifts keep them valid
    microstructures.
    """
    _, _, h, w = images.shape
    dy = int(torch.randint(0, h, (1,), generator=generator))
    dx = int(torch.randint(0, w, (1,), generator=generator))
    images = torch.roll(images, shifts=(dy, dx), dims=(2, 3))
    flips = torch.randint(0, 2, (3,), generator=generator).tolist()
    if flips[0]:
        images = images.flip(2)
    if flips[1]:
        images = images.flip(3)
    if flips[2] and h == w:
        images = images.transpose(2, 3)
    return images


class CsvLog:
    """Append-only CSV log with fixed columns that survives restarts.

    Columns are declared up front, so the file stays one table (pandas/Excel read it
    directly); a value missing from a row is left empty, e.g. a loss term that has not
    started yet.
    """

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = list(columns)

    def write(self, row: dict[str, Any]) -> None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.path.name} has no column(s) {sorted(unknown)}")
        new_file = not self.path.exists()
        with open(self.path, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new_file:
                writer.writerow(self.columns)
            values = (row.get(column, "") for column in self.columns)
            writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in values])


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Saved checkpoints of a run, oldest first."""
    return sorted((run_dir / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(
    accelerator, run_dir: Path, step: int, keep: int, extra: dict[str, Any]
) -> Path:
    """Save the full training state (models, optimisers, EMA, RNG) and prune old checkpoints.

    The folder is written under a temporary name and renamed, so an interrupted save
    never leaves a checkpoint that looks complete.
    """
    final = run_dir / "checkpoints" / f"step-{step:07d}"
    tmp = final.with_name(final.name + ".partial")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    if accelerator.is_main_process:
        (tmp / "progress.json").write_text(json.dumps({"step": step, **extra}))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in checkpoint_dirs(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def resume_latest(accelerator, run_dir: Path) -> dict[str, Any]:
    """Load the newest complete checkpoint of a run; returns its progress record or {}."""
    found = checkpoint_dirs(run_dir)
    if not found:
        return {}
    latest = found[-1]
    accelerator.load_state(str(latest))
    return json.loads((latest / "progress.json").read_text())


def check_run_dir(run_dir: Path, config: dict[str, Any], resume: bool) -> None:
    """Refuse to mix two different configs in one run folder."""
    saved = run_dir / "config.json"
    if saved.exists():
        if not resume:
            raise InputError(
                f"run folder {str(run_dir)!r} already exists; pass --resume to continue it "
                "or choose another [run] output_dir"
            )
        previous = json.loads(saved.read_text())
        config = json.loads(json.dumps(config))  # tuples become lists, as in the saved file
        changed = sorted(k for k in ("model", "data", "kind") if previous.get(k) != config.get(k))
        if changed:
            raise InputError(
                f"run folder {str(run_dir)!r} was started with a different {', '.join(changed)} "
                "config; choose another output_dir"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(saved) as tmp:
        tmp.write_text(json.dumps(config, indent=2))


def images_to_rgb_tiles(images: np.ndarray) -> np.ndarray:
    """Show 4-channel images as (phase in gray | orientation channels as RGB) tiles.

    Parameters
    ----------
    images : ndarray, shape (N, 4, H, W), values in [-1, 1]

    Returns
    -------
    ndarray, shape (N, H, 2 * W + 2, 3), uint8
    """
    x = np.clip((np.asarray(images, dtype=np.float32) + 1) * 127.5, 0, 255).astype(np.uint8)
    n, _, h, w = x.shape
    tiles = np.full((n, h, 2 * w + 2, 3), 255, dtype=np.uint8)
    tiles[:, :, :w] = x[:, 0, :, :, None]
    tiles[:, :, w + 2 :] = x[:, 1:].transpose(0, 2, 3, 1)
    return tiles


def save_grid(rows: list[np.ndarray], path: Path) -> None:
    """Save rows of 4-channel images as one PNG (each row one array of shape (N, 4, H, W))."""
    from PIL import Image

    tiled = [images_to_rgb_tiles(r) for r in rows]
    gap = 4
    n = max(len(t) for t in tiled)
    th, tw = tiled[0].shape[1:3]
    canvas = np.full((len(tiled) * (th + gap), n * (tw + gap), 3), 255, dtype=np.uint8)
    for i, row in enumerate(tiled):
        for j, tile in enumerate(row):
            canvas[i * (th + gap) : i * (th + gap) + th, j * (tw + gap) : j * (tw + gap) + tw] = (
                tile
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        Image.fromarray(canvas).save(tmp, format="PNG")


class Throughput:
    """Images per second over the last logging window."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.count = 0

    def add(self, n: int) -> None:
        self.count += n

    def rate(self) -> float:
        now = time.perf_counter()
        value = self.count / max(now - self.start, 1e-9)
        self.start, self.count = now, 0
        return value
