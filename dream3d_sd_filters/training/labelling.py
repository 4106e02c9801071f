"""Label dataset images with a property (``sd-train label``): simulation or surrogate."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import load_split
from ..data.encoding import decode_images
from ..data.labels import append_labels, labels_path, read_labels
from ..errors import InputError

PROPERTIES = {"coercivity": "T"}


def _check_property(prop: str) -> str:
    if prop not in PROPERTIES:
        raise InputError(f"unknown property {prop!r}; available: {', '.join(PROPERTIES)}")
    return PROPERTIES[prop]


def label_by_simulation(
    dataset_dir: str | os.PathLike,
    prop: str = "coercivity",
    n_images: int = 1000,
    split: str = "train",
    seed: int = 0,
    workers: int = 2,
    chunk: int = 8,
    progress: bool = True,
    **options,
) -> Path:
    """Simulate ``prop`` for a random subset of a split and append the labels.

    The subset is a fixed function of ``seed``; images already labelled by simulation are
    skipped, so an interrupted run resumes (results are also cached per image).

    Parameters
    ----------
    dataset_dir : path-like
    prop : {"coercivity"}
    n_images : int
        Images to label (the first ``n_images`` of a seeded permutation of the split).
    split : {"train", "validation"}
    workers : int
        Simulation worker processes.
    chunk : int
        Images per batch of simulations (labels are written after each batch).
    **options
        Keyword options of :func:`dream3d_sd_filters.properties.coercivity`, e.g.
        ``cell_size_nm``.

    Returns
    -------
    Path
        The label file.
    """
    from tqdm.auto import tqdm

    from ..properties.coercivity import coercivity_batch

    unit = _check_property(prop)
    if n_images < 1:
        raise InputError(f"n_images must be >= 1, got {n_images}")
    images = load_split(dataset_dir, split)
    if images.encoding != "euler":
        raise InputError(
            f"labelling needs orientations; the dataset uses the {images.encoding!r} encoding"
        )
    chosen = np.random.default_rng(seed).permutation(len(images))[:n_images]
    path = labels_path(dataset_dir, prop)
    done = set(read_labels(dataset_dir, prop, ("micromagnetics",))) if path.exists() else set()
    todo = [i for i in chosen if (int(images.volume_ids[i]), int(images.rows[i])) not in done]
    bar = tqdm(
        total=len(chosen),
        initial=len(chosen) - len(todo),
        desc=f"{prop} labels",
        unit="img",
        disable=not progress,
    )
    for start in range(0, len(todo), chunk):
        block = todo[start : start + chunk]
        items = []
        for i in block:
            phases, euler = decode_images(
                images.images[i : i + 1].astype(np.float32), images.crystal_structures[i]
            )
            items.append((phases[0], euler[0], images.crystal_structures[i]))
        results = coercivity_batch(items, workers=workers, progress=False, **options)
        append_labels(
            dataset_dir,
            prop,
            [
                (
                    int(images.volume_ids[i]),
                    int(images.rows[i]),
                    r.coercive_field_tesla,
                    unit,
                    "micromagnetics",
                )
                for i, r in zip(block, results)
                if np.isfinite(r.coercive_field_tesla)
            ],
        )
        bar.update(len(block))
    bar.close()
    return path


def label_by_surrogate(
    dataset_dir: str | os.PathLike,
    surrogate: str | os.PathLike,
    split: str = "train",
    progress: bool = True,
) -> Path:
    """Label every image of a split that has no simulated label with a trained surrogate."""
    from ..models.card import read_model_card
    from ..models.surrogate import PropertySurrogate

    card = read_model_card(surrogate)
    if card.get("model") != "surrogate":
        raise InputError(
            f"{str(surrogate)!r} holds a {card.get('model')!r} model, not a property surrogate"
        )
    prop = card["property"]
    unit = _check_property(prop)
    model = PropertySurrogate.from_pretrained(surrogate).eval()
    images = load_split(dataset_dir, split)
    simulated = set(read_labels(dataset_dir, prop, ("micromagnetics",)))
    todo = np.array(
        [
            i
            for i, key in enumerate(zip(images.volume_ids.tolist(), images.rows.tolist()))
            if key not in simulated
        ]
    )
    if len(todo) == 0:
        return labels_path(dataset_dir, prop)
    values = model.predict(torch.from_numpy(images.images[todo].astype(np.float32)))[:, 0].numpy()
    append_labels(
        dataset_dir,
        prop,
        [
            (int(images.volume_ids[i]), int(images.rows[i]), float(v), unit, "surrogate")
            for i, v in zip(todo, values)
        ],
    )
    return labels_path(dataset_dir, prop)
