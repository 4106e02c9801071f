"""Assemble trained checkpoints into a pipeline folder (``sd-train bundle``).

The bundled default model, ``dream3d_sd_filters/weights/default``, is such a folder with
fp16 weights; all bundled weights together must stay within :data:`WEIGHTS_BUDGET_MB`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import InputError
from ..models.card import read_model_card
from ..pipelines.microstructure_sd import resolve_pretrained
from .common import locate_part
from .config import FineTuneSettings

WEIGHTS_BUDGET_MB = 40.0


def bundle_pipeline(
    autoencoder: str | os.PathLike,
    diffusion: str | os.PathLike,
    output: str | os.PathLike,
    controlnets: dict[str, str | os.PathLike] | None = None,
    surrogates: dict[str, str | os.PathLike] | None = None,
    half: bool = True,
    metrics: dict | None = None,
) -> Path:
    """Combine an autoencoder folder and a diffusion folder into one pipeline folder.

    Parameters
    ----------
    autoencoder : path-like
        ``final/`` folder of ``sd-train vae``, or a pipeline folder (its autoencoder).
    diffusion : path-like
        ``final/`` folder of ``sd-train ldm`` trained on that autoencoder's latents, or
        a pipeline folder, whose ControlNets and surrogates are kept unless replaced.
    output : path-like
        The pipeline folder to write (replaced atomically).
    controlnets : dict, optional
        ``{task: final/ folder of sd-train controlnet}``, attached to this diffusion model.
    surrogates : dict, optional
        ``{property: folder of sd-train surrogate}``.
    half : bool
        Store fp16 weights.
    metrics : dict, optional
        Measured quality to record in the model card.

    Returns
    -------
    Path
    """
    from diffusers import ControlNetModel, DDPMScheduler, UNet2DConditionModel

    from ..models.surrogate import PropertySurrogate
    from ..pipelines.microstructure_sd import MicrostructureSD
    from .diffusion import load_autoencoder

    vae, vae_card, vae_folder = load_autoencoder(autoencoder)
    ldm_folder, unet_weights, ldm_card = locate_part(diffusion, "diffusion")
    if Path(ldm_card["autoencoder"]).resolve() not in shared_latent_space(vae_card, vae_folder):
        raise InputError(
            f"the diffusion model in {str(ldm_folder)!r} was trained on the latents of "
            f"{ldm_card['autoencoder']!r}, not {str(vae_folder)!r}"
        )
    unet = UNet2DConditionModel.from_pretrained(unet_weights, torch_dtype=torch.float32)
    scheduler = DDPMScheduler.from_pretrained(ldm_folder / "scheduler")
    card = {
        "model": "pipeline",
        "orientation_encoding": vae_card["orientation_encoding"],
        "image_size": vae_card["image_size"],
        "padding": vae_card.get("padding", "circular"),
        "scaling_factor": vae_card["scaling_factor"],
        "trained": True,
        "autoencoder": {
            k: vae_card[k]
            for k in ("steps", "metrics", "training_data", "config", "finetuned_from")
            if k in vae_card
        },
        "diffusion": {
            k: ldm_card[k] for k in ("steps", "metrics", "training_data", "config") if k in ldm_card
        },
        "metrics": metrics or {},
        "controlnets": {},
        "surrogates": {},
    }
    loaded, predictors = {}, {}
    if read_model_card(ldm_folder).get("model") == "pipeline":
        # Re-bundling a pipeline keeps what it already carries unless replaced.
        existing = MicrostructureSD.from_pretrained(ldm_folder)
        loaded.update(existing.controlnets)
        predictors.update(existing.surrogates)
        for key in ("controlnets", "surrogates"):
            card[key].update(existing.card.get(key, {}))
        card["metrics"] = metrics or existing.card.get("metrics", {})
    for task, folder in (controlnets or {}).items():
        control_card = read_model_card(folder)
        if control_card.get("model") != "controlnet" or control_card.get("task") != task:
            raise InputError(f"{str(folder)!r} does not hold a {task} ControlNet")
        if Path(control_card["base"]).resolve() != ldm_folder.resolve():
            raise InputError(
                f"the {task} ControlNet in {str(folder)!r} was trained on {control_card['base']!r}, "
                f"not on {str(ldm_folder)!r}"
            )
        loaded[task] = ControlNetModel.from_pretrained(
            Path(folder) / "controlnet", torch_dtype=torch.float32
        )
        keys = (
            "properties",
            "property_normalization",
            "property_range",
            "steps",
            "metrics",
            "training_data",
        )
        card["controlnets"][task] = {k: control_card[k] for k in keys if k in control_card}
    for prop, folder in (surrogates or {}).items():
        surrogate_card = read_model_card(folder)
        if surrogate_card.get("model") != "surrogate" or surrogate_card.get("property") != prop:
            raise InputError(f"{str(folder)!r} does not hold a {prop} surrogate")
        predictors[prop] = PropertySurrogate.from_pretrained(folder)
        card["surrogates"][prop] = {
            k: surrogate_card[k] for k in ("metrics", "steps", "training_data")
        }
    pipeline = MicrostructureSD(
        vae, unet, dict(scheduler.config), card, controlnets=loaded, surrogates=predictors
    )
    return pipeline.save_pretrained(output, half=half)


def shared_latent_space(vae_card: dict, vae_folder: Path) -> set[Path]:
    """Folders of the autoencoders whose latents a diffusion model for this one may use.

    Itself, and, when it was fine-tuned with a fixed encoder (``[finetune] train =
    "decoder"`` or ``"refiner"``), the autoencoder it started from: the latent space stayed.
    """
    folders = {vae_folder.resolve()}
    finetune = FineTuneSettings(**(vae_card.get("config", {}).get("finetune") or {}))
    if finetune.keeps_latent_space:
        folders.add(resolve_pretrained(finetune.from_autoencoder).resolve())
    return folders


def weights_size_mb(folder: str | os.PathLike) -> float:
    """Total size of the ``*.safetensors`` files under ``folder``, in MB."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*.safetensors")) / 2**20
