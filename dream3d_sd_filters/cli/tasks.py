"""``sd-filters reconstruct|generate|interpolate|inpaint``: the model's four tasks on files.

Inputs are ``.dream3d``, ``.vti`` and ``.npz`` volumes, and PNG/TIFF phase maps (gray
images: the darker level is phase 1, the brighter phase 2, as ``sd-filters convert --kind
phase`` writes them). The model needs grain orientations too, which a phase map lacks and
IPF-colour images cannot give back (the rotation about the viewing direction is lost);
a phase map is therefore only accepted with a model that has the orientation ControlNet,
which predicts orientations for it first.

Outputs follow the extension of ``--output``: ``.dream3d`` (plus the ``.xdmf`` ParaView
opens), ``.vti``, ``.npz``, or no extension for a folder of PNG slices (phase maps and IPF
colours). ``reconstruct`` and ``inpaint`` take many inputs (paths, a glob, a directory)
and then write into the folder ``--output`` under derived names; ``accelerate launch``
shares such a batch between processes. Every check (inputs readable and complete, masks,
outputs free) runs before the first model step, and a failed run removes what it wrote,
so a bad input leaves no partial output. Inputs are only read.
"""

from __future__ import annotations

import glob
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import partial, wraps
from pathlib import Path
from typing import Any

import click
import numpy as np
from click.core import ParameterSource

from ..errors import InputError

VOLUME_SUFFIXES = (".dream3d", ".vti", ".npz")
IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
OUTPUT_FORMATS = ("dream3d", "vti", "npz", "png")
SAMPLER_NAMES = ("dpmsolver++", "ddim", "ddpm")
#: Crystal-structure names accepted by ``--symmetry`` -> DREAM3D Laue id.
SYMMETRIES = {"cubic": 1, "cubic_high": 1, "hexagonal": 0, "hexagonal_high": 0}
#: Gray levels ``sd-filters convert --kind phase`` gives phases 1 and 2 (of two).
_CONVERT_LEVELS = {128: 1, 255: 2}
#: Slices per chunk when scoring reconstructions (bounds the float64 temporaries).
_SCORE_CHUNK = 32


# ------------------------------------------------------------------------------ inputs


def _expand_one(path: Path) -> list[Path]:
    if path.is_dir():
        entries = sorted(path.iterdir())
        volumes = [f for f in entries if f.is_file() and f.suffix.lower() in VOLUME_SUFFIXES]
        if volumes:
            return volumes
        if any(f.suffix.lower() in IMAGE_SUFFIXES for f in entries):
            return [path]  # a stack of PNG/TIFF slices is one volume
        raise InputError(f"directory {str(path)!r} holds no .dream3d, .vti, .npz or image files")
    return [path]


def expand_inputs(items: Sequence[str | os.PathLike]) -> tuple[list[Path], bool]:
    """The inputs named on the command line, and whether they form a batch.

    Parameters
    ----------
    items : sequence of path-like
        Files, directories and glob patterns (``"scans/*.dream3d"``). A directory holding
        volume files stands for all of them; a directory holding only images is one
        volume (a PNG stack).

    Returns
    -------
    paths : list of Path
        One entry per volume to process, in the order given (globs and directories
        sorted by name).
    batch : bool
        True for several paths, a glob or a directory of volume files: outputs then go
        into a folder under derived names.

    Raises
    ------
    InputError
        A missing path, a glob without matches, a directory without inputs, or the same
        input twice.
    """
    if not items:
        raise InputError("no input given")
    paths: list[Path] = []
    batch = len(items) > 1
    for item in items:
        text = str(item)
        path = Path(text)
        if path.exists():
            found = _expand_one(path)
            batch = batch or found != [path]
        elif any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(text))
            if not matches:
                raise InputError(f"no files match {text!r}")
            found = [p for m in matches for p in _expand_one(Path(m))]
            batch = True
        else:
            raise InputError(f"file not found: {text}")
        paths.extend(found)
    seen: set[str] = set()
    for path in paths:
        key = os.path.realpath(path)
        if key in seen:
            raise InputError(f"{str(path)!r} is given twice")
        seen.add(key)
    return paths, batch


def is_image_input(path: Path) -> bool:
    """True for a PNG/TIFF file or a directory of them (a phase map)."""
    return path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES


def parse_symmetry(names: Sequence[str]) -> tuple[int, int]:
    """``("cubic", "hexagonal")`` -> Laue ids of phases 1 and 2; InputError otherwise."""
    ids = []
    for name in names:
        key = str(name).strip().lower()
        if key not in SYMMETRIES:
            raise InputError(
                f"unsupported crystal structure {name!r}; the model supports cubic "
                "(Cubic_High) and hexagonal (Hexagonal_High)"
            )
        ids.append(SYMMETRIES[key])
    if len(ids) != 2:
        raise InputError(f"--symmetry needs two crystal structures, got {len(ids)}")
    return ids[0], ids[1]


def phase_map_volume(images, structures: tuple[int, int], source: str | os.PathLike):
    """Turn a PNG/TIFF stack read by :func:`~dream3d_sd_filters.io.read_volume` into Phases.

    Parameters
    ----------
    images : Volume
        With the cell array ``ImageData`` (Z, Y, X, C), C = 1 (gray), 3 (RGB) or 4 (RGBA).
    structures : (int, int)
        Laue ids of phases 1 and 2.
    source : path-like
        For messages.

    Returns
    -------
    Volume
        Same geometry, cell array ``Phases`` (int32, 1 or 2) and the ensemble arrays.
        The gray levels 128 and 255 of ``sd-filters convert --kind phase`` map to phases
        1 and 2; other two-level images map their darker level to phase 1.

    Raises
    ------
    InputError
        Colour images (IPF colours cannot be turned back into orientations), or more
        than two gray levels.
    """
    from ..volume import LAUE_NAMES, Volume, ensemble_arrays

    data = images.cell_data["ImageData"]
    if data.shape[3] >= 3:
        rgb = data[..., :3]
        if not (
            np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
        ):
            raise InputError(
                f"{str(source)!r} holds colour images; a PNG input must be a gray phase map "
                "(IPF colours cannot be turned back into orientations), or use a .dream3d, "
                ".vti or .npz file"
            )
    gray = data[..., 0]
    levels = np.unique(gray).tolist()
    if len(levels) > 2:
        raise InputError(
            f"{str(source)!r} has {len(levels)} gray levels; a phase map has two "
            "(phase 1 darker, phase 2 brighter)"
        )
    if data.dtype == np.uint8 and set(levels) <= set(_CONVERT_LEVELS):
        lookup = _CONVERT_LEVELS
    elif len(levels) == 2:
        lookup = {levels[0]: 1, levels[1]: 2}
    else:
        raise InputError(
            f"{str(source)!r} has the single gray level {levels[0]}, which is not one of the "
            "levels 128 (phase 1) and 255 (phase 2) of `sd-filters convert --kind phase`"
        )
    phases = np.where(gray == levels[0], lookup[levels[0]], lookup[levels[-1]]).astype(np.int32)
    return Volume(
        dims=images.dims,
        spacing=images.spacing,
        origin=images.origin,
        length_unit=images.length_unit,
        cell_data={"Phases": phases[..., None]},
        ensemble_data=ensemble_arrays(list(structures)),
        phase_names=["Invalid Phase", *(LAUE_NAMES[s] for s in structures)],
        name=images.name,
    )


