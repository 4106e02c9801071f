"""Speed of the synthetic polycrystal builder against a plain periodic Voronoi labelling.

Usage: python benchmarks/bench_synth.py [--repeats 3] [--large-repeats 1] [--skip-large]

Targets (issue 3, 2 CPU cores): a 128^3 volume of about 1000 grains in <= 2 s, a 256^3
volume in <= 20 s.

Each row times :func:`dream3d_sd_filters.synth.build_microstructure` (the whole build:
size sampling, seed/weight fitting, labelling, connectivity clean-up, phases,
orientations, IPF colours) and, as the baseline in the same run, what the build can
never beat: one ``scipy.spatial.cKDTree(boxsize=...)`` nearest-seed query of every
voxel centre with as many unweighted seeds (a periodic Voronoi tessellation, no
fitting, no orientations). Times are medians; the ratio is ours / baseline. On a
machine shared with other jobs both columns grow; the ratio stays comparable.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np


def _median_seconds(task: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        task()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _voronoi(edge: int, grains: int) -> Callable[[], object]:
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    seeds = rng.random((grains, 3)) * edge

    def task() -> np.ndarray:
        axis = np.arange(edge) + 0.5
        centres = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
        return cKDTree(seeds, boxsize=edge).query(centres.reshape(-1, 3), workers=-1)[1]

    return task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large-repeats", type=int, default=1)
    parser.add_argument("--skip-large", action="store_true", help="Leave out the 256^3 row.")
    args = parser.parse_args()

    from dream3d_sd_filters.orientations import ipf_colors
    from dream3d_sd_filters.synth import SynthParams, build_microstructure, size_plan

    ipf_colors(np.zeros((1, 3)), np.ones(1, dtype=np.int32), np.array([999, 1]))  # orix import
    # mu = 2.525, sigma = 0.4: mean grain volume 2100 voxels, ~1000 grains in 128^3.
    equiaxed = SynthParams(mu=2.525, sigma=0.4, phase2_fraction=0.3)
    rolled = SynthParams(grain_type="rolled", mu=2.525, sigma=0.3, texture="rolled")
    recrystallized = SynthParams(
        grain_type="recrystallized", mu=2.8, sigma=0.3, rex_size_ratio=0.4, texture="rolled"
    )
    rows = [
        ("equiaxed", equiaxed, 128, args.repeats, 2.0),
        ("rolled", rolled, 128, args.repeats, 2.0),
        ("recrystallized", recrystallized, 128, args.repeats, None),
    ]
    if not args.skip_large:
        rows.append(("equiaxed", equiaxed, 256, args.large_repeats, 20.0))
    header = f"{'volume':<26} {'grains':>7} {'ours (s)':>9} {'voronoi (s)':>12} {'ratio':>6} {'target':>7}"
    print(header)
    for name, params, edge, repeats, target in rows:
        dims = (edge, edge, edge)
        built = build_microstructure(params, dims, seed=0)
        grains = built.feature_data["Phases"].shape[0] - 1
        ours = _median_seconds(lambda p=params, d=dims: build_microstructure(p, d, seed=0), repeats)
        baseline = _median_seconds(
            _voronoi(edge, int(size_plan(params, dims)["n_grains"])), repeats
        )
        goal = "-" if target is None else f"{target:g} s"
        print(
            f"{name + f' {edge}^3':<26} {grains:>7} {ours:>9.2f} {baseline:>12.2f} "
            f"{ours / baseline:>6.2f} {goal:>7}"
        )
    print("ratio = our time / baseline time (the baseline labels voxels only, no fitting)")


if __name__ == "__main__":
    main()
