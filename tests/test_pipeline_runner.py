"""`sd-filters pipeline run`: the example pipelines end to end, and its error messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REPO, file_digest

from dream3d_sd_filters.cli.main import main
from dream3d_sd_filters.io import read_volume

EXAMPLES = REPO / "examples"


@pytest.fixture
def examples(tmp_path) -> Path:
    """A copy of examples/ (pipelines write next to themselves)."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path / "examples" / "pipelines"


def run(*args: str):
    return CliRunner().invoke(main, ["pipeline", "run", "-q", *map(str, args)])


def model_settings(checkpoint: Path) -> list[str]:
    return ["--set", f"checkpoint={checkpoint}"]


def test_every_example_is_tested():
    tested = {*RUNNABLE, "sd_inpaint.d3dpipeline", "sd_predict_orientations_run.d3dpipeline"}
    assert {p.name for p in (EXAMPLES / "pipelines").glob("*.d3dpipeline")} == tested


RUNNABLE = {
    "sd_autoencode_run.d3dpipeline": [],
    "sd_inpaint_run.d3dpipeline": ["--set", "num_steps=2", "--set", "jump_length=1"],
    "sd_generate_run.d3dpipeline": ["--set", "num_steps=2", "--set", "num_slices=2"],
    "sd_slice_volume_run.d3dpipeline": None,  # no model
    "sd_interpolate_run.d3dpipeline": ["--set", "num_steps=2"],
}


@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_example_pipeline_runs(examples, untrained_model_dir, name):
    extra = RUNNABLE[name]
    settings = [] if extra is None else [*model_settings(untrained_model_dir), *extra]
    result = run(examples / name, *settings)
    assert result.exit_code == 0, result.output
    stem = name.removesuffix(".d3dpipeline")
    if name == "sd_slice_volume_run.d3dpipeline":
        images = sorted((examples / f"{stem}_images").iterdir())
        assert [p.name for p in images] == [f"phase_x{i:03d}.png" for i in range(32)]
        return
    if name == "sd_interpolate_run.d3dpipeline":  # 3 gammas x 2 noise levels, as images
        assert len(list((examples / f"{stem}_images").iterdir())) == 6
        return
    out = read_volume(examples / f"{stem}_output.dream3d")
    assert (examples / f"{stem}_output.xdmf").is_file()
    if name == "sd_generate_run.d3dpipeline":
        assert out.name == "Generated" and out.dims == (32, 32, 2)
        assert out.crystal_structures.tolist() == [999, 1, 0]
        return
    source = read_volume(EXAMPLES / "data" / "small_grains.dream3d")
    assert (out.dims, out.spacing, out.origin) == (source.dims, source.spacing, source.origin)
    prefix = "Reconstructed" if "autoencode" in name else "Inpainted"
    assert {f"{prefix}Phases", f"{prefix}EulerAngles", f"{prefix}FeatureIds"} <= set(out.cell_data)
    np.testing.assert_array_equal(out.cell_data["Phases"], source.cell_data["Phases"])
    if prefix == "Inpainted":
        known = source.cell_data["Mask"][..., 0] == 0
        np.testing.assert_array_equal(
            out.cell_data["InpaintedEulerAngles"][known], source.cell_data["EulerAngles"][known]
        )


def test_predict_orientations_example_needs_the_controlnet(examples, untrained_model_dir):
    result = run(
        examples / "sd_predict_orientations_run.d3dpipeline", *model_settings(untrained_model_dir)
    )
    assert result.exit_code == 2
    assert "orientation ControlNet" in result.output
    assert not (examples / "sd_predict_orientations_run_output.dream3d").exists()


