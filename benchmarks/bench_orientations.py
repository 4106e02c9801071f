"""Speed of the orientation module against orix / scipy baselines run on the same data.

Usage: python benchmarks/bench_orientations.py [--repeats 3] [--count 1000000] [--edge 128]

Prints the median wall time of each task and its ratio to the baseline:

* reduce_to_fundamental_zone (cubic, hexagonal) vs orix ``Orientation.reduce()``;
* ipf_colors on ``count`` voxels of 1000 grains vs orix's IPF key on every voxel, and
  on ``count`` distinct orientations (the worst case, no sharing);
* segment_features on an ``edge``^3 periodic Voronoi volume of ~1000 grains vs
  ``scipy.ndimage.label`` of the grain ids (a lower bound: no orientations at all).
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


def _voronoi_grains(edge: int, grains: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.spatial import cKDTree

    axis = np.arange(edge) + 0.5
    centres = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    seeds = rng.random((grains, 3)) * edge
    return cKDTree(seeds, boxsize=edge).query(centres)[1].reshape(edge, edge, edge)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--edge", type=int, default=128)
    args = parser.parse_args()

    from orix.plot import IPFColorKeyTSL
    from orix.quaternion import Orientation, symmetry
    from scipy import ndimage

    from dream3d_sd_filters import orientations as ori
    from dream3d_sd_filters.volume import LAUE_IDS

    rng = np.random.default_rng(0)
    cubic, hexagonal = LAUE_IDS["Cubic_High"], LAUE_IDS["Hexagonal_High"]
    euler = ori.random_orientations(args.count, rng)
    grain_euler = ori.random_orientations(1000, rng)
    voxel_euler = grain_euler[np.sort(rng.integers(0, 1000, args.count))]
    phases = np.ones(args.count, dtype=np.int32)
    structures = np.array([999, cubic])
    key = IPFColorKeyTSL(symmetry.Oh)
    ori.ipf_colors(euler[:10], phases[:10], structures)  # orix/numba warm-up

    grains = _voronoi_grains(args.edge, 1000, rng)
    volume_euler = grain_euler[grains]
    volume_phases = np.ones(grains.shape, dtype=np.int32)

    rows = [
        (
            f"reduce_to_fundamental_zone cubic, {args.count:.0e}",
            lambda: ori.reduce_to_fundamental_zone(euler, cubic),
            lambda: Orientation.from_euler(euler, symmetry.Oh).reduce(),
        ),
        (
            f"reduce_to_fundamental_zone hexagonal, {args.count:.0e}",
            lambda: ori.reduce_to_fundamental_zone(euler, hexagonal),
            lambda: Orientation.from_euler(euler, symmetry.D6h).reduce(),
        ),
        (
            f"ipf_colors {args.count:.0e} voxels, 1000 grains",
            lambda: ori.ipf_colors(voxel_euler, phases, structures),
            lambda: key.orientation2color(Orientation.from_euler(voxel_euler, symmetry.Oh)),
        ),
        (
            f"ipf_colors {args.count:.0e} distinct",
            lambda: ori.ipf_colors(euler, phases, structures),
            lambda: key.orientation2color(Orientation.from_euler(euler, symmetry.Oh)),
        ),
        (
            f"segment_features {args.edge}^3, ~1000 grains, periodic",
            lambda: ori.segment_features(volume_euler, volume_phases, structures, periodic=True),
            lambda: ndimage.label(grains),
        ),
    ]
    print(f"{'task':<52} {'ours (s)':>9} {'baseline (s)':>13} {'ratio':>7}")
    for name, ours, baseline in rows:
        ours_s = _median_seconds(ours, args.repeats)
        baseline_s = _median_seconds(baseline, args.repeats)
        print(f"{name:<52} {ours_s:>9.2f} {baseline_s:>13.2f} {baseline_s / ours_s:>7.2f}")
    print("ratio = baseline time / our time (> 1: faster than the baseline)")


if __name__ == "__main__":
    main()
