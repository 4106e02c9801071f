"""``sd-filters demo``: the main job, a tour of the four tasks on a built-in volume.

It builds a synthetic two-phase polycrystal (fixed seed), then reconstructs it,
generates new microstructures, interpolates between two of its slices and inpaints a
central cube, and writes what a newcomer needs to look at: ``.dream3d`` + ``.xdmf``
files (DREAM3D-NX, ParaView), PNG panels and ``index.html``, and a short table on the
terminal. The full run is sized for at most 5 minutes on 2 CPU cores with the tiny
bundled model (64 x 64 images); ``--quick`` shrinks every step for tests.

Until trained weights are bundled, ``--model default`` has nothing to load: the demo then
says so in one line, still builds and writes the synthetic volume and its figures, and
notes in the summary that the model steps were skipped.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from ..errors import InputError
from .tasks import (
    device_option,
    interpolation_figure,
    model_option,
    reconstruction_scores,
    resolve_device,
    resolve_model,
)

#: Marks a folder as written by the demo, so a later run may replace its files.
MARKER = ".sd-filters-demo"
#: Every file the demo writes (removed at the start of a run into its own folder).
DEMO_FILES = (
    "demo.dream3d",
    "demo.xdmf",
    "reconstructed.dream3d",
    "reconstructed.xdmf",
    "generated.dream3d",
    "generated.xdmf",
    "interpolated.dream3d",
    "interpolated.xdmf",
    "inpainted.dream3d",
    "inpainted.xdmf",
    "volume.png",
    "reconstruction.png",
    "samples.png",
    "interpolation.png",
    "inpainting.png",
    "index.html",
)


@dataclass(frozen=True)
class DemoPlan:
    """Sizes and step counts of one demo run.

    Attributes
    ----------
    dims : (int, int, int)
        Synthetic volume (X, Y, Z) in voxels.
    mu : float
        ln of the mean grain diameter in voxels (unit spacing), see :class:`SynthParams`.
    samples, generate_steps : int
        Generated images and DPM-Solver++ steps.
    gammas, timesteps : tuple
        Interpolation grid; ``interpolate_steps`` DDIM steps for the full noise range.
    cube : int
        Edge of the central cube to inpaint, in voxels (clipped to the volume).
    inpaint_steps, jump_length, jump_n_sample : int
        RePaint settings of the consistent inpainting.
    """

    dims: tuple[int, int, int]
    mu: float
    samples: int
    generate_steps: int
    gammas: tuple[float, ...]
    timesteps: tuple[int, ...]
    interpolate_steps: int
    cube: int
    inpaint_steps: int
    jump_length: int
    jump_n_sample: int


#: The full demo: 64^3 voxels, 8 samples with 20 steps, a 32^3 cube inpainted.
FULL_PLAN = DemoPlan(
    dims=(64, 64, 64),
    mu=2.5,
    samples=8,
    generate_steps=20,
    gammas=(0.0, 0.25, 0.5, 0.75, 1.0),
    timesteps=(0, 250, 500, 750),
    interpolate_steps=25,
    cube=32,
    inpaint_steps=25,
    jump_length=5,
    jump_n_sample=3,
)
#: ``--quick``: the same steps on a small volume with very few denoising steps.
QUICK_PLAN = DemoPlan(
    dims=(32, 32, 16),
    mu=1.2,
    samples=2,
    generate_steps=2,
    gammas=(0.0, 0.5, 1.0),
    timesteps=(0, 400),
    interpolate_steps=2,
    cube=4,
    inpaint_steps=2,
    jump_length=1,
    jump_n_sample=1,
)


@dataclass
class DemoRecord:
    """What the demo did: table rows, figures, files and notes for the summary page."""

    rows: list[dict[str, object]] = field(default_factory=list)
    figures: list[tuple[str, Path, str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, step: str, result: str, measured: str, seconds: float) -> None:
        """One row of the summary table; also echoed as it happens."""
        self.rows.append(
            {"step": step, "result": result, "measured": measured, "time (s)": round(seconds, 1)}
        )
        click.echo(f"  {step}: {measured or result} ({seconds:.1f} s)")


def prepare_output(folder: Path, overwrite: bool) -> None:
    """InputError unless ``folder`` may receive the demo (missing, empty, ours, or --overwrite)."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--output {str(folder)!r} is a file; the demo needs a folder")
    if not folder.exists():
        if not folder.parent.is_dir():
            raise InputError(f"output directory {str(folder.parent)!r} does not exist")
        return
    if any(folder.iterdir()) and not (folder / MARKER).exists() and not overwrite:
        raise InputError(
            f"{str(folder)!r} holds other files; choose a new folder or pass --overwrite to "
            "write the demo into it"
        )


