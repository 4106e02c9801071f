"""``sd-train``: build training data and train the models."""

from __future__ import annotations

import click

from . import LazyGroup

_COMMANDS: dict[str, str] = {}


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
