"""``sd-filters``: generate, repair and inspect microstructures from the command line."""

from __future__ import annotations

import click

from . import LazyGroup

_COMMANDS = {
    "info": "dream3d_sd_filters.cli.files:info",
    "convert": "dream3d_sd_filters.cli.files:convert",
    "synth": "dream3d_sd_filters.cli.synth:synth",
    "pipeline": "dream3d_sd_filters.cli.pipeline:pipeline",
    "evaluate": "dream3d_sd_filters.cli.evaluate:evaluate",
    "reconstruct": "dream3d_sd_filters.cli.tasks:reconstruct",
    "generate": "dream3d_sd_filters.cli.tasks:generate",
    "interpolate": "dream3d_sd_filters.cli.tasks:interpolate",
    "inpaint": "dream3d_sd_filters.cli.tasks:inpaint",
    "demo": "dream3d_sd_filters.cli.demo:demo",
}


@click.group(
    cls=LazyGroup,
    lazy_commands=_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="dream3d-sd-filters")
def main() -> None:
    """Latent-diffusion tools for two-phase polycrystal microstructures.

    Works on DREAM.3D / DREAM3D-NX files (.dream3d), VTK image data (.vti),
    NumPy archives (.npz) and PNG slices. Start with `sd-filters info FILE`
    to see what a file holds, or `sd-filters demo` for a tour.
    """


if __name__ == "__main__":
    # `accelerate launch -m dream3d_sd_filters.cli.main ...` runs the module itself.
    main()