def central_cube(shape: tuple[int, int, int], edge: int) -> np.ndarray:
    """(Z, Y, X) bool mask of a cube of ``edge`` voxels (clipped) in the middle of ``shape``."""
    mask = np.zeros(shape, dtype=bool)
    bounds = []
    for size in shape:
        side = min(edge, size)
        bounds.append(slice((size - side) // 2, (size - side) // 2 + side))
    mask[tuple(bounds)] = True
    return mask


def _rgb(volume, axis: str, index: int | None, array: str) -> np.ndarray:
    from ..io.images import slice_to_rgb

    return slice_to_rgb(volume, axis, index, array)


def _masked(image: np.ndarray, mask2d: np.ndarray) -> np.ndarray:
    """An RGB slice with the unknown region drawn black."""
    out = image.copy()
    out[mask2d] = 0
    return out


def build_volume(plan: DemoPlan):
    """The built-in synthetic volume: two phases (cubic 60 %, hexagonal 40 %), seed 0."""
    from ..synth import SynthParams, build_microstructure

    params = SynthParams(
        crystal_structures=("cubic", "hexagonal"), phase2_fraction=0.4, mu=plan.mu, sigma=0.2
    )
    return build_microstructure(params, plan.dims, seed=0)


def run_demo(
    out: Path, plan: DemoPlan, model_folder: Path | None, device: str, skip_reason: str
) -> DemoRecord:
    """Run every step into ``out`` (which exists) and return the record of it."""
    from ..io import write_volume
    from ..report import save_image_grid
    from ..tasks import slice_continuity, to_slices, tqdm_progress, volume_to_images

    record = DemoRecord()
    show = sys.stderr.isatty()
    started = time.perf_counter()
    volume = build_volume(plan)
    x, y, z = volume.dims
    grains = volume.feature_data["Phases"].shape[0] - 1
    fraction = float((volume.cell_data["Phases"] == 2).mean())
    record.add(
        "synthetic volume",
        f"{x} x {y} x {z} voxels",
        f"{grains} grains, phase 2 fraction {fraction:.2f}",
        time.perf_counter() - started,
    )
    save_image_grid(
        out / "volume.png",
        [[_rgb(volume, a, None, arr) for a in ("z", "y", "x")] for arr in ("Phases", "IPFColors")],
        row_labels=["phase", "IPF colour"],
        column_labels=["middle z slice (Y-X)", "middle y slice (Z-X)", "middle x slice (Z-Y)"],
        title="Built-in synthetic volume: phase 1 cubic (gray), phase 2 hexagonal (white)",
        overwrite=True,
    )
    record.figures.append(("Synthetic volume", out / "volume.png", "Middle slices of the input."))
    demo_cells = dict(volume.cell_data)

    if model_folder is None:
        record.notes.append(f"Model steps skipped: {skip_reason}")
        write_volume(volume.replace(cell_data=demo_cells), out / "demo.dream3d", overwrite=True)
        record.files["demo.dream3d"] = "the synthetic volume (open demo.xdmf in ParaView)"
        return record

    from ..pipelines import MicrostructureSD
    from ..tasks import generate_volume, inpaint_volume, interpolate_volume, reconstruct_volume

    started = time.perf_counter()
    model = MicrostructureSD.from_pretrained(model_folder, device=device)
    record.add(
        "load model",
        str(model_folder),
        f"{model.image_size} px training size",
        time.perf_counter() - started,
    )

    # Reconstruction.
    started = time.perf_counter()
    recon = reconstruct_volume(volume, model, progress=tqdm_progress("reconstruct", not show))
    scores = reconstruction_scores(
        volume_to_images(volume, "z", model.encoding), volume_to_images(recon, "z", model.encoding)
    )
    write_volume(recon, out / "reconstructed.dream3d", overwrite=True)
    record.add(
        "reconstruct",
        f"{z} slices",
        f"PSNR {scores['psnr_phase']:.1f} / {scores['psnr_orientation']:.1f} dB, SSIM "
        f"{scores['ssim_phase']:.2f} / {scores['ssim_orientation']:.2f} (phase / orientation)",
        time.perf_counter() - started,
    )
    error_map = recon.cell_data["ReconstructionError"][z // 2, ..., 0]
    save_image_grid(
        out / "reconstruction.png",
        [
            [_rgb(volume, "z", None, "Phases"), _rgb(recon, "z", None, "Phases"), error_map],
            [_rgb(volume, "z", None, "IPFColors"), _rgb(recon, "z", None, "IPFColors")],
        ],
        row_labels=["phase", "IPF colour"],
        column_labels=["original", "reconstruction", "error"],
        title="Autoencoder reconstruction, middle z slice",
        value_label="mean |difference| (0-2)",
        overwrite=True,
    )
    record.figures.append(
        (
            "Reconstruction",
            out / "reconstruction.png",
            "Encode then decode; the error map is the mean absolute difference of the four "
            "encoded channels (ReconstructionError).",
        )
    )
    demo_cells["ReconstructionError"] = recon.cell_data["ReconstructionError"]
    demo_cells["ReconstructedIPFColors"] = recon.cell_data["IPFColors"]
    record.files["reconstructed.dream3d"] = "the reconstruction (standard array names)"

    # Generation.
    started = time.perf_counter()
    samples = generate_volume(
        model,
        plan.samples,
        steps=plan.generate_steps,
        seed=0,
        progress=tqdm_progress("generate", not show),
    )
    write_volume(samples, out / "generated.dream3d", overwrite=True)
    size = samples.dims[0]
    record.add(
        "generate",
        f"{plan.samples} samples of {size} x {size}",
        f"dpmsolver++, {plan.generate_steps} steps",
        time.perf_counter() - started,
    )
    save_image_grid(
        out / "samples.png",
        [
            [_rgb(samples, "z", k, arr) for k in range(plan.samples)]
            for arr in ("Phases", "IPFColors")
        ],
        row_labels=["phase", "IPF colour"],
        column_labels=[f"sample {k}" for k in range(plan.samples)],
        title=f"Generated microstructures (DPM-Solver++, {plan.generate_steps} steps, periodic)",
        overwrite=True,
    )
    record.figures.append(
        (
            "Generation",
            out / "samples.png",
            "New microstructures, one per z slice of generated.dream3d.",
        )
    )
    record.files["generated.dream3d"] = "the samples as z slices"

    # Interpolation between the first and the middle z slice.
    started = time.perf_counter()
    grid = interpolate_volume(
        volume,
        volume,
        model,
        first_index=0,
        second_index=z // 2,
        gammas=plan.gammas,
        timesteps=plan.timesteps,
        steps=plan.interpolate_steps,
        progress=tqdm_progress("interpolate", not show),
    )
    write_volume(grid, out / "interpolated.dream3d", overwrite=True)
    interpolation_figure(out / "interpolation.png", grid, plan.gammas, plan.timesteps, True)
    record.add(
        "interpolate",
        f"z slices 0 and {z // 2}",
        f"{len(plan.timesteps)} x {len(plan.gammas)} (t x gamma) grid",
        time.perf_counter() - started,
    )
    record.figures.append(
        (
            "Interpolation",
            out / "interpolation.png",
            f"From z slice 0 (gamma = 0) to z slice {z // 2} (gamma = 1); at t = 0 the latents "
            "are mixed directly, higher t re-noises them first.",
        )
    )
    record.files["interpolated.dream3d"] = (
        "the interpolation grid, slice k = t index x gammas + gamma index"
    )

    # Inpainting a central cube, slices kept consistent.
    mask = central_cube(volume.shape, plan.cube)
    started = time.perf_counter()
    filled = inpaint_volume(
        volume,
        mask,
        model,
        mode="consistent",
        steps=plan.inpaint_steps,
        jump_length=plan.jump_length,
        jump_n_sample=plan.jump_n_sample,
        progress=tqdm_progress("inpaint", not show),
    )
    slice_masks = np.ascontiguousarray(to_slices(mask[..., None], "z")[:, 0])
    reference = slice_continuity(volume_to_images(volume, "z", model.encoding), slice_masks)
    inpainted = filled.volume.replace(
        cell_data={**filled.volume.cell_data, "InpaintMask": mask[..., None].astype(np.uint8)}
    )
    write_volume(inpainted, out / "inpainted.dream3d", overwrite=True)
    edge = int(round(mask.sum() ** (1 / 3)))
    record.add(
        "inpaint",
        f"central {edge}^3 cube, consistent mode",
        f"continuity ratio {filled.continuity:.2f} (data itself {reference:.2f}; target <= 1.5)",
        time.perf_counter() - started,
    )
    mid_z, mid_x = z // 2, x // 2
    rows = []
    for arr in ("Phases", "IPFColors"):
        rows.append(
            [
                _rgb(volume, "z", mid_z, arr),
                _masked(_rgb(volume, "z", mid_z, arr), mask[mid_z]),
                _rgb(inpainted, "z", mid_z, arr),
                _rgb(inpainted, "x", mid_x, arr),
            ]
        )
    save_image_grid(
        out / "inpainting.png",
        rows,
        row_labels=["phase", "IPF colour"],
        column_labels=[
            "original (z)",
            "masked (z)",
            "inpainted (z)",
            "inpainted, across slices (x)",
        ],
        title="Inpainting the central cube (consistent mode)",
        overwrite=True,
    )
    record.figures.append(
        (
            "Inpainting",
            out / "inpainting.png",
            "The last panel cuts across the inpainted z slices: consistent slices continue "
            "the grains from one slice to the next.",
        )
    )
    record.files["inpainted.dream3d"] = "the inpainted volume, with the InpaintMask cell array"
    demo_cells["InpaintMask"] = inpainted.cell_data["InpaintMask"]
    for name in ("Phases", "EulerAngles", "IPFColors"):
        demo_cells[f"Inpainted{name}"] = inpainted.cell_data[name]
    write_volume(volume.replace(cell_data=demo_cells), out / "demo.dream3d", overwrite=True)
    record.files["demo.dream3d"] = (
        "the synthetic volume plus ReconstructionError, ReconstructedIPFColors, InpaintMask "
        "and Inpainted* arrays side by side (open demo.xdmf in ParaView)"
    )
    return record


def write_summary(out: Path, record: DemoRecord, plan_name: str, total: float) -> Path:
    """``index.html``: what the demo did and measured, with every figure."""
    from ..report import Section, write_html_page

    overview = Section(
        "What this is",
        text=[
            "dream3d-sd-filters ran the four tasks of latent diffusion for microstructures on "
            f"a built-in synthetic two-phase polycrystal ({plan_name} run, {total:.0f} s in all).",
            *record.notes,
        ],
        tables=[record.rows],
    )
    files = Section(
        "Files",
        text=[
            "Open demo.xdmf (or any .xdmf here) in ParaView, or the .dream3d files in "
            "DREAM3D-NX. Each holds DREAM3D arrays: Phases, EulerAngles (radians), "
            "FeatureIds and IPFColors."
        ],
        tables=[record.files] if record.files else [],
    )
    figures = [Section(title, images=[(path, caption)]) for title, path, caption in record.figures]
    return write_html_page(
        out / "index.html", "sd-filters demo", [overview, *figures, files], overwrite=True
    )


@click.command("demo")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("demo_output"),
    show_default=True,
    help="Folder for the results (created; a previous demo's files are replaced).",
)
@model_option
@device_option
@click.option("--quick", is_flag=True, help="A small, fast run (for tests; results look poor).")
@click.option("--overwrite", is_flag=True, help="Write into a folder that holds other files.")
def demo(output: Path, model: str, device: str, quick: bool, overwrite: bool) -> None:
    """Tour the four tasks on a built-in synthetic volume, in a few minutes.

    Builds a 64^3 two-phase polycrystal, reconstructs it, generates 8 new
    microstructures, interpolates between two of its slices and inpaints a central
    32^3 cube; writes demo.dream3d (+ .xdmf for ParaView) and one file per task,
    PNG panels and index.html, and prints what it measured. Without bundled
    weights it says so and writes the synthetic volume and its figures only.

    \b
    Example:
      sd-filters demo --output demo_output && xdg-open demo_output/index.html
    """
    plan = QUICK_PLAN if quick else FULL_PLAN
    prepare_output(output, overwrite)
    model_folder: Path | None = None
    skip_reason = ""
    try:
        model_folder, _ = resolve_model(model)
    except InputError as error:
        if model != "default":
            raise
        skip_reason = str(error)
    torch_device = resolve_device(device) if model_folder is not None else "cpu"
    output.mkdir(exist_ok=True)
    (output / MARKER).write_text("written by sd-filters demo\n")
    for name in DEMO_FILES:
        (output / name).unlink(missing_ok=True)
    if model_folder is None:
        click.echo(f"note: {skip_reason}; the demo writes the synthetic volume only")
    click.echo(f"sd-filters demo ({'quick' if quick else 'full'} run) -> {output}")
    started = time.perf_counter()
    record = run_demo(output, plan, model_folder, torch_device, skip_reason)
    total = time.perf_counter() - started
    page = write_summary(output, record, "quick" if quick else "full", total)
    from ..report import text_table

    click.echo("")
    click.echo(text_table(record.rows))
    click.echo(f"\nwrote {page} and {len(record.files)} .dream3d file(s) in {total:.0f} s")
