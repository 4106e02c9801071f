"""The plugins' external-Python path: the task runs in another Python through .npz files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from pv_helpers import FAST_INPAINT, PLUGIN_DIR, PLUGINS, box_mask, cell_array, fetch

SYSTEM_PYTHON = "/usr/bin/python3"


def _system_python_env() -> dict[str, str]:
    """Environment for :data:`SYSTEM_PYTHON`, Debian's own Python, which sees apt's ParaView
    but neither torch nor this project; skips the test where it is missing.

    ``PYTHONPATH`` holds only the documented shim that lets that ParaView load Python plugins.
    """
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} not found")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PYTHONPATH"] = str(PLUGIN_DIR / "debian_shim")
    return env


@pytest.mark.slow
def test_forced_external_run_matches_in_process(pv, inpaint, reader, inpainted_box, monkeypatch):
    monkeypatch.setenv("SD_FILTERS_PYTHON", sys.executable)
    output, errors = fetch(pv, inpaint(reader, Execution="External Python"))
    assert errors == []
    _, in_process, _ = inpainted_box
    assert output.GetDimensions() == in_process.GetDimensions()
    assert output.GetOrigin() == in_process.GetOrigin()
    for name in ("Phases", "FeatureIds", "IPFColors"):
        np.testing.assert_array_equal(cell_array(output, name), cell_array(in_process, name))
    # Angles near 0 may come back as 0 or ~1e-17 from the two processes' float reductions.
    np.testing.assert_allclose(
        cell_array(output, "EulerAngles"), cell_array(in_process, "EulerAngles"), rtol=0, atol=1e-6
    )
    continuity = [
        image.GetFieldData().GetArray("InpaintContinuity").GetValue(0)
        for image in (output, in_process)
    ]
    assert continuity[0] == pytest.approx(continuity[1])


_TORCHLESS_SCRIPT = """
import importlib.util, json
import numpy as np
from paraview import simple, servermanager
from vtkmodules.util.numpy_support import vtk_to_numpy

simple.LoadPlugin({plugin!r})
from sd_paraview_bridge import runner
report = {{"in_process": runner.in_process_available(),
           "torch": importlib.util.find_spec("torch") is not None}}
reader = simple.OpenDataFile({xdmf!r})
proxy = simple.SDInpaint(Input=reader, MaskSource="Box", Model={model!r}, **{settings!r})
progress = []
proxy.GetClientSideObject().AddObserver(
    "ProgressEvent", lambda caller, event: progress.append(caller.GetProgress()))
