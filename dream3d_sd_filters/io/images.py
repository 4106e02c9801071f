"""Slices as images: phase maps in gray, orientations as IPF colours; PNG/TIFF stacks.

Gray levels for phases are evenly spaced from black to white: phase ``p`` of ``n``
phases gets ``round(255 * p / n)``, so phase 0 (unindexed) is black and the last phase
white; in a two-phase volume phase 1 is mid gray (128) and phase 2 white.

Slices through ``axis="z"`` are ``(Y, X)`` images, ``"y"`` gives ``(Z, X)`` and ``"x"``
gives ``(Z, Y)``; image row 0 is the lowest index of the first axis.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..volume import Volume

AXES = ("x", "y", "z")
KINDS = {"phase": "Phases", "ipf": "IPFColors"}
IMAGE_FORMATS = {"png": ("PNG", ".png"), "tiff": ("TIFF", ".tif")}
_IMAGE_SUFFIXES = (".png", ".tif", ".tiff")


def phase_gray_levels(phases: np.ndarray, n_phases: int) -> np.ndarray:
    """Map phase ids to evenly spaced uint8 gray levels (0 black, ``n_phases`` white).

    Parameters
    ----------
    phases : ndarray of int, any shape
    n_phases : int
        Number of real phases; values above it are clipped to white.

    Returns
    -------
    ndarray of uint8, same shape as ``phases``
    """
    top = max(int(n_phases), 1)
    scaled = np.clip(phases.astype(np.float64), 0, top) * (255.0 / top)
    return np.rint(scaled).astype(np.uint8)


def _axis_slice(axis: str, index: int | slice) -> tuple:
    if axis not in AXES:
        raise InputError(f"axis must be one of x, y, z, got {axis!r}")
    return {"z": (index,), "y": (slice(None), index), "x": (slice(None), slice(None), index)}[axis]


def _colours(volume: Volume, array: str, where: tuple) -> np.ndarray:
    """RGB (..., 3) or gray (..., 1) uint8 values of ``array`` on the voxels ``where``."""
    if array == "Phases":
        volume.require("Phases")
        return phase_gray_levels(volume.cell_data["Phases"][where], volume.n_phases)
    if array == "IPFColors" and "IPFColors" not in volume.cell_data:
        volume.require("EulerAngles", "Phases")
        structures = volume.crystal_structures
        if structures is None:
            raise InputError(
                f"volume {volume.name!r} has no IPFColors and no CrystalStructures ensemble "
                "array to compute them from"
            )
        from ..orientations import ipf_colors

        return ipf_colors(
            volume.cell_data["EulerAngles"][where], volume.cell_data["Phases"][where], structures
        )
    volume.require(array)
    values = volume.cell_data[array][where]
    if values.shape[-1] == 3 and values.dtype == np.uint8:
        return values
    if values.shape[-1] != 1:
        raise InputError(
            f"cannot draw {array!r} with {values.shape[-1]} components; pick a 1-component "
            "array or a uint8 RGB array"
        )
    if values.dtype == np.uint8:
        return values
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    span = hi - lo if hi > lo else 1.0
    return np.rint((values.astype(np.float64) - lo) * (255.0 / span)).astype(np.uint8)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def slice_to_rgb(
    volume: Volume, axis: str = "z", index: int | None = None, array: str = "Phases"
) -> np.ndarray:
    """One slice of a cell array as an RGB image.

    Parameters
    ----------
    volume : Volume
    axis : {"x", "y", "z"}
        Axis normal to the slice.
    index : int, optional
        Slice position along ``axis``; the middle slice by default.
    array : str
        ``"Phases"`` (gray levels, see module notes), ``"IPFColors"`` (the stored array,
        or colours computed from ``EulerAngles``, ``Phases`` and ``CrystalStructures``),
        a uint8 RGB array, or any one-component array (stretched min..max to gray).

    Returns
    -------
    ndarray of uint8, shape (rows, columns, 3)
    """
    size = dict(zip(AXES, volume.dims))[axis] if axis in AXES else 0
    index = size // 2 if index is None else int(index)
    if not 0 <= index < size:
        raise InputError(f"slice index {index} is outside 0..{size - 1} along {axis}")
    return _as_rgb(_colours(volume, array, _axis_slice(axis, index)))


def check_stack_target(directory: str | os.PathLike, overwrite: bool) -> None:
    """Raise :class:`InputError` unless ``directory`` can receive an image stack.

    It may be missing (its parent must exist) or an empty directory; a non-empty
    directory needs ``overwrite``.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{str(directory)!r} exists and is not a directory")
    if not directory.parent.exists():
        raise InputError(f"output directory {str(directory.parent)!r} does not exist")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise InputError(
            f"directory {str(directory)!r} is not empty; pass --overwrite to write into it"
        )