def load_input(path: Path, symmetry: tuple[int, int] | None):
    """Read one input; PNG/TIFF phase maps become Phases (see :func:`phase_map_volume`).

    ``symmetry`` supplies CrystalStructures where the input has none (phase maps default
    to cubic + hexagonal); it must not contradict the input's own.
    """
    from ..io import read_volume
    from ..volume import LAUE_NAMES, ensemble_arrays

    volume = read_volume(path)
    if is_image_input(path) and "ImageData" in volume.cell_data:
        return phase_map_volume(volume, symmetry or (1, 0), path)
    structures = volume.crystal_structures
    if symmetry is not None:
        if structures is None:
            return volume.replace(ensemble_data=ensemble_arrays(list(symmetry)), phase_names=None)
        if len(structures) < 3 or tuple(int(s) for s in structures[1:3]) != symmetry:
            have = ", ".join(LAUE_NAMES.get(int(s), str(s)) for s in structures[1:])
            raise InputError(
                f"{str(path)!r} already has crystal structures {have}, which differ from "
                "--symmetry; leave --symmetry out for this file"
            )
    return volume


def check_model_inputs(volume, path: Path, card: dict[str, Any]) -> None:
    """Raise InputError (naming the file and what is missing) unless the model can run on it.

    The model (described by its ``card``) needs the cell arrays Phases (1 or 2) and
    EulerAngles (radians) and the ensemble array CrystalStructures with supported crystal
    structures. A phase map without EulerAngles passes when the model has the orientation
    ControlNet, which predicts them.
    """
    from ..data.encoding import check_supported_structures
    from ..tasks import volume_to_images

    if "Phases" in volume.cell_data and "EulerAngles" not in volume.cell_data:
        if is_image_input(path) and "orientation" not in card.get("controlnets", {}):
            raise InputError(
                f"{str(path)!r} is a phase map without grain orientations, and the model "
                "needs EulerAngles too; use a .dream3d, .vti or .npz file that holds them "
                "(IPF-colour PNGs cannot be turned back into orientations), or a model with "
                "the orientation ControlNet, which predicts them"
            )
        if is_image_input(path):
            return
    missing = [n for n in ("Phases", "EulerAngles") if n not in volume.cell_data]
    if volume.crystal_structures is None:
        missing.append("CrystalStructures")
    if missing:
        have = ", ".join(sorted(volume.cell_data)) or "no cell arrays"
        raise InputError(
            f"{str(path)!r} lacks {', '.join(missing)}; the model needs the cell arrays "
            f"Phases and EulerAngles and the ensemble array CrystalStructures (it has: {have})"
        )
    try:
        check_supported_structures(volume.crystal_structures)
        volume_to_images(volume, "z", card.get("orientation_encoding", "euler"))
    except InputError as error:
        raise InputError(f"{str(path)!r}: {error}") from None


def with_orientations(volume, path: Path, model, settings: TaskSettings, progress=None):
    """The volume itself, or for a phase map, with orientations predicted by the ControlNet."""
    if "EulerAngles" in volume.cell_data:
        return volume
    from ..tasks import predict_orientations

    click.echo(
        f"note: {path} is a phase map; grain orientations predicted by the orientation ControlNet",
        err=True,
    )
    return predict_orientations(
        volume,
        model,
        axis=settings.axis,
        sampler=settings.sampler,
        steps=settings.steps,
        seed=settings.seed,
        batch_size=settings.batch_size,
        periodic=settings.periodic,
        progress=progress,
    ).volume


# ----------------------------------------------------------------------------- outputs


def is_folder_output(path: Path) -> bool:
    """True if ``path`` names a folder of PNG slices (no extension, or an existing folder)."""
    return path.is_dir() or path.suffix == ""


def check_target(target: Path, inputs: Sequence[Path], overwrite: bool) -> None:
    """InputError unless ``target`` can be written: never an input, free unless ``overwrite``."""
    from ..io import WRITE_SUFFIXES, check_output_path
    from ..io.images import check_stack_target

    for source in inputs:
        if os.path.realpath(source) == os.path.realpath(target) or (
            target.exists() and source.exists() and os.path.samefile(source, target)
        ):
            raise InputError(
                f"output {str(target)!r} is an input; inputs are never modified, choose "
                "another output name"
            )
    if is_folder_output(target):
        check_stack_target(target, overwrite)
        return
    if target.suffix.lower() not in WRITE_SUFFIXES:
        raise InputError(
            f"cannot write {str(target)!r}: unknown extension {target.suffix}; use "
            f"{', '.join(WRITE_SUFFIXES)}, or a name without extension for a folder of PNG slices"
        )
    check_output_path(target, inputs, overwrite)
    if target.suffix.lower() == ".dream3d":
        check_output_path(target.with_suffix(".xdmf"), inputs, overwrite)


