"""Time to evaluate a generated sample set: descriptors (but Gram matrices) and Fréchet features.

Usage: python benchmarks/bench_metrics.py [--repeats 3] [--count 1000] [--size 64] [--threads 2]

Target (issue 7): 1,000 generated 64 x 64 x 4 samples, all descriptors but Gram
matrices, in <= 5 min on 2 CPU cores. The samples are synthetic stand-ins for model
output: periodic Voronoi grains with a random phase and orientation each, plus noise.

Rows (median of ``--repeats`` runs each):

* torch descriptors: S2 (limit_to 16), volume fraction, lineal path (x, y, up to 16
  pixels), variation, per phase;
* MCRpy baseline: the same four descriptors through MCRpy (FFTCorrelations,
  VolumeFractions, LinealPath, Variation; no multigrid) on ``--mcrpy-count`` images,
  scaled to ``--count`` (skipped without the ``[descriptors]`` extra);
* VGG features of the generated set (default offline Fréchet extractor);
* FD + KID between those features and a reference set's (precomputed once).

The total (descriptors + features + FD/KID) is compared with the 300 s target.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable

import numpy as np
import torch


def _median_seconds(task: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        task()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _synthetic_samples(count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Encoded (count, 4, size, size) float32 images of periodic Voronoi grains."""
    from scipy.spatial import cKDTree

    axis = np.arange(size) + 0.5
    centres = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    images = np.empty((count, 4, size, size), dtype=np.float32)
    for n in range(count):
        grains = int(rng.integers(10, 60))
        labels = cKDTree(rng.random((grains, 2)) * size, boxsize=size).query(centres)[1]
        values = np.concatenate(
            [np.where(rng.random((grains, 1)) < 0.4, 1.0, -1.0), rng.uniform(-1, 1, (grains, 3))],
            axis=1,
        )
        images[n] = values[labels].T.reshape(4, size, size)
    images += rng.normal(0, 0.05, images.shape).astype(np.float32)
    return np.clip(images, -1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mcrpy-count", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from dream3d_sd_filters.metrics.descriptors import mcrpy_descriptors, microstructure_descriptors
    from dream3d_sd_filters.metrics.frechet import (
        VGGMicrostructureFeatures,
        extract_features,
        frechet_distance,
        kernel_inception_distance,
    )

    rng = np.random.default_rng(0)
    generated = _synthetic_samples(args.count, args.size, rng)
    reference = _synthetic_samples(args.count, args.size, rng)
    extractor = VGGMicrostructureFeatures()
    reference_features = extract_features(reference, extractor)
    generated_features = extract_features(generated, extractor)

    rows: list[tuple[str, float]] = [
        (
            f"torch descriptors, {args.count} images",
            _median_seconds(lambda: microstructure_descriptors(generated, 16, 16), args.repeats),
        ),
        (
            f"VGG features, {args.count} images",
            _median_seconds(lambda: extract_features(generated, extractor), args.repeats),
        ),
        (
            f"FD + KID ({generated_features.shape[1]} features)",
            _median_seconds(
                lambda: (
                    frechet_distance(generated_features, reference_features),
                    kernel_inception_distance(generated_features, reference_features),
                ),
                args.repeats,
            ),
        ),
    ]
    total = sum(seconds for _, seconds in rows)
    mcrpy_seconds = None
    if importlib.util.find_spec("mcrpy") is not None:
        names = ["FFTCorrelations", "VolumeFractions", "LinealPath", "Variation"]
        subset = generated[: args.mcrpy_count]
        mcrpy_descriptors(subset[:2], names, limit_to=16)  # TensorFlow import and tracing
        mcrpy_seconds = _median_seconds(
            lambda: mcrpy_descriptors(subset, names, limit_to=16), args.repeats
        ) * (args.count / len(subset))

    print(f"threads: {torch.get_num_threads()}, images {args.size} x {args.size} x 4")
    print(f"{'task':<44} {'median (s)':>11}")
    for name, seconds in rows:
        print(f"{name:<44} {seconds:>11.2f}")
    print(f"{'total (target <= 300 s)':<44} {total:>11.2f}")
    if mcrpy_seconds is not None:
        descriptors_seconds = rows[0][1]
        print(
            f"{'MCRpy, same descriptors, scaled to ' + str(args.count):<44} {mcrpy_seconds:>11.2f}"
        )
        print(f"torch descriptors speed-up over MCRpy: {mcrpy_seconds / descriptors_seconds:.0f}x")
    else:
        print("MCRpy baseline skipped: install the [descriptors] extra")


if __name__ == "__main__":
    main()
