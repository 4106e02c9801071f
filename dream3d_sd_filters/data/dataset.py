"""The training dataset: synthetic volumes sliced into 4-channel images.

Layout of a dataset directory::

    dataset.json            settings: image size, encoding, slicing, seed, parameter ranges
    shards/volume_00042.h5  one volume's slices: ``images`` float16 (n, 4, S, S), chunked one
                            image per chunk; attributes ``params`` (JSON), ``crystal_structures``,
                            ``split``; datasets ``axis`` (uint8: 0=x, 1=y, 2=z) and ``slice_index``
    metadata.csv            one row per image: volume, split, axis, slice index, shard row,
                            generator parameters

The split is by volume (every ``validation_every``-th volume goes to validation, 5:1 by
default, like the paper), so no volume leaks across it. Each volume's random stream is
derived from ``(seed, volume id)``, so the dataset is deterministic and an interrupted
run resumes by skipping shards that already exist.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_output
from ..orientations import compile_ipf_kernels
from ..volume import LAUE_IDS
from .encoding import ENCODINGS

AXES = "xyz"
SPLITS = ("train", "validation")


@dataclass(frozen=True)
class ParameterRanges:
    """Ranges the generator parameters are drawn from, uniformly unless stated.

    Sizes are in voxels (the volumes use a spacing of 1): ``mu`` is the mean of
    ln(ESD), so the default 2.2-3.0 gives median grain diameters of 9-20 voxels,
    i.e. 3-7 grains across a 64-pixel image. Recrystallized grains are
    ``rex_size_ratio`` times smaller than the deformed grains they replace.
    """

    grain_types: tuple[str, ...] = ("equiaxed", "rolled", "recrystallized")
    symmetries: tuple[str, ...] = ("Cubic_High", "Hexagonal_High")
    phase2_fraction: tuple[float, float] = (0.1, 0.9)
    mu: tuple[float, float] = (2.2, 3.0)
    sigma: tuple[float, float] = (0.1, 0.5)
    b_over_a: tuple[float, float] = (0.4, 0.9)
    c_over_a_of_b: tuple[float, float] = (0.4, 1.0)
    recrystallized_fraction: tuple[float, float] = (0.2, 0.8)
    rex_size_ratio: tuple[float, float] = (0.4, 0.6)
    textured_probability: float = 0.5


def sample_parameters(rng: np.random.Generator, ranges: ParameterRanges, box: int):
    """Draw one :class:`~dream3d_sd_filters.synth.SynthParams` from ``ranges``.

    ``mu`` is capped so that the mean grain, elongated by its aspect ratios, spans at
    most 45% of the ``box`` edge (the builder refuses more than half).
    """
    from ..synth import SynthParams
    from ..synth.params import MIN_MEAN_ESD_VOXELS

    grain_type = str(rng.choice(ranges.grain_types))
    symmetry = tuple(int(LAUE_IDS[str(rng.choice(ranges.symmetries))]) for _ in range(2))
    b_over_a = c_over_a = 1.0
    texture = "random"
    if grain_type != "equiaxed":
        b_over_a = float(rng.uniform(*ranges.b_over_a))
        c_over_a = b_over_a * float(rng.uniform(*ranges.c_over_a_of_b))
        if rng.random() < ranges.textured_probability:
            texture = "rolled"
    sigma = float(rng.uniform(*ranges.sigma))
    elongation = 1.0 / (b_over_a * c_over_a) ** (1.0 / 3.0)  # longest axis / ESD
    mu_high = min(ranges.mu[1], float(np.log(0.45 * box / elongation)) - 0.5 * sigma**2)
    mu_low = min(ranges.mu[0], mu_high)
    mu = float(rng.uniform(mu_low, mu_high))
    # Recrystallized grains must stay resolvable: at least 1.2x the builder's minimum ESD.
    mean_esd = float(np.exp(mu + 0.5 * sigma**2))
    rex_size_ratio = min(
        1.0, max(float(rng.uniform(*ranges.rex_size_ratio)), 1.2 * MIN_MEAN_ESD_VOXELS / mean_esd)
    )
    return SynthParams(
        grain_type=grain_type,
        crystal_structures=symmetry,
        phase2_fraction=float(rng.uniform(*ranges.phase2_fraction)),
        mu=mu,
        sigma=sigma,
        b_over_a=b_over_a,
        c_over_a=c_over_a,
        texture=texture,
        recrystallized_fraction=float(rng.uniform(*ranges.recrystallized_fraction)),
        rex_size_ratio=rex_size_ratio,
    )


def slice_volume_images(
    volume, encoding: str, axes: str = AXES, stride: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a cubic volume into encoded 4-channel images along the given axes.

    Parameters
    ----------
    volume : Volume
        Needs Phases, EulerAngles and CrystalStructures.
    encoding : str
        Orientation encoding, see :mod:`dream3d_sd_filters.data.encoding`.
    axes : str
        Any of "x", "y", "z": the slice normals.
    stride : int
        Keep every ``stride``-th slice.

    Returns
    -------
    images : ndarray, shape (n, 4, S, S), float16
    axis : ndarray, shape (n,), uint8
        0, 1, 2 for x, y, z.
    index : ndarray, shape (n,), int32
        Slice position along the axis.
    """
    from ..tasks.slicing import volume_to_images

    volume.require("Phases", "EulerAngles")
    images, axis_ids, positions = [], [], []
    for axis_name in axes:
        stack = volume_to_images(volume, axis_name, encoding)
        keep = np.arange(0, len(stack), stride)
        images.append(stack[keep].astype(np.float16))
        axis_ids.append(np.full(len(keep), AXES.index(axis_name), dtype=np.uint8))
        positions.append(keep.astype(np.int32))
    return np.concatenate(images), np.concatenate(axis_ids), np.concatenate(positions)