def write_png_folder(volume, target: Path, axis: str = "z", overwrite: bool = False) -> Path:
    """Write phase maps and IPF colours of every slice into the folder ``target``.

    Files are ``phase_<axis><index>.png`` and ``ipf_<axis><index>.png``. They are written
    into a hidden sibling folder first and moved in when all succeeded.
    """
    from ..io.images import check_stack_target, write_png_stack

    check_stack_target(target, overwrite)
    staging = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        write_png_stack(volume, staging, axis=axis, kind="phase")
        write_png_stack(volume, staging, axis=axis, kind="ipf", overwrite=True)
        if not target.exists():
            os.replace(staging, target)
        else:
            for item in sorted(staging.iterdir()):
                os.replace(item, target / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


class OutputLog:
    """What a run wrote, so that a failed run can take it back (no partial output).

    Used as ``with OutputLog() as log: log.write(...)``: an exception inside the block,
    Ctrl-C included, removes everything written in it.
    """

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.new_folders: list[Path] = []

    def __enter__(self) -> OutputLog:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:
            self.undo()

    def write(self, volume, target: Path, inputs: Sequence[Path], overwrite: bool, axis: str):
        """Write ``volume`` to ``target`` (a file by extension, or a PNG folder) and log it."""
        from ..io import write_volume

        if is_folder_output(target):
            new = not target.exists()
            write_png_folder(volume, target, axis, overwrite)
            if new:
                self.new_folders.append(target)
            return
        write_volume(volume, target, overwrite=overwrite, inputs=inputs)
        self.files.append(target)
        if target.suffix.lower() == ".dream3d":
            self.files.append(target.with_suffix(".xdmf"))

    def undo(self) -> None:
        """Remove every file written and every PNG folder this run created."""
        for path in self.files:
            path.unlink(missing_ok=True)
        for folder in self.new_folders:
            shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Job:
    """One input and where its result goes."""

    source: Path
    target: Path


def plan_jobs(
    sources: Sequence[Path], batch: bool, output: Path, suffix: str, output_format: str
) -> list[Job]:
    """Output paths: ``output`` itself for one input, else ``output/<name>_<suffix>.<format>``.

    Raises
    ------
    InputError
        A batch whose ``output`` is an existing file or lies in a missing directory, an
        unknown format, or two inputs that would get the same output name.
    """
    if not batch:
        return [Job(sources[0], output)]
    if output_format not in OUTPUT_FORMATS:
        raise InputError(
            f"unknown format {output_format!r}; use one of {', '.join(OUTPUT_FORMATS)}"
        )
    if output.exists() and not output.is_dir():
        raise InputError(
            f"--output {str(output)!r} is a file; several inputs need an output folder"
        )
    if not output.parent.exists():
        raise InputError(f"output directory {str(output.parent)!r} does not exist")
    jobs = []
    seen: dict[Path, Path] = {}
    for source in sources:
        name = source.name if source.is_dir() else source.stem
        target = output / (
            f"{name}_{suffix}" + ("" if output_format == "png" else f".{output_format}")
        )
        if target in seen:
            raise InputError(
                f"{str(seen[target])!r} and {str(source)!r} would both be written to "
                f"{str(target)!r}; process them separately"
            )
        seen[target] = source
        jobs.append(Job(source, target))
    return jobs


# ------------------------------------------------------------------------------- model


def resolve_model(name: str) -> tuple[Path, dict[str, Any]]:
    """The model folder and its card, without loading weights (for checks before work)."""
    from ..models.card import read_model_card
    from ..pipelines.microstructure_sd import resolve_pretrained

    try:
        folder = resolve_pretrained(name)
    except InputError as error:
        if name == "default":
            raise InputError(
                f"no bundled model: {error}; train and bundle one (`sd-train bundle`) or pass "
                "--model FOLDER"
            ) from None
        raise
    return folder, read_model_card(folder)


def resolve_device(device: str, state=None) -> str:
    """``auto`` -> cuda if available; each accelerate process gets its own GPU."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda was chosen but no CUDA GPU is available")
        if state is not None and state.num_processes > 1:
            return f"cuda:{state.local_process_index}"
    return device


def load_model(folder: Path, device: str):
    """Load the pipeline (the expensive step, after every check passed)."""
    from ..pipelines import MicrostructureSD

    return MicrostructureSD.from_pretrained(folder, device=device)


# ----------------------------------------------------------------------------- metrics


def reconstruction_scores(reference: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM of the phase channel and of the three orientation channels.

    Parameters
    ----------
    reference, test : ndarray, shape (N, 4, H, W)
        Encoded slices (values in [-1, 1]), e.g. of a volume and its reconstruction.

    Returns
    -------
    dict
        ``psnr_phase``, ``psnr_orientation`` (dB, mean over slices of the finite values;
        inf if every slice is identical) and ``ssim_phase``, ``ssim_orientation`` (mean
        over slices; NaN for slices smaller than the 11-pixel SSIM window).
    """
    from ..metrics.image import psnr, ssim

    scores: dict[str, float] = {}
    for group, channels in (("phase", [0]), ("orientation", [1, 2, 3])):
        psnrs, ssims = [], []
        for start in range(0, len(reference), _SCORE_CHUNK):
            a = reference[start : start + _SCORE_CHUNK, channels]
            b = test[start : start + _SCORE_CHUNK, channels]
            psnrs.append(psnr(a, b))
            if min(a.shape[2:]) >= 11:
                ssims.append(ssim(a, b))
        values = np.concatenate(psnrs)
        finite = values[np.isfinite(values)]
        scores[f"psnr_{group}"] = float(finite.mean()) if finite.size else math.inf
        scores[f"ssim_{group}"] = float(np.concatenate(ssims).mean()) if ssims else math.nan
    return scores


def format_score(value: float, digits: int = 2) -> str:
    """A score for the terminal: NaN as n/a."""
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


# ------------------------------------------------------------------------------ running


@dataclass
class TaskSettings:
    """The sampling options shared by the task commands."""

    axis: str = "z"
    batch_size: int = 16
    seed: int = 0
    steps: int = 25
    sampler: str = "dpmsolver++"
    periodic: bool = False

    def check(self) -> None:
        """InputError for an unknown sampler or a non-positive count."""
        if self.sampler not in SAMPLER_NAMES:
            raise InputError(
                f"unknown sampler {self.sampler!r}; use one of {', '.join(SAMPLER_NAMES)}"
            )
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not 1 <= self.steps <= 1000:
            raise InputError(f"--steps must be in 1..1000, got {self.steps}")


@dataclass
class TaskOptions:
    """The options every task command has, as :func:`_common_options` passes them.

    Attributes
    ----------
    output : Path
        ``--output``: a file, a PNG folder, or the folder of a batch's results.
    model : str
        Bundled model name or pipeline folder.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    symmetry : tuple of str
        ``--symmetry`` as given; empty when it was not.
    overwrite : bool
    settings : TaskSettings
        Already checked.
    output_format : str
        Format of a batch's results (``dream3d`` for commands without batches).
    """

    output: Path
    model: str
    device: str
    symmetry: tuple[str, ...]
    overwrite: bool
    settings: TaskSettings
    output_format: str = "dream3d"


def _show_progress(state) -> bool:
    return state.is_main_process and sys.stderr.isatty()


def process_state():
    """accelerate's view of the processes (one, unless started by ``accelerate launch``)."""
    from accelerate import PartialState

    return PartialState()


def run_jobs(
    jobs: list[Job],
    work: Callable[[Job, Callable | None], tuple[Any, str]],
    state,
    output_folder: Path | None,
    overwrite: bool,
    axis: str,
) -> list[str]:
    """Run ``work`` on this process's share of ``jobs`` and write each result.

    Parameters
    ----------
    jobs : list of Job
        Already checked (inputs and outputs), on every process.
    work : callable
        ``work(job, progress) -> (volume, summary line)``.
    state : accelerate.PartialState
    output_folder : Path, optional
        The batch output folder, created here when missing.

    Returns
    -------
    list of str
        The summary lines of all jobs, in job order, on the main process (empty on the
        others).
    """
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    from ..tasks import tqdm_progress

    # Every process has checked that no output exists before any process writes one.
    state.wait_for_everyone()
    show = _show_progress(state)
    lines: list[str] = []
    created = output_folder is not None and not output_folder.exists()
    try:
        with OutputLog() as log:
            if output_folder is not None:
                output_folder.mkdir(exist_ok=True)
            with state.split_between_processes(jobs) as mine:
                bar = tqdm(mine, desc="files", unit="file", disable=not show or len(jobs) < 2)
                for job in bar:
                    progress = tqdm_progress(job.source.name, disable=not show)
                    volume, line = work(job, progress)
                    log.write(volume, job.target, [job.source], overwrite, axis)
                    lines.append(line)
    except BaseException:
        if created and output_folder.is_dir() and not any(output_folder.iterdir()):
            output_folder.rmdir()
        raise
    gathered = gather_object(lines) if state.num_processes > 1 else lines
    return list(gathered) if state.is_main_process else []


def prepare_jobs(
    inputs: Sequence[str],
    options: TaskOptions,
    suffix: str,
    extra_check: Callable[[Any, Path], None] | None = None,
) -> tuple[list[Job], Path | None, Path, tuple[int, int] | None]:
    """Every check of a batch command, before any model work.

    Returns the jobs, the batch output folder (None for a single input), the model folder
    and the parsed ``--symmetry``.
    """
    structures = parse_symmetry(options.symmetry) if options.symmetry else None
    sources, batch = expand_inputs(inputs)
    output = options.output
    jobs = plan_jobs(sources, batch, output, suffix, options.output_format)
    folder, card = resolve_model(options.model)
    for job in jobs:
        if not (batch and not output.exists()):
            check_target(job.target, [job.source], options.overwrite)
        volume = load_input(job.source, structures)
        check_model_inputs(volume, job.source, card)
        if extra_check is not None:
            extra_check(volume, job.source)
    return jobs, (output if batch else None), folder, structures


def run_batch(
    inputs: Sequence[str],
    options: TaskOptions,
    suffix: str,
    work: Callable[[Any, tuple[int, int] | None, Job, Callable | None], tuple[Any, str]],
    extra_check: Callable[[Any, Path], None] | None = None,
) -> None:
    """A batch command: check everything, load the model, run every job, print its line.

    Parameters
    ----------
    inputs : sequence of str
        The command's INPUT arguments (see :func:`expand_inputs`).
    options : TaskOptions
    suffix : str
        Ending of the output names in a batch (see :func:`plan_jobs`).
    work : callable
        ``work(pipeline, structures, job, progress) -> (volume, summary line)``, where
        ``structures`` is the parsed ``--symmetry`` (None when not given).
    extra_check : callable, optional
        ``extra_check(volume, source)``, run on every input before any model work.
    """
    jobs, output_folder, folder, structures = prepare_jobs(inputs, options, suffix, extra_check)
    state = process_state()
    pipeline = load_model(folder, resolve_device(options.device, state))
    lines = run_jobs(
        jobs,
        partial(work, pipeline, structures),
        state,
        output_folder,
        options.overwrite,
        options.settings.axis,
    )
    for line in lines:
        click.echo(line)


#: ``--model`` of the task commands and ``sd-filters demo``.
model_option = click.option(
    "--model",
    default="default",
    show_default=True,
    help="Bundled model name, or a pipeline folder (`sd-train bundle`).",
)
#: ``--device`` of the task commands and ``sd-filters demo``.
device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Torch device; auto picks cuda when a GPU is available.",
)


