"""``run_evaluation``: load a checkpoint and a dataset, evaluate, write the report folder."""

from __future__ import annotations

import datetime
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..pipelines.microstructure_sd import SURROGATE_GUIDANCE_SCALE
from ..report import Section, write_html_page
from ..tasks.design import VERIFY_METHODS
from .common import (
    EvaluationResult,
    atomic_folder,
    card_summary,
    check_count,
    check_output_folder,
    json_safe,
)

KINDS: tuple[str, ...] = (
    "reconstruction",
    "interpolation",
    "inpainting",
    "generation",
    "controlnet",
)

#: Default number of validation images (interpolation: pairs; generation: samples;
#: controlnet: phase maps and samples per property target).
DEFAULT_N_IMAGES: dict[str, int] = {
    "reconstruction": 100,
    "interpolation": 2,
    "inpainting": 16,
    "generation": 500,
    "controlnet": 64,
}

#: Default denoising steps (reconstruction has none).
DEFAULT_STEPS: dict[str, int] = {
    "interpolation": 25,
    "inpainting": 50,
    "generation": 25,
    "controlnet": 25,
}

CONTROL_PARTS: tuple[str, ...] = ("all", "orientation", "property")

#: Quantiles of the training labels used as property targets when none are given.
DEFAULT_TARGET_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)