def _volume_seed(seed: int, volume_id: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, volume_id])


def _build_shard(job: tuple) -> int:
    import h5py
    import torch

    from ..synth import build_microstructure

    torch.set_num_threads(1)
    out_dir, volume_id, settings = job
    ranges = ParameterRanges(**settings["ranges"])
    rng = np.random.default_rng(_volume_seed(settings["seed"], volume_id))
    size = settings["image_size"]
    params = sample_parameters(rng, ranges, size)
    volume = build_microstructure(params, dims=(size, size, size), seed=rng, workers=1)
    images, axis, index = slice_volume_images(
        volume, settings["encoding"], settings["axes"], settings["slice_stride"]
    )
    split = (
        SPLITS[1]
        if volume_id % settings["validation_every"] == settings["validation_every"] - 1
        else SPLITS[0]
    )
    target = Path(out_dir) / "shards" / f"volume_{volume_id:05d}.h5"
    with atomic_output(target) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(
                "images", data=images, chunks=(1, *images.shape[1:]), compression="lzf"
            )
            f.create_dataset("axis", data=axis)
            f.create_dataset("slice_index", data=index)
            f.attrs["params"] = json.dumps(params.to_dict())
            f.attrs["crystal_structures"] = volume.crystal_structures.astype(np.uint32)
            f.attrs["split"] = split
            f.attrs["volume_id"] = volume_id
    return volume_id


def make_dataset(
    output_dir: str | os.PathLike,
    n_volumes: int = 200,
    image_size: int = 64,
    axes: str = AXES,
    slice_stride: int = 1,
    encoding: str = "euler",
    seed: int = 0,
    workers: int = 2,
    validation_every: int = 6,
    ranges: ParameterRanges | None = None,
    progress: bool = True,
) -> Path:
    """Build (or finish building) a sliced-volume dataset.

    Parameters
    ----------
    output_dir : path-like
        Dataset directory; created if needed. If it holds a dataset made with other
        settings, that is an error; with the same settings, missing shards are added.
    n_volumes : int
        Number of synthetic volumes.
    image_size : int
        Volume edge and image size in voxels (volumes are cubes).
    axes : str
        Slice normals, any of "xyz".
    slice_stride : int
        Keep every ``slice_stride``-th slice along each axis.
    encoding : {"euler", "ipf"}
        Orientation encoding of channels 1-3.
    seed : int
        Master seed; the dataset is a deterministic function of the settings.
    workers : int
        Worker processes.
    validation_every : int
        Every ``validation_every``-th volume is validation data (6 -> 5:1 split).
    ranges : ParameterRanges, optional
        Generator parameter ranges.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Path
        The dataset directory.
    """
    from tqdm.auto import tqdm

    ranges = ranges or ParameterRanges()
    if n_volumes < 1:
        raise InputError(f"n_volumes must be >= 1, got {n_volumes}")
    if image_size < 8:
        raise InputError(f"image_size must be >= 8 voxels, got {image_size}")
    if not axes or set(axes) - set(AXES) or len(set(axes)) != len(axes):
        raise InputError(f"axes must be distinct letters from 'xyz', got {axes!r}")
    if slice_stride < 1:
        raise InputError(f"slice_stride must be >= 1, got {slice_stride}")
    if encoding not in ENCODINGS:
        raise InputError(f"unknown orientation encoding {encoding!r}; use one of {ENCODINGS}")
    if validation_every < 2:
        raise InputError(f"validation_every must be >= 2, got {validation_every}")
    settings = {
        "format_version": 1,
        "n_volumes": n_volumes,
        "image_size": image_size,
        "axes": axes,
        "slice_stride": slice_stride,
        "encoding": encoding,
        "seed": seed,
        "validation_every": validation_every,
        "ranges": asdict(ranges),
    }
    out = Path(output_dir)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    manifest = out / "dataset.json"
    if manifest.exists():
        existing = json.loads(manifest.read_text())
        mismatched = sorted(
            k
            for k in settings
            if k != "n_volumes" and existing.get(k) != json.loads(json.dumps(settings[k]))
        )
        if mismatched:
            raise InputError(
                f"{out} already holds a dataset made with different {', '.join(mismatched)}; "
                "use another directory"
            )
    with atomic_output(manifest) as tmp:
        tmp.write_text(json.dumps(settings, indent=2))
    todo = [i for i in range(n_volumes) if not (out / "shards" / f"volume_{i:05d}.h5").exists()]
    jobs = [(str(out), i, settings) for i in todo]
    bar = tqdm(
        total=n_volumes,
        initial=n_volumes - len(todo),
        desc="volumes",
        unit="vol",
        disable=not progress,
    )
    if workers > 1 and len(jobs) > 1:
        compile_ipf_kernels()
        context = multiprocessing.get_context("spawn")
        try:
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                for future in as_completed([pool.submit(_build_shard, job) for job in jobs]):
                    future.result()
                    bar.update()
        except BrokenProcessPool:
            raise InputError(
                "a dataset worker process died (out of memory?); run the same command again "
                "to resume, or use fewer workers (-j)"
            ) from None
    else:
        for job in jobs:
            _build_shard(job)
            bar.update()
    bar.close()
    write_metadata_table(out)
    return out


