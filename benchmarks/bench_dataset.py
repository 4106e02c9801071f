"""Speed of `sd-train make-dataset`: 64^3 volumes sliced along x, y and z.

Builds ``--volumes`` volumes (default 200, the issue's target: about 38k images in
<= 10 min on 2 cores) into a temporary directory with ``--workers`` processes. The
baseline measured in the same run is the synthetic builder alone on the same
parameters (one process), so the ratio shows what slicing, encoding and writing add.

Usage: python benchmarks/bench_dataset.py [--volumes 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from dream3d_sd_filters.data.dataset import (
    ParameterRanges,
    _volume_seed,
    load_split,
    make_dataset,
    sample_parameters,
)
from dream3d_sd_filters.synth import build_microstructure


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--volumes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-volumes", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = make_dataset(
            Path(tmp) / "ds", n_volumes=args.volumes, workers=args.workers, progress=False
        )
        total = time.perf_counter() - start
        n_images = len(load_split(out, "train")) + len(load_split(out, "validation"))
    times = []
    for volume_id in range(args.baseline_volumes):
        rng = np.random.default_rng(_volume_seed(0, volume_id))
        params = sample_parameters(rng, ParameterRanges(), 64)
        start = time.perf_counter()
        build_microstructure(params, dims=(64, 64, 64), seed=rng, workers=1)
        times.append(time.perf_counter() - start)
    builder = float(np.median(times))
    per_volume = total / args.volumes * args.workers  # process-seconds per volume
    print(
        f"{args.volumes} volumes -> {n_images} images in {total:.1f} s "
        f"({n_images / total:.0f} images/s; target 600 s for 200 volumes)"
    )
    print(
        f"per volume: {per_volume:.2f} process-s; builder alone (median of {args.baseline_volumes}): "
        f"{builder:.2f} s; ratio {per_volume / builder:.2f}"
    )


if __name__ == "__main__":
    main()