proxy.UpdatePipeline()
image = servermanager.Fetch(proxy)
report["dims"] = image.GetDimensions()
report["progress"] = progress
report["continuity"] = image.GetFieldData().GetArray("InpaintContinuity").GetValue(0)
np.save({out!r}, vtk_to_numpy(image.GetCellData().GetArray("EulerAngles")))
print("REPORT", json.dumps(report))
"""


@pytest.mark.slow
def test_torchless_paraview_python_falls_back_to_external(
    xdmf_file, volume, untrained_model_dir, tmp_path
):
    env = _system_python_env()
    env["SD_FILTERS_PYTHON"] = sys.executable
    box, mask = box_mask()
    script = tmp_path / "torchless.py"
    script.write_text(
        _TORCHLESS_SCRIPT.format(
            plugin=str(PLUGIN_DIR / "sd_inpaint_plugin.py"),
            xdmf=str(xdmf_file),
            model=str(untrained_model_dir),
            settings={**box, **FAST_INPAINT},
            out=str(tmp_path / "euler.npy"),
        )
    )
    done = subprocess.run(
        [SYSTEM_PYTHON, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    reports = [line[7:] for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and reports, done.stdout + done.stderr
    report = json.loads(reports[0])
    assert report["in_process"] is False and report["torch"] is False
    assert report["dims"] == [d + 1 for d in volume.dims]
    assert any(0 < p < 1 for p in report["progress"]), "no progress from the subprocess"
    assert np.isfinite(report["continuity"])
    euler = np.load(tmp_path / "euler.npy").reshape(*volume.shape, 3)
    original = volume.cell_data["EulerAngles"]
    np.testing.assert_array_equal(euler[~mask], original[~mask])
    assert not np.all(euler[mask] == original[mask])


def _grid(volume):
    from sd_paraview_bridge.arrays import VoxelGrid, ensemble_tables

    mask = np.zeros((*volume.shape, 1), dtype=np.uint8)
    mask[2:4] = 1
    return VoxelGrid(
        dims=volume.dims,
        spacing=volume.spacing,
        origin=volume.origin,
        cell={
            "Phases": volume.cell_data["Phases"],
            "EulerAngles": volume.cell_data["EulerAngles"],
            "Mask": mask,
        },
        ensemble=ensemble_tables((1, 0)),
    )


def _external_task_processes() -> list:
    import psutil

    return [
        child
        for child in psutil.Process().children(recursive=True)
        if "dream3d_sd_filters.external_task" in " ".join(child.cmdline())
    ]


def test_external_abort_kills_the_process(pv, volume, untrained_model_dir):
    from sd_paraview_bridge import runner

    start = time.monotonic()
    with pytest.raises(runner.TaskCancelled):
        runner.run_task(
            "inpaint",
            _grid(volume),
            {"model": str(untrained_model_dir), "mask_array": "Mask", "steps": 50},
            execution=runner.EXTERNAL,
            python=sys.executable,
            progress=lambda fraction: None,
            abort=lambda: time.monotonic() > start + 0.5,
        )
    assert time.monotonic() - start < 5
    assert _external_task_processes() == []


def test_external_failure_reports_the_tasks_message(pv, volume, tmp_path):
    from sd_paraview_bridge import runner

    with pytest.raises(runner.TaskError, match="no checkpoint folder or bundled model named"):
        runner.run_task(
            "autoencode",
            _grid(volume),
            {"model": str(tmp_path / "missing")},
            execution=runner.EXTERNAL,
            python=sys.executable,
            progress=lambda fraction: None,
            abort=lambda: False,
        )


def test_external_without_a_python_says_how_to_set_one(pv, reader, monkeypatch):
    monkeypatch.delenv("SD_FILTERS_PYTHON", raising=False)
    proxy = pv.SDAutoencode(Input=reader, Execution="External Python")
    output, errors = fetch(pv, proxy)
    assert output.GetNumberOfCells() == 0
    assert len(errors) == 1
    assert "no external Python is set" in errors[0] and "SD_FILTERS_PYTHON" in errors[0]


def test_npz_written_by_the_bridge_reads_as_a_volume(pv, volume, tmp_path):
    from sd_paraview_bridge.arrays import read_npz, write_npz

    from dream3d_sd_filters.io import read_volume

    grid = _grid(volume)
    write_npz(grid, str(tmp_path / "grid.npz"))
    read = read_volume(tmp_path / "grid.npz")
    assert (read.dims, read.spacing, read.origin) == (volume.dims, volume.spacing, volume.origin)
    np.testing.assert_array_equal(read.cell_data["Mask"], grid.cell["Mask"])
    np.testing.assert_array_equal(read.crystal_structures, [999, 1, 0])
    back = read_npz(str(tmp_path / "grid.npz"))
    np.testing.assert_array_equal(back.cell["EulerAngles"], grid.cell["EulerAngles"])
    assert back.ensemble["CrystalStructures"].ravel().tolist() == [999, 1, 0]


def test_external_task_module_is_light():
    """The receiving module imports without torch; its command line lists the tasks."""
    code = "import sys, dream3d_sd_filters.external_task; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr
    command = [sys.executable, "-m", "dream3d_sd_filters.external_task", "--help"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert (
        done.returncode == 0 and "{inpaint,generate,autoencode,predict_orientations}" in done.stdout
    )


def test_plugin_files_load_without_torch_or_the_project(tmp_path):
    """Each plugin loads in Debian's Python, which has neither torch nor dream3d_sd_filters."""
    env = _system_python_env()
    code = textwrap.dedent(
        f"""
        import sys
        from paraview import simple
        for name in {list(PLUGINS)!r}:
            simple.LoadPlugin({str(PLUGIN_DIR)!r} + "/" + name)
        print(sorted(m for m in ("torch", "dream3d_sd_filters") if m in sys.modules))
        print(all(hasattr(simple, p) for p in {list(PLUGINS.values())!r}))
        """
    )
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True"]
