"""``sd-train``: build training data and train the models."""

from __future__ import annotations

import click

from . import LazyGroup

_COMMANDS: dict[str, str] = {
    "make-dataset": "dream3d_sd_filters.cli.training:make_dataset_command",
    "vae": "dream3d_sd_filters.cli.training:vae",
    "ldm": "dream3d_sd_filters.cli.training:ldm",
    "controlnet": "dream3d_sd_filters.cli.training:controlnet",
    "bundle": "dream3d_sd_filters.cli.training:bundle",
    "label": "dream3d_sd_filters.cli.training:label",
    "surrogate": "dream3d_sd_filters.cli.training:surrogate",
}


@click.group(
    cls=LazyGroup,
    lazy_commands=_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def main() -> None:
    """Make the training dataset and train the autoencoder, diffusion model and ControlNets.

    Typical order: `sd-train make-dataset`, then `sd-train vae CONFIG`, then
    `sd-train ldm CONFIG`. Configs are TOML files; `tiny` and `paper` are built-in presets.
    """


if __name__ == "__main__":  # `accelerate launch -m dream3d_sd_filters.cli.train ...`
    main()
