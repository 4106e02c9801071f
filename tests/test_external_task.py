"""dream3d_sd_filters.external_task: the tasks the ParaView plugins run, in- and out-of-process."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_small_volume

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.external_task import PROGRESS_PREFIX, RESULT_PREFIX, main, run_task
from dream3d_sd_filters.io import read_volume, write_volume
from dream3d_sd_filters.tasks import Cancelled

FAST = {"steps": 2, "jump_n_sample": 1, "mode": "independent"}


@pytest.fixture
def masked_volume():
    """32 x 32 x 2 voxels (slices large enough for the test model's UNet) with a Mask array."""
    volume = make_small_volume(dims=(32, 32, 2))
    mask = np.zeros((*volume.shape, 1), dtype=np.uint8)
    mask[:, 8:20, 4:12] = 1
    return volume.replace(cell_data={**volume.cell_data, "Mask": mask})


@pytest.mark.slow
def test_inpaint_fills_the_mask_array_and_drops_it(masked_volume, untrained_model_dir):
    result, scalars = run_task(
        "inpaint",
        masked_volume,
        {"model": str(untrained_model_dir), "mask_array": "Mask", **FAST},
    )
    assert "Mask" not in result.cell_data
    assert result.dims == masked_volume.dims and result.spacing == masked_volume.spacing
    known = masked_volume.cell_data["Mask"][..., 0] == 0
    for name in ("Phases", "EulerAngles"):
        np.testing.assert_array_equal(
            result.cell_data[name][known], masked_volume.cell_data[name][known]
        )
    assert not np.array_equal(
        result.cell_data["EulerAngles"][~known], masked_volume.cell_data["EulerAngles"][~known]
    )
    assert set(scalars) == {"continuity"} and isinstance(scalars["continuity"], float)


@pytest.mark.slow
def test_autoencode_and_generate(small_volume, untrained_model_dir):
    model = {"model": str(untrained_model_dir)}
    result, scalars = run_task("autoencode", small_volume, {**model, "axis": "z"})
    assert scalars == {}
    assert result.cell_data["ReconstructionError"].shape == (*small_volume.shape, 1)
    generated, _ = run_task("generate", None, {**model, "n": 1, "size": [32, 16], "steps": 2})
    assert generated.dims == (16, 32, 1)
    assert generated.crystal_structures.tolist() == [999, 1, 0]


@pytest.mark.slow
def test_predict_orientations_keeps_the_phase_map(masked_volume, orientation_model_dir):
    args = {"model": str(orientation_model_dir), "steps": 2}
    phases_only = masked_volume.replace(
        cell_data={"Phases": masked_volume.cell_data["Phases"]}, feature_data={}
    )
    result, scalars = run_task("predict_orientations", phases_only, args)
    np.testing.assert_array_equal(result.cell_data["Phases"], masked_volume.cell_data["Phases"])
    assert result.cell_data["EulerAngles"].shape == (*masked_volume.shape, 3)
    assert set(scalars) == {"phase_agreement"} and 0 <= scalars["phase_agreement"] <= 1


def test_progress_returning_true_cancels(masked_volume, untrained_model_dir):
    calls = []

    def progress(done, total, message):
        calls.append((done, total))
        return True

    args = {"model": str(untrained_model_dir), "mask_array": "Mask", **FAST}
    with pytest.raises(Cancelled):
        run_task("inpaint", masked_volume, args, progress)
    assert calls == [(1, 2)]


@pytest.mark.parametrize(
    ("task", "volume", "args", "message"),
    [
        ("predict", "volume", {}, "unknown task 'predict'; use one of inpaint, generate"),
        (
            "predict_orientations",
            "volume",
            {},
            "this model has no orientation ControlNet (it has: none)",
        ),
        ("generate", "volume", {}, "task 'generate' takes no input volume"),
        ("autoencode", None, {}, "task 'autoencode' needs an input volume"),
        ("autoencode", "volume", {"steps": 3}, "unknown argument(s) for task 'autoencode': steps"),
        ("inpaint", "volume", {"mask_array": "Hole"}, "lacks cell array(s) Hole"),
    ],
)
def test_bad_requests_name_the_problem(
    task, volume, args, message, small_volume, untrained_model_dir
):
    volume = small_volume if volume == "volume" else None
    with pytest.raises(InputError) as caught:
        run_task(task, volume, {"model": str(untrained_model_dir), **args})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_command_line_reports_progress_and_result(
    masked_volume, untrained_model_dir, tmp_path, capsys
):
    source = write_volume(masked_volume, tmp_path / "in.npz")
    target = tmp_path / "out.npz"
    args = json.dumps({"model": str(untrained_model_dir), "mask_array": "Mask", **FAST})
    assert main(["inpaint", str(source), str(target), "--json-args", args]) == 0
    lines = capsys.readouterr().out.splitlines()
    progress = [line.split()[1:3] for line in lines if line.startswith(PROGRESS_PREFIX)]
    assert progress == [["1", "2"], ["2", "2"]]
    assert lines[-1].startswith(RESULT_PREFIX)
    assert "continuity" in json.loads(lines[-1][len(RESULT_PREFIX) :])
    result = read_volume(target)
    assert "Mask" not in result.cell_data and result.dims == masked_volume.dims


@pytest.mark.parametrize(
    ("argv_tail", "message"),
    [
        (["--json-args", "{oops"], "Error: --json-args is not valid JSON"),
        (["--json-args", "[1]"], "Error: --json-args must be a JSON object"),
        (["--json-args", '{"frobnicate": 1}'], "unknown argument(s) for task 'autoencode'"),
    ],
)
def test_command_line_errors_exit_2_without_output(
    argv_tail, message, small_volume, untrained_model_dir, tmp_path, capsys
):
    source = write_volume(small_volume, tmp_path / "in.npz")
    target = tmp_path / "out.npz"
    if "frobnicate" in argv_tail[1]:
        argv_tail = [
            "--json-args",
            json.dumps({"model": str(untrained_model_dir), "frobnicate": 1}),
        ]
    assert main(["autoencode", str(source), str(target), *argv_tail]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not target.exists()


def test_command_line_wants_an_npz_output(small_volume, tmp_path, capsys):
    source = write_volume(small_volume, tmp_path / "in.npz")
    assert main(["autoencode", str(source), str(tmp_path / "out.vti")]) == 2
    assert "output must be an .npz file" in capsys.readouterr().err
