"""Quality and speed of unconditional generation against the number of sampler steps.

For 10, 25, 50 and 100 DPM-Solver++ steps, generates ``--samples`` 64x64 images with the
bundled model and measures them against training images the way
``sd-filters evaluate generation`` does (:func:`evaluate_generation`): the VGG-feature
Fréchet distance, the volume-fraction KS distance and the two-point-correlation MAD (the
descriptor errors), and the seconds per image. The validation row is the reference scale:
held-out images measured the same way, with the same sample count. Without DATASET a
24-volume dataset (4,608 images) is built first in a temporary folder.

Usage: python benchmarks/bench_steps.py [DATASET] [--samples 200] [--reference 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dream3d_sd_filters.data.dataset import load_split, make_dataset
from dream3d_sd_filters.evaluation.generation import evaluate_generation
from dream3d_sd_filters.pipelines import MicrostructureSD

STEPS = (10, 25, 50, 100)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "dataset", type=Path, nargs="?", help="A dataset of `sd-train make-dataset`."
    )
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--reference", type=int, default=500, help="Training images.")
    args = parser.parse_args()
    model = MicrostructureSD.from_pretrained("default")
    with tempfile.TemporaryDirectory() as folder:
        dataset = args.dataset or make_dataset(Path(folder) / "data", n_volumes=24)
        train = load_split(dataset, "train", args.reference, seed=0).images
        validation = load_split(dataset, "validation", args.samples, seed=0).images
        print(f"{args.samples} samples against {len(train)} training images of {dataset}")
        print(
            f"{'steps':>5} {'s/image':>8} {'VGG FD':>8} {'FD grain':>9} {'VF KS':>6} {'S2 MAD':>7}"
        )
        for steps in STEPS:
            start = time.perf_counter()
            result = evaluate_generation(
                model, train, validation, Path(folder), args.samples, steps=steps
            )
            generation_s = result.timings["model"]
            print(
                f"{steps:>5} {generation_s / args.samples:>8.3f} "
                f"{result.metrics['generated']['fd']:>8.1f} "
                f"{result.metrics['generated']['fd_grain']:>9.1f} "
                f"{result.metrics['generated']['volume_fraction_ks']:>6.3f} "
                f"{result.metrics['generated']['s2_mad']:>7.4f}"
                f"   ({time.perf_counter() - start:.0f} s with the metrics)"
            )
        reference = result.metrics["validation"]
        print(
            f"{'val.':>5} {'':>8} {reference['fd']:>8.1f} {reference['fd_grain']:>9.1f} "
            f"{reference['volume_fraction_ks']:>6.3f} {reference['s2_mad']:>7.4f}"
        )


if __name__ == "__main__":
    main()
