"""Time .dream3d writing and reading against raw h5py on the same arrays.

A ``N^3`` volume (default 256^3) with FeatureIds int32, Phases int32, EulerAngles
float32 x 3 and IPFColors uint8 x 3 (~385 MB at 256^3) is written with
``write_dream3d`` (v8 layout, attributes, XDMF sidecar, atomic rename) and read with
``read_dream3d`` (layout parsing plus Volume validation), then the same four arrays
are written with plain ``h5py.create_dataset`` and read with ``dataset[()]``. Each
operation runs ``--repeats`` times; the table shows medians and the ratio to raw
h5py. Target: ratio <= 1.5.

Usage: python benchmarks/bench_io.py [--size 256] [--repeats 5] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from dream3d_sd_filters.io.dream3d import read_dream3d, write_dream3d
from dream3d_sd_filters.volume import Volume, ensemble_arrays

TARGET_RATIO = 1.5


def make_volume(size: int, seed: int = 0) -> Volume:
    """A size^3 two-phase volume of random grains (values only need realistic dtypes)."""
    rng = np.random.default_rng(seed)
    shape = (size, size, size)
    n_features = 5000
    feature_ids = rng.integers(1, n_features + 1, shape, dtype=np.int32)
    feature_phase = rng.integers(1, 3, n_features + 1).astype(np.int32)
    feature_euler = (rng.random((n_features + 1, 3)) * [6.28, 3.14, 6.28]).astype(np.float32)
    feature_colour = rng.integers(0, 256, (n_features + 1, 3), dtype=np.uint8)
    return Volume(
        dims=(size, size, size),
        cell_data={
            "FeatureIds": feature_ids[..., None],
            "Phases": feature_phase[feature_ids][..., None],
            "EulerAngles": feature_euler[feature_ids],
            "IPFColors": feature_colour[feature_ids],
        },
        ensemble_data=ensemble_arrays([1, 0]),
    )


def raw_write(volume: Volume, path: Path) -> None:
    with h5py.File(path, "w") as handle:
        group = handle.create_group("Cell Data")
        for name, array in volume.cell_data.items():
            group.create_dataset(name, data=array)


def raw_read(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: ds[()] for name, ds in handle["Cell Data"].items()}


def median_time(
    action: Callable[[], object], repeats: int, setup: Callable[[], object] = lambda: None
) -> float:
    times = []
    for _ in range(repeats):
        setup()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="voxels per edge")
    parser.add_argument("--repeats", type=int, default=5, help="runs per operation")
    parser.add_argument("--dir", default=None, help="scratch directory (default: system temp)")
    args = parser.parse_args()

    volume = make_volume(args.size)
    megabytes = sum(a.nbytes for a in volume.cell_data.values()) / 1e6
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        ours_path = Path(scratch) / "ours.dream3d"
        raw_path = Path(scratch) / "raw.h5"

        # Each write makes a new file: replacing an old one adds the file system's cost of
        # freeing ~400 MB, which is not what is being measured.
        def remover(*paths: Path) -> Callable[[], None]:
            def remove() -> None:
                for path in paths:
                    path.unlink(missing_ok=True)

            return remove

        ours_setup = remover(ours_path, ours_path.with_suffix(".xdmf"))
        results = {
            "write": (
                median_time(lambda: write_dream3d(volume, ours_path), args.repeats, ours_setup),
                median_time(lambda: raw_write(volume, raw_path), args.repeats, remover(raw_path)),
            ),
            "read": (
                median_time(lambda: read_dream3d(ours_path), args.repeats),
                median_time(lambda: raw_read(raw_path), args.repeats),
            ),
        }
        check = read_dream3d(ours_path)
        assert all(np.array_equal(check.cell_data[k], v) for k, v in volume.cell_data.items())

    print(f"{args.size}^3 voxels, 4 arrays, {megabytes:.0f} MB, median of {args.repeats} runs")
    print(f"{'operation':<10}{'sd-filters [s]':>16}{'raw h5py [s]':>14}{'ratio':>8}  target")
    for operation, (ours, raw) in results.items():
        ratio = ours / raw
        verdict = "ok" if ratio <= TARGET_RATIO else "SLOW"
        print(f"{operation:<10}{ours:>16.3f}{raw:>14.3f}{ratio:>8.2f}  <= {TARGET_RATIO} {verdict}")


if __name__ == "__main__":
    main()