def write_png_stack(
    volume: Volume,
    directory: str | os.PathLike,
    axis: str = "z",
    kind: str = "phase",
    image_format: str = "png",
    overwrite: bool = False,
) -> list[Path]:
    """Write every slice along ``axis`` as an image file into ``directory``.

    Files are ``<kind>_<axis><index>.png`` (zero padded). Phase maps are 8-bit gray
    (see module notes); ``kind="ipf"`` writes RGB IPF colours. The images are first
    written to a hidden sibling directory and moved in only when all succeeded.

    Parameters
    ----------
    volume : Volume
    directory : path-like
        Created if missing; must be empty unless ``overwrite``.
    axis : {"x", "y", "z"}
    kind : {"phase", "ipf"}
    image_format : {"png", "tiff"}
    overwrite : bool
        Allow writing into a non-empty directory (same-named files are replaced).

    Returns
    -------
    list of Path
        The written files, in slice order.
    """
    from PIL import Image

    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if image_format not in IMAGE_FORMATS:
        raise InputError(f"image format must be png or tiff, got {image_format!r}")
    target = Path(directory)
    check_stack_target(target, overwrite)
    colours = _colours(volume, KINDS[kind], _axis_slice(axis, slice(None)))
    # Bring the slice axis to the front: (n_slices, rows, columns, channels).
    slices = {"z": colours, "y": np.moveaxis(colours, 1, 0), "x": np.moveaxis(colours, 2, 0)}[axis]
    pil_format, suffix = IMAGE_FORMATS[image_format]
    digits = max(3, len(str(len(slices) - 1)))
    names = [f"{kind}_{axis}{i:0{digits}d}{suffix}" for i in range(len(slices))]
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for name, image in zip(names, slices):
            pixels = np.ascontiguousarray(image[..., 0] if image.shape[-1] == 1 else image)
            Image.fromarray(pixels).save(staging / name, format=pil_format)
        if not target.exists():
            os.replace(staging, target)
        else:
            for name in names:
                os.replace(staging / name, target / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [target / name for name in names]


def _image_files(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    if isinstance(source, (list, tuple)):
        return [Path(s) for s in source]
    text = str(source)
    if any(ch in text for ch in "*?["):
        return [Path(f) for f in sorted(glob.glob(text))]
    p = Path(text)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.suffix.lower() in _IMAGE_SUFFIXES)
    return [p]


def read_png_stack(
    source: str | os.PathLike | Sequence[str | os.PathLike], array_name: str = "ImageData"
) -> Volume:
    """Stack 2D images (PNG or TIFF) along Z into a Volume.

    Parameters
    ----------
    source : path-like, glob pattern or list of paths
        A directory (all ``.png``/``.tif``/``.tiff`` files, sorted by name), a glob
        such as ``"slices/*.png"``, or an explicit list in slice order.
    array_name : str
        Name of the cell array created.

    Returns
    -------
    Volume
        ``dims = (columns, rows, n_images)``; ``array_name`` is ``(Z, Y, X, C)`` with
        C = 1 (gray), 3 (RGB) or 4 (RGBA) and the images' dtype (uint8 or uint16).
        Unit spacing.

    Raises
    ------
    InputError
        No images found, unreadable images, or images of different sizes or modes.
    """
    from PIL import Image, UnidentifiedImageError

    files = _image_files(source)
    if not files:
        raise InputError(f"no PNG or TIFF images found in {source}")
    stack = []
    for f in files:
        if not f.is_file():
            raise InputError(f"file not found: {f}")
        try:
            with Image.open(f) as image:
                if image.mode in ("P", "1", "LA", "PA"):
                    image = image.convert("RGBA" if "A" in image.mode else "L")
                pixels = np.asarray(image)
        except (UnidentifiedImageError, OSError) as error:
            raise InputError(f"{f} is not a readable image ({error})") from None
        stack.append(pixels if pixels.ndim == 3 else pixels[..., np.newaxis])
        if stack[-1].shape != stack[0].shape or stack[-1].dtype != stack[0].dtype:
            raise InputError(
                f"{f} is {stack[-1].shape[1]} x {stack[-1].shape[0]} ({stack[-1].dtype}, "
                f"{stack[-1].shape[2]} channel(s)) but {files[0]} is {stack[0].shape[1]} x "
                f"{stack[0].shape[0]} ({stack[0].dtype}, {stack[0].shape[2]}); all slices "
                "must match"
            )
    data = np.stack(stack)
    z, y, x, _ = data.shape
    return Volume(
        dims=(x, y, z), cell_data={array_name: data}, name=Path(files[0]).parent.name or "Images"
    )