def _common_options(steps: int, periodic: bool, axis: bool = True, batch: bool = True):
    """The options every task command has, passed to it as one ``options`` (TaskOptions).

    ``steps`` and ``periodic`` are the defaults; ``axis`` and ``batch`` add ``--axis``
    and ``--format``.
    """

    def decorate(command):
        @wraps(command)
        def run(**values: Any) -> None:
            settings = TaskSettings(
                **{f.name: values.pop(f.name) for f in fields(TaskSettings) if f.name in values}
            )
            settings.check()
            options = TaskOptions(
                output=values.pop("output"),
                model=values.pop("model"),
                device=values.pop("device"),
                symmetry=tuple(values.pop("symmetry") or ()),
                overwrite=values.pop("overwrite"),
                settings=settings,
                output_format=values.pop("output_format", "dream3d"),
            )
            command(**values, options=options)

        declarations = [
            click.option(
                "-o",
                "--output",
                required=True,
                type=click.Path(path_type=Path),
                help="Output: .dream3d (+ .xdmf), .vti or .npz by extension, or a name "
                "without extension for a folder of PNG slices"
                + ("; with several inputs, a folder for all results." if batch else "."),
            ),
            model_option,
            device_option,
            click.option(
                "--batch-size", type=int, default=16, show_default=True, help="Images per batch."
            ),
            click.option("--seed", type=int, default=0, show_default=True, help="Random seed."),
            click.option(
                "--steps",
                type=int,
                default=steps,
                show_default=True,
                help="Denoising steps (more: slower, usually better).",
            ),
            click.option(
                "--sampler",
                default="dpmsolver++",
                show_default=True,
                help="Sampler: dpmsolver++, ddim or ddpm; for generation, and for predicting "
                "orientations of PNG phase maps (inpainting and interpolation use DDIM).",
            ),
            click.option(
                "--periodic/--no-periodic",
                default=periodic,
                show_default=True,
                help="Treat images as periodic (circular padding; generated images tile).",
            ),
            click.option(
                "--symmetry",
                nargs=2,
                default=None,
                metavar="PHASE1 PHASE2",
                help="Crystal structure of phases 1 and 2: cubic or hexagonal. For inputs "
                "without CrystalStructures (PNG phase maps) and generated images; default "
                "cubic hexagonal, and hexagonal hexagonal for `generate --target` (SmCo5 and "
                "Sm2Co17).",
            ),
            click.option("--overwrite", is_flag=True, help="Replace outputs that exist."),
        ]
        if axis:
            declarations.append(
                click.option(
                    "--axis",
                    type=click.Choice(["x", "y", "z"]),
                    default="z",
                    show_default=True,
                    help="Slice normal: the model works on the slices across this axis.",
                )
            )
        if batch:
            declarations.append(
                click.option(
                    "--format",
                    "output_format",
                    type=click.Choice(OUTPUT_FORMATS),
                    default="dream3d",
                    show_default=True,
                    help="Format of the results when several inputs write into a folder.",
                )
            )
        for option in reversed(declarations):
            run = option(run)
        return run

    return decorate


