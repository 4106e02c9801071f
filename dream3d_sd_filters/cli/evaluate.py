"""``sd-filters evaluate``: measure a checkpoint the way the paper did, with an HTML report."""

from __future__ import annotations

from pathlib import Path

import click

_KINDS = ("reconstruction", "interpolation", "inpainting", "generation", "controlnet")


@click.command("evaluate")
@click.argument("kind", type=click.Choice(_KINDS))
@click.argument("checkpoint")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Report folder to create. [default: evaluation-KIND]",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
@click.option(
    "-n",
    "--n-images",
    type=int,
    default=None,
    help="Validation images (interpolation: pairs; generation: samples; controlnet: "
    "phase maps, and samples per property target). [default: reconstruction 100, "
    "interpolation 2, inpainting 16, generation 500, controlnet 64]",
)
@click.option(
    "--n-reference",
    type=int,
    default=1000,
    show_default=True,
    help="Training images drawn as the reference set (generation, controlnet).",
)
@click.option(
    "--steps",
    type=int,
    default=None,
    help="Denoising steps. [default: 25; inpainting 50; unused by reconstruction]",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of images and noise.")
@click.option("--batch-size", type=int, default=16, show_default=True, help="Images per batch.")
@click.option(
    "--inception-weights",
    type=click.Path(path_type=Path),
    default=None,
    help="pt_inception-2015-12-05-6726825d.pth, for the standard Inception FID "
    "(generation, controlnet). Never downloaded.",
)
@click.option("--device", default="cpu", show_default=True, help="Torch device, e.g. cuda.")
@click.option(
    "--control",
    type=click.Choice(["all", "orientation", "property"]),
    default="all",
    show_default=True,
    help="ControlNets to evaluate (controlnet); all = those the checkpoint has.",
)
@click.option(
    "--verify",
    type=click.Choice(["surrogate", "simulation"]),
    default="surrogate",
    show_default=True,
    help="How samples of the property ControlNet are measured.",
)
@click.option(
    "--target",
    "targets",
    type=float,
    multiple=True,
    help="Property target (repeatable). [default: the 10/50/90% quantiles of the training labels]",
)
@click.option(
    "--surrogate-guidance",
    "surrogate_guidance_scale",
    type=float,
    default=None,
    help="Steering of the property samples by the surrogate (0 = the ControlNet alone). "
    "[default: 8, as sd-filters generate]",
)
def evaluate(
    kind,
    checkpoint,
    dataset,
    output,
    overwrite,
    n_images,
    n_reference,
    steps,
    seed,
    batch_size,
    inception_weights,
    device,
    control,
    verify,
    targets,
    surrogate_guidance_scale,
):
    """Evaluate CHECKPOINT (a pipeline folder or "default") on DATASET (from
    `sd-train make-dataset`) and write metrics.json and an HTML report (index.html).

    \b
    reconstruction  autoencoder RMSE/PSNR/SSIM/FSIM, grain and phase (Table 1)
    interpolation   gamma x timestep grid with SSIM/FSIM heatmaps (Figs. 4-5)
    inpainting      three mask shapes, SSIM/FSIM, descriptor differences (Table 2)
    generation      volume fractions, two-point correlation, Frechet distance, KID (Table 3)
    controlnet      phase agreement and boundary fit; property per target (Fig. 9)

    The validation split is evaluated; the training split is the reference for generation
    and ControlNet statistics. See docs/evaluation.md for what every number means.
    """
    from ..evaluation import run_evaluation

    folder = run_evaluation(
        kind,
        checkpoint,
        dataset,
        output if output is not None else Path(f"evaluation-{kind}"),
        n_images=n_images,
        n_reference=n_reference,
        steps=steps,
        seed=seed,
        batch_size=batch_size,
        inception_weights=inception_weights,
        device=device,
        control=control,
        verify=verify,
        targets=targets,
        overwrite=overwrite,
        progress=True,
        **(
            {}
            if surrogate_guidance_scale is None
            else {"surrogate_guidance_scale": surrogate_guidance_scale}
        ),
    )
    click.echo(f"Wrote {folder / 'index.html'} and {folder / 'metrics.json'}")
