"""``sd-filters evaluate``: every kind end to end on a tiny dataset, the statistics it
defines, and its one-line errors."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from scipy.stats import ks_2samp

from dream3d_sd_filters.cli.main import main
from dream3d_sd_filters.data.dataset import load_split, make_dataset
from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.evaluation import MASK_SHAPES, evaluate_reconstruction, make_mask
from dream3d_sd_filters.evaluation.common import atomic_folder, json_safe
from dream3d_sd_filters.evaluation.controlnet import (
    boundary_recall,
    grain_boundaries,
    phase_boundaries,
)
from dream3d_sd_filters.evaluation.generation import radial_average
from dream3d_sd_filters.metrics.descriptors import volume_fraction
from dream3d_sd_filters.metrics.image import reconstruction_metrics
from dream3d_sd_filters.pipelines import MicrostructureSD

PROPERTY = "phase2_fraction"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """60 training and 12 validation images of 32 x 32 pixels."""
    return make_dataset(
        tmp_path_factory.mktemp("data") / "ds",
        n_volumes=6,
        image_size=32,
        slice_stride=8,
        workers=1,
        progress=False,
    )


@pytest.fixture(scope="module")
def labelled_dataset(dataset, tmp_path_factory) -> Path:
    """A copy of the dataset with exact phase-2 fraction labels on its training images."""
    from dream3d_sd_filters.data.labels import append_labels

    folder = Path(shutil.copytree(dataset, tmp_path_factory.mktemp("labelled") / "ds"))
    train = load_split(folder, "train")
    fractions = volume_fraction(train.images)[:, 1]
    append_labels(
        folder,
        PROPERTY,
        [(v, r, f, "1", "computed") for v, r, f in zip(train.volume_ids, train.rows, fractions)],
    )
    return folder


@pytest.fixture(scope="module")
def controlnet_model_dir(untrained_model_dir, tmp_path_factory) -> Path:
    """The untrained pipeline with fresh orientation and property ControlNets and a surrogate.

    Fresh ControlNets end in zero convolutions, so their outputs equal the base model's.
    """
    from dream3d_sd_filters.models.controlnet import build_controlnet
    from dream3d_sd_filters.models.surrogate import PropertySurrogate

    base = MicrostructureSD.from_pretrained(untrained_model_dir)
    card = copy.deepcopy(base.card)
    card["controlnets"] = {
        "orientation": {},
        "property": {
            "properties": [PROPERTY],
            "property_normalization": {PROPERTY: [0.5, 0.25]},
            "property_range": {PROPERTY: [0.0, 1.0]},
        },
    }
    card["surrogates"] = {PROPERTY: {}}
    model = MicrostructureSD(
        base.vae,
        base.unet,
        base.scheduler_config,
        card,
        controlnets={
            task: build_controlnet(base.unet, task, base.downsampling)
            for task in ("orientation", "property")
        },
        surrogates={PROPERTY: PropertySurrogate(widths=(8, 8), target_mean=(0.5,))},
    )
    return model.save_pretrained(tmp_path_factory.mktemp("models") / "controlled")


def evaluate(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["evaluate", *(str(a) for a in args)])


def assert_user_error(result: Result, expected: str) -> None:
    """Exit status 2, one line "Error: ..." on stderr, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.output


