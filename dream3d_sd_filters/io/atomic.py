"""Atomic file output: write to a temporary sibling, then rename over the target."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError


def check_output_path(
    path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = (), overwrite: bool = False
) -> Path:
    """Validate an output path before any work starts.

    Parameters
    ----------
    path : path-like
        Where the result will be written.
    inputs : sequence of path-like
        Files the job reads; writing over one of them needs ``overwrite=True``.
    overwrite : bool
        Allow replacing an existing file, including an input file.

    Returns
    -------
    Path
        The output path.

    Raises
    ------
    InputError
        If the directory does not exist, or the target exists and ``overwrite`` is False.
    """
    out = Path(path)
    if not out.parent.exists():
        raise InputError(f"output directory {str(out.parent)!r} does not exist")
    if out.is_dir():
        raise InputError(f"output path {str(out)!r} is a directory")
    if not overwrite:
        for inp in inputs:
            if Path(inp).exists() and out.exists() and os.path.samefile(inp, out):
                raise InputError(
                    f"refusing to overwrite the input file {str(out)!r}; pass --overwrite to allow it"
                )
        if out.exists():
            raise InputError(f"{str(out)!r} already exists; pass --overwrite to replace it")
    return out


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched,
    so a failed job never leaves a partial output file. The temporary name keeps the
    target's suffix (``.out.vti.1234.tmp.vti``) because some writers (VTK, ``np.savez``)
    choose the format from the extension.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