def test_unsupported_filter_is_named(examples):
    pipeline = examples / "sd_inpaint.d3dpipeline"
    result = run(pipeline)
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line
    assert "filter 3 'nx::core::ComputeIPFColorsFilter'" in line
    assert "64cb4f27-6e5e-4dd2-8a03-0c448cb8f5e6" in line
    assert f"nxrunner --execute {pipeline}" in line
    assert not (examples / "sd_inpaint_output.dream3d").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json {", "not JSON"),
        ('{"name": "x"}', "no 'pipeline' list"),
        ('{"pipeline": [{"args": {}}]}', "filter 1 has no 'filter' with a 'uuid'"),
        (
            '{"pipeline": [{"filter": {"uuid": "0dbd31c7-19e0-4077-83ef-f4a6459a0e2d"}}]}',
            "has no 'args' object",
        ),
    ],
)
def test_bad_pipeline_file(tmp_path, text, message):
    path = tmp_path / "bad.d3dpipeline"
    path.write_text(text)
    result = run(path)
    assert result.exit_code == 2
    assert result.output.startswith("Error: bad.d3dpipeline: ")
    assert message in result.output and result.output.count("\n") == 1


def test_missing_pipeline_file(tmp_path):
    result = run(tmp_path / "none.d3dpipeline")
    assert result.exit_code == 2 and "pipeline file not found" in result.output


def slice_pipeline(examples: Path, raw: bool = False) -> Path:
    """The slice example, optionally rewritten in the old raw-value argument format."""
    document = json.loads((examples / "sd_slice_volume_run.d3dpipeline").read_text())
    if raw:
        for node in document["pipeline"]:
            node["args"] = {
                k: v["value"] if isinstance(v, dict) and "value" in v else v
                for k, v in node["args"].items()
            }
    path = examples / ("raw.d3dpipeline" if raw else "slices.d3dpipeline")
    path.write_text(json.dumps(document))
    return path


def test_old_argument_format_is_read_with_a_warning(examples):
    result = run(slice_pipeline(examples, raw=True))
    assert result.exit_code == 0, result.output
    assert "old format" in result.output
    assert len(list((examples / "sd_slice_volume_run_images").iterdir())) == 32


def test_overrides_and_their_errors(examples):
    pipeline = slice_pipeline(examples)
    target = examples / "by_index"
    ok = run(pipeline, "--set", f"2.output_directory={target}", "--set", "image_format=tiff")
    assert ok.exit_code == 0, ok.output
    assert len(list(target.glob("phase_x*.tif"))) == 32
    for setting, message in [
        ("num_steps=3", "no filter of the pipeline has a parameter 'num_steps'"),
        ("5.stride=2", "the pipeline has no (enabled) filter 5"),
        ("stride", "--set needs KEY=VALUE"),
        ("stride=0", "Stride (stride) must be at least 1"),
        ("image_format=jpeg", "Image Format (image_format) must be one of 0 = png, 1 = tiff"),
    ]:
        bad = run(pipeline, "--set", setting)
        assert bad.exit_code == 2, setting
        assert message in bad.output, bad.output


def test_existing_output_is_kept_without_overwrite(examples, untrained_model_dir):
    pipeline = examples / "sd_autoencode_run.d3dpipeline"
    output = examples / "sd_autoencode_run_output.dream3d"
    output.write_bytes(b"keep me")
    digest = file_digest(output)
    result = run(pipeline, *model_settings(untrained_model_dir))
    assert result.exit_code == 2 and "already exists; pass --overwrite" in result.output
    assert file_digest(output) == digest


def test_two_geometries_cannot_be_written(examples):
    document = json.loads((examples / "sd_slice_volume_run.d3dpipeline").read_text())
    slicer = document["pipeline"][1]
    slicer["args"]["output_type"]["value"] = 0
    document["pipeline"].append(
        {
            "filter": {"uuid": "b3a95784-2ced-41ec-8d3d-0242ac130003"},
            "args": {"export_file_path": {"value": "two.dream3d", "version": 1}},
        }
    )
    path = examples / "two.d3dpipeline"
    path.write_text(json.dumps(document))
    result = run(path)
    assert result.exit_code == 2
    assert "holds 2 (DataContainer, Slices)" in result.output
    assert not (examples / "two.dream3d").exists()
