"""Volume tasks: slicing, restacking, DREAM3D arrays out, geometry kept, errors named."""

from __future__ import annotations

import numpy as np
import pytest

from dream3d_sd_filters import tasks
from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.synth import SynthParams, build_microstructure
from dream3d_sd_filters.volume import LAUE_IDS, ensemble_arrays


@pytest.fixture(scope="module")
def volume():
    params = SynthParams(
        crystal_structures=("cubic", "hexagonal"), phase2_fraction=0.4, mu=1.5, sigma=0.2
    )
    built = build_microstructure(params, dims=(30, 32, 16), seed=1, workers=1)
    return built.replace(spacing=(0.5, 0.5, 2.0), origin=(1.0, 2.0, 3.0), length_unit="Nanometer")


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_slices_restack_exactly(volume, axis):
    stack = tasks.to_slices(volume.cell_data["EulerAngles"], axis)
    assert stack.shape[0] == tasks.slice_shape(volume, axis)[0]
    np.testing.assert_array_equal(tasks.from_slices(stack, axis), volume.cell_data["EulerAngles"])
    images = tasks.volume_to_images(volume, axis)
    assert images.shape == (
        tasks.slice_shape(volume, axis)[0],
        4,
        *tasks.slice_shape(volume, axis)[1:],
    )
    arrays = tasks.images_to_cell_arrays(images, volume.crystal_structures, axis)
    np.testing.assert_array_equal(arrays["Phases"], volume.cell_data["Phases"])
    np.testing.assert_allclose(arrays["EulerAngles"], volume.cell_data["EulerAngles"], atol=1e-5)
    assert arrays["FeatureIds"].max() >= volume.cell_data["FeatureIds"].max() * 0.9


def test_reconstruct_volume_keeps_geometry(volume, untrained_model):
    out = tasks.reconstruct_volume(volume, untrained_model, axis="y")
    assert (out.dims, out.spacing, out.origin, out.length_unit) == (
        volume.dims,
        volume.spacing,
        volume.origin,
        volume.length_unit,
    )
    for name, dtype, components in [
        ("Phases", np.int32, 1),
        ("EulerAngles", np.float32, 3),
        ("FeatureIds", np.int32, 1),
        ("IPFColors", np.uint8, 3),
        ("ReconstructionError", np.float32, 1),
    ]:
        assert out.cell_data[name].dtype == dtype and out.cell_data[name].shape == (
            *volume.shape,
            components,
        )
    assert set(np.unique(out.cell_data["Phases"])) <= {1, 2}
    assert out.cell_data["EulerAngles"].max() <= 2 * np.pi
    np.testing.assert_array_equal(
        out.ensemble_data["CrystalStructures"], volume.ensemble_data["CrystalStructures"]
    )


@pytest.mark.parametrize("mode", ["independent", "consistent"])
def test_inpaint_volume_fills_only_the_mask(volume, untrained_model, mode):
    mask = np.zeros(volume.shape, dtype=bool)
    mask[4:12, 8:24, 8:20] = True
    result = tasks.inpaint_volume(
        volume, mask, untrained_model, mode=mode, steps=4, jump_length=2, jump_n_sample=2
    )
    out = result.volume
    for name in ("Phases", "EulerAngles", "IPFColors"):
        np.testing.assert_array_equal(out.cell_data[name][~mask], volume.cell_data[name][~mask])
    assert not np.array_equal(
        out.cell_data["EulerAngles"][mask], volume.cell_data["EulerAngles"][mask]
    )
    assert np.isfinite(result.continuity) and result.continuity > 0
    assert out.spacing == volume.spacing


def test_inpaint_empty_and_full_masks(volume, untrained_model):
    empty = tasks.inpaint_volume(volume, np.zeros(volume.shape, bool), untrained_model)
    np.testing.assert_array_equal(
        empty.volume.cell_data["EulerAngles"], volume.cell_data["EulerAngles"]
    )
    full = tasks.inpaint_volume(
        volume,
        np.ones(volume.shape, np.uint8),
        untrained_model,
        mode="independent",
        steps=2,
        jump_n_sample=1,
    )
    assert full.volume.cell_data["Phases"].shape == volume.cell_data["Phases"].shape


def test_inpaint_errors(volume, untrained_model):
    with pytest.raises(InputError, match="mask has shape"):
        tasks.inpaint_volume(volume, np.zeros((2, 2, 2), bool), untrained_model)
    with pytest.raises(InputError, match="booleans or 0/1"):
        tasks.inpaint_volume(volume, np.full(volume.shape, 0.5), untrained_model)
    with pytest.raises(InputError, match="unknown inpainting mode"):
        tasks.inpaint_volume(volume, np.zeros(volume.shape, bool), untrained_model, mode="fast")


def test_missing_arrays_and_unsupported_structures_are_named(volume, untrained_model):
    bare = volume.replace(cell_data={"FeatureIds": volume.cell_data["FeatureIds"]})
    with pytest.raises(InputError, match="lacks cell array\\(s\\) Phases, EulerAngles"):
        tasks.reconstruct_volume(bare, untrained_model)
    trigonal = volume.replace(
        ensemble_data=ensemble_arrays([LAUE_IDS["Cubic_High"], LAUE_IDS["Trigonal_High"]])
    )
    with pytest.raises(InputError, match="Trigonal_High, which the model does not support"):
        tasks.reconstruct_volume(trigonal, untrained_model)
    three = volume.replace(
        cell_data={**volume.cell_data, "Phases": np.minimum(volume.cell_data["Phases"] + 1, 3)},
        ensemble_data=ensemble_arrays([1, 1, 1]),
        phase_names=None,
    )
    with pytest.raises(InputError, match="must be 1 or 2"):
        tasks.reconstruct_volume(three, untrained_model)
    with pytest.raises(InputError, match="two phases, 1 and 2"):
        tasks.predict_orientations(three, untrained_model)


def test_generate_volume(untrained_model):
    out = tasks.generate_volume(untrained_model, 3, size=(32, 48), steps=2, spacing=(2.0, 2.0, 1.0))
    assert out.dims == (48, 32, 3) and out.spacing == (2.0, 2.0, 1.0)
    ids = out.cell_data["FeatureIds"][..., 0]
    assert not set(np.unique(ids[0])) & set(np.unique(ids[1]))  # grains never span two samples
