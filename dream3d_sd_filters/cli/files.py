"""``sd-filters info`` and ``sd-filters convert``: look into and convert volume files."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("info")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--geometry",
    "-g",
    metavar="NAME",
    default=None,
    help="Image geometry (data container) to describe when a .dream3d file holds several.",
)
def info(file: Path, geometry: str | None) -> None:
    """Show what FILE holds: geometry, arrays and phases.

    FILE is a .dream3d (DREAM.3D 6.x or DREAM3D-NX), .vti or .npz file, or a
    directory of PNG/TIFF slices. Prints the grid size (X x Y x Z voxels), spacing,
    origin and length unit, every array with its dtype, shape and value range, and
    the phases (crystal structure, phase type, name).

    For a .dream3d file that holds no voxel data (a triangle mesh, or DREAM.3D
    StatsGenerator statistics) it prints what the file holds instead and exits
    with status 2.

    Example: sd-filters info Data/Output/grains.dream3d
    """
    from ..io import read_volume

    if file.suffix.lower() != ".dream3d":
        click.echo(read_volume(file, geometry).summary())
        return
    from ..io.dream3d import (
        STATS_KIND,
        file_overview,
        list_geometries,
        read_dream3d_with_notes,
        read_stats,
    )

    click.echo(file_overview(file))
    kinds = [kind for _, kind in list_geometries(file)]
    if "ImageGeom" not in kinds and STATS_KIND in kinds:
        for stats in read_stats(file):
            click.echo("  " + stats.summary())
    volume, notes = read_dream3d_with_notes(file, geometry)
    click.echo(volume.summary())
    if notes:
        click.echo(f"  not loaded ({len(notes)}):")
        for note in notes:
            click.echo("    " + note)


@click.command("convert")
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.argument("target", metavar="OUT", type=click.Path(path_type=Path))
@click.option(
    "--geometry",
    "-g",
    metavar="NAME",
    default=None,
    help="Image geometry to read when the input .dream3d file holds several.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace OUT if it exists (also allows replacing IN itself).",
)
@click.option(
    "--compress",
    is_flag=True,
    help="Compress arrays: gzip inside .dream3d, deflate inside .npz.",
)
@click.option(
    "--axis",
    type=click.Choice(["x", "y", "z"]),
    default="z",
    show_default=True,
    help="Image stacks only: slice normal (z gives X-Y images).",
)
@click.option(
    "--kind",
    type=click.Choice(["phase", "ipf"]),
    default="phase",
    show_default=True,
    help="Image stacks only: phase map in gray levels, or IPF orientation colours "
    "(from IPFColors, or computed from EulerAngles).",
)
@click.option(
    "--image-format",
    type=click.Choice(["png", "tiff"]),
    default="png",
    show_default=True,
    help="Image stacks only: file format of the slices.",
)
def convert(
    source: Path,
    target: Path,
    geometry: str | None,
    overwrite: bool,
    compress: bool,
    axis: str,
    kind: str,
    image_format: str,
) -> None:
    """Convert IN to OUT; the formats follow from the file names.

    IN and OUT are each a .dream3d, .vti or .npz file; IN may also be a directory
    of PNG/TIFF slices. An OUT without extension (or an existing directory) gets
    one image per slice. Writing .dream3d also writes the .xdmf file ParaView
    opens. OUT is written completely or not at all, and an existing OUT is only
    replaced with --overwrite.

    \b
    Examples:
      sd-filters convert grains.dream3d grains.vti
      sd-filters convert legacy.dream3d nx.dream3d --geometry "SyntheticVolume"
      sd-filters convert grains.dream3d slices/ --kind ipf --axis z
    """
    from ..io import check_output_path, is_image_stack, read_volume, write_volume

    stack = is_image_stack(target)
    if stack:
        from ..io.images import check_stack_target

        check_stack_target(target, overwrite)
    else:
        # Fail on a bad OUT before spending time on reading IN.
        check_output_path(target, [source], overwrite)
    volume = read_volume(source, geometry)
    if stack:
        from ..io.images import write_png_stack

        files = write_png_stack(
            volume, target, axis=axis, kind=kind, image_format=image_format, overwrite=overwrite
        )
        click.echo(
            f"wrote {len(files)} {image_format.upper()} slices ({kind}, axis {axis}) to {target}"
        )
        return
    written = write_volume(
        volume,
        target,
        overwrite=overwrite,
        inputs=[source],
        compression="gzip" if compress else None,
    )
    extra = f" and {written.with_suffix('.xdmf').name}" if written.suffix == ".dream3d" else ""
    click.echo(f"wrote {written}{extra}")
