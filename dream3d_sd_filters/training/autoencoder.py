"""Train the 4-channel KL autoencoder (``sd-train vae CONFIG``)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import ImageSet, load_split
from ..models.autoencoder import build_autoencoder
from ..models.card import write_model_card
from ..models.discriminator import PatchDiscriminator
from .common import (
    CsvLog,
    Throughput,
    augment,
    batch_indices,
    check_run_dir,
    lr_lambda,
    resume_latest,
    save_checkpoint,
    save_grid,
    step_generator,
)
from .config import FineTuneSettings, TrainConfig
from .losses import (
    adaptive_adversarial_weight,
    channel_weights,
    hinge_discriminator_loss,
    kl_loss,
    reconstruction_loss,
)


def check_images_fit(images: ImageSet, image_size: int, channels: int, dataset: str) -> None:
    """InputError if a dataset's images do not match what the model expects."""
    from ..errors import InputError

    shape = images.images.shape[1:]
    if shape[0] != channels or shape[1] != image_size or shape[2] != image_size:
        raise InputError(
            f"dataset {dataset!r} has images of shape {tuple(shape)} (C, H, W), but the model "
            f"expects ({channels}, {image_size}, {image_size})"
        )


@torch.no_grad()
def reconstruction_psnr(vae, images: torch.Tensor, batch_size: int = 64) -> dict[str, float]:
    """Mean per-image PSNR (dB, data range 2) of the phase and of the orientation channels."""
    from ..metrics.image import psnr

    recon = torch.cat(
        [
            vae(images[i : i + batch_size], sample_posterior=False).sample
            for i in range(0, len(images), batch_size)
        ]
    ).clamp(-1, 1)
    return {
        "psnr_phase": float(np.mean(psnr(images[:, :1], recon[:, :1], data_range=2.0))),
        "psnr_orientation": float(np.mean(psnr(images[:, 1:], recon[:, 1:], data_range=2.0))),
    }