def write_metadata_table(dataset_dir: str | os.PathLike) -> Path:
    """(Re)write ``metadata.csv`` from the shards: one row per image."""
    import h5py

    out = Path(dataset_dir)
    target = out / "metadata.csv"
    with atomic_output(target) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["volume_id", "split", "axis", "slice_index", "shard", "row", "params"])
        for shard in sorted((out / "shards").glob("volume_*.h5")):
            with h5py.File(shard, "r") as f:
                params = f.attrs["params"]
                split = f.attrs["split"]
                volume_id = int(f.attrs["volume_id"])
                for row, (axis, index) in enumerate(zip(f["axis"][()], f["slice_index"][()])):
                    writer.writerow(
                        [volume_id, split, AXES[axis], int(index), shard.name, row, params]
                    )
    return target


@dataclass
class ImageSet:
    """Images of one split held in memory.

    Attributes
    ----------
    images : ndarray, shape (N, 4, S, S), float16
        Encoded images in [-1, 1].
    crystal_structures : ndarray, shape (N, 3), uint32
        Laue ids of (phase 0, phase 1, phase 2) for each image.
    volume_ids : ndarray, shape (N,), int32
    rows : ndarray, shape (N,), int32
        Row of each image in its volume's shard; (volume_id, row) names an image.
    encoding : str
    """

    images: np.ndarray
    crystal_structures: np.ndarray
    volume_ids: np.ndarray
    rows: np.ndarray
    encoding: str

    def subset(self, keep: np.ndarray) -> ImageSet:
        """The images at indices ``keep``."""
        return ImageSet(
            self.images[keep],
            self.crystal_structures[keep],
            self.volume_ids[keep],
            self.rows[keep],
            self.encoding,
        )

    def __len__(self) -> int:
        return len(self.images)


def load_split(
    dataset_dir: str | os.PathLike, split: str = "train", max_images: int = 0, seed: int = 0
) -> ImageSet:
    """Load every image of a split into memory.

    Parameters
    ----------
    dataset_dir : path-like
        A directory made by :func:`make_dataset`.
    split : {"train", "validation"}
    max_images : int
        If > 0, a random subset of this size (drawn with ``seed``).
    seed : int

    Returns
    -------
    ImageSet
    """
    import h5py

    root = Path(dataset_dir)
    manifest = root / "dataset.json"
    if not manifest.is_file():
        raise InputError(
            f"{str(root)!r} is not a dataset (no dataset.json); make one with `sd-train make-dataset`"
        )
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; use one of {SPLITS}")
    settings = json.loads(manifest.read_text())
    images, structures, volume_ids, rows = [], [], [], []
    for shard in sorted((root / "shards").glob("volume_*.h5")):
        try:
            with h5py.File(shard, "r") as f:
                if f.attrs["split"] != split:
                    continue
                block = f["images"][()]
                images.append(block)
                structures.append(np.repeat(f.attrs["crystal_structures"][None, :], len(block), 0))
                volume_ids.append(np.full(len(block), int(f.attrs["volume_id"]), dtype=np.int32))
                rows.append(np.arange(len(block), dtype=np.int32))
        except OSError as error:
            raise InputError(f"cannot read dataset shard {shard}: {error}") from None
    if not images:
        raise InputError(f"dataset {str(root)!r} has no {split} images")
    out = ImageSet(
        images=np.concatenate(images),
        crystal_structures=np.concatenate(structures).astype(np.uint32),
        volume_ids=np.concatenate(volume_ids),
        rows=np.concatenate(rows),
        encoding=settings["encoding"],
    )
    if 0 < max_images < len(out):
        out = out.subset(
            np.sort(np.random.default_rng(seed).choice(len(out), max_images, replace=False))
        )
    return out