# ---------------------------------------------------------------------------- commands


@click.command("reconstruct")
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@_common_options(steps=25, periodic=False)
def reconstruct(inputs: tuple[str, ...], options: TaskOptions) -> None:
    """Encode and decode every slice with the autoencoder (SD Autoencode).

    INPUT is a .dream3d, .vti or .npz volume with Phases, EulerAngles and
    CrystalStructures, or several of them (paths, a quoted glob, a directory).
    The output has the reconstructed Phases, EulerAngles, FeatureIds and IPFColors
    and ReconstructionError (mean absolute difference of the encoded channels, 0-2).
    Prints PSNR and SSIM of the phase and orientation channels per file.

    \b
    Examples:
      sd-filters reconstruct grains.dream3d -o grains_rec.dream3d
      sd-filters reconstruct "scans/*.dream3d" -o reconstructed/ --format vti
    """
    from ..tasks import reconstruct_volume, volume_to_images

    settings = options.settings

    def work(pipeline, structures, job: Job, progress) -> tuple[Any, str]:
        volume = with_orientations(
            load_input(job.source, structures), job.source, pipeline, settings, progress
        )
        result = reconstruct_volume(
            volume, pipeline, settings.axis, settings.batch_size, settings.periodic, progress
        )
        scores = reconstruction_scores(
            volume_to_images(volume, settings.axis, pipeline.encoding),
            volume_to_images(result, settings.axis, pipeline.encoding),
        )
        line = (
            f"{job.source} -> {job.target}: PSNR phase {format_score(scores['psnr_phase'])} dB, "
            f"orientation {format_score(scores['psnr_orientation'])} dB; SSIM phase "
            f"{format_score(scores['ssim_phase'], 3)}, orientation "
            f"{format_score(scores['ssim_orientation'], 3)}"
        )
        return result, line

    run_batch(inputs, options, "reconstructed", work)


def box_mask(shape: tuple[int, int, int], box: Sequence[int]) -> np.ndarray:
    """A (Z, Y, X) bool mask, True inside ``box = (X0, X1, Y0, Y1, Z0, Z1)`` (ends excluded).

    Raises
    ------
    InputError
        Unless ``0 <= lo < hi <= size`` along each axis.
    """
    z, y, x = shape
    bounds = [int(b) for b in box]
    mask = np.zeros(shape, dtype=bool)
    for name, lo, hi, size in zip("XYZ", bounds[0::2], bounds[1::2], (x, y, z)):
        if not 0 <= lo < hi <= size:
            raise InputError(
                f"--box {name} bounds {lo} {hi} must satisfy 0 <= {name}0 < {name}1 <= {size} "
                "(voxel indices, the end excluded)"
            )
    x0, x1, y0, y1, z0, z1 = bounds
    mask[z0:z1, y0:y1, x0:x1] = True
    return mask


def _checked_mask(values: np.ndarray, shape: tuple[int, int, int], what: str) -> np.ndarray:
    if values.ndim == 4 and values.shape[3] == 1:
        values = values[..., 0]
    if values.shape != shape:
        raise InputError(
            f"{what} has shape {values.shape}, but the volume's cells are (Z, Y, X) = {shape}"
        )
    if values.dtype != np.bool_:
        if values.dtype != np.uint8:
            raise InputError(f"{what} must be bool or uint8 (0/1), got dtype {values.dtype}")
        if values.size and values.max() > 1:
            raise InputError(f"{what} must hold 0 and 1 only, found {int(values.max())}")
    return values.astype(bool)


