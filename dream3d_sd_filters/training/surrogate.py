"""Train the property surrogate CNN on simulated labels (``sd-train surrogate``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.dataset import load_split
from ..data.labels import label_matrix, read_labels
from ..errors import InputError
from ..models.card import write_model_card
from ..models.surrogate import PropertySurrogate
from .common import augment, batch_indices, lr_lambda, step_generator


def r_squared(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Coefficient of determination of predictions against the truth."""
    residual = np.sum((truth - prediction) ** 2)
    total = np.sum((truth - truth.mean()) ** 2)
    return float(1.0 - residual / total) if total > 0 else float("nan")


def train_surrogate(
    dataset_dir: str | os.PathLike,
    output: str | os.PathLike,
    prop: str = "coercivity",
    steps: int = 3000,
    batch_size: int = 32,
    lr: float = 2e-3,
    holdout_every: int = 5,
    seed: int = 0,
    sources: tuple[str, ...] = ("micromagnetics",),
    designs: Sequence[str | os.PathLike] = (),
    progress: bool = True,
) -> tuple[Path, dict[str, float]]:
    """Fit :class:`PropertySurrogate` to the labels of the train split made by ``sources``.

    Volumes are held out whole (every ``holdout_every``-th labelled volume) to measure
    R² on microstructures the surrogate has not seen.

    ``designs`` are volume files written by ``sd-filters generate --target ... --verify
    simulation``; their slices and simulated values join the training images. Surrogate
    guidance steers generation into microstructures unlike the dataset's, where the
    surrogate errs most, so simulated designs teach it where it is used.

    Returns
    -------
    (Path, dict)
        The saved model folder and its metrics (``r2_holdout``, ``mae_holdout``,
        ``n_train``, ``n_holdout``).
    """
    from tqdm.auto import tqdm

    images = load_split(dataset_dir, "train")
    keep, values = label_matrix(images, {prop: read_labels(dataset_dir, prop, sources)})
    if len(keep) < 20:
        raise InputError(
            f"only {len(keep)} images carry {prop} labels from {', '.join(sources)}; at least 20 are needed"
        )
    labelled = images.subset(keep)
    volumes = np.unique(labelled.volume_ids)
    held = set(volumes[::holdout_every].tolist())
    is_held = np.array([v in held for v in labelled.volume_ids])
    if is_held.all() or not is_held.any():
        raise InputError("the labelled images come from too few volumes to hold any out")
    design_images, design_values = load_designs(
        designs, prop, labelled.encoding, labelled.images.shape[1:]
    )
    x = torch.from_numpy(np.concatenate([labelled.images, design_images]).astype(np.float32))
    y = torch.from_numpy(np.concatenate([values[:, 0], design_values]).astype(np.float32))
    is_held = np.concatenate([is_held, np.zeros(len(design_values), dtype=bool)])
    train_idx, held_idx = np.flatnonzero(~is_held), np.flatnonzero(is_held)
    mean, std = float(y[train_idx].mean()), float(y[train_idx].std() + 1e-8)
    torch.manual_seed(seed)
    model = PropertySurrogate(target_mean=(mean,), target_std=(std,))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(100, steps, 0.01))
    for step in tqdm(range(steps), desc=f"{prop} surrogate", disable=not progress):
        idx = train_idx[batch_indices(len(train_idx), batch_size, seed, step, 0)]
        batch = augment(x[idx], step_generator(seed, step, 0))
        loss = F.mse_loss(model(batch)[:, 0], (y[idx] - mean) / std)
        loss.backward()
        opt.step()
        schedule.step()
        opt.zero_grad(set_to_none=True)
    model.eval()
    predicted = model.predict(x[held_idx])[:, 0].numpy()
    truth = y[held_idx].numpy()
    metrics = {
        "r2_holdout": r_squared(truth, predicted),
        "mae_holdout": float(np.abs(truth - predicted).mean()),
        "n_train": int(len(train_idx)),
        "n_designs": int(len(design_values)),
        "n_holdout": int(len(held_idx)),
    }
    target = Path(output)
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    write_model_card(
        tmp,
        model="surrogate",
        property=prop,
        metrics=metrics,
        steps=steps,
        training_data={
            "dataset": str(dataset_dir),
            "label_sources": list(sources),
            "designs": [str(d) for d in designs],
        },
    )
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target, metrics


def load_designs(
    files: Sequence[str | os.PathLike],
    prop: str,
    encoding: str,
    image_shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Slices and simulated values of design volumes, shapes (N, *image_shape) and (N,).

    Each file must hold the cell array :func:`~dream3d_sd_filters.tasks.verified_array_name`
    of ``prop`` verified by simulation, and slices of ``image_shape`` (C, H, W); slices
    whose simulation failed (not finite) are skipped.
    """
    from ..io import read_volume
    from ..tasks import verified_array_name, volume_to_images

    name = verified_array_name(prop, "simulation")
    images, values = [], []
    for file in files:
        volume = read_volume(file)
        if name not in volume.cell_data:
            raise InputError(
                f"{str(file)!r} has no {name} array; write designs with `sd-filters generate "
                f"--target {prop}=... --verify simulation`"
            )
        slices = volume_to_images(volume, "z", encoding)
        if slices.shape[1:] != tuple(image_shape):
            raise InputError(
                f"{str(file)!r} has slices of shape {slices.shape[1:]} (C, H, W), the dataset "
                f"{tuple(image_shape)}"
            )
        per_slice = volume.cell_data[name][:, 0, 0, 0].astype(np.float64)
        finite = np.isfinite(per_slice)
        images.append(slices[finite])
        values.append(per_slice[finite])
    return (
        np.concatenate([np.zeros((0, *image_shape), dtype=np.float32), *images]),
        np.concatenate([np.zeros(0), *values]),
    )