def _dataset_settings(dataset: Path) -> dict[str, Any]:
    manifest = dataset / "dataset.json"
    if not manifest.is_file():
        raise InputError(
            f"{str(dataset)!r} is not a dataset (no dataset.json); "
            "make one with `sd-train make-dataset`"
        )
    try:
        return json.loads(manifest.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{manifest} is not valid JSON: {error}") from None


def _split_volume_ids(dataset: Path, split: str) -> set[int]:
    import h5py

    ids = set()
    for shard in sorted((dataset / "shards").glob("volume_*.h5")):
        with h5py.File(shard, "r") as f:
            if f.attrs["split"] == split:
                ids.add(int(f.attrs["volume_id"]))
    return ids


def _pick_pairs(volume_ids: np.ndarray, n_pairs: int, seed: int) -> list[tuple[int, int]]:
    # Endpoints from different volumes where possible, so the pairs really differ.
    order = np.random.default_rng(seed).permutation(len(volume_ids))
    used: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for i in order:
        if len(pairs) == n_pairs:
            break
        if i in used:
            continue
        free = [j for j in order if j != i and j not in used]
        if not free:
            break
        other = [j for j in free if volume_ids[j] != volume_ids[i]]
        j = (other or free)[0]
        used |= {int(i), int(j)}
        pairs.append((int(i), int(j)))
    return pairs


def _property_preflight(model: Any, dataset: Path, verify: str) -> tuple[str, str, np.ndarray]:
    from ..data.labels import read_labels

    info = model.card["controlnets"]["property"]
    properties = list(info.get("properties", []))
    if len(properties) != 1:
        raise InputError(
            f"the property ControlNet is conditioned on {len(properties)} properties "
            f"({', '.join(properties)}); the evaluation handles exactly one"
        )
    prop = properties[0]
    if verify == "surrogate" and prop not in model.surrogates:
        raise InputError(
            f"the checkpoint has no {prop} surrogate to measure generated samples; "
            "use --verify simulation"
        )
    if verify == "simulation" and prop != "coercivity":
        raise InputError(f"only coercivity can be simulated, not {prop!r}; use --verify surrogate")
    labels = read_labels(dataset, prop)
    train_ids = _split_volume_ids(dataset, "train")
    rows = [(value, unit) for (vid, _), (value, unit, _) in labels.items() if vid in train_ids]
    if len(rows) < 2:
        raise InputError(
            f"the dataset has {len(rows)} {prop} labels of training images; at least 2 are needed"
        )
    return prop, rows[0][1], np.array([value for value, _ in rows], dtype=np.float64)


def run_evaluation(
    kind: str,
    checkpoint: str | os.PathLike,
    dataset: str | os.PathLike,
    output: str | os.PathLike,
    *,
    n_images: int | None = None,
    n_reference: int = 1000,
    steps: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    inception_weights: str | os.PathLike | None = None,
    device: str = "cpu",
    control: str = "all",
    verify: str = "surrogate",
    targets: Sequence[float] = (),
    surrogate_guidance_scale: float = SURROGATE_GUIDANCE_SCALE,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Evaluate a checkpoint on a dataset and write ``metrics.json`` and ``index.html``.

    Parameters
    ----------
    kind : {"reconstruction", "interpolation", "inpainting", "generation", "controlnet"}
    checkpoint : str or path-like
        A pipeline folder, or the name of a bundled model ("default").
    dataset : path-like
        A folder made by ``sd-train make-dataset``; its validation split is evaluated,
        its training split is the reference of generation and ControlNet statistics.
    output : path-like
        The report folder to create (atomically: nothing is left on failure).
    n_images : int, optional
        Validation images (pairs for interpolation, samples for generation, samples per
        target for the property ControlNet); default :data:`DEFAULT_N_IMAGES`.
    n_reference : int
        Training images drawn as the reference set (generation, controlnet).
    steps : int, optional
        Denoising steps; default :data:`DEFAULT_STEPS`.
    seed : int
        Seed of the image selection and of the model's noise.
    batch_size : int
    inception_weights : path-like, optional
        FID Inception-v3 weights (``pt_inception-2015-12-05-6726825d.pth``), for the
        standard FID in the generation and controlnet evaluations.
    device : str
        Torch device of the model.
    control : {"all", "orientation", "property"}
        ControlNets to evaluate; "all" evaluates those the checkpoint has.
    verify : {"surrogate", "simulation"}
        How the property ControlNet's samples are measured.
    targets : sequence of float
        Property targets; default the 10/50/90% quantiles of the training labels.
    surrogate_guidance_scale : float
        Steering of the property samples by the surrogate (0 = the ControlNet alone).
    overwrite : bool
        Replace an existing report folder.
    progress : bool
        Show progress bars.

    Returns
    -------
    Path
        The report folder.

    Raises
    ------
    InputError
        For any bad input, before any output is written.
    """
    from ..data.dataset import load_split
    from ..models.card import check_compatible
    from ..pipelines.microstructure_sd import MicrostructureSD

    started = time.perf_counter()
    if kind not in KINDS:
        raise InputError(f"unknown evaluation {kind!r}; use one of {', '.join(KINDS)}")
    if verify not in VERIFY_METHODS:
        raise InputError(f"unknown verification {verify!r}; use one of {VERIFY_METHODS}")
    if control not in CONTROL_PARTS:
        raise InputError(f"unknown ControlNet selection {control!r}; use one of {CONTROL_PARTS}")
    n_images = check_count(DEFAULT_N_IMAGES[kind] if n_images is None else n_images, "n_images")
    n_reference = check_count(n_reference, "n_reference", 2)
    batch_size = check_count(batch_size, "batch_size")
    steps = DEFAULT_STEPS.get(kind) if steps is None else check_count(steps, "steps")
    if inception_weights is not None and kind not in ("generation", "controlnet"):
        raise InputError(f"--inception-weights is used by generation and controlnet, not {kind}")
    output = check_output_folder(output, overwrite)
    dataset = Path(dataset)
    settings = _dataset_settings(dataset)
    model = MicrostructureSD.from_pretrained(checkpoint, device=device)
    check_compatible(
        model.card, encoding=settings.get("encoding"), where=f"checkpoint {str(checkpoint)!r}"
    )
    size = int(settings["image_size"])
    if kind in ("generation", "controlnet") and size % model.unet_multiple:
        raise InputError(
            f"the dataset's {size}-pixel images are not a multiple of the model's "
            f"{model.unet_multiple} pixels, so samples of that size cannot be generated"
        )
    parts: list[str] = []
    if kind == "controlnet":
        available = [task for task in ("orientation", "property") if task in model.controlnets]
        if control == "all" and not available:
            raise InputError(
                f"checkpoint {str(checkpoint)!r} has no ControlNet; bundle one with "
                "`sd-train bundle --controlnet TASK=FOLDER`"
            )
        if control != "all" and control not in model.controlnets:
            raise InputError(f"checkpoint {str(checkpoint)!r} has no {control} ControlNet")
        parts = available if control == "all" else [control]
    prop_info = _property_preflight(model, dataset, verify) if "property" in parts else None
    inception = None
    if inception_weights is not None:
        from ..metrics.frechet import load_fid_inception

        inception = load_fid_inception(inception_weights)

    loading = time.perf_counter()
    validation_count = {"interpolation": max(8 * n_images, 64)}.get(kind, n_images)
    validation = None
    if kind != "controlnet" or "orientation" in parts:
        validation = load_split(dataset, "validation", validation_count, seed)
    train = None
    if kind == "generation" or "orientation" in parts:
        train = load_split(dataset, "train", n_reference, seed).images.astype(np.float32)
    if validation is not None and kind in ("generation", "controlnet") and len(validation) < 2:
        raise InputError(f"the dataset has {len(validation)} validation image(s); 2 are needed")
    pairs = _pick_pairs(validation.volume_ids, n_images, seed) if kind == "interpolation" else []
    if kind == "interpolation" and not pairs:
        raise InputError("the validation split needs at least 2 images for a pair")
    loading = time.perf_counter() - loading

    images = None if validation is None else validation.images.astype(np.float32)
    with atomic_folder(output) as folder:
        if kind == "reconstruction":
            from .reconstruction import evaluate_reconstruction

            results = [
                evaluate_reconstruction(
                    model, images, folder, batch_size=batch_size, progress=progress
                )
            ]
        elif kind == "interpolation":
            from .interpolation import evaluate_interpolation

            results = [
                evaluate_interpolation(
                    model,
                    np.stack([images[[i, j]] for i, j in pairs]),
                    folder,
                    steps=steps,
                    seed=seed,
                    progress=progress,
                )
            ]
        elif kind == "inpainting":
            from .inpainting import MASK_SHAPES, evaluate_inpainting, make_mask

            results = [
                evaluate_inpainting(
                    model,
                    images,
                    folder,
                    {shape: make_mask(shape, size, size, seed) for shape in MASK_SHAPES},
                    steps=steps,
                    seed=seed,
                    batch_size=batch_size,
                    progress=progress,
                )
            ]
        elif kind == "generation":
            from .generation import evaluate_generation

            results = [
                evaluate_generation(
                    model,
                    train,
                    images,
                    folder,
                    n_images,
                    steps=steps,
                    seed=seed,
                    batch_size=batch_size,
                    inception=inception,
                    progress=progress,
                )
            ]
        else:
            from .controlnet import evaluate_orientation_controlnet, evaluate_property_controlnet

            results = []
            if "orientation" in parts:
                results.append(
                    evaluate_orientation_controlnet(
                        model,
                        images,
                        train,
                        folder,
                        steps=steps,
                        seed=seed,
                        batch_size=batch_size,
                        inception=inception,
                        progress=progress,
                    )
                )
            if prop_info is not None:
                prop, unit, training_values = prop_info
                chosen = list(targets) or [
                    float(np.quantile(training_values, q)) for q in DEFAULT_TARGET_QUANTILES
                ]
                results.append(
                    evaluate_property_controlnet(
                        model,
                        training_values,
                        chosen,
                        folder,
                        prop,
                        unit,
                        n_images,
                        verify=verify,
                        steps=steps,
                        seed=seed,
                        surrogate_guidance_scale=surrogate_guidance_scale,
                        progress=progress,
                    )
                )
        _write_outputs(
            folder,
            kind,
            parts,
            results,
            model.card,
            {
                "checkpoint": str(checkpoint),
                "dataset": str(dataset),
                "n_images": n_images,
                "n_reference": n_reference if train is not None else None,
                "steps": steps,
                "seed": seed,
                "batch_size": batch_size,
                "device": device,
                "inception_weights": None if inception_weights is None else str(inception_weights),
                **({"control": parts, "verify": verify} if kind == "controlnet" else {}),
            },
            {
                "path": str(dataset),
                "encoding": settings.get("encoding"),
                "image_size": size,
                "validation_images": None if validation is None else len(validation),
                "train_images": None if train is None else len(train),
            },
            loading,
            started,
        )
    return output


def _write_outputs(
    folder: Path,
    kind: str,
    parts: list[str],
    results: list[EvaluationResult],
    card: dict[str, Any],
    settings: dict[str, Any],
    dataset: dict[str, Any],
    loading: float,
    started: float,
) -> None:
    if kind == "controlnet":
        metrics: dict[str, Any] = {part: r.metrics for part, r in zip(parts, results)}
        stage_times = {
            f"{part}_{stage}": seconds
            for part, r in zip(parts, results)
            for stage, seconds in r.timings.items()
        }
    else:
        metrics = results[0].metrics
        stage_times = dict(results[0].timings)
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    summary = card_summary(card)
    sections = [section for r in results for section in r.sections]
    header = {
        "evaluation": kind,
        "checkpoint": settings["checkpoint"],
        "trained": summary.get("trained", "unknown"),
        "dataset": settings["dataset"],
        "validation images": dataset["validation_images"],
        "training reference images": dataset["train_images"],
        "steps": settings["steps"],
        "seed": settings["seed"],
        "device": settings["device"],
        "created": created,
    }
    settings_section = Section(
        "Settings", text=["Every number on this page is also in metrics.json."], tables=[header]
    )
    write_html_page(folder / "index.html", f"Evaluation: {kind}", [settings_section, *sections])
    timings = {**stage_times, "loading": loading, "total": time.perf_counter() - started}
    document = {
        "kind": kind,
        "created": created,
        "settings": settings,
        "checkpoint": summary,
        "dataset": dataset,
        "timings_s": timings,
        "metrics": metrics,
    }
    (folder / "metrics.json").write_text(json.dumps(json_safe(document), indent=2) + "\n")
