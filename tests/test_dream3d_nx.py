"""The DREAM3D-NX plugin against the simplnx test double (tests/simplnx_double)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, make_small_volume

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent / "simplnx_double"))

import simplnx as nx  # noqa: E402 - the test double, put on sys.path just above

from dream3d_sd_filters import dream3d_nx, filters  # noqa: E402
from dream3d_sd_filters.dream3d_nx import (  # noqa: E402
    SDAutoencodeFilter,
    SDGenerateMicrostructureFilter,
    SDInpaintFilter,
    SDInterpolateFilter,
    SDPredictGrainOrientationsFilter,
    SDSliceVolumeFilter,
)
from dream3d_sd_filters.volume import Volume  # noqa: E402

#: The uuids are part of every saved pipeline: they must never change.
UUIDS = {
    "SD Slice Volume": "b33ef90d-2bcd-4d56-9a4b-6cc488c09556",
    "SD Autoencode": "8ede9039-aa9a-4c74-832f-a953ad0e33b0",
    "SD Generate Microstructure": "e21d3263-3620-4c81-a923-3d2f588e34a2",
    "SD Inpaint": "93a30d07-6331-40d8-a5ea-3eda8e866d4e",
    "SD Interpolate": "730b2b82-9576-41ad-8d9e-db25a508301f",
    "SD Predict Grain Orientations": "3ba03cad-fd4c-4fde-84b3-2f4bd470ac7e",
}

Execute = nx.IDataAction.Mode.Execute


def make_structure(
    volume: Volume, geometry: str = "DataContainer", ds: nx.DataStructure | None = None
) -> nx.DataStructure:
    """A DataStructure (new, or ``ds``) holding ``volume`` as ReadDREAM3D would (v8 names)."""
    ds = nx.DataStructure() if ds is None else ds
    geom = nx.DataPath(geometry)
    nx.CreateImageGeometryAction(
        geom, list(volume.dims), list(volume.origin), list(volume.spacing), "Cell Data"
    ).apply(ds, Execute)
    tables = {"Cell Ensemble Data": volume.ensemble_data} if volume.ensemble_data else {}
    for matrix, arrays in tables.items():
        n = next(iter(arrays.values())).shape[0]
        nx.CreateAttributeMatrixAction(geom.create_child_path(matrix), [n]).apply(ds, Execute)
    for matrix, arrays in (("Cell Data", volume.cell_data), *tables.items()):
        for name, values in arrays.items():
            path = geom.create_child_path(matrix).create_child_path(name)
            tdims = list(values.shape[:-1])
            action = nx.CreateArrayAction(
                nx.convert_np_dtype_to_datatype(values.dtype), tdims, [values.shape[-1]], path
            )
            assert action.apply(ds, Execute).errors is None
            ds[path].npview()[...] = values
    return ds


def default_args(flt, **changes) -> dict:
    """Every parameter's default, as simplnx hands ``args`` to preflight/execute."""
    params = flt.parameters()
    args = {key: params[key].default_value for key in params.keys()}
    for key, value in changes.items():
        assert key in args, key
        args[key] = nx.DataPath(value) if isinstance(args[key], nx.DataPath) else value
    return args


def preflight(flt, ds, **changes):
    return flt.preflight_impl(
        ds._emptied(),
        default_args(flt, **changes),
        nx.IFilter.MessageHandler(lambda m: None),
        nx.AtomicBoolProxy(lambda: False),
    )


def created(result) -> dict[str, object]:
    return {a.path.to_string(): a for a in result.output_actions.actions}


@pytest.fixture
def volume_32() -> Volume:
    """32 x 32 x 2 cells: the smallest slices the untrained model's UNet accepts."""
    return make_small_volume((32, 32, 2), seed=3)


