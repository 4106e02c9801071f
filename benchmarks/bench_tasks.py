"""Speed of the tasks with the tiny preset architecture.

* Generation: 64x64 images at batch 16 with 20 and 25 DPM-Solver++ steps; target
  <= 0.3 s per image. Baseline in the same run: one UNet forward pass at batch 16
  (the ratio shows the sampler's overhead per step).
* Inverse design (models with a property ControlNet and a coercivity surrogate): 64x64
  images to a coercivity target at 25 steps, the ControlNet alone against the default
  surrogate guidance (which adds a decoder and surrogate backward pass per step).
* Inpainting: a 64^3 synthetic volume with a central 32^3 masked cube, consistent
  mode, default RePaint settings; target <= 3 min.

Speed does not depend on the weights: the bundled model is used when present,
otherwise an untrained model of the same architecture.

Usage: python benchmarks/bench_tasks.py [--repeats 3] [--skip-inpaint]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.models.unet import null_context
from dream3d_sd_filters.pipelines import MicrostructureSD
from dream3d_sd_filters.synth import SynthParams, build_microstructure
from dream3d_sd_filters.tasks import inpaint_volume
from dream3d_sd_filters.training.config import load_config


def load_model() -> tuple[MicrostructureSD, str]:
    try:
        return MicrostructureSD.from_pretrained("default"), "bundled"
    except InputError:
        vae = load_config("tiny", "vae").model
        unet = load_config("tiny", "ldm").model
        return MicrostructureSD.from_settings(vae, unet), "untrained (same architecture)"


def timed(fn, repeats: int) -> float:
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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-inpaint", action="store_true")
    args = parser.parse_args()
    model, which = load_model()
    print(f"model: {which}, threads: {torch.get_num_threads()}")
    x = torch.randn(16, 4, 16, 16)
    context = null_context(model.unet, 16)
    with torch.no_grad():
        model.unet(x, 500, encoder_hidden_states=context)
        forward = timed(lambda: model.unet(x, 500, encoder_hidden_states=context), args.repeats)
    print(f"UNet forward, batch 16: {forward:.3f} s")
    print(f"{'sampler':<12} {'steps':>5} {'s/image':>8} {'target':>7} {'per step / forward':>19}")
    for steps in (20, 25):
        seconds = timed(
            lambda steps=steps: model.generate(16, steps=steps, batch_size=16), args.repeats
        )
        print(
            f"{'dpmsolver++':<12} {steps:>5} {seconds / 16:>8.3f} {0.3:>7} {seconds / steps / forward:>19.2f}"
        )
    if "property" in model.controlnets and "coercivity" in model.surrogates:
        target = {"coercivity": 4.0}
        alone = timed(
            lambda: model.generate(16, steps=25, target=target, surrogate_guidance_scale=0),
            args.repeats,
        )
        steered = timed(lambda: model.generate(16, steps=25, target=target), args.repeats)
        print(
            f"coercivity target, 25 steps: ControlNet alone {alone / 16:.3f} s/image, with "
            f"surrogate guidance {steered / 16:.3f} s/image ({steered / alone:.2f}x)"
        )
    if args.skip_inpaint:
        return
    params = SynthParams(
        crystal_structures=("cubic", "hexagonal"), phase2_fraction=0.4, mu=2.4, sigma=0.3
    )
    volume = build_microstructure(params, dims=(64, 64, 64), seed=0)
    mask = np.zeros(volume.shape, dtype=bool)
    mask[16:48, 16:48, 16:48] = True
    start = time.perf_counter()
    result = inpaint_volume(volume, mask, model, mode="consistent")
    seconds = time.perf_counter() - start
    print(
        f"inpaint 64^3 with a 32^3 cube (consistent): {seconds:.1f} s (target 180 s), "
        f"continuity {result.continuity:.2f}"
    )


if __name__ == "__main__":
    main()
