"""Reading and writing volumes: ``.dream3d`` (+ ``.xdmf``), ``.vti``, ``.npz``, image stacks.

:func:`read_volume` and :func:`write_volume` pick the format from the file name. The
format modules (and h5py, pyvista, Pillow) are imported only when used, so importing
this package is cheap.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..volume import Volume
from .atomic import atomic_output, check_output_path

__all__ = [
    "READ_SUFFIXES",
    "WRITE_SUFFIXES",
    "atomic_output",
    "check_output_path",
    "is_image_stack",
    "read_volume",
    "write_volume",
]

READ_SUFFIXES = (".dream3d", ".vti", ".npz")
WRITE_SUFFIXES = (".dream3d", ".vti", ".npz")


def is_image_stack(path: str | os.PathLike) -> bool:
    """True if ``path`` names a PNG/TIFF stack: a directory, a glob, or a suffix-less name."""
    text = str(path)
    p = Path(text)
    return p.is_dir() or any(ch in text for ch in "*?[") or (not p.exists() and p.suffix == "")


def _unknown(p: Path, known: Sequence[str], verb: str) -> InputError:
    what = f"extension {p.suffix!r}" if p.suffix else "no extension"
    return InputError(
        f"cannot {verb} {str(p)!r}: {what}; use {', '.join(known)}"
        + (" or a directory of PNG slices" if verb == "read" else "")
    )


def read_volume(path: str | os.PathLike, geometry: str | None = None) -> Volume:
    """Read a volume, choosing the reader from the file name.

    Parameters
    ----------
    path : path-like
        ``.dream3d`` (DREAM.3D 6.x or DREAM3D-NX), ``.vti``, ``.npz`` (written by
        sd-filters), or a directory / glob of PNG or TIFF slices (stacked along Z).
    geometry : str, optional
        Image geometry to read from a ``.dream3d`` file holding several.

    Returns
    -------
    Volume

    Raises
    ------
    InputError
        Missing file, unknown extension, unreadable or damaged file, or content that is
        not an image volume; the message is one line and names the problem.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if geometry is not None and suffix != ".dream3d":
        raise InputError(f"--geometry applies to .dream3d files only, not {str(p)!r}")
    if suffix == ".dream3d":
        from .dream3d import read_dream3d

        return read_dream3d(p, geometry)
    if not any(ch in str(p) for ch in "*?[") and not p.exists():
        raise InputError(f"file not found: {p}")
    if is_image_stack(p):
        from .images import read_png_stack

        return read_png_stack(p)
    if suffix == ".vti":
        from .vtk import read_vti

        return read_vti(p)
    if suffix == ".npz":
        from .npz import read_npz

        return read_npz(p)
    if suffix in (".png", ".tif", ".tiff"):
        from .images import read_png_stack

        return read_png_stack([p])
    raise _unknown(p, READ_SUFFIXES, "read")


def write_volume(
    volume: Volume,
    path: str | os.PathLike,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike] = (),
    compression: str | None = None,
) -> Path:
    """Write a volume, choosing the format from the extension; atomic and overwrite-safe.

    Parameters
    ----------
    volume : Volume
    path : path-like
        ``.dream3d`` (DREAM3D-NX 8.0 layout plus a ``.xdmf`` sidecar next to it),
        ``.vti`` or ``.npz``.
    overwrite : bool
        Replace an existing file (including one of ``inputs``).
    inputs : sequence of path-like
        Files the job read; never replaced unless ``overwrite``.
    compression : {None, "gzip"}
        Compress arrays (``.dream3d``: HDF5 gzip; ``.npz``: deflate; ignored for .vti).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InputError
        Unknown extension, missing output directory, or an existing target without
        ``overwrite``. Nothing is written then.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise _unknown(p, WRITE_SUFFIXES, "write")
    if compression not in (None, "gzip"):
        raise InputError(f"unknown compression {compression!r}; use None or 'gzip'")
    check_output_path(p, inputs, overwrite)
    if suffix == ".dream3d":
        from .dream3d import write_dream3d

        check_output_path(p.with_suffix(".xdmf"), inputs, overwrite)
        return write_dream3d(volume, p, compression=compression)
    if suffix == ".vti":
        from .vtk import write_vti

        return write_vti(volume, p)
    from .npz import write_npz

    return write_npz(volume, p, compress=compression is not None)
