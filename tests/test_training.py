"""`sd-train vae` / `sd-train ldm` on a tiny dataset: checkpoints, resume, cards, errors."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import accelerate_launch_cpu, label_phase2_fractions
from safetensors.torch import load_file

from dream3d_sd_filters.cli.train import main as sd_train
from dream3d_sd_filters.data.dataset import make_dataset
from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.pipelines import MicrostructureSD
from dream3d_sd_filters.tasks import design_microstructures
from dream3d_sd_filters.training.surrogate import train_surrogate
from dream3d_sd_filters.volume import LAUE_IDS

# A 24-pixel dataset and models small enough for a few CPU steps.
VAE_SETTINGS = [
    "data.image_size=24",
    "model.block_out_channels=[32, 32, 32]",
    "optim.batch_size=4",
    "optim.warmup_steps=2",
    "run.eval_every=2",
    "run.sample_every=2",
    "run.checkpoint_every=2",
    "run.eval_images=8",
    "run.log_every=1",
    "loss.deterministic_steps=1",
    "loss.perceptual_start=2",
    "loss.adversarial_start=3",
]
LDM_SETTINGS = [
    "data.image_size=24",
    "model.sample_size=6",
    "model.block_out_channels=[32, 32]",
    "model.attention_levels=[false, true]",
    "model.layers_per_block=1",
    "optim.batch_size=4",
    "optim.warmup_steps=1",
    "run.sample_every=3",
    "run.checkpoint_every=2",
    "run.log_every=1",
]


def _args(settings: list[str]) -> list[str]:
    return [part for s in settings for part in ("--set", s)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(
        tmp_path_factory.mktemp("data") / "ds",
        n_volumes=6,
        image_size=24,
        axes="z",
        slice_stride=3,
        workers=1,
        progress=False,
    )


def _train(kind: str, run_dir, dataset, settings, extra=(), resume=False):
    args = [
        kind,
        "tiny",
        "--quiet",
        *_args([*settings, f"data.dataset={dataset}", f"run.output_dir={run_dir}", *extra]),
    ]
    if resume:
        args.append("--resume")
    return CliRunner().invoke(sd_train, args, catch_exceptions=False)


@pytest.mark.slow
def test_autoencoder_then_diffusion(dataset, tmp_path):
    vae_dir = tmp_path / "vae"
    result = _train("vae", vae_dir, dataset, VAE_SETTINGS, ["optim.max_steps=4"])
    assert result.exit_code == 0, result.output
    final = vae_dir / "final"
    card = json.loads((final / "model_card.json").read_text())
    assert card["model"] == "autoencoder" and card["orientation_encoding"] == "euler"
    assert card["steps"] == 4 and card["scaling_factor"] > 0
    assert card["padding"] == "circular" and card["training_data"]["image_size"] == 24
    assert set(card["metrics"]["validation"]) == {"psnr_phase", "psnr_orientation"}
    assert (final / "diffusion_pytorch_model.safetensors").exists()
    assert sorted(p.name for p in (vae_dir / "samples").iterdir()) == [
        "step-0000002.png",
        "step-0000004.png",
    ]
    with open(vae_dir / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # One table: the adversarial terms are empty before they start, filled after.
    assert [row["step"] for row in rows] == ["1", "2", "3", "4"]
    assert rows[-1]["perceptual"] and rows[-1]["gan_d"] and not rows[0]["gan_d"]
    with open(vae_dir / "eval.csv", newline="") as handle:
        evals = list(csv.DictReader(handle))
    assert [row["step"] for row in evals] == ["2", "4"] and float(evals[-1]["psnr_phase"]) > 0

    ldm_dir = tmp_path / "ldm"
    result = _train(
        "ldm", ldm_dir, dataset, LDM_SETTINGS, ["optim.max_steps=3", f"latent.autoencoder={final}"]
    )
    assert result.exit_code == 0, result.output
    card = json.loads((ldm_dir / "final" / "model_card.json").read_text())
    assert card["model"] == "latent_diffusion" and card["autoencoder"] == str(final)
    assert (ldm_dir / "final" / "unet" / "config.json").exists()
    assert (ldm_dir / "final" / "scheduler" / "scheduler_config.json").exists()
    assert list((ldm_dir / "cache").glob("latents-train-*.pt"))

    control = [
        *LDM_SETTINGS[:1],
        *LDM_SETTINGS[5:],
        f"latent.autoencoder={final}",
        f"control.base={ldm_dir / 'final'}",
        "optim.max_steps=2",
        "run.sample_every=2",
    ]
    result = _train(
        "controlnet", tmp_path / "orientation", dataset, control, ["control.task=orientation"]
    )
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "orientation" / "final" / "model_card.json").read_text())
    assert card["model"] == "controlnet" and card["task"] == "orientation"
    assert (tmp_path / "orientation" / "final" / "controlnet" / "config.json").exists()

    # Any per-image property can drive the property ControlNet; the phase-2 fraction is exact.
    _, fractions = label_phase2_fractions(dataset)
    result = _train(
        "controlnet",
        tmp_path / "property",
        dataset,
        control,
        [
            "control.task=property",
            'control.properties=["phase2_fraction"]',
            'control.label_sources=["computed"]',
        ],
    )
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "property" / "final" / "model_card.json").read_text())
    assert card["task"] == "property" and card["properties"] == ["phase2_fraction"]
    mean, std = card["property_normalization"]["phase2_fraction"]
    assert mean == pytest.approx(fractions.mean(), abs=1e-5) and std > 0

    surrogate, _ = train_surrogate(
        dataset,
        tmp_path / "surrogate",
        "phase2_fraction",
        steps=5,
        sources=("computed",),
        progress=False,
    )
    result = CliRunner().invoke(
        sd_train,
        [
            "bundle",
            "--surrogate",
            f"phase2_fraction={surrogate}",
            "--autoencoder",
            str(final),
            "--diffusion",
            str(ldm_dir / "final"),
            "-o",
            str(tmp_path / "pipeline"),
            "--controlnet",
            f"orientation={tmp_path / 'orientation' / 'final'}",
            "--controlnet",
            f"property={tmp_path / 'property' / 'final'}",
        ],
    )
    assert result.exit_code == 0, result.output
    model = MicrostructureSD.from_pretrained(tmp_path / "pipeline")
    assert set(model.controlnets) == {"orientation", "property"}
    assert model.vae.dtype == torch.float32
    assert (
        next(
            iter(
                load_file(
                    tmp_path / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors"
                ).values()
            )
        ).dtype
        == torch.float16
    )
    phase_maps = np.ones((2, 24, 24), dtype=np.int32)
    phase_maps[:, :, 12:] = 2
    assert model.predict_orientations(phase_maps, steps=2).shape == (2, 4, 24, 24)
    assert model.generate(2, steps=2, target={"phase2_fraction": 0.5}).shape == (2, 4, 24, 24)
    with pytest.warns(UserWarning, match="outside the trained range"):
        model.generate(1, steps=1, target={"phase2_fraction": 7.0})
    with pytest.raises(InputError, match="conditioned on phase2_fraction"):
        model.generate(1, steps=1, target={"coercivity": 2.0})
    with pytest.raises(InputError, match="integers 1 and 2 only"):
        model.predict_orientations(phase_maps + 1, steps=1)

    design = design_microstructures(model, {"phase2_fraction": 0.5}, n=3, steps=2)
    assert design.volume.dims == (24, 24, 3) and design.method == "surrogate"
    assert np.all(np.diff(design.relative_error) >= 0)  # ranked best first
    assert design.hit_rate == design.hits.mean()
    verified = design.volume.cell_data["Phase2FractionSurrogate"]
    assert np.allclose(verified[:, 0, 0, 0], design.verified) and np.ptp(verified[0]) == 0
    # A design holds at the micromagnetic cell size, so that is its voxel size.
    assert design.volume.spacing == (1.0, 1.0, 1.0) and design.volume.length_unit == "Nanometer"
    with pytest.raises(InputError, match="only coercivity can be simulated"):
        design_microstructures(model, {"phase2_fraction": 0.5}, verify="simulation")

    # The same through the CLI: `sd-filters generate --target`.
    from dream3d_sd_filters.cli.main import main as sd_filters
    from dream3d_sd_filters.io import read_volume

    out = tmp_path / "design.dream3d"
    args = ["generate", "-n", "3", "--steps", "2", "--model", str(tmp_path / "pipeline")]
    result = CliRunner().invoke(
        sd_filters, [*args, "--target", "phase2_fraction=0.5", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "candidates within 15% of phase2_fraction = 0.5" in result.output
    assert "the surrogate also steered these candidates" in result.output
    assert read_volume(out).dims == (24, 24, 3)
    # Designs decode both phases as hexagonal (SmCo5, Sm2Co17) unless --symmetry says otherwise.
    assert list(read_volume(out).crystal_structures[1:]) == [LAUE_IDS["Hexagonal_High"]] * 2
    unsteered = out.with_name("unsteered.dream3d")
    result = CliRunner().invoke(
        sd_filters,
        [*args, "--target", "phase2_fraction=0.5", "--surrogate-guidance", "0", "-o", unsteered],
    )
    assert result.exit_code == 0 and "surrogate also steered" not in result.output, result.output
    bad = CliRunner().invoke(
        sd_filters, [*args, "--target", "coercivity=two", "-o", str(out.with_name("x.dream3d"))]
    )
    assert bad.exit_code == 2 and "not a number in T or mT" in bad.output
    assert not out.with_name("x.dream3d").exists()
    scaled = CliRunner().invoke(
        sd_filters,
        [*args, "--target", "phase2_fraction=0.5", "--spacing", "2", "-o", str(out)],
    )
    assert scaled.exit_code == 2 and "cannot be combined with --target" in scaled.output
    assert read_volume(out).length_unit == "Nanometer"  # the earlier design, untouched

    # A ControlNet trained on top of a pipeline folder (how the shipped model gets its
    # ControlNets), then bundled back into it in place, keeping what it already carries.
    pipeline = tmp_path / "pipeline"
    on_pipeline = [*control[:-4], f"latent.autoencoder={pipeline}", f"control.base={pipeline}"]
    result = _train(
        "controlnet",
        tmp_path / "orientation-2",
        dataset,
        on_pipeline,
        ["control.task=orientation", "optim.max_steps=2", "run.sample_every=2"],
    )
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "orientation-2" / "final" / "model_card.json").read_text())
    assert card["base"] == str(pipeline) and card["autoencoder"] == str(pipeline)
    before = load_file(pipeline / "controlnet-orientation" / "diffusion_pytorch_model.safetensors")
    args = ["bundle", "--autoencoder", str(pipeline), "--diffusion", str(pipeline)]
    result = CliRunner().invoke(
        sd_train,
        [
            *args,
            "-o",
            str(pipeline),
            "--controlnet",
            f"orientation={tmp_path / 'orientation-2' / 'final'}",
        ],
    )
    assert result.exit_code == 0, result.output
    model = MicrostructureSD.from_pretrained(pipeline)
    assert set(model.controlnets) == {"orientation", "property"} and set(model.surrogates) == {
        "phase2_fraction"
    }
    after = load_file(pipeline / "controlnet-orientation" / "diffusion_pytorch_model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    result = CliRunner().invoke(
        sd_train,
        [
            *args,
            "-o",
            str(tmp_path / "x"),
            "--controlnet",
            f"orientation={tmp_path / 'orientation' / 'final'}",
        ],
    )
    assert result.exit_code == 2 and "was trained on" in result.output


@pytest.mark.slow
def test_resumed_run_matches_uninterrupted_run(dataset, tmp_path):
    base = [*VAE_SETTINGS, "loss.perceptual=0", "loss.adversarial=0"]
    assert _train("vae", tmp_path / "straight", dataset, base, ["optim.max_steps=4"]).exit_code == 0
    assert _train("vae", tmp_path / "split", dataset, base, ["optim.max_steps=2"]).exit_code == 0
    result = _train("vae", tmp_path / "split", dataset, base, ["optim.max_steps=4"], resume=True)
    assert result.exit_code == 0, result.output
    a = load_file(tmp_path / "straight" / "final" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "split" / "final" / "diffusion_pytorch_model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("part", ["refiner", "decoder"])
def test_fine_tuning_with_a_fixed_encoder_keeps_the_latent_space(dataset, tmp_path, part):
    result = _train("vae", tmp_path / "vae", dataset, VAE_SETTINGS, ["optim.max_steps=1"])
    assert result.exit_code == 0, result.output
    trained = tmp_path / "vae" / "final"
    refiner = ["model.refiner_blocks=1", f"finetune.train={part}", "optim.max_steps=3"]
    result = _train(
        "vae",
        tmp_path / "refined",
        dataset,
        VAE_SETTINGS,
        [*refiner, f"finetune.from_autoencoder={trained}"],
    )
    assert result.exit_code == 0, result.output
    refined = tmp_path / "refined" / "final"
    before = load_file(trained / "diffusion_pytorch_model.safetensors")
    after = load_file(refined / "diffusion_pytorch_model.safetensors")
    # The encoder, and so the latent space, is untouched; the refiner learned, and the
    # decoder too where it was asked to.
    assert {k for k in after if not k.startswith("refiner.")} == set(before)
    fixed = ("encoder.", "quant_conv.") if part == "decoder" else ("",)
    for key, value in before.items():
        assert torch.equal(after[key], value) == key.startswith(fixed), key
    assert after["refiner.conv_out.weight"].abs().max() > 0
    card = json.loads((refined / "model_card.json").read_text())
    old_card = json.loads((trained / "model_card.json").read_text())
    assert card["finetuned_from"] == str(trained)
    assert card["scaling_factor"] == pytest.approx(old_card["scaling_factor"])
    model_config = json.loads((refined / "config.json").read_text())
    assert model_config["refiner_blocks"] == 1

    # It shares the latent space of the autoencoder it started from, so a diffusion model
    # trained on that one bundles with it.
    result = _train(
        "ldm",
        tmp_path / "ldm",
        dataset,
        LDM_SETTINGS,
        ["optim.max_steps=1", f"latent.autoencoder={trained}"],
    )
    assert result.exit_code == 0, result.output
    args = ["bundle", "--autoencoder", str(refined), "--diffusion", str(tmp_path / "ldm" / "final")]
    result = CliRunner().invoke(sd_train, [*args, "-o", str(tmp_path / "pipeline")])
    assert result.exit_code == 0, result.output
    pipeline = MicrostructureSD.from_pretrained(tmp_path / "pipeline")
    assert pipeline.vae.refiner is not None
    assert pipeline.card["autoencoder"]["finetuned_from"] == str(trained)

    # An autoencoder of other widths cannot start from these weights.
    wider = [*VAE_SETTINGS, "model.block_out_channels=[32, 32, 64]"]
    bad = CliRunner().invoke(
        sd_train,
        [
            "vae",
            "tiny",
            *_args(
                [
                    *wider,
                    *refiner,
                    f"data.dataset={dataset}",
                    f"finetune.from_autoencoder={trained}",
                    f"run.output_dir={tmp_path / 'bad'}",
                ]
            ),
        ],
    )
    assert bad.exit_code == 2 and "does not match [model]" in bad.output, bad.output


def test_errors_are_one_line(dataset, tmp_path):
    runner = CliRunner()
    bad = runner.invoke(
        sd_train,
        [
            "vae",
            "tiny",
            *_args(
                [
                    f"data.dataset={dataset}",
                    "data.image_size=32",
                    f"run.output_dir={tmp_path / 'x'}",
                ]
            ),
        ],
    )
    assert bad.exit_code == 2
    assert "has images of shape (4, 24, 24)" in bad.output and "expects (4, 32, 32)" in bad.output
    bad = runner.invoke(
        sd_train,
        ["ldm", "tiny", *_args([f"data.dataset={dataset}", f"latent.autoencoder={tmp_path}"])],
    )
    assert bad.exit_code == 2 and "is not a dream3d-sd-filters checkpoint" in bad.output
    bad = runner.invoke(sd_train, ["vae", "tiny", "--set", "optim.batchsize=3"])
    assert bad.exit_code == 2 and "unknown key(s) batchsize in [optim]" in bad.output
    bad = runner.invoke(sd_train, ["vae", "tiny", "--set", "finetune.train=refiner"])
    assert bad.exit_code == 2 and "needs from_autoencoder" in bad.output
    only_refiner = ["--set", "finetune.train=refiner", "--set", "finetune.from_autoencoder=default"]
    bad = runner.invoke(sd_train, ["vae", "tiny", *only_refiner])
    assert bad.exit_code == 2 and "needs model.refiner_blocks > 0" in bad.output
    bad = runner.invoke(sd_train, ["vae", "tiny", "--set", "finetune.train=encoder"])
    assert bad.exit_code == 2 and "train must be one of ('all', 'decoder', 'refiner')" in bad.output
    bad = runner.invoke(sd_train, ["vae", "tiny", "--set", "finetune.train=decoder"])
    assert bad.exit_code == 2 and "train = 'decoder' needs from_autoencoder" in bad.output


@pytest.mark.slow
def test_corrupt_autoencoder_weights_are_named(dataset, tmp_path):
    assert (
        _train("vae", tmp_path / "vae", dataset, VAE_SETTINGS, ["optim.max_steps=1"]).exit_code == 0
    )
    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "vae" / "final", broken)
    (broken / "diffusion_pytorch_model.safetensors").write_bytes(b"not a safetensors file")
    result = CliRunner().invoke(
        sd_train,
        [
            "ldm",
            "tiny",
            *_args(
                [
                    *LDM_SETTINGS,
                    f"data.dataset={dataset}",
                    f"latent.autoencoder={broken}",
                    f"run.output_dir={tmp_path / 'ldm'}",
                ]
            ),
        ],
    )
    assert result.exit_code == 2 and "cannot load the autoencoder" in result.output


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(dataset, tmp_path):
    settings = [
        *VAE_SETTINGS,
        "loss.perceptual=0",
        "loss.adversarial=0",
        "optim.max_steps=2",
        f"data.dataset={dataset}",
        f"run.output_dir={tmp_path / 'ddp'}",
    ]
    completed = accelerate_launch_cpu(
        "dream3d_sd_filters.cli.train", "vae", "tiny", "--quiet", *_args(settings), timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert (tmp_path / "ddp" / "final" / "model_card.json").exists()
    assert (tmp_path / "ddp" / "checkpoints" / "step-0000002").is_dir()