def build_mask(
    volume,
    source: Path,
    mask_array: str | None,
    box: Sequence[int] | None,
    mask_file: Path | None,
) -> np.ndarray:
    """The region to fill, (Z, Y, X) bool, from exactly one of the three mask options."""
    given = [
        o for o, v in (("--mask-array", mask_array), ("--box", box), ("--mask", mask_file)) if v
    ]
    if len(given) != 1:
        raise InputError(
            "give the region to fill with exactly one of --mask-array, --box or --mask"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if box:
        return box_mask(volume.shape, box)
    if mask_array:
        if mask_array not in volume.cell_data:
            have = ", ".join(sorted(volume.cell_data)) or "none"
            raise InputError(f"{str(source)!r} has no cell array {mask_array!r} (it has: {have})")
        return _checked_mask(volume.cell_data[mask_array], volume.shape, f"mask {mask_array!r}")
    assert mask_file is not None
    if not mask_file.is_file():
        raise InputError(f"mask file not found: {mask_file}")
    try:
        values = np.load(mask_file, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read mask {str(mask_file)!r}: {error}") from None
    if not isinstance(values, np.ndarray):
        raise InputError(f"{str(mask_file)!r} is not a single array; save the mask with np.save")
    return _checked_mask(values, volume.shape, f"mask {str(mask_file)!r}")


@click.command("inpaint")
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option(
    "--mask-array",
    metavar="NAME",
    default=None,
    help="Cell array of the input (bool or uint8 0/1) that is true where cells are unknown.",
)
@click.option(
    "--box",
    nargs=6,
    type=int,
    default=None,
    metavar="X0 X1 Y0 Y1 Z0 Z1",
    help="Fill this box of voxel indices (ends excluded).",
)
@click.option(
    "--mask",
    "mask_file",
    type=click.Path(path_type=Path),
    default=None,
    help=".npy file: bool or uint8 (0/1) array of shape (Z, Y, X), true where unknown.",
)
@click.option(
    "--mode",
    type=click.Choice(["consistent", "independent"]),
    default="consistent",
    show_default=True,
    help="consistent starts each slice from its neighbour's result, so the filled region "
    "stays continuous across slices; independent fills every slice on its own.",
)
@click.option(
    "--jump-length",
    type=int,
    default=10,
    show_default=True,
    help="RePaint resampling: steps to jump back.",
)
@click.option(
    "--jump-n-sample",
    type=int,
    default=3,
    show_default=True,
    help="RePaint resampling: passes over each jump (1 = no resampling).",
)
@_common_options(steps=50, periodic=False)
def inpaint(
    inputs: tuple[str, ...],
    mask_array: str | None,
    box: tuple[int, ...] | None,
    mask_file: Path | None,
    mode: str,
    jump_length: int,
    jump_n_sample: int,
    options: TaskOptions,
) -> None:
    """Fill a masked region of a volume, slice by slice (SD Inpaint).

    INPUT is a .dream3d, .vti or .npz volume (or several). The region to fill comes
    from --mask-array, --box or --mask. Cells outside it keep their values exactly;
    inside, Phases, EulerAngles and IPFColors are generated, FeatureIds re-segmented,
    and the mask is stored as the uint8 cell array InpaintMask. An empty mask copies
    the input; a full mask generates a new volume. Prints the continuity ratio:
    mean difference of adjacent slices inside the region over the same outside (1 is
    as continuous as the data; the consistent mode aims at <= 1.5).

    \b
    Examples:
      sd-filters inpaint grains.dream3d --box 16 48 16 48 16 48 -o filled.dream3d
      sd-filters inpaint scan.dream3d --mask-array Mask --mode independent -o out.vti
    """
    from ..tasks import inpaint_volume

    if jump_length < 1 or jump_n_sample < 1:
        raise InputError("--jump-length and --jump-n-sample must be >= 1")
    settings = options.settings

    def mask_for(volume, source: Path) -> np.ndarray:
        return build_mask(volume, source, mask_array, box, mask_file)

    def work(pipeline, structures, job: Job, progress) -> tuple[Any, str]:
        volume = load_input(job.source, structures)
        mask = mask_for(volume, job.source)
        volume = with_orientations(volume, job.source, pipeline, settings, progress)
        result = inpaint_volume(
            volume,
            mask,
            pipeline,
            axis=settings.axis,
            mode=mode,
            steps=settings.steps,
            jump_length=jump_length,
            jump_n_sample=jump_n_sample,
            seed=settings.seed,
            batch_size=settings.batch_size,
            periodic=settings.periodic,
            progress=progress,
        )
        filled = result.volume.replace(
            cell_data={
                **result.volume.cell_data,
                "InpaintMask": mask[..., None].astype(np.uint8),
            }
        )
        line = (
            f"{job.source} -> {job.target}: filled {int(mask.sum())} of {mask.size} cells "
            f"({mode}); continuity ratio {format_score(result.continuity, 3)}"
        )
        return filled, line

    run_batch(inputs, options, "inpainted", work, extra_check=mask_for)


@click.command("generate")
@click.option("-n", "count", type=int, default=8, show_default=True, help="Number of images.")
@click.option(
    "--size",
    nargs=2,
    type=int,
    default=None,
    metavar="H W",
    help="Image height and width in pixels, multiples of the model's downsampling. "
    "[default: the training size]",
)
@click.option(
    "--spacing",
    type=float,
    default=1.0,
    show_default=True,
    help="Voxel size, in --unit. Designs (--target) are at the simulation's 1 nm cells.",
)
@click.option(
    "--unit",
    default="Micrometer",
    show_default=True,
    help="Length unit of the spacing, as DREAM3D names it (Nanometer, Micrometer, ...).",
)
@click.option(
    "--target",
    default=None,
    metavar="PROPERTY=VALUE",
    help="Inverse design: generate to a property target with the property ControlNet, "
    "e.g. coercivity=2T (tesla, mu0*Hc), and verify every candidate.",
)
@click.option(
    "--verify",
    type=click.Choice(["surrogate", "simulation"]),
    default="surrogate",
    show_default=True,
    help="With --target: check candidates with the bundled surrogate CNN (ms each) or "
    "with micromagnetics (seconds each, needs the [magnetics] extra).",
)
@click.option(
    "--tolerance",
    type=float,
    default=0.15,
    show_default=True,
    help="With --target: relative error that counts as a hit.",
)
@click.option(
    "--guidance-scale",
    type=float,
    default=2.0,
    show_default=True,
    help="With --target: classifier-free guidance scale (1 = no guidance).",
)
@click.option(
    "--surrogate-guidance",
    "surrogate_guidance_scale",
    type=float,
    default=None,
    help="With --target: how strongly the property surrogate steers each denoising step "
    "toward the target (0 = off). Steered candidates are checked independently only by "
    "--verify simulation.  [default: 8]",
)
@_common_options(steps=25, periodic=True, axis=False, batch=False)
def generate(
    count: int,
    size: tuple[int, int] | None,
    spacing: float,
    unit: str,
    target: str | None,
    verify: str,
    tolerance: float,
    guidance_scale: float,
    surrogate_guidance_scale: float | None,
    options: TaskOptions,
) -> None:
    """Generate new 2D microstructures, written as the z-slices of one volume.

    Each slice is an independent sample (grains never span two slices) with Phases,
    EulerAngles (decoded in the fundamental zone of --symmetry), FeatureIds and
    IPFColors. Periodic samples (the default) tile seamlessly.

    With --target, candidates are generated to a property value and ranked by their
    verified value (best first); a table of each candidate's verified value and the hit
    rate are printed.

    \b
    Examples:
      sd-filters generate -n 16 -o samples.dream3d
      sd-filters generate -n 4 --size 256 256 --sampler ddim --steps 50 -o big/
      sd-filters generate --target coercivity=2T -n 16 --verify simulation -o design.dream3d
    """
    from ..tasks import generate_volume, tqdm_progress
    from ..volume import LENGTH_UNITS

    settings, output, overwrite = options.settings, options.output, options.overwrite
    if count < 1:
        raise InputError(f"-n must be >= 1, got {count}")
    source = click.get_current_context().get_parameter_source
    if target is not None and any(
        source(name) is not ParameterSource.DEFAULT for name in ("spacing", "unit")
    ):
        raise InputError(
            "--spacing and --unit cannot be combined with --target: designs are written at "
            "the micromagnetic cell size (1 nm) for which the target holds"
        )
    units = {u.lower(): u for u in LENGTH_UNITS}
    if unit.lower() not in units:
        raise InputError(f"unknown length unit {unit!r}; use e.g. Nanometer or Micrometer")
    if not spacing > 0:
        raise InputError(f"--spacing must be > 0, got {spacing}")
    structures = parse_symmetry(options.symmetry) if options.symmetry else None
    check_target(output, [], overwrite)
    folder, _ = resolve_model(options.model)
    pipeline = load_model(folder, resolve_device(options.device))
    height, width = size or (pipeline.image_size, pipeline.image_size)
    f = pipeline.unet_multiple
    if height % f or width % f:
        raise InputError(f"--size {height} {width}: each must be a multiple of {f} pixels")
    started = time.perf_counter()
    if target is not None:
        if size is not None:
            raise InputError(
                "--size cannot be combined with --target (designs use the training size)"
            )
        design(
            pipeline,
            parse_target(target),
            count,
            verify,
            tolerance,
            guidance_scale,
            surrogate_guidance_scale,
            structures,
            settings,
            output,
            overwrite,
        )
        return
    volume = generate_volume(
        pipeline,
        count,
        size=(height, width),
        crystal_structures=structures or (1, 0),
        spacing=(spacing, spacing, spacing),
        length_unit=units[unit.lower()],
        sampler=settings.sampler,
        steps=settings.steps,
        seed=settings.seed,
        batch_size=settings.batch_size,
        periodic=settings.periodic,
        progress=tqdm_progress("generate", disable=not sys.stderr.isatty()),
    )
    with OutputLog() as log:
        log.write(volume, output, [], overwrite, "z")
    click.echo(
        f"wrote {count} samples of {height} x {width} pixels ({settings.sampler}, "
        f"{settings.steps} steps) to {output} in {time.perf_counter() - started:.1f} s"
    )


_TARGET_UNITS = {"coercivity": {"t": 1.0, "mt": 1e-3, "": 1.0}}


def parse_target(text: str) -> dict[str, float]:
    """``"coercivity=2T"`` -> ``{"coercivity": 2.0}`` (coercivity in tesla)."""
    name, _, value = text.partition("=")
    name = name.strip().lower()
    if not value:
        raise InputError(f"--target {text!r}: write PROPERTY=VALUE, e.g. coercivity=2T")
    number = value.strip().rstrip("TtMm")
    unit = value.strip()[len(number) :].lower()
    units = _TARGET_UNITS.get(name, {"": 1.0})
    try:
        scale = units[unit]
        return {name: float(number) * scale}
    except (KeyError, ValueError):
        raise InputError(
            f"--target {text!r}: {value!r} is not a number"
            + (" in T or mT" if name in _TARGET_UNITS else "")
        ) from None


def design(
    pipeline,
    target: dict[str, float],
    count: int,
    verify: str,
    tolerance: float,
    guidance_scale: float,
    surrogate_guidance_scale: float | None,
    structures: tuple[int, int] | None,
    settings: TaskSettings,
    output: Path,
    overwrite: bool,
) -> None:
    """``generate --target``: inverse design, verified, ranked and summarised."""
    from ..tasks import design_microstructures, tqdm_progress

    if not tolerance > 0:
        raise InputError(f"--tolerance must be > 0, got {tolerance}")
    steering = (
        {}
        if surrogate_guidance_scale is None
        else {"surrogate_guidance_scale": surrogate_guidance_scale}
    )
    started = time.perf_counter()
    result = design_microstructures(
        pipeline,
        target,
        n=count,
        verify=verify,
        tolerance=tolerance,
        guidance_scale=guidance_scale,
        steps=settings.steps,
        seed=settings.seed,
        progress=tqdm_progress("design", disable=not sys.stderr.isatty()),
        **steering,
        **({} if structures is None else {"crystal_structures": structures}),
    )
    with OutputLog() as log:
        log.write(result.volume, output, [], overwrite, "z")
    ((prop, value),) = target.items()
    click.echo(f"{'slice':>5}  {prop + ' (' + verify + ')':>26}  {'error':>7}  hit")
    for k, (got, error, hit) in enumerate(zip(result.verified, result.relative_error, result.hits)):
        click.echo(f"{k:>5}  {got:>26.3f}  {error:>6.1%}  {'yes' if hit else 'no'}")
    click.echo(
        f"{int(result.hits.sum())}/{count} candidates within {tolerance:.0%} of "
        f"{prop} = {value:g} (hit rate {result.hit_rate:.0%}); best first in {output} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    if verify == "surrogate" and surrogate_guidance_scale != 0:
        click.echo(
            "note: the surrogate also steered these candidates; --verify simulation checks "
            "them independently"
        )


def parse_numbers(text: str, kind: type, what: str) -> list:
    """``"0,0.5,1"`` -> ``[0.0, 0.5, 1.0]``; InputError for anything else."""
    try:
        values = [kind(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise InputError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise InputError(f"{what} needs at least one value")
    return values


def slice_as_volume(volume, axis: str, index: int):
    """One slice of ``volume`` across ``axis`` as a single-z-slice Volume (rows, columns kept).

    Spacing follows the slice: (column, row, normal) spacing of the original.
    """
    from ..tasks import to_slices
    from ..tasks.slicing import slice_shape

    n = slice_shape(volume, axis)[0]
    if not -n <= index < n:
        raise InputError(f"slice {axis} {index} is outside 0..{n - 1} of volume {volume.name!r}")
    cells = {
        name: np.ascontiguousarray(np.moveaxis(to_slices(array, axis)[index], 0, -1)[None])
        for name, array in volume.cell_data.items()
    }
    height, width = next(iter(cells.values())).shape[1:3]
    x, y, z = volume.spacing
    return volume.replace(
        dims=(width, height, 1),
        spacing={"z": (x, y, z), "y": (x, z, y), "x": (y, z, x)}[axis],
        origin=(0.0, 0.0, 0.0),
        cell_data=cells,
        feature_data={},
    )


def pick_slice(volume, source: Path, chosen: tuple[str, int] | None) -> tuple[str, int]:
    """The slice to interpolate from: ``--slice`` or, for a 2D image, its only slice."""
    if chosen is not None:
        axis, index = chosen
        if axis not in ("x", "y", "z"):
            raise InputError(f"--slice axis must be x, y or z, got {axis!r}")
        return axis, int(index)
    x, y, z = volume.dims
    for axis, size in (("z", z), ("y", y), ("x", x)):
        if size == 1:
            return axis, 0
    raise InputError(
        f"{str(source)!r} has {x} x {y} x {z} voxels; choose the slice with --slice AXIS INDEX"
    )


def interpolation_figure(path: Path, grid, gammas, timesteps, overwrite: bool) -> Path:
    """PNG of the gamma x t grid: per noise level a row of phase maps and one of IPF colours."""
    from ..io.images import slice_to_rgb
    from ..report import save_image_grid

    rows, labels = [], []
    for i, t in enumerate(timesteps):
        for array, what in (("Phases", "phase"), ("IPFColors", "IPF")):
            rows.append(
                [slice_to_rgb(grid, "z", i * len(gammas) + j, array) for j in range(len(gammas))]
            )
            labels.append(f"t = {t}, {what}")
    return save_image_grid(
        path,
        rows,
        row_labels=labels,
        column_labels=[f"gamma = {g:g}" for g in gammas],
        title="Latent interpolation: rows noise level t, columns mixing weight gamma",
        overwrite=overwrite,
    )


def figure_path(output: Path) -> Path:
    """Where ``interpolate`` puts its grid figure: ``<output name>_grid.png`` beside it."""
    name = output.name if is_folder_output(output) else output.stem
    return output.with_name(f"{name}_grid.png")


@click.command("interpolate")
@click.argument("first", type=click.Path(path_type=Path))
@click.argument("second", type=click.Path(path_type=Path))
@click.option(
    "--slice",
    "slices",
    nargs=2,
    type=(str, int),
    multiple=True,
    metavar="AXIS INDEX",
    help="Slice of a 3D input to use: once for both inputs, or twice (first, second). "
    "Not needed for 2D images.",
)
@click.option(
    "--gammas",
    default="0,0.25,0.5,0.75,1",
    show_default=True,
    help="Mixing weights in [0, 1], comma-separated: 0 is FIRST, 1 is SECOND.",
)
@click.option(
    "--timesteps",
    default="0,250,500,750",
    show_default=True,
    help="Noise levels t in [0, 1000), comma-separated; 0 is plain latent mixing, higher "
    "gives more realistic intermediates that follow the ends less.",
)
@_common_options(steps=25, periodic=False, axis=False, batch=False)
def interpolate(
    first: Path,
    second: Path,
    slices: tuple[tuple[str, int], ...],
    gammas: str,
    timesteps: str,
    options: TaskOptions,
) -> None:
    """Interpolate between two microstructures in latent space (paper eq. 14).

    FIRST and SECOND are 2D images (single-slice volumes) or 3D volumes with --slice.
    The whole gamma x t grid is written as the z-slices of one volume (slice k: noise
    level timesteps[k // len(gammas)], weight gammas[k % len(gammas)]; also stored per
    cell as InterpolationTimestep and InterpolationGamma), plus a PNG figure of the
    grid named <output>_grid.png.

    \b
    Examples:
      sd-filters interpolate a.dream3d b.dream3d -o morph.dream3d
      sd-filters interpolate grains.dream3d grains.dream3d --slice z 0 --slice z 63 \\
          --gammas 0,0.5,1 --timesteps 0,500 -o morph/
    """
    from ..io import check_output_path
    from ..tasks import interpolate_volume, tqdm_progress

    settings, output, overwrite = options.settings, options.output, options.overwrite
    gamma_values = parse_numbers(gammas, float, "--gammas")
    if any(not 0 <= g <= 1 for g in gamma_values):
        raise InputError(f"--gammas must lie in [0, 1], got {gammas}")
    time_values = parse_numbers(timesteps, int, "--timesteps")
    if any(not 0 <= t < 1000 for t in time_values):
        raise InputError(f"--timesteps must lie in [0, 1000), got {timesteps}")
    if len(slices) > 2:
        raise InputError(f"--slice is given {len(slices)} times; give it once or twice")
    chosen = list(slices) + [None] * (2 - len(slices)) if len(slices) != 1 else [slices[0]] * 2
    structures = parse_symmetry(options.symmetry) if options.symmetry else None
    for source in (first, second):
        if not source.exists():
            raise InputError(f"file not found: {source}")
    figure = figure_path(output)
    check_target(output, [first, second], overwrite)
    check_output_path(figure, [first, second], overwrite)
    folder, card = resolve_model(options.model)
    ends = []
    for source, choice in zip((first, second), chosen):
        volume = load_input(source, structures)
        check_model_inputs(volume, source, card)
        axis, index = pick_slice(volume, source, choice)
        ends.append(slice_as_volume(volume, axis, index))
    if ends[0].dims[:2] != ends[1].dims[:2]:
        raise InputError(
            f"the two slices differ in size: {ends[0].dims[1]} x {ends[0].dims[0]} and "
            f"{ends[1].dims[1]} x {ends[1].dims[0]} (rows x columns)"
        )
    cs = [e.crystal_structures[1:3].tolist() for e in ends]
    if cs[0] != cs[1]:
        raise InputError(
            "the two inputs have different crystal structures of phases 1 and 2; the grid is "
            "decoded with one set, so they must agree"
        )
    pipeline = load_model(folder, resolve_device(options.device))
    show = sys.stderr.isatty()
    ends = [
        with_orientations(e, s, pipeline, settings, tqdm_progress("orientations", not show))
        for e, s in zip(ends, (first, second))
    ]
    started = time.perf_counter()
    grid = interpolate_volume(
        ends[0],
        ends[1],
        pipeline,
        gammas=gamma_values,
        timesteps=time_values,
        steps=settings.steps,
        seed=settings.seed,
        periodic=settings.periodic,
        progress=tqdm_progress("interpolate", disable=not show),
    )
    per_slice = np.arange(grid.dims[2])
    z_shape = (grid.dims[2], grid.dims[1], grid.dims[0], 1)
    grid = grid.replace(
        cell_data={
            **grid.cell_data,
            "InterpolationGamma": np.broadcast_to(
                np.asarray(gamma_values, np.float32)[per_slice % len(gamma_values)][
                    :, None, None, None
                ],
                z_shape,
            ).copy(),
            "InterpolationTimestep": np.broadcast_to(
                np.asarray(time_values, np.int32)[per_slice // len(gamma_values)][
                    :, None, None, None
                ],
                z_shape,
            ).copy(),
        }
    )
    with OutputLog() as log:
        log.write(grid, output, [first, second], overwrite, "z")
        interpolation_figure(figure, grid, gamma_values, time_values, overwrite)
    click.echo(
        f"wrote the {len(time_values)} x {len(gamma_values)} (t x gamma) grid to {output} "
        f"and {figure} in {time.perf_counter() - started:.1f} s"
    )
