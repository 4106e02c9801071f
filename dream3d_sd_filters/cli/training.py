"""``sd-train`` sub-commands: make-dataset, vae, ldm."""

from __future__ import annotations

import click

_SET_HELP = "Override a config value, e.g. --set optim.max_steps=100 (repeatable)."


@click.command("make-dataset")
@click.argument("output_dir", type=click.Path(file_okay=False))
@click.option(
    "-n",
    "--volumes",
    "n_volumes",
    default=200,
    show_default=True,
    help="Synthetic 3D volumes to build.",
)
@click.option(
    "--size",
    "image_size",
    default=64,
    show_default=True,
    help="Volume edge = image size, in voxels.",
)
@click.option("--axes", default="xyz", show_default=True, help="Slice normals, any of x, y, z.")
@click.option(
    "--stride", "slice_stride", default=1, show_default=True, help="Keep every N-th slice."
)
@click.option(
    "--encoding",
    type=click.Choice(["euler", "ipf"]),
    default="euler",
    show_default=True,
    help="Orientation channels: invertible fundamental-zone Euler angles, or the paper's IPF colours.",
)
@click.option(
    "--seed", default=0, show_default=True, help="Master seed; the dataset is deterministic."
)
@click.option("-j", "--workers", default=2, show_default=True, help="Worker processes.")
def make_dataset_command(
    output_dir, n_volumes, image_size, axes, slice_stride, encoding, seed, workers
):
    """Build the training dataset: synthetic two-phase polycrystals sliced into 4-channel images.

    Volumes are drawn over all three grain types (equiaxed, rolled, recrystallized), cubic and
    hexagonal phases, phase fractions 0.1-0.9 and log-normal grain sizes (see
    docs/dataset.md), then cut along x, y and z. Every 6th volume goes to validation (5:1 split
    by volume). Interrupted runs resume: run the same command again.
    """
    from ..data.dataset import make_dataset

    out = make_dataset(
        output_dir,
        n_volumes=n_volumes,
        image_size=image_size,
        axes=axes,
        slice_stride=slice_stride,
        encoding=encoding,
        seed=seed,
        workers=workers,
    )
    click.echo(f"dataset ready in {out}")


def _train_command(kind: str, help_text: str):
    @click.command(kind, help=help_text)
    @click.argument("config")
    @click.option("--set", "overrides", multiple=True, help=_SET_HELP)
    @click.option(
        "--resume",
        is_flag=True,
        help="Continue the run in the config's output_dir from its latest checkpoint.",
    )
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    def command(config, overrides, resume, quiet):
        from ..training.config import load_config

        cfg = load_config(config, kind, tuple(overrides))
        if kind == "vae":
            from ..training.autoencoder import train_autoencoder as train
        else:
            from ..training.diffusion import train_diffusion as train
        final = train(cfg, resume=resume, progress=not quiet)
        click.echo(f"final checkpoint: {final}")

    return command


