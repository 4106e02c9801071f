"""Train the latent diffusion UNet (``sd-train ldm CONFIG``)."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.dataset import load_split
from ..errors import InputError
from ..models.card import check_compatible, write_model_card
from ..models.padding import set_padding_mode
from ..models.unet import build_noise_scheduler, build_unet, null_context
from .autoencoder import check_images_fit
from .common import (
    CsvLog,
    Throughput,
    batch_indices,
    check_run_dir,
    locate_part,
    lr_lambda,
    resume_latest,
    save_checkpoint,
    save_grid,
    step_generator,
)
from .config import TrainConfig


def load_autoencoder(name_or_path: str | Path):
    """Load a trained autoencoder, its model card and its folder (see :func:`locate_part`)."""
    from ..models.refiner import MicrostructureAutoencoderKL

    folder, weights, card = locate_part(name_or_path, "autoencoder")
    try:
        vae = MicrostructureAutoencoderKL.from_pretrained(weights, torch_dtype=torch.float32)
    except (OSError, ValueError, RuntimeError) as error:
        raise InputError(f"cannot load the autoencoder in {str(folder)!r}: {error}") from None
    set_padding_mode(vae, card.get("padding", "zeros"))
    return vae.eval().requires_grad_(False), card, folder


@torch.no_grad()
def encode_dataset(vae, images, batch_size: int = 64, progress: bool = True) -> torch.Tensor:
    """Posterior means and standard deviations of every image, shape (N, 2, C, h, w), float16."""
    from tqdm.auto import tqdm

    out = []
    for i in tqdm(range(0, len(images), batch_size), desc="encoding latents", disable=not progress):
        dist = vae.encode(torch.from_numpy(images[i : i + batch_size]).float()).latent_dist
        out.append(torch.stack([dist.mean, dist.std], dim=1).half())
    return torch.cat(out)


def cached_latents(vae, images, split: str, cache_dir: Path, progress: bool) -> torch.Tensor:
    """Latents of a split, cached per (autoencoder weights, images) in the run folder."""
    digest = hashlib.sha256()
    for name, tensor in sorted(vae.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    digest.update(images[:: max(len(images) // 64, 1)].tobytes())
    digest.update(str(images.shape).encode())
    path = cache_dir / f"latents-{split}-{digest.hexdigest()[:16]}.pt"
    if path.exists():
        return torch.load(path)
    latents = encode_dataset(vae, images, progress=progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    torch.save(latents, tmp)
    tmp.rename(path)
    return latents


@torch.no_grad()
def sample_latents(unet, n: int, seed: int, steps: int = 50) -> torch.Tensor:
    """DDIM samples from the UNet, shape (n, C, h, w), still scaled by the scaling factor."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(build_noise_scheduler().config)
    scheduler.set_timesteps(steps)
    size = unet.config.sample_size
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, unet.config.in_channels, size, size, generator=generator)
    context = null_context(unet, n)
    for t in scheduler.timesteps:
        eps = unet(x, t, encoder_hidden_states=context).sample
        x = scheduler.step(eps, t, x).prev_sample
    return x


def denoising_loop(
    accelerator, model, predict, sample, latents, scaling, config, resume, progress, desc
):
    """The epsilon-prediction training loop shared by the UNet and the ControlNets.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
    model : torch.nn.Module
        The network being trained (AdamW, EMA, checkpoints); anything else ``predict``
        uses must be frozen.
    predict : callable
        ``predict(model, noisy, t, idx, generator) -> eps`` for a batch of noisy scaled
        latents, their timesteps and their dataset indices.
    sample : callable
        ``sample(model, step)`` saves a sample grid (main process, EMA weights).
    latents : Tensor, shape (N, 2, C, h, w)
        Posterior means and standard deviations of the training images.
    scaling : float
        Latent scaling factor.

    Returns
    -------
    (model, step)
        The unwrapped model holding the EMA weights, and the final step.
    """
    from diffusers.training_utils import EMAModel
    from tqdm.auto import tqdm

    run, optim = config.run, config.optim
    run_dir = Path(run.output_dir)
    noise_scheduler = build_noise_scheduler()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=optim.lr, weight_decay=optim.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_lambda(optim.warmup_steps, optim.max_steps, optim.min_lr / optim.lr)
    )
    ema = EMAModel(trainable, decay=optim.ema_decay)
    prepared, opt, schedule = accelerator.prepare(model, opt, schedule)
    accelerator.register_for_checkpointing(ema)
    step = int((resume_latest(accelerator, run_dir) if resume else {}).get("step", 0))
    raw = accelerator.unwrap_model(prepared)
    alphas = noise_scheduler.alphas_cumprod
    log = CsvLog(run_dir / "log.csv", ["step", "lr", "loss", "images_per_s"])
    rate = Throughput()
    bar = tqdm(
        total=optim.max_steps,
        initial=step,
        desc=desc,
        unit="step",
        disable=not (progress and accelerator.is_main_process),
    )
    while step < optim.max_steps:
        with accelerator.accumulate(prepared):
            idx = batch_indices(
                len(latents), optim.batch_size, run.seed, step, accelerator.process_index
            )
            gen = step_generator(run.seed, step, accelerator.process_index)
            stats = latents[idx].float()
            z = (
                stats[:, 0] + stats[:, 1] * torch.randn(stats[:, 0].shape, generator=gen)
            ) * scaling
            noise = torch.randn(z.shape, generator=gen)
            t = torch.randint(
                0, noise_scheduler.config.num_train_timesteps, (len(z),), generator=gen
            )
            a = alphas[t].view(-1, 1, 1, 1)
            noisy = a.sqrt() * z + (1 - a).sqrt() * noise
            noisy, noise, t = (v.to(accelerator.device) for v in (noisy, noise, t))
            loss = F.mse_loss(predict(prepared, noisy, t, idx, gen).float(), noise)
            accelerator.backward(loss)
            if accelerator.sync_gradients and optim.grad_clip:
                accelerator.clip_grad_norm_(trainable, optim.grad_clip)
            opt.step()
            schedule.step()
            opt.zero_grad(set_to_none=True)
        if not accelerator.sync_gradients:
            continue
        ema.step(trainable)
        step += 1
        rate.add(optim.batch_size * accelerator.num_processes * optim.gradient_accumulation)
        bar.update()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"{desc} loss became {loss.item()} at step {step}")
        if accelerator.is_main_process and step % run.log_every == 0:
            log.write(
                {
                    "step": step,
                    "lr": schedule.get_last_lr()[0],
                    "loss": loss.item(),
                    "images_per_s": rate.rate(),
                }
            )
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if accelerator.is_main_process and (
            step % run.sample_every == 0 or step == optim.max_steps
        ):
            ema.store(trainable)
            ema.copy_to(trainable)
            raw.eval()
            sample(raw, step)
            raw.train()
            ema.restore(trainable)
        if step % run.checkpoint_every == 0 or step == optim.max_steps:
            save_checkpoint(accelerator, run_dir, step, run.keep_checkpoints, {})
    bar.close()
    ema.copy_to(trainable)
    return raw.eval(), step