def test_importing_the_package_does_not_import_simplnx():
    code = (
        "import sys, dream3d_sd_filters, dream3d_sd_filters.filters, "
        "dream3d_sd_filters.filters.runner, dream3d_sd_filters.cli.pipeline\n"
        "assert 'simplnx' not in sys.modules\n"
        "try:\n    import dream3d_sd_filters.dream3d_nx\n"
        "except ModuleNotFoundError as e:\n    print(e.name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "simplnx"  # the ImportError reaches the caller


def test_entry_point_names_the_plugin_module():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["simplnx.plugins"]["dream3d_sd_filters"]
    assert importlib.import_module(target) is dream3d_nx


def test_plugin_loads_with_stable_uuids_and_names():
    plugin = dream3d_nx.get_plugin()
    assert str(plugin.id()) == "46d5e597-ebb9-4bca-b243-7432256ad6e1"
    loaded = nx.load_python_plugin(dream3d_nx)
    found = {f.filter.human_name(): str(f.filter.uuid()) for f in loaded}
    assert found == UUIDS
    for wrapped in loaded:
        flt = wrapped.filter
        assert flt.name() == flt.class_name() == type(flt).__name__
        assert type(flt.clone()) is type(flt)
        assert set(flt.parameters().keys()) == set(flt.CORE.defaults())
        page = (REPO / "docs" / "filters" / f"{flt.name()}.md").read_text()
        assert str(flt.uuid()) in page
        assert [k for k in flt.CORE.defaults() if f"`{k}`" not in page] == []


def test_choice_lists_match_the_project():
    from dream3d_sd_filters.pipelines.microstructure_sd import SAMPLERS
    from dream3d_sd_filters.tasks import AXES, INPAINT_MODES

    assert set(filters.SAMPLER_CHOICES) == set(SAMPLERS)
    assert filters.AXIS_CHOICES == AXES
    assert filters.INPAINT_MODE_CHOICES == INPAINT_MODES


@pytest.mark.parametrize(
    ("front_end", "key", "core", "has_plugin"),
    [
        (
            "predict_orientations",
            "guidance_scale",
            "pipelines.microstructure_sd.ORIENTATION_GUIDANCE_SCALE",
            True,
        ),
        ("inpaint", "restart_fraction", "tasks.volume_tasks.CONSISTENT_RESTART_FRACTION", True),
        (
            "generate",
            "surrogate_guidance_scale",
            "pipelines.microstructure_sd.SURROGATE_GUIDANCE_SCALE",
            False,
        ),
    ],
)
def test_front_end_defaults_match_the_core(front_end, key, core, has_plugin):
    # Filters and ParaView plugins spell these defaults out: they load without torch.
    core_module, _, name = core.rpartition(".")
    value = getattr(importlib.import_module(f"dream3d_sd_filters.{core_module}"), name)
    (param,) = [
        p
        for f in filters.FILTERS
        if f.__module__.endswith(f".{front_end}")
        for p in f.params
        if p.key == key
    ]
    assert param.default == value
    if has_plugin:
        text = (REPO / "paraview_plugins" / f"sd_{front_end}_plugin.py").read_text()
        assert f'"{key}": {value}' in text and f"default_values={value}" in text


def test_autoencode_preflight_declares_outputs(small_volume, untrained_model_dir):
    ds = make_structure(small_volume)
    result = preflight(SDAutoencodeFilter(), ds, checkpoint=str(untrained_model_dir))
    assert result.errors is None
    actions = created(result)
    cell = "DataContainer/Cell Data/"
    assert set(actions) == {
        cell + n
        for n in (
            "ReconstructedPhases",
            "ReconstructedEulerAngles",
            "ReconstructedFeatureIds",
            "ReconstructedIPFColors",
            "ReconstructionError",
        )
    }
    euler = actions[cell + "ReconstructedEulerAngles"]
    assert euler.type is nx.DataType.float32
    assert (euler.t_dims, euler.c_dims) == ([4, 5, 6], [3])
    assert actions[cell + "ReconstructedIPFColors"].type is nx.DataType.uint8


@pytest.mark.parametrize(
    "change, code",
    [
        ({"input_image_geometry_path": "DataContainer/Cell Data"}, filters.GEOMETRY_ERROR),
        ({"input_image_geometry_path": "Nowhere"}, filters.GEOMETRY_ERROR),
        (
            {"cell_phases_array_path": "DataContainer/Cell Data/Missing"},
            filters.ARRAY_MISSING_ERROR,
        ),
        ({"cell_phases_array_path": "DataContainer/Cell Data/Float"}, filters.ARRAY_DTYPE_ERROR),
        (
            {"cell_euler_angles_array_path": "DataContainer/Cell Data/Phases"},
            filters.ARRAY_DTYPE_ERROR,
        ),
        (
            {"cell_euler_angles_array_path": "DataContainer/Cell Data/Float"},
            filters.ARRAY_COMPONENTS_ERROR,
        ),
        (
            {"crystal_structures_array_path": "DataContainer/Cell Data/Phases"},
            filters.ARRAY_DTYPE_ERROR,
        ),
        ({"output_phases_array_name": "Phases"}, filters.OUTPUT_EXISTS_ERROR),
        ({"output_phases_array_name": "a/b"}, filters.OUTPUT_EXISTS_ERROR),
        ({"slicing_axis": 7}, filters.PARAMETER_ERROR),
        ({"batch_size": 0}, filters.PARAMETER_ERROR),
        ({"checkpoint": "/no/such/model"}, filters.CHECKPOINT_ERROR),
    ],
)
def test_autoencode_preflight_rejects_bad_input(small_volume, untrained_model_dir, change, code):
    cells = {**small_volume.cell_data, "Float": np.zeros((4, 5, 6, 1), np.float32)}
    ds = make_structure(small_volume.replace(cell_data=cells))
    change = {"checkpoint": str(untrained_model_dir), **change}
    result = preflight(SDAutoencodeFilter(), ds, **change)
    assert result.output_actions is None
    assert [e.code for e in result.errors] == [code]
    assert "\n" not in result.errors[0].message


def test_inpaint_preflight_checks_the_mask(small_volume, untrained_model_dir):
    cells = {**small_volume.cell_data, "Mask": np.zeros((4, 5, 6, 1), np.uint8)}
    ds = make_structure(small_volume.replace(cell_data=cells))
    other = Volume(dims=(6, 5, 3), cell_data={"Mask": np.zeros((3, 5, 6, 1), bool)})
    make_structure(other, "Other", ds)  # a mask with another cell count
    flt = SDInpaintFilter()
    ok = preflight(flt, ds, checkpoint=str(untrained_model_dir))
    assert ok.errors is None and len(created(ok)) == 4
    bad = preflight(
        flt, ds, checkpoint=str(untrained_model_dir), mask_array_path="Other/Cell Data/Mask"
    )
    assert [e.code for e in bad.errors] == [filters.ARRAY_SHAPE_ERROR]
    fraction = preflight(flt, ds, checkpoint=str(untrained_model_dir), restart_fraction=1.0)
    assert [e.code for e in fraction.errors] == [filters.PARAMETER_ERROR]


def test_default_checkpoint_missing_is_a_clean_error(small_volume, tmp_path, monkeypatch):
    from dream3d_sd_filters.pipelines import microstructure_sd

    # An install without weights: the bundled folder is empty.
    monkeypatch.setattr(microstructure_sd, "BUNDLED_DIR", tmp_path / "weights")
    result = preflight(SDAutoencodeFilter(), make_structure(small_volume))
    assert [e.code for e in result.errors] == [filters.CHECKPOINT_ERROR]
    assert "'default'" in result.errors[0].message


def test_autoencode_execute_writes_through_npview(small_volume, untrained_model_dir):
    from dream3d_sd_filters.pipelines import MicrostructureSD
    from dream3d_sd_filters.tasks import reconstruct_volume

    ds = make_structure(small_volume)
    wrapped = nx.PyFilter(SDAutoencodeFilter())
    result = wrapped.execute2(ds, checkpoint=str(untrained_model_dir), slicing_axis=1)
    assert result.errors is None, result.errors
    geom = ds["DataContainer"]
    assert geom.dimensions == small_volume.dims
    np.testing.assert_allclose(geom.spacing, small_volume.spacing)
    np.testing.assert_allclose(geom.origin, small_volume.origin)
    expected = reconstruct_volume(
        small_volume, MicrostructureSD.from_pretrained(untrained_model_dir), axis="y"
    )
    cell = "DataContainer/Cell Data/"
    for name in ("Phases", "EulerAngles", "FeatureIds", "IPFColors"):
        np.testing.assert_array_equal(
            ds[cell + "Reconstructed" + name].npview(), expected.cell_data[name]
        )
    error = ds[cell + "ReconstructionError"].npview()
    np.testing.assert_allclose(error, expected.cell_data["ReconstructionError"], rtol=1e-6)
    np.testing.assert_array_equal(ds[cell + "Phases"].npview(), small_volume.cell_data["Phases"])
    kinds = {m.type for m in wrapped.messages}
    assert nx.IFilter.Message.Type.Progress in kinds and nx.IFilter.Message.Type.Info in kinds
    progress = [m.progress for m in wrapped.messages if hasattr(m, "progress")]
    assert progress == sorted(progress) and progress[-1] == 100


def test_generate_execute_creates_a_geometry(untrained_model_dir):
    ds = nx.DataStructure()
    flt = SDGenerateMicrostructureFilter()
    kwargs = dict(
        checkpoint=str(untrained_model_dir),
        num_slices=2,
        num_steps=2,
        spacing=[0.5, 0.5, 2.0],
        origin=[1.0, 2.0, 3.0],
        phase_2_crystal_structure=1,
    )
    result = nx.PyFilter(flt).execute2(ds, **kwargs)
    assert result.errors is None, result.errors
    geom = ds["Generated"]
    assert geom.dimensions == (32, 32, 2)  # the model's training size
    np.testing.assert_allclose(geom.spacing, [0.5, 0.5, 2.0])
    np.testing.assert_allclose(geom.origin, [1.0, 2.0, 3.0])
    phases = ds["Generated/Cell Data/Phases"].npview()
    assert phases.shape == (2, 32, 32, 1) and set(np.unique(phases)) <= {1, 2}
    features = ds["Generated/Cell Data/FeatureIds"].npview()
    assert not set(np.unique(features[0])) & set(np.unique(features[1]))  # per-slice grains
    structures = ds["Generated/Cell Ensemble Data/CrystalStructures"].npview()[:, 0]
    assert structures.tolist() == [999, 1, 1]


def test_generate_property_target_needs_the_controlnet(untrained_model_dir):
    flt = SDGenerateMicrostructureFilter()
    ds = nx.DataStructure()
    target = preflight(flt, ds, checkpoint=str(untrained_model_dir), property_target="coercivity=2")
    assert [e.code for e in target.errors] == [filters.CHECKPOINT_ERROR]
    assert "property ControlNet" in target.errors[0].message
    assert "(it has: none)" in target.errors[0].message
    bad = preflight(flt, ds, checkpoint=str(untrained_model_dir), property_target="coercivity")
    assert [e.code for e in bad.errors] == [filters.PARAMETER_ERROR]
    size = preflight(flt, ds, checkpoint=str(untrained_model_dir), image_size=[-1, 8])
    assert [e.code for e in size.errors] == [filters.PARAMETER_ERROR]


def test_generate_surrogate_guidance_needs_a_surrogate_of_the_target():
    flt = SDGenerateMicrostructureFilter()
    ds = nx.DataStructure()
    # The bundled model has a coercivity surrogate only.
    assert preflight(flt, ds, checkpoint="", property_target="coercivity=2").errors is None
    other = preflight(flt, ds, checkpoint="", property_target="grain_size=2")
    assert [e.code for e in other.errors] == [filters.CHECKPOINT_ERROR]
    assert "needs a surrogate for grain_size" in other.errors[0].message
    assert "(it has: coercivity); set it to 0" in other.errors[0].message


def test_predict_orientations_needs_the_controlnet(small_volume, untrained_model_dir):
    result = preflight(
        SDPredictGrainOrientationsFilter(),
        make_structure(small_volume),
        checkpoint=str(untrained_model_dir),
    )
    assert [e.code for e in result.errors] == [filters.CHECKPOINT_ERROR]
    assert "orientation ControlNet" in result.errors[0].message


def test_inpaint_execute_keeps_unmasked_cells(volume_32, untrained_model_dir):
    from dream3d_sd_filters.orientations import ipf_colors

    mask = np.zeros((2, 32, 32, 1), bool)
    mask[:, 8:20, 8:20] = True
    ds = make_structure(volume_32.replace(cell_data={**volume_32.cell_data, "Mask": mask}))
    result = nx.PyFilter(SDInpaintFilter()).execute2(
        ds, checkpoint=str(untrained_model_dir), num_steps=2, jump_length=1, jump_n_sample=1
    )
    assert result.errors is None, result.errors
    cell = "DataContainer/Cell Data/"
    known = ~mask[..., 0]
    for name in ("Phases", "EulerAngles"):
        filled = ds[cell + "Inpainted" + name].npview()
        np.testing.assert_array_equal(filled[known], volume_32.cell_data[name][known])
    colours = ipf_colors(
        volume_32.cell_data["EulerAngles"][known],
        volume_32.cell_data["Phases"][known],
        volume_32.crystal_structures,
    )
    np.testing.assert_array_equal(ds[cell + "InpaintedIPFColors"].npview()[known], colours)
    assert ds[cell + "InpaintedFeatureIds"].npview().min() >= 1


def test_interpolate_execute_writes_the_grid(volume_32, untrained_model_dir):
    ds = make_structure(volume_32)
    result = nx.PyFilter(SDInterpolateFilter()).execute2(
        ds,
        checkpoint=str(untrained_model_dir),
        num_gammas=3,
        num_timesteps=2,
        max_timestep=200,
        num_steps=2,
    )
    assert result.errors is None, result.errors
    assert ds["Interpolated"].dimensions == (32, 32, 6)
    assert ds["Interpolated/Cell Data/EulerAngles"].npview().shape == (6, 32, 32, 3)
    structures = ds["Interpolated/Cell Ensemble Data/CrystalStructures"].npview()[:, 0]
    assert structures.tolist() == volume_32.crystal_structures.tolist()


def test_interpolate_rejects_an_out_of_range_slice(volume_32, untrained_model_dir):
    result = preflight(
        SDInterpolateFilter(),
        make_structure(volume_32),
        checkpoint=str(untrained_model_dir),
        second_slice_index=2,
    )
    assert [e.code for e in result.errors] == [filters.PARAMETER_ERROR]


def test_slice_volume_to_a_geometry(small_volume):
    ds = make_structure(small_volume)
    result = nx.PyFilter(SDSliceVolumeFilter()).execute2(
        ds, slicing_axis=0, start_index=1, end_index=-1, stride=2
    )
    assert result.errors is None, result.errors
    geom = ds["Slices"]
    # Slices normal to x are (Z rows, Y columns): X' = Y, Y' = Z, Z' = the kept x indices.
    assert geom.dimensions == (5, 4, 3)
    np.testing.assert_allclose(geom.spacing, [0.25, 2.0, 0.5])
    np.testing.assert_allclose(geom.origin, [-2.0, 0.125, 1.0])
    euler = small_volume.cell_data["EulerAngles"]
    expected = np.transpose(euler[:, :, [1, 3, 5]], (2, 0, 1, 3))
    np.testing.assert_array_equal(ds["Slices/Cell Data/EulerAngles"].npview(), expected)
    np.testing.assert_array_equal(
        ds["Slices/Cell Ensemble Data/CrystalStructures"].npview(),
        small_volume.ensemble_data["CrystalStructures"],
    )


def test_slice_volume_to_image_files(small_volume, tmp_path):
    ds = make_structure(small_volume)
    flt = SDSliceVolumeFilter()
    target = tmp_path / "slices"
    result = nx.PyFilter(flt).execute2(
        ds,
        output_type=1,
        image_array_path=nx.DataPath("DataContainer/Cell Data/IPFColors"),
        output_directory=str(target),
    )
    assert result.errors is None, result.errors
    assert sorted(p.name for p in target.iterdir()) == [f"ipf_z{i:03d}.png" for i in range(4)]
    assert not ds.exists("Slices")
    again = preflight(flt, ds, output_type=1, output_directory=str(target))
    assert [e.code for e in again.errors] == [filters.OUTPUT_EXISTS_ERROR]
    # The image options are linked to "Image files": inactive, so an empty folder is fine.
    params = flt.parameters()
    assert not params.is_active("output_directory", default_args(flt))
    empty = nx.PyFilter(flt).preflight2(ds, output_type=1)
    assert [e.code for e in empty.errors] == [-3001]


def test_cancellation_stops_between_steps(untrained_model_dir):
    def after_first_progress(messages):
        return any(m.type is nx.IFilter.Message.Type.Progress for m in messages)

    wrapped = nx.PyFilter(SDGenerateMicrostructureFilter(), cancel_when=after_first_progress)
    ds = nx.DataStructure()
    result = wrapped.execute2(ds, checkpoint=str(untrained_model_dir), num_steps=6)
    assert [e.code for e in result.errors] == [-1]  # simplnx's "Filter cancelled"
    progress = [m for m in wrapped.messages if m.type is nx.IFilter.Message.Type.Progress]
    assert len(progress) == 1
    assert not ds["Generated/Cell Data/Phases"].npview().any()  # nothing was written


def test_execute_errors_are_returned_not_raised(small_volume, untrained_model_dir):
    degrees = small_volume.cell_data["EulerAngles"] * 60
    ds = make_structure(small_volume.replace(cell_data={**small_volume.cell_data}))
    ds["DataContainer/Cell Data/EulerAngles"].npview()[...] = degrees
    flt = SDAutoencodeFilter()
    args = default_args(flt, checkpoint=str(untrained_model_dir))
    actions = flt.preflight_impl(
        ds._emptied(), args, nx.IFilter.MessageHandler(print), nx.AtomicBoolProxy(lambda: False)
    ).output_actions
    for action in actions.actions:
        action.apply(ds, Execute)
    result = flt.execute_impl(
        ds, args, nx.IFilter.MessageHandler(lambda m: None), nx.AtomicBoolProxy(lambda: False)
    )
    assert [e.code for e in result.errors] == [filters.TASK_ERROR]
    assert "radians" in result.errors[0].message
    # Arrays without an in-memory store (out-of-core) give a clean error, too.
    result = flt.execute_impl(
        ds._emptied(), args, nx.IFilter.MessageHandler(lambda m: None), nx.AtomicBoolProxy(bool)
    )
    assert [e.code for e in result.errors] == [filters.NOT_IN_MEMORY_ERROR]


def test_runner_and_plugin_give_the_same_arrays(small_volume, untrained_model_dir, tmp_path):
    """The same pipeline parameters through `sd-filters pipeline run` and the plugin."""
    import json

    from dream3d_sd_filters.filters.runner import READ_UUID, load_pipeline, run_pipeline
    from dream3d_sd_filters.io import read_volume
    from dream3d_sd_filters.io.dream3d import write_dream3d

    write_dream3d(small_volume.replace(name="DataContainer"), tmp_path / "in.dream3d")
    flt = SDAutoencodeFilter()
    changes = {"checkpoint": str(untrained_model_dir), "slicing_axis": 0, "batch_size": 3}
    nodes = [
        {
            "filter": {"name": "nx::core::ReadDREAM3DFilter", "uuid": READ_UUID},
            "args": {"import_data_object": {"value": {"file_path": "in.dream3d"}, "version": 1}},
        },
        {
            "filter": {"name": flt.name(), "uuid": str(flt.uuid())},
            "args": {k: {"value": v, "version": 1} for k, v in changes.items()},
        },
    ]
    pipe = tmp_path / "p.d3dpipeline"
    pipe.write_text(json.dumps({"name": "p", "pipeline": nodes, "version": 1}))
    memory = run_pipeline(load_pipeline(pipe))
    ds = make_structure(read_volume(tmp_path / "in.dream3d"))
    assert nx.PyFilter(flt).execute2(ds, **changes).errors is None
    cell = "DataContainer/Cell Data/"
    for name in ("ReconstructedEulerAngles", "ReconstructedFeatureIds", "ReconstructionError"):
        np.testing.assert_array_equal(memory.read(cell + name), ds[cell + name].npview())