@click.command("controlnet")
@click.argument("config")
@click.option(
    "--task",
    type=click.Choice(["orientation", "property"]),
    default=None,
    help="orientation: condition on the phase map; property: on target properties "
    "(needs `sd-train label`). Overrides [control] task.",
)
@click.option("--set", "overrides", multiple=True, help=_SET_HELP)
@click.option("--resume", is_flag=True, help="Continue the run from its latest checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def controlnet(config, task, overrides, resume, quiet):
    """Train a ControlNet on the frozen diffusion model.

    CONFIG is a TOML file or the preset `tiny`. With --task orientation the ControlNet learns
    grain orientations that fit a given phase map; with --task property it learns to generate
    microstructures with given property values (e.g. coercivity). Classifier-free guidance
    comes from dropping the condition for 10% of the training samples.
    """
    from ..training.config import load_config
    from ..training.controlnet import train_controlnet

    extra = (f"control.task={task}",) if task else ()
    cfg = load_config(config, "controlnet", (*overrides, *extra))
    final = train_controlnet(cfg, resume=resume, progress=not quiet)
    click.echo(f"final checkpoint: {final}")


vae = _train_command(
    "vae",
    """Train the 4-channel KL autoencoder.

    CONFIG is a TOML file or a preset name: `tiny` (CPU, 64x64 images, downsampling 4) or
    `paper` (GPU, 256x256, downsampling 8). Use `accelerate launch -m
    dream3d_sd_filters.cli.train vae CONFIG` for several processes or GPUs.
    """,
)
ldm = _train_command(
    "ldm",
    """Train the latent diffusion UNet on the latents of a trained autoencoder.

    CONFIG is a TOML file or a preset name (`tiny`, `paper`); [latent] autoencoder points at
    the autoencoder checkpoint folder.
    """,
)


@click.command("bundle")
@click.option(
    "--autoencoder",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="final/ folder of `sd-train vae`, or a pipeline folder (its autoencoder).",
)
@click.option(
    "--diffusion",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="final/ folder of `sd-train ldm`, or a pipeline folder (kept ControlNets and surrogates).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False),
    help="Pipeline folder to write, e.g. dream3d_sd_filters/weights/default.",
)
@click.option(
    "--controlnet",
    "controlnets",
    multiple=True,
    metavar="TASK=FOLDER",
    help="final/ folder of `sd-train controlnet`, e.g. orientation=runs/controlnet-orientation-tiny/final.",
)
@click.option(
    "--surrogate",
    "surrogates",
    multiple=True,
    metavar="PROPERTY=FOLDER",
    help="Folder of `sd-train surrogate`, e.g. coercivity=runs/surrogate-coercivity.",
)
@click.option("--fp32", is_flag=True, help="Keep fp32 weights (default: fp16, as bundled).")
def bundle(autoencoder, diffusion, output, controlnets, surrogates, fp32):
    """Assemble trained checkpoints into a pipeline folder that `--model` accepts.

    The bundled default model is made with this command; all bundled weights together must
    stay within 40 MB.
    """
    from ..errors import InputError
    from ..training.bundle import WEIGHTS_BUDGET_MB, bundle_pipeline, weights_size_mb

    def pairs(items: tuple[str, ...], option: str, what: str) -> dict[str, str]:
        out = {}
        for item in items:
            key, sep, folder = item.partition("=")
            if not sep:
                raise InputError(f"{option} expects {what}=FOLDER, got {item!r}")
            out[key] = folder
        return out

    out = bundle_pipeline(
        autoencoder,
        diffusion,
        output,
        controlnets=pairs(controlnets, "--controlnet", "TASK"),
        surrogates=pairs(surrogates, "--surrogate", "PROPERTY"),
        half=not fp32,
    )
    size = weights_size_mb(out)
    click.echo(
        f"pipeline written to {out} ({size:.1f} MB of weights; budget {WEIGHTS_BUDGET_MB:.0f} MB for all bundled)"
    )


@click.command("label")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--property",
    "prop",
    type=click.Choice(["coercivity"]),
    default="coercivity",
    show_default=True,
    help="Property to compute.",
)
@click.option(
    "-n",
    "--images",
    "n_images",
    default=1000,
    show_default=True,
    help="Images to simulate (a fixed random subset of the split).",
)
@click.option(
    "--split", type=click.Choice(["train", "validation"]), default="train", show_default=True
)
@click.option("-j", "--workers", default=2, show_default=True, help="Simulation worker processes.")
@click.option(
    "--cell-size-nm",
    default=1.0,
    show_default=True,
    help="Micromagnetic cell size; one cell per pixel.",
)
@click.option(
    "--surrogate",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Instead of simulating, label every image without a simulated label with this "
    "trained surrogate (`sd-train surrogate`).",
)
@click.option("--seed", default=0, show_default=True)
def label(dataset, prop, n_images, split, workers, cell_size_nm, surrogate, seed):
    """Label dataset images with a property, for the property ControlNet.

    Coercivity comes from micromagnetic hysteresis sweeps (magnum.np, a few seconds per
    64x64 image on the CPU). Labels are appended to DATASET/labels/coercivity.csv as they
    finish, so an interrupted run continues where it stopped when started again.
    """
    from ..training.labelling import label_by_simulation, label_by_surrogate

    if surrogate:
        path = label_by_surrogate(dataset, surrogate, split)
    else:
        path = label_by_simulation(
            dataset, prop, n_images, split, seed, workers, cell_size_nm=cell_size_nm
        )
    click.echo(f"labels in {path}")


@click.command("surrogate")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--property", "prop", type=click.Choice(["coercivity"]), default="coercivity", show_default=True
)
@click.option(
    "-o",
    "--output",
    default="runs/surrogate-coercivity",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Model folder to write.",
)
@click.option("--steps", default=3000, show_default=True, help="Training steps.")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--designs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Volume written by `sd-filters generate --target ... --verify simulation`; its "
    "slices and simulated values join the training images (repeatable).",
)
def surrogate(dataset, prop, output, steps, seed, designs):
    """Train a CNN that predicts a property from an image, on the simulated labels.

    Whole volumes are held out to measure R²; the model answers in milliseconds where a
    simulation takes seconds. Simulated designs (--designs) teach it the microstructures
    that surrogate guidance steers generation into.
    """
    from ..training.surrogate import train_surrogate

    folder, metrics = train_surrogate(
        dataset, output, prop, steps=steps, seed=seed, designs=designs
    )
    click.echo(
        f"surrogate in {folder}: held-out R² {metrics['r2_holdout']:.3f}, MAE {metrics['mae_holdout']:.3g} T "
        f"({metrics['n_holdout']} held-out images)"
    )
