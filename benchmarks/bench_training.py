"""CPU training throughput of the tiny presets: autoencoder and latent UNet.

Each model takes ``--steps`` training steps (forward, backward, AdamW) on random
inputs of the preset's shape and batch size; the table shows the median step time,
images per second, and the ratio to a forward pass of the same model measured in the
same run (training costs about 3x a forward pass when nothing else slows it down).
Speed does not depend on the weights, so untrained models are used.

Usage: python benchmarks/bench_training.py [--steps 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dream3d_sd_filters.models import build_unet
from dream3d_sd_filters.models.autoencoder import build_autoencoder
from dream3d_sd_filters.models.unet import null_context
from dream3d_sd_filters.training.autoencoder import AutoencoderStep
from dream3d_sd_filters.training.config import load_config


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []

    vae_config = load_config("tiny", "vae")
    vae = AutoencoderStep(build_autoencoder(vae_config.model))
    opt = torch.optim.AdamW(vae.parameters(), 1e-4)
    size, batch = vae_config.data.image_size, vae_config.optim.batch_size
    images = torch.rand(batch, 4, size, size) * 2 - 1

    def vae_train():
        recon, _, _ = vae(images)
        (recon - images).abs().mean().backward()
        opt.step()
        opt.zero_grad()

    def vae_forward():
        with torch.no_grad():
            vae(images)

    rows.append(
        (
            "autoencoder",
            batch,
            median_seconds(vae_train, args.steps),
            median_seconds(vae_forward, args.steps),
        )
    )

    ldm_config = load_config("tiny", "ldm")
    unet = build_unet(ldm_config.model)
    opt = torch.optim.AdamW(unet.parameters(), 1e-4)
    batch, latent = ldm_config.optim.batch_size, ldm_config.model.sample_size
    x = torch.randn(batch, 4, latent, latent)
    t = torch.randint(0, 1000, (batch,))
    context = null_context(unet, batch)

    def unet_train():
        unet(x, t, encoder_hidden_states=context).sample.square().mean().backward()
        opt.step()
        opt.zero_grad()

    def unet_forward():
        with torch.no_grad():
            unet(x, t, encoder_hidden_states=context)

    rows.append(
        (
            "latent UNet",
            batch,
            median_seconds(unet_train, args.steps),
            median_seconds(unet_forward, args.steps),
        )
    )

    print(f"threads: {args.threads}, median of {args.steps} steps")
    print(
        f"{'model':<12} {'batch':>5} {'train step s':>12} {'images/s':>9} {'forward s':>10} {'train/forward':>14}"
    )
    for name, batch, train_s, forward_s in rows:
        print(
            f"{name:<12} {batch:>5} {train_s:>12.3f} {batch / train_s:>9.1f} {forward_s:>10.3f} {train_s / forward_s:>14.2f}"
        )


if __name__ == "__main__":
    main()
