"""``sd-filters pipeline run``: execute a DREAM3D-NX pipeline of SD filters without DREAM3D-NX."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("pipeline")
def pipeline() -> None:
    """Run DREAM3D-NX pipelines (.d3dpipeline) made of the SD filters."""


@pipeline.command("run")
@click.argument("file", metavar="FILE.d3dpipeline", type=click.Path(path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="[N.]KEY=VALUE",
    help="Override a parameter: KEY=VALUE sets it in every filter that has it, "
    "N.KEY=VALUE only in filter N (from 1). VALUE is read as JSON when it parses "
    "(5, true, [1, 2]), else as text; choices may be given by name (sampler=ddim). "
    "Repeatable.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def run(file: Path, overrides: tuple[str, ...], overwrite: bool, quiet: bool) -> None:
    """Run the pipeline FILE.d3dpipeline without DREAM3D-NX.

    The pipeline may hold the SD filters (SD Slice Volume, SD Autoencode, SD Generate
    Microstructure, SD Inpaint, SD Interpolate, SD Predict Grain Orientations) and
    "Read DREAM3D-NX File" / "Write DREAM3D NX File"; for any other filter run it in
    DREAM3D-NX with `nxrunner --execute FILE`. Parameters mean the same as in DREAM3D-NX.
    Relative paths in the file resolve against the file's directory. See
    docs/dream3d-nx.md.

    Example:

      sd-filters pipeline run examples/pipelines/sd_autoencode_run.d3dpipeline
      --set checkpoint=runs/my-model --set slicing_axis=x
    """
    from ..filters.runner import load_pipeline, run_pipeline
    from ..tasks import tqdm_progress

    loaded = load_pipeline(file, list(overrides))

    def progress(step):
        return tqdm_progress(f"{step.number} {step.title}", disable=quiet)

    def report(line: str) -> None:
        click.echo(line, err=True)

    run_pipeline(loaded, progress, report, overwrite)
    click.echo(f"Ran {len(loaded.steps)} filter(s) of {file.name}")