def read_report(folder: Path) -> dict:
    """metrics.json, after checking that index.html shows only PNGs that exist."""
    page = (folder / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert images, "the report has no figures"
    for name in images:
        assert name.endswith(".png") and (folder / name).is_file(), name
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(set(images))
    document = json.loads((folder / "metrics.json").read_text())
    assert {"kind", "settings", "checkpoint", "dataset", "timings_s", "metrics"} <= set(document)
    assert document["timings_s"]["total"] > 0
    assert not list(folder.parent.glob(f".{folder.name}.*"))  # no temporary folder left
    return document


class IdentityAutoencoder:
    """A perfect autoencoder: the known case of the reconstruction metrics."""

    def reconstruct(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        return images.copy()


def test_perfect_reconstruction_gives_the_ideal_table(dataset, tmp_path):
    images = load_split(dataset, "validation", 4).images.astype(np.float32)
    result = evaluate_reconstruction(IdentityAutoencoder(), images, tmp_path, batch_size=3)
    for group in ("grain", "phase"):
        row = result.metrics["table1"][group]
        assert row["rmse"] == 0 and row["psnr"] == np.inf
        assert row["ssim"] == pytest.approx(1.0) and row["fsim"] == pytest.approx(1.0)
    assert json_safe(result.metrics)["table1"]["grain"]["psnr"] == "inf"
    location = result.metrics["error_location"]["grain"]
    assert location["psnr_without_boundary_error"] == location["psnr_without_interior_error"]
    assert location["psnr_without_boundary_error"] == np.inf
    assert (tmp_path / "reconstruction_examples.png").is_file()


@pytest.mark.slow
def test_reconstruction_report_matches_the_metrics(dataset, untrained_model_dir, tmp_path):
    out = tmp_path / "report"
    result = evaluate("reconstruction", untrained_model_dir, dataset, "-o", out, "-n", 5)
    assert result.exit_code == 0, result.output
    document = read_report(out)
    assert document["kind"] == "reconstruction" and document["checkpoint"]["trained"] is False
    assert document["settings"]["n_images"] == 5 and document["dataset"]["validation_images"] == 5
    # The same validation images, reconstructed again, give the same Table 1.
    images = load_split(dataset, "validation", 5, seed=0).images.astype(np.float32)
    model = MicrostructureSD.from_pretrained(untrained_model_dir)
    expected = reconstruction_metrics(images, model.reconstruct(images))
    table = document["metrics"]["table1"]
    for group in ("grain", "phase"):
        for name in ("rmse", "psnr", "ssim", "fsim"):
            assert table[group][name] == pytest.approx(expected[group][name], rel=1e-4)
    assert len(document["metrics"]["psnr_per_image"]["grain"]) == 5
    location = document["metrics"]["error_location"]["phase"]
    assert 0 < location["boundary_pixel_fraction"] < 1
    assert 0 <= location["boundary_error_share"] <= 1


@pytest.mark.slow
def test_interpolation_grid_and_heatmaps(dataset, untrained_model_dir, tmp_path):
    out = tmp_path / "report"
    args = ["-o", out, "-n", 1, "--steps", 1]
    result = evaluate("interpolation", untrained_model_dir, dataset, *args)
    assert result.exit_code == 0, result.output
    metrics = read_report(out)["metrics"]
    assert metrics["gammas"] == [0, 0.25, 0.5, 0.75, 1] and metrics["timesteps"] == [
        0,
        250,
        500,
        750,
    ]
    for metric, low in (("ssim", -1), ("fsim", 0)):
        for group in ("grain", "phase"):
            for end in ("vs_a", "vs_b"):
                values = np.array(metrics[metric][group][end], dtype=float)
                assert values.shape == (4, 5)
                finite = values[np.isfinite(values)]
                assert finite.size and (finite >= low).all() and (finite <= 1 + 1e-9).all()


def test_masks_cover_a_quarter():
    for shape in MASK_SHAPES:
        mask = make_mask(shape, 32, 32, seed=1)
        assert mask.dtype == bool and mask.shape == (32, 32)
        assert mask.mean() == pytest.approx(0.25, abs=0.01)
    assert make_mask("centre-square", 32, 32)[8:24, 8:24].all()
    assert make_mask("stripe", 32, 32)[:, 12:20].all()
    assert (make_mask("blobs", 32, 32, 3) == make_mask("blobs", 32, 32, 3)).all()
    assert (make_mask("blobs", 32, 32, 3) != make_mask("blobs", 32, 32, 4)).any()
    with pytest.raises(InputError, match="unknown mask shape 'circle'"):
        make_mask("circle", 32, 32)


@pytest.mark.slow
def test_inpainting_table2(dataset, untrained_model_dir, tmp_path):
    out = tmp_path / "report"
    result = evaluate("inpainting", untrained_model_dir, dataset, "-o", out, "-n", 2, "--steps", 2)
    assert result.exit_code == 0, result.output
    metrics = read_report(out)["metrics"]
    assert list(metrics["masks"]) == list(MASK_SHAPES)
    for name, row in metrics["masks"].items():
        assert row["coverage"] == pytest.approx(make_mask(name, 32, 32).mean())
        assert set(row["descriptor_differences"]) == {
            "volume_fraction",
            "two_point_correlation",
            "lineal_path",
            "variation",
        }
        assert all(0 <= v <= 1 for v in row["descriptor_differences"].values())
        # Three quarters of each image are kept exactly, so SSIM is far from random.
        assert 0 < row["ssim"]["grain"] <= 1


def test_radial_average_of_known_maps():
    offsets = np.arange(-3, 4)
    distance = np.hypot(offsets[:, None], offsets[None, :])
    curves = radial_average(np.stack([np.full((7, 7), 0.3), distance]))
    assert curves.shape == (2, 4)
    assert np.allclose(curves[0], 0.3)
    # Shifts are binned by rounded length: r = 1 holds the 4 axial and 4 diagonal shifts.
    assert curves[1, 0] == 0 and curves[1, 1] == pytest.approx((1 + np.sqrt(2)) / 2)
    assert np.all(np.abs(curves[1] - np.arange(4)) < 0.5)


@pytest.mark.slow
def test_generation_statistics(dataset, untrained_model_dir, tmp_path):
    out = tmp_path / "report"
    args = ["-o", out, "-n", 4, "--n-reference", 10, "--steps", 1]
    result = evaluate("generation", untrained_model_dir, dataset, *args)
    assert result.exit_code == 0, result.output
    metrics = read_report(out)["metrics"]
    assert metrics["n_samples"] == 4 and metrics["n_train"] == 10
    # The reference row depends only on the data: check it independently.
    train = load_split(dataset, "train", 10, seed=0).images
    validation = load_split(dataset, "validation", 4, seed=0).images
    expected_ks = ks_2samp(volume_fraction(validation)[:, 1], volume_fraction(train)[:, 1])
    assert metrics["validation"]["volume_fraction_ks"] == pytest.approx(expected_ks.statistic)
    for row in (metrics["generated"], metrics["validation"]):
        assert 0 <= row["volume_fraction_ks"] <= 1 and 0 <= row["s2_mad"] <= 1
        assert row["fd"] >= 0 and row["fd_grain"] >= 0 and row["fd_phase"] >= 0
    targets = metrics["targets"]
    assert targets["s2_mad"]["met"] == (metrics["generated"]["s2_mad"] <= 0.02)
    ratio = metrics["generated"]["fd"] / metrics["validation"]["fd"]
    assert targets["fd_ratio"]["value"] == pytest.approx(ratio)
    assert "inception_fid" not in metrics["generated"]


def test_boundary_statistics_on_known_maps():
    phases = np.ones((3, 8, 8), dtype=np.int32)
    phases[:2, :, 4:] = 2  # two vertical phase boundaries (periodic), on both sides
    pb = phase_boundaries(phases)
    assert pb[0].sum() == 4 * 8 and pb[0][:, [0, 3, 4, 7]].all() and not pb[2].any()
    images = np.zeros((3, 4, 8, 8), dtype=np.float32)
    images[0, 1, :, 4:] = 0.5  # a grain boundary exactly on the phase boundary
    images[1, 2, 2:, :] = 0.05  # only a jump below the threshold
    gb = grain_boundaries(images)
    assert (gb[0] == pb[0]).all() and not gb[1].any()
    recall = boundary_recall(pb, gb)
    assert recall[0] == 1.0 and recall[1] == 0.0 and np.isnan(recall[2])
    shifted = np.roll(gb, 1, axis=2)  # off by one pixel still counts
    assert boundary_recall(pb, shifted)[0] == 1.0


@pytest.mark.slow
def test_controlnet_evaluation(labelled_dataset, controlnet_model_dir, tmp_path):
    out = tmp_path / "report"
    args = ["-o", out, "-n", 2, "--n-reference", 6, "--steps", 1, "--target", 0.2, "--target", 0.6]
    result = evaluate("controlnet", controlnet_model_dir, labelled_dataset, *args)
    assert result.exit_code == 0, result.output
    document = read_report(out)
    assert document["settings"]["control"] == ["orientation", "property"]
    orientation, prop = document["metrics"]["orientation"], document["metrics"]["property"]
    assert 0 <= orientation["phase_agreement"] <= 1
    assert orientation["phase_agreement_met"] == (orientation["phase_agreement"] >= 0.98)
    # Real phase boundaries are grain boundaries: the originals score 1.
    assert orientation["phase_boundary_recall"]["original"] == 1.0
    # A fresh ControlNet adds zeros: its samples are the unconditional ones.
    fd = orientation["fd_grain"]
    assert fd["controlnet"] == pytest.approx(fd["unconditional"], rel=1e-3)
    assert prop["property"] == PROPERTY and prop["training"]["n"] == 60
    assert [t["target"] for t in prop["targets"]] == [0.2, 0.6]
    assert len(prop["values"]["0.2"]) == 2 and 0 <= prop["targets"][0]["hit_rate"] <= 1
    # Rank correlation over the 4 (target, measured) pairs, with ties: a number in [-1, 1].
    assert -1 <= prop["spearman_rho"] <= 1 and prop["spearman_rho_target"] == 0.8


def test_bad_inputs_fail_before_writing(dataset, untrained_model_dir, tmp_path):
    out = tmp_path / "report"
    cases = [
        (["reconstruction", tmp_path / "nope", dataset], "no checkpoint folder"),
        (["reconstruction", untrained_model_dir, tmp_path], "is not a dataset"),
        (["reconstruction", untrained_model_dir, dataset, "-n", 0], "n_images must be"),
        (["generation", untrained_model_dir, dataset, "--steps", 0], "steps must be"),
        (
            ["generation", untrained_model_dir, dataset, "--inception-weights", tmp_path / "w"],
            "Inception weights file not found",
        ),
        (
            ["inpainting", untrained_model_dir, dataset, "--inception-weights", tmp_path / "w"],
            "used by generation and controlnet",
        ),
        (["controlnet", untrained_model_dir, dataset], "has no ControlNet"),
        (
            ["reconstruction", untrained_model_dir, dataset, "-o", tmp_path / "no" / "dir"],
            "does not exist",
        ),
    ]
    for args, message in cases:
        if "-o" not in args:
            args = [*args, "-o", out]
        assert_user_error(evaluate(*args), message)
        assert not out.exists() and not list(tmp_path.glob(".report.*"))
    bad_kind = evaluate("sharpening", untrained_model_dir, dataset, "-o", out)
    assert bad_kind.exit_code == 2 and "sharpening" in bad_kind.output and not out.exists()


def test_existing_report_needs_overwrite(dataset, untrained_model_dir, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("keep me")
    args = ["reconstruction", untrained_model_dir, dataset, "-o", out, "-n", 2]
    assert_user_error(evaluate(*args), "already exists; pass --overwrite")
    assert (out / "keep.txt").read_text() == "keep me"
    result = evaluate(*args, "--overwrite")
    assert result.exit_code == 0, result.output
    assert not (out / "keep.txt").exists() and (out / "metrics.json").is_file()


def test_controlnet_needs_labels_and_the_requested_controlnet(
    dataset, labelled_dataset, controlnet_model_dir, untrained_model_dir, tmp_path
):
    out = tmp_path / "report"
    cases = [
        (["controlnet", controlnet_model_dir, dataset], f"no {PROPERTY} labels"),
        (
            ["controlnet", untrained_model_dir, labelled_dataset, "--control", "orientation"],
            "has no orientation ControlNet",
        ),
        (
            ["controlnet", controlnet_model_dir, labelled_dataset, "--verify", "simulation"],
            f"only coercivity can be simulated, not '{PROPERTY}'",
        ),
    ]
    for args, message in cases:
        assert_user_error(evaluate(*args, "-o", out), message)
        assert not out.exists()


def test_a_failed_evaluation_leaves_no_folder(tmp_path):
    target = tmp_path / "report"
    with pytest.raises(RuntimeError), atomic_folder(target) as folder:
        (folder / "metrics.json").write_text("{}")
        raise RuntimeError("evaluation failed half way")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_folder(target) as folder:
        (folder / "index.html").write_text("<html></html>")
    assert (target / "index.html").is_file() and list(tmp_path.iterdir()) == [target]


def test_inception_fids_compare_each_channel_group(dataset):
    import torch

    from dream3d_sd_filters.evaluation.generation import inception_fids
    from dream3d_sd_filters.metrics.frechet import inception_features

    # Any (B, 3, H, W) -> (B, D) network can stand in for Inception-v3's plumbing.
    def pooled_moments(rgb: torch.Tensor) -> torch.Tensor:
        return torch.cat([rgb.mean(dim=(2, 3)), rgb.std(dim=(2, 3))], dim=1)

    images = load_split(dataset, "validation", 8).images.astype(np.float32)
    reference = {g: inception_features(images, pooled_moments, g) for g in ("grain", "phase")}
    same = inception_fids(images, reference, pooled_moments)
    assert set(same) == {"grain", "phase"} and max(same.values()) < 1e-6
    flipped = images.copy()
    flipped[:, 0] *= -1  # swap the phases, keep the orientations
    changed = inception_fids(flipped, reference, pooled_moments)
    assert changed["grain"] < 1e-6 < changed["phase"]
