"""Train a ControlNet on the frozen latent UNet (``sd-train controlnet CONFIG``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import load_split
from ..data.labels import label_matrix, read_labels
from ..errors import InputError
from ..models.card import check_compatible, write_model_card
from ..models.controlnet import build_controlnet, make_condition
from ..models.padding import set_padding_mode
from ..models.unet import null_context
from .autoencoder import check_images_fit
from .common import check_run_dir, locate_part, save_grid
from .config import TrainConfig
from .diffusion import cached_latents, denoising_loop, load_autoencoder


def load_base_unet(name_or_path: str | Path):
    """The trained diffusion UNet (an ``sd-train ldm`` final folder, or a pipeline's),
    frozen, its model card and its folder (see :func:`locate_part`)."""
    from diffusers import UNet2DConditionModel

    folder, weights, card = locate_part(name_or_path, "diffusion")
    try:
        unet = UNet2DConditionModel.from_pretrained(weights, torch_dtype=torch.float32)
    except (OSError, ValueError, RuntimeError) as error:
        raise InputError(f"cannot load the UNet in {str(folder)!r}: {error}") from None
    set_padding_mode(unet, card.get("padding", "zeros"))
    return unet.eval().requires_grad_(False), card, folder


def controlled_eps(unet, controlnet, noisy, t, condition, scale: float = 1.0):
    """Noise prediction of the frozen UNet steered by a ControlNet."""
    context = null_context(unet, len(noisy), noisy.device, noisy.dtype)
    down, mid = controlnet(
        noisy,
        t,
        encoder_hidden_states=context,
        controlnet_cond=condition,
        conditioning_scale=scale,
        return_dict=False,
    )
    return unet(
        noisy,
        t,
        encoder_hidden_states=context,
        down_block_additional_residuals=down,
        mid_block_additional_residual=mid,
    ).sample


@torch.no_grad()
def sample_controlled(
    unet, controlnet, condition, seed: int, steps: int = 30, guidance: float = 1.5
):
    """DDIM latents under a condition, with classifier-free guidance against the null condition."""
    from diffusers import DDIMScheduler

    from ..models.unet import build_noise_scheduler

    scheduler = DDIMScheduler.from_config(build_noise_scheduler().config)
    scheduler.set_timesteps(steps)
    n = len(condition)
    size = unet.config.sample_size
    x = torch.randn(
        n, unet.config.in_channels, size, size, generator=torch.Generator().manual_seed(seed)
    )
    null = torch.zeros_like(condition)
    for t in scheduler.timesteps:
        eps_null = controlled_eps(unet, controlnet, x, t, null)
        eps_cond = controlled_eps(unet, controlnet, x, t, condition)
        x = scheduler.step(eps_null + guidance * (eps_cond - eps_null), t, x).prev_sample
    return x


def train_controlnet(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train the ControlNet described by ``config``; returns the final checkpoint folder.

    The final folder holds ``controlnet/`` (EMA weights) and ``model_card.json`` with the
    task, the property names and their normalisation (mean, std).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    run, control = config.run, config.control
    run_dir = Path(run.output_dir)
    vae, vae_card, vae_folder = load_autoencoder(config.latent.autoencoder)
    check_compatible(
        vae_card, encoding=config.data.encoding, where=f"autoencoder {str(vae_folder)!r}"
    )
    unet, base_card, base_folder = load_base_unet(control.base)
    if Path(base_card["autoencoder"]).resolve() != vae_folder.resolve():
        raise InputError(
            f"the base model {str(base_folder)!r} models the latents of {base_card['autoencoder']!r}, "
            f"not of {str(vae_folder)!r}"
        )
    scaling = float(vae_card["scaling_factor"])
    downsampling = 2 ** (len(vae.config.block_out_channels) - 1)
    accelerator = Accelerator(
        mixed_precision=run.mixed_precision,
        gradient_accumulation_steps=config.optim.gradient_accumulation,
        project_dir=str(run_dir),
    )
    train = load_split(config.data.dataset, "train", config.data.max_images, run.seed)
    check_images_fit(train, config.data.image_size, vae.config.in_channels, config.data.dataset)
    normalization: dict[str, list[float]] = {}
    values = None
    if control.task == "property":
        labels = {
            p: read_labels(config.data.dataset, p, control.label_sources)
            for p in control.properties
        }
        keep, raw_values = label_matrix(train, labels)
        if len(keep) < 16:
            raise InputError(
                f"only {len(keep)} training images carry labels for {', '.join(control.properties)}; "
                "label more with `sd-train label`"
            )
        train = train.subset(keep)
        mean, std = raw_values.mean(0), raw_values.std(0) + 1e-8
        normalization = {
            p: [float(mean[i]), float(std[i])] for i, p in enumerate(control.properties)
        }
        ranges = {
            p: [float(raw_values[:, i].min()), float(raw_values[:, i].max())]
            for i, p in enumerate(control.properties)
        }
        values = torch.from_numpy((raw_values - mean) / std)
    if accelerator.is_main_process:
        check_run_dir(run_dir, config.to_dict(), resume)
        latents = cached_latents(vae, train.images, "train", run_dir / "cache", progress)
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        latents = cached_latents(vae, train.images, "train", run_dir / "cache", False)
    set_seed(run.seed)
    unet.to(accelerator.device)
    controlnet = build_controlnet(
        unet,
        control.task,
        downsampling,
        len(control.properties),
        vae_card.get("padding", "circular"),
    )
    size = config.data.image_size

    def condition_for(idx: np.ndarray) -> torch.Tensor:
        if control.task == "orientation":
            return torch.from_numpy(train.images[idx, 0].astype(np.float32))
        return values[idx]

    def predict(model, noisy, t, idx, generator):
        present = torch.rand(len(idx), generator=generator) >= control.condition_dropout
        condition = make_condition(control.task, condition_for(idx), size, size, present).to(
            noisy.device
        )
        return controlled_eps(unet, model, noisy, t, condition)

    shown = np.arange(min(8, len(train)))

    def sample(model, step):
        condition = make_condition(control.task, condition_for(shown), size, size)
        with torch.no_grad():
            images = vae.decode(
                sample_controlled(unet, model, condition, run.seed) / scaling
            ).sample.clamp(-1, 1)
        rows = [train.images[shown].astype(np.float32), images.numpy()]
        save_grid(rows, run_dir / "samples" / f"step-{step:07d}.png")

    controlnet, step = denoising_loop(
        accelerator,
        controlnet,
        predict,
        sample,
        latents,
        scaling,
        config,
        resume,
        progress,
        f"controlnet ({control.task})",
    )
    final = run_dir / "final"
    if accelerator.is_main_process:
        tmp = final.with_name("final.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        controlnet.save_pretrained(tmp / "controlnet")
        dataset_settings = json.loads((Path(config.data.dataset) / "dataset.json").read_text())
        write_model_card(
            tmp,
            model="controlnet",
            task=control.task,
            properties=list(control.properties) if control.task == "property" else [],
            property_normalization=normalization,
            property_range=ranges if control.task == "property" else {},
            orientation_encoding=config.data.encoding,
            image_size=size,
            padding=vae_card.get("padding", "circular"),
            autoencoder=str(vae_folder),
            base=str(base_folder),
            steps=step,
            metrics={},
            training_data={
                "dataset": str(config.data.dataset),
                "train_images": len(train),
                **dataset_settings,
            },
            config=config.to_dict(),
        )
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final
