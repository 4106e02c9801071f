"""Train the property surrogate CNN on simulated labels (``sd-train surrogate``)."""

from __future__ import annotations

import os
import shutil
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
    progress: bool = True,
) -> tuple[Path, dict[str, float]]:
    """Fit :class:`PropertySurrogate` to the labels of the train split made by ``sources``.

    Volumes are held out whole (every ``holdout_every``-th labelled volume) to measure
    R² on microstructures the surrogate has not seen.

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
    x = torch.from_numpy(labelled.images.astype(np.float32))
    y = torch.from_numpy(values[:, 0])
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
        training_data={"dataset": str(dataset_dir), "label_sources": list(sources)},
    )
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target, metrics