def train_diffusion(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train the latent UNet described by ``config``; returns the final checkpoint folder.

    The final folder holds ``unet/`` (EMA weights), ``scheduler/`` and ``model_card.json``
    naming the autoencoder whose latents it models.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    run, optim = config.run, config.optim
    run_dir = Path(run.output_dir)
    vae, vae_card, vae_folder = load_autoencoder(config.latent.autoencoder)
    check_compatible(
        vae_card, encoding=config.data.encoding, where=f"autoencoder {str(vae_folder)!r}"
    )
    scaling = float(vae_card["scaling_factor"])
    downsampling = 2 ** (len(vae.config.block_out_channels) - 1)
    if config.data.image_size // downsampling != config.model.sample_size:
        raise InputError(
            f"[model] sample_size {config.model.sample_size} does not match {config.data.image_size}px "
            f"images at the autoencoder's downsampling {downsampling}"
        )
    if vae.config.latent_channels != config.model.latent_channels:
        raise InputError(
            f"the autoencoder has {vae.config.latent_channels} latent channels, "
            f"[model] latent_channels is {config.model.latent_channels}"
        )
    accelerator = Accelerator(
        mixed_precision=run.mixed_precision,
        gradient_accumulation_steps=optim.gradient_accumulation,
        log_with="tensorboard" if run.tensorboard else None,
        project_dir=str(run_dir),
    )
    train = load_split(config.data.dataset, "train", config.data.max_images, run.seed)
    check_images_fit(train, config.data.image_size, vae.config.in_channels, config.data.dataset)
    if accelerator.is_main_process:
        check_run_dir(run_dir, config.to_dict(), resume)
        latents = cached_latents(vae, train.images, "train", run_dir / "cache", progress)
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        latents = cached_latents(vae, train.images, "train", run_dir / "cache", False)
    set_seed(run.seed)

    unet = build_unet(config.model)

    def predict(model, noisy, t, idx, generator):
        return model(noisy, t, encoder_hidden_states=null_context(model, len(noisy))).sample

    def sample(model, step):
        with torch.no_grad():
            images = vae.decode(sample_latents(model, 8, run.seed) / scaling).sample.clamp(-1, 1)
        save_grid([images.numpy()], run_dir / "samples" / f"step-{step:07d}.png")

    raw_unet, step = denoising_loop(
        accelerator, unet, predict, sample, latents, scaling, config, resume, progress, "diffusion"
    )
    noise_scheduler = build_noise_scheduler()

    final = run_dir / "final"
    if accelerator.is_main_process:
        tmp = final.with_name("final.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        raw_unet.save_pretrained(tmp / "unet")
        noise_scheduler.save_pretrained(tmp / "scheduler")
        dataset_settings = json.loads((Path(config.data.dataset) / "dataset.json").read_text())
        write_model_card(
            tmp,
            model="latent_diffusion",
            orientation_encoding=config.data.encoding,
            image_size=config.data.image_size,
            padding=config.model.padding,
            scaling_factor=scaling,
            autoencoder=str(vae_folder),
            steps=step,
            metrics={},
            training_data={
                "dataset": str(config.data.dataset),
                "train_images": len(latents),
                **dataset_settings,
            },
            config=config.to_dict(),
        )
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final