class AutoencoderStep(torch.nn.Module):
    """One encode-sample-decode pass as a single ``forward``.

    Data-parallel wrappers synchronise gradients only through ``forward``, and the
    KL term needs the posterior, which ``AutoencoderKL.forward`` does not return.
    """

    def __init__(self, vae) -> None:
        super().__init__()
        self.vae = vae

    def forward(
        self, images: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        posterior = self.vae.encode(images).latent_dist
        latents = posterior.sample(generator) if sample else posterior.mean
        recon = self.vae.decode(latents).sample
        return recon, posterior.mean, posterior.logvar


def train_autoencoder(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train the autoencoder described by ``config``; returns the final checkpoint folder.

    The run folder ``config.run.output_dir`` receives ``config.json``, ``log.csv`` (losses),
    ``eval.csv`` (validation PSNR),
    ``samples/step-*.png``, ``checkpoints/step-*`` (full training state, resumable)
    and ``final/`` (EMA weights as a diffusers folder plus ``model_card.json``).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from diffusers.training_utils import EMAModel
    from tqdm.auto import tqdm

    run, optim, loss_cfg = config.run, config.optim, config.loss
    run_dir = Path(run.output_dir)
    accelerator = Accelerator(
        mixed_precision=run.mixed_precision,
        gradient_accumulation_steps=optim.gradient_accumulation,
        log_with="tensorboard" if run.tensorboard else None,
        project_dir=str(run_dir),
    )
    train = load_split(config.data.dataset, "train", config.data.max_images, run.seed)
    valid = load_split(config.data.dataset, "validation", run.eval_images, run.seed)
    for split in (train, valid):
        check_images_fit(
            split, config.data.image_size, config.model.image_channels, config.data.dataset
        )
    if train.encoding != config.data.encoding:
        from ..errors import InputError

        raise InputError(
            f"dataset {config.data.dataset!r} uses the {train.encoding!r} encoding, "
            f"the config asks for {config.data.encoding!r}"
        )
    if accelerator.is_main_process:
        check_run_dir(run_dir, config.to_dict(), resume)
    accelerator.wait_for_everyone()
    set_seed(run.seed)

    finetune = config.finetune or FineTuneSettings()
    vae = AutoencoderStep(build_autoencoder(config.model))
    if finetune.from_autoencoder:
        load_pretrained(vae.vae, finetune.from_autoencoder, config)
    if finetune.keeps_latent_space:
        vae.vae.requires_grad_(False)
        learning = ["refiner"]
        if finetune.train == "decoder":
            learning += ["decoder", "post_quant_conv"]
        for name in learning:
            part = getattr(vae.vae, name)
            if part is not None:
                part.requires_grad_(True)
    discriminator = PatchDiscriminator(config.model.image_channels)
    opt = torch.optim.AdamW(
        [p for p in vae.parameters() if p.requires_grad],
        lr=optim.lr,
        weight_decay=optim.weight_decay,
        betas=(0.9, 0.99),
    )
    opt_d = torch.optim.AdamW(
        discriminator.parameters(), lr=loss_cfg.discriminator_lr, betas=(0.5, 0.9)
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_lambda(optim.warmup_steps, optim.max_steps, optim.min_lr / optim.lr)
    )
    ema = EMAModel(vae.vae.parameters(), decay=optim.ema_decay)
    vae, discriminator, opt, opt_d, schedule = accelerator.prepare(
        vae, discriminator, opt, opt_d, schedule
    )
    accelerator.register_for_checkpointing(ema)
    perceptual_net = None
    if loss_cfg.perceptual > 0:
        from ..models.vgg import VGG19Features, perceptual_distance

        perceptual_net = VGG19Features().to(accelerator.device)

    progress_record = resume_latest(accelerator, run_dir) if resume else {}
    step = int(progress_record.get("step", 0))
    images = torch.from_numpy(train.images)
    valid_images = torch.from_numpy(valid.images).float().to(accelerator.device)
    weights = channel_weights(
        loss_cfg.phase_weight, loss_cfg.orientation_weight, accelerator.device
    )
    n_elements = int(np.prod(images.shape[1:]))
    raw_vae = accelerator.unwrap_model(vae).vae
    last_layer = (
        raw_vae.refiner if raw_vae.refiner is not None else raw_vae.decoder
    ).conv_out.weight
    log = CsvLog(
        run_dir / "log.csv",
        ["step", "lr", "loss", "rec", "perceptual", "gan_g", "gan_d", "images_per_s"],
    )
    eval_log = CsvLog(run_dir / "eval.csv", ["step", "psnr_phase", "psnr_orientation"])
    rate = Throughput()
    bar = tqdm(
        total=optim.max_steps,
        initial=step,
        desc="autoencoder",
        unit="step",
        disable=not (progress and accelerator.is_main_process),
    )
    terms: dict[str, float] = {}
    while step < optim.max_steps:
        with accelerator.accumulate(vae):
            idx = batch_indices(
                len(images), optim.batch_size, run.seed, step, accelerator.process_index
            )
            batch = images[idx].float()
            # Randomness is seeded per step, so a resumed run repeats an uninterrupted one.
            generator = step_generator(run.seed, step, accelerator.process_index)
            if config.data.augment:
                batch = augment(batch, generator)
            batch = batch.to(accelerator.device)
            # A fixed encoder is decoded from its posterior means, as the diffusion model
            # is trained on them.
            sample = not finetune.keeps_latent_space and step >= loss_cfg.deterministic_steps
            recon, mean, logvar = vae(batch, sample=sample, generator=generator)
            rec = reconstruction_loss(
                batch, recon, weights, loss_cfg.l1, loss_cfg.mse, loss_cfg.gradient
            )
            total = rec + loss_cfg.kl * kl_loss(mean, logvar, n_elements)
            terms = {"rec": rec.item()}
            if perceptual_net is not None and step >= loss_cfg.perceptual_start:
                perc = perceptual_distance(perceptual_net, batch, recon)
                total = total + loss_cfg.perceptual * perc
                terms["perceptual"] = perc.item()
            use_gan = loss_cfg.adversarial > 0 and step >= loss_cfg.adversarial_start
            if use_gan:
                for p in discriminator.parameters():
                    p.requires_grad_(False)
                g_loss = -discriminator(recon).mean()
                adaptive = adaptive_adversarial_weight(rec, g_loss, last_layer)
                total = total + loss_cfg.adversarial * adaptive * g_loss
                terms["gan_g"] = g_loss.item()
                for p in discriminator.parameters():
                    p.requires_grad_(True)
            accelerator.backward(total)
            if accelerator.sync_gradients and optim.grad_clip:
                accelerator.clip_grad_norm_(vae.parameters(), optim.grad_clip)
            opt.step()
            schedule.step()
            opt.zero_grad(set_to_none=True)
            if use_gan:
                d_loss = hinge_discriminator_loss(
                    discriminator(batch), discriminator(recon.detach())
                )
                accelerator.backward(d_loss)
                opt_d.step()
                opt_d.zero_grad(set_to_none=True)
                terms["gan_d"] = d_loss.item()
        if not accelerator.sync_gradients:
            continue
        ema.step(raw_vae.parameters())
        step += 1
        rate.add(optim.batch_size * accelerator.num_processes * optim.gradient_accumulation)
        bar.update()
        if not math.isfinite(total.item()):
            raise FloatingPointError(f"autoencoder loss became {total.item()} at step {step}")
        if accelerator.is_main_process and step % run.log_every == 0:
            log.write(
                {
                    "step": step,
                    "lr": schedule.get_last_lr()[0],
                    "loss": total.item(),
                    **terms,
                    "images_per_s": rate.rate(),
                }
            )
            bar.set_postfix(loss=f"{total.item():.4f}")
        if step % run.eval_every == 0 or step == optim.max_steps:
            ema.store(raw_vae.parameters())
            ema.copy_to(raw_vae.parameters())
            raw_vae.eval()
            metrics = reconstruction_psnr(raw_vae, valid_images)
            if accelerator.is_main_process:
                eval_log.write({"step": step, **metrics})
                bar.write(
                    f"step {step}: " + ", ".join(f"{k} {v:.2f} dB" for k, v in metrics.items())
                )
                if step % run.sample_every == 0 or step == optim.max_steps:
                    with torch.no_grad():
                        shown = valid_images[:8]
                        recon_shown = raw_vae(shown, sample_posterior=False).sample.clamp(-1, 1)
                    save_grid(
                        [shown.cpu().numpy(), recon_shown.cpu().numpy()],
                        run_dir / "samples" / f"step-{step:07d}.png",
                    )
            raw_vae.train()
            ema.restore(raw_vae.parameters())
            progress_record = {"metrics": metrics}
        if step % run.checkpoint_every == 0 or step == optim.max_steps:
            save_checkpoint(accelerator, run_dir, step, run.keep_checkpoints, progress_record)
    bar.close()

    final = run_dir / "final"
    if accelerator.is_main_process:
        ema.copy_to(raw_vae.parameters())
        raw_vae.eval()
        metrics = reconstruction_psnr(raw_vae, valid_images)
        scaling = measure_scaling_factor(raw_vae, images[: min(len(images), 2048)].float())
        raw_vae.register_to_config(scaling_factor=scaling)
        tmp = final.with_name("final.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        raw_vae.save_pretrained(tmp)
        dataset_settings = json.loads((Path(config.data.dataset) / "dataset.json").read_text())
        write_model_card(
            tmp,
            model="autoencoder",
            orientation_encoding=config.data.encoding,
            image_size=config.data.image_size,
            padding=config.model.padding,
            scaling_factor=scaling,
            steps=step,
            metrics={"validation": metrics, "validation_images": len(valid_images)},
            finetuned_from=finetune.from_autoencoder,
            training_data={
                "dataset": str(config.data.dataset),
                "train_images": len(images),
                **dataset_settings,
            },
            config=config.to_dict(),
        )
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def load_pretrained(vae, name_or_path: str, config: TrainConfig) -> None:
    """Load a trained autoencoder's weights into ``vae`` (built from ``config.model``).

    Only the refiner may be missing from the trained weights; it then starts as the
    identity. InputError if the architecture or the orientation encoding differ.
    """
    from ..errors import InputError
    from .diffusion import load_autoencoder

    trained, card, folder = load_autoencoder(name_or_path)
    if card.get("orientation_encoding", config.data.encoding) != config.data.encoding:
        raise InputError(
            f"autoencoder {str(folder)!r} uses the {card.get('orientation_encoding')!r} "
            f"encoding, the config asks for {config.data.encoding!r}"
        )
    try:
        result = vae.load_state_dict(trained.state_dict(), strict=False)
    except RuntimeError as error:  # weights of other shapes
        detail = str(error).splitlines()[-1].strip()
        raise InputError(f"autoencoder {str(folder)!r} does not match [model]: {detail}") from None
    missing = [key for key in result.missing_keys if not key.startswith("refiner.")]
    if missing or result.unexpected_keys:
        raise InputError(
            f"autoencoder {str(folder)!r} does not match [model]: "
            f"{len(missing)} missing and {len(result.unexpected_keys)} unexpected weights "
            f"(e.g. {(missing + result.unexpected_keys)[0]})"
        )


@torch.no_grad()
def measure_scaling_factor(vae, images: torch.Tensor, batch_size: int = 64) -> float:
    """1 / std of the latent means over ``images`` (the latent scaling of the diffusion model)."""
    latents = torch.cat(
        [
            vae.encode(images[i : i + batch_size]).latent_dist.mean
            for i in range(0, len(images), batch_size)
        ]
    )
    return float(1.0 / latents.std())
