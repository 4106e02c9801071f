"""``sd-filters synth``: build a synthetic two-phase polycrystal and write it to a file."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

#: Volumes with at least this many voxels show a progress bar on a terminal.
_PROGRESS_VOXELS = 128**3


@click.command("synth")
@click.argument("out", metavar="OUT", type=click.Path(path_type=Path))
@click.option(
    "--dims",
    nargs=3,
    type=int,
    default=(64, 64, 64),
    show_default=True,
    metavar="X Y Z",
    help="Box size in voxels, each at least 8.",
)
@click.option(
    "--stats",
    "stats_file",
    type=click.Path(path_type=Path),
    default=None,
    help="DREAM.3D StatsGenerator .dream3d file to take phases, sizes and shapes from; "
    "the other options override it.",
)
@click.option(
    "--grain-type",
    type=click.Choice(["equiaxed", "rolled", "recrystallized"], case_sensitive=False),
    default=None,
    help="Grain structure. [default: equiaxed, or from --stats]",
)
@click.option(
    "--phase2-fraction",
    type=float,
    default=None,
    help="Volume fraction of phase 2, in (0, 1). [default: 0.5, or from --stats; "
    "required with a single-phase --stats file]",
)
@click.option(
    "--mu", type=float, default=None, help="Mean of ln(ESD), ESD in micrometres. [default: 2.3]"
)
@click.option(
    "--sigma", type=float, default=None, help="Standard deviation of ln(ESD), > 0. [default: 0.2]"
)
@click.option(
    "--aspect",
    nargs=2,
    type=float,
    default=None,
    metavar="B C",
    help="Aspect ratios b/a and c/a in (0, 1]; a along x (rolling direction), c along z. "
    "[default: 1 1 equiaxed, 0.5 0.25 rolled/recrystallized]",
)
@click.option(
    "--texture",
    type=click.Choice(["random", "rolled"], case_sensitive=False),
    default=None,
    help="Orientations: uniformly random, or a rolling component with a 10 degree spread "
    "(Brass for cubic, basal for hexagonal). [default: random]",
)
@click.option(
    "--symmetry",
    nargs=2,
    type=str,
    default=None,
    metavar="PHASE1 PHASE2",
    help="Crystal symmetry of each phase: cubic or hexagonal. [default: cubic cubic]",
)
@click.option(
    "--recrystallized-fraction",
    type=float,
    default=None,
    help="Volume fraction of recrystallised grains, in (0, 1] (--grain-type "
    "recrystallized). [default: 0.5]",
)
@click.option(
    "--spacing",
    type=float,
    default=None,
    help="Voxel size in micrometres. [default: 1]",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--no-periodic", is_flag=True, help="Do not wrap grains around the box faces.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--compress", is_flag=True, help="Compress arrays (gzip in .dream3d).")
def synth(
    out: Path,
    dims: tuple[int, int, int],
    stats_file: Path | None,
    grain_type: str | None,
    phase2_fraction: float | None,
    mu: float | None,
    sigma: float | None,
    aspect: tuple[float, float] | None,
    texture: str | None,
    symmetry: tuple[str, str] | None,
    recrystallized_fraction: float | None,
    spacing: float | None,
    seed: int,
    no_periodic: bool,
    overwrite: bool,
    compress: bool,
) -> None:
    """Build a synthetic 3D two-phase polycrystal and write it to OUT.

    OUT is a .dream3d (with a .xdmf sidecar), .vti or .npz file. It holds
    FeatureIds, Phases, EulerAngles (radians) and IPFColors per voxel and the
    CrystalStructures and PhaseTypes of the two phases. Grain sizes follow a
    log-normal equivalent-sphere-diameter distribution in micrometres (as DREAM.3D's
    StatsGenerator); grains are periodic unless --no-periodic. See docs/synth.md.

    Examples:

      sd-filters synth grains.dream3d --dims 128 128 128 --mu 2.5 --sigma 0.3

      sd-filters synth rolled.dream3d --grain-type rolled --aspect 0.5 0.25
      --texture rolled --symmetry cubic hexagonal --phase2-fraction 0.3

      sd-filters synth from_stats.dream3d --stats CubicSingleRolled.dream3d
      --phase2-fraction 0.4 --dims 128 128 128
    """
    from ..errors import InputError
    from ..io import WRITE_SUFFIXES, check_output_path, write_volume
    from ..synth import SynthParams, build_microstructure, params_from_stats, size_plan

    if out.suffix.lower() not in WRITE_SUFFIXES:
        raise InputError(
            f"cannot write {out.name!r}: unknown extension {out.suffix or '(none)'}; "
            f"use one of {', '.join(WRITE_SUFFIXES)}"
        )
    inputs = [stats_file] if stats_file is not None else []
    check_output_path(out, inputs, overwrite)
    if out.suffix.lower() == ".dream3d":
        check_output_path(out.with_suffix(".xdmf"), inputs, overwrite)
    given: dict[str, object] = {
        "grain_type": grain_type,
        "mu": mu,
        "sigma": sigma,
        "texture": texture,
        "recrystallized_fraction": recrystallized_fraction,
        "spacing": spacing,
    }
    if aspect is not None:
        given["b_over_a"], given["c_over_a"] = aspect
    if symmetry is not None:
        given["crystal_structures"] = tuple(symmetry)
    if no_periodic:
        given["periodic"] = False
    overrides = {k: v for k, v in given.items() if v is not None}
    if stats_file is not None:
        if not stats_file.is_file():
            raise InputError(f"statistics file {str(stats_file)!r} does not exist")
        params = params_from_stats(stats_file, phase2_fraction=phase2_fraction, **overrides)
    else:
        if phase2_fraction is not None:
            overrides["phase2_fraction"] = phase2_fraction
        params = SynthParams(**overrides)  # type: ignore[arg-type]
    size_plan(params, dims)
    progress = int(dims[0]) * int(dims[1]) * int(dims[2]) >= _PROGRESS_VOXELS
    started = time.perf_counter()
    volume = build_microstructure(
        params, dims, seed=seed, progress=progress and sys.stderr.isatty()
    )
    write_volume(
        volume, out, overwrite=overwrite, inputs=inputs, compression="gzip" if compress else None
    )
    elapsed = time.perf_counter() - started
    phases = volume.cell_data["Phases"]
    n_grains = volume.feature_data["Phases"].shape[0] - 1
    click.echo(
        f"Wrote {out}: {' x '.join(str(d) for d in volume.dims)} voxels, {n_grains} "
        f"{params.grain_type} grains, phase 2 fraction {float((phases == 2).mean()):.3f} "
        f"(target {params.phase2_fraction:.3f}), {elapsed:.1f} s"
    )
