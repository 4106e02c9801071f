"""Building blocks shared by the evaluations: results, progress, figures, JSON, output folders.

The report page itself is written by :func:`dream3d_sd_filters.report.write_html_page`
from the :class:`~dream3d_sd_filters.report.Section` objects the evaluations return.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..report import Section
from ..tasks.progress import step_callback, tqdm_progress


@dataclass
class EvaluationResult:
    """What an evaluation measured: every number, and the report sections showing them.

    Attributes
    ----------
    metrics : dict
        Nested dict of numbers and lists (written to ``metrics.json``).
    sections : list of Section
        The report, in order; its figures already lie in the output folder.
    timings : dict
        Seconds spent per stage, e.g. ``{"model": 12.5, "metrics": 3.1}``.
    """

    metrics: dict[str, Any]
    sections: list[Section]
    timings: dict[str, float] = field(default_factory=dict)


class Stopwatch:
    """Accumulates wall-clock seconds per named stage: ``with watch("model"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def progress_callback(desc: str, show: bool) -> Callable[[int, int], None]:
    """A pipeline ``callback(done, total)`` that drives a tqdm bar named ``desc`` if ``show``."""
    return step_callback(tqdm_progress(desc, disable=not show), "")


def save_figure(figure: Any, folder: Path, name: str) -> Path:
    """Write a matplotlib figure as ``folder/name`` (PNG, 110 dpi), close it, return its path."""
    import matplotlib.pyplot as plt

    path = folder / name
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def json_safe(value: Any) -> Any:
    """Convert numpy scalars/arrays and tuples to JSON types, recursively.

    Non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"``, so the
    file stays strict JSON (identical images have an infinite PSNR).
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Path):
        return str(value)
    return value


def card_summary(card: dict[str, Any]) -> dict[str, Any]:
    """The model card fields that identify a checkpoint, for ``metrics.json``."""
    keys = (
        "model",
        "package_version",
        "created",
        "orientation_encoding",
        "image_size",
        "padding",
        "scaling_factor",
        "trained",
    )
    summary = {key: card[key] for key in keys if key in card}
    for part in ("autoencoder", "diffusion"):
        if isinstance(card.get(part), dict) and "steps" in card[part]:
            summary[f"{part}_steps"] = card[part]["steps"]
    summary["controlnets"] = {
        task: {k: info[k] for k in ("properties", "steps") if k in info}
        for task, info in card.get("controlnets", {}).items()
    }
    summary["surrogates"] = sorted(card.get("surrogates", {}))
    return summary


def check_output_folder(path: str | os.PathLike, overwrite: bool) -> Path:
    """Validate the report folder before any work starts.

    Raises
    ------
    InputError
        If the parent folder is missing, the path is a file, or the folder exists and
        ``overwrite`` is False.
    """
    out = Path(path)
    if not out.absolute().parent.is_dir():
        raise InputError(f"output directory {str(out.absolute().parent)!r} does not exist")
    if out.exists() and not out.is_dir():
        raise InputError(f"output path {str(out)!r} exists and is not a folder")
    if out.exists() and not overwrite:
        raise InputError(f"{str(out)!r} already exists; pass --overwrite to replace it")
    return out


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``path``.

    On any exception the temporary folder is deleted and ``path`` is left as it was,
    so a failed evaluation leaves no partial report.
    """
    target = Path(path).absolute()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_count(value: int, name: str, minimum: int = 1) -> int:
    """An integer option that must be at least ``minimum``."""
    if not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def group_similarity(reference: np.ndarray, test: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean SSIM and FSIM of image pairs per channel group.

    Parameters
    ----------
    reference, test : ndarray, shape (N, 4, H, W)
        Encoded images in [-1, 1].

    Returns
    -------
    dict
        ``{"ssim": {"grain": ..., "phase": ...}, "fsim": {...}}``: means over the N
        pairs; FSIM averages the pairs where it is defined (NaN if none is).
    """
    from ..metrics.image import CHANNEL_GROUPS, fsim, ssim

    out: dict[str, dict[str, float]] = {"ssim": {}, "fsim": {}}
    for group, channels in CHANNEL_GROUPS.items():
        a, b = reference[:, list(channels)], test[:, list(channels)]
        out["ssim"][group] = float(ssim(a, b).mean())
        values = fsim(a, b)
        out["fsim"][group] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    return out
