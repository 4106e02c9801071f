"""Property labels, the surrogate CNN, and micromagnetic labelling of dataset images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import label_phase2_fractions

from dream3d_sd_filters.data.dataset import make_dataset
from dream3d_sd_filters.data.labels import append_labels, labels_path, read_labels
from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.models.surrogate import PropertySurrogate
from dream3d_sd_filters.training.surrogate import r_squared, train_surrogate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(
        tmp_path_factory.mktemp("data") / "ds",
        n_volumes=12,
        image_size=24,
        axes="xyz",
        slice_stride=4,
        workers=1,
        progress=False,
    )


def test_labels_append_and_later_rows_win(tmp_path):
    append_labels(
        tmp_path, "coercivity", [(1, 2, 3.5, "T", "surrogate"), (1, 3, 1.0, "T", "surrogate")]
    )
    append_labels(tmp_path, "coercivity", [(1, 2, 4.0, "T", "micromagnetics")])
    labels = read_labels(tmp_path, "coercivity")
    assert labels[(1, 2)] == (4.0, "T", "micromagnetics") and len(labels) == 2
    assert list(read_labels(tmp_path, "coercivity", ("surrogate",))) == [(1, 2), (1, 3)]
    with pytest.raises(InputError, match="sd-train label --property hardness"):
        read_labels(tmp_path, "hardness")


@pytest.mark.slow
def test_surrogate_learns_a_property_and_reports_holdout_r2(dataset, tmp_path):
    train, fractions = label_phase2_fractions(dataset)
    folder, metrics = train_surrogate(
        dataset,
        tmp_path / "surrogate",
        "phase2_fraction",
        steps=300,
        sources=("computed",),
        progress=False,
    )
    assert metrics["n_holdout"] > 0 and metrics["r2_holdout"] > 0.8
    model = PropertySurrogate.from_pretrained(folder)
    held = train.images[:8].astype(np.float32)
    predicted = model.predict(torch.from_numpy(held))[:, 0].numpy()
    assert np.abs(predicted - fractions[:8]).mean() < 0.15
    assert r_squared(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == 1.0


@pytest.mark.slow
def test_simulated_coercivity_labels_resume(dataset, tmp_path):
    from click.testing import CliRunner

    from dream3d_sd_filters.cli.train import main as sd_train

    args = ["label", str(dataset), "-n", "2", "-j", "1", "--cell-size-nm", "2"]
    result = CliRunner().invoke(
        sd_train, args, env={"DREAM3D_SD_COERCIVITY_CACHE": str(tmp_path / "cache")}
    )
    assert result.exit_code == 0, result.output
    labels = read_labels(dataset, "coercivity")
    assert len(labels) == 2
    assert all(
        source == "micromagnetics" and unit == "T" and value > 0
        for value, unit, source in labels.values()
    )
    rows = labels_path(dataset, "coercivity").read_text().splitlines()
    assert CliRunner().invoke(sd_train, args).exit_code == 0  # all done: nothing appended
    assert labels_path(dataset, "coercivity").read_text().splitlines() == rows


@pytest.mark.slow
def test_surrogate_learns_from_simulated_designs(dataset, tmp_path):
    from conftest import make_small_volume

    from dream3d_sd_filters.io import write_volume

    label_phase2_fractions(dataset)
    # Designs whose "simulated" value lies far outside the dataset's labels.
    designs = make_small_volume((24, 24, 24), seed=3)
    far = np.full(designs.cell_data["Phases"].shape, 5.0, dtype=np.float32)
    file = write_volume(
        designs.replace(cell_data={**designs.cell_data, "Phase2FractionSimulated": far}),
        tmp_path / "designs.dream3d",
    )
    options = {"steps": 300, "sources": ("computed",), "progress": False}
    plain, _ = train_surrogate(dataset, tmp_path / "plain", "phase2_fraction", **options)
    taught, metrics = train_surrogate(
        dataset, tmp_path / "taught", "phase2_fraction", designs=[file], **options
    )
    assert metrics["n_designs"] == 24
    from dream3d_sd_filters.tasks import volume_to_images

    images = torch.from_numpy(volume_to_images(designs))

    def predict(folder):
        return PropertySurrogate.from_pretrained(folder).predict(images)[:, 0].mean().item()

    # The dataset's labels span [0, 1]; taught by the designs (labelled 5.0), the surrogate's
    # predictions on them move up by more than half that span.
    assert predict(taught) > predict(plain) + 0.5

    unverified = write_volume(designs, tmp_path / "unverified.dream3d")
    with pytest.raises(InputError, match="has no Phase2FractionSimulated array"):
        train_surrogate(dataset, tmp_path / "x", "phase2_fraction", designs=[unverified], **options)
    small = make_small_volume((16, 16, 2))
    ones = np.ones(small.cell_data["Phases"].shape, dtype=np.float32)
    wrong = write_volume(
        small.replace(cell_data={**small.cell_data, "Phase2FractionSimulated": ones}),
        tmp_path / "small.dream3d",
    )
    with pytest.raises(InputError, match=r"slices of shape \(4, 16, 16\)"):
        train_surrogate(dataset, tmp_path / "x", "phase2_fraction", designs=[wrong], **options)
    assert not (tmp_path / "x").exists()
