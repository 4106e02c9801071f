"""The SD plugins loaded in a headless ParaView 5.11 session, applied to real volumes."""

from __future__ import annotations

import numpy as np
import pytest
from pv_helpers import (
    DIMS,
    ORIGIN,
    PLUGIN_DIR,
    PLUGINS,
    SPACING,
    box_mask,
    cell_array,
    fetch,
    image_from_arrays,
    needs_display,
    write_vti,
)


def assert_geometry(image, point_centred: bool = False) -> None:
    """Same voxels, spacing and origin as the test volume."""
    extra = 0 if point_centred else 1
    assert image.GetDimensions() == tuple(d + extra for d in DIMS)
    assert image.GetSpacing() == pytest.approx(SPACING)
    shift = 0.5 if point_centred else 0.0
    assert image.GetOrigin() == pytest.approx([o + shift * s for o, s in zip(ORIGIN, SPACING)])


def test_plugins_register_their_proxies(pv):
    from paraview.detail.pythonalgorithm import get_plugin_xmls, load_plugin

    for file_name, proxy_name in PLUGINS.items():
        assert callable(getattr(pv, proxy_name))
        xml = "".join(get_plugin_xmls(load_plugin(str(PLUGIN_DIR / file_name))))
        assert 'category="SD Filters"' in xml
    inpaint_xml = "".join(get_plugin_xmls(load_plugin(str(PLUGIN_DIR / "sd_inpaint_plugin.py"))))
    assert 'panel_widget="InteractiveBox"' in inpaint_xml


def test_xdmf_reader_gives_the_written_volume(pv, reader, volume):
    from paraview import servermanager

    image = servermanager.Fetch(reader)
    assert image.IsA("vtkImageData")
    assert_geometry(image)
    np.testing.assert_array_equal(cell_array(image, "Phases"), volume.cell_data["Phases"])
    np.testing.assert_array_equal(cell_array(image, "EulerAngles"), volume.cell_data["EulerAngles"])


def test_inpaint_box_fills_only_the_box(reader, inpainted_box, volume):
    from paraview import servermanager

    _, output, errors = inpainted_box
    assert errors == []
    assert_geometry(output)
    _, mask = box_mask()
    original = servermanager.Fetch(reader)
    for name in ("Phases", "EulerAngles"):
        before, after = cell_array(original, name), cell_array(output, name)
        np.testing.assert_array_equal(after[~mask], before[~mask])
    euler_before = cell_array(original, "EulerAngles")[mask]
    euler_after = cell_array(output, "EulerAngles")[mask]
    assert not np.all(euler_after == euler_before), "nothing inside the box was generated"
    assert set(np.unique(cell_array(output, "Phases"))) <= {1, 2}
    assert cell_array(output, "FeatureIds").min() >= 1
    assert cell_array(output, "IPFColors").dtype == np.uint8
    continuity = output.GetFieldData().GetArray("InpaintContinuity")
    assert continuity is not None and np.isfinite(continuity.GetValue(0))


def test_inpaint_mask_array_from_vti_with_own_names(pv, inpaint, volume, tmp_path):
    from vtkmodules.util.numpy_support import vtk_to_numpy

    mask = np.zeros(volume.shape, dtype=np.uint8)
    mask[5:7, 20:30, 2:14] = 1
    image = image_from_arrays(
        {
            "Phase": volume.cell_data["Phases"],
            "Euler": volume.cell_data["EulerAngles"],
            "Hole": mask[..., None],
        },
        field={"Ensemble:CrystalStructures": np.array([999, 1, 0], dtype=np.uint32)},
    )
    source = pv.OpenDataFile(str(write_vti(image, tmp_path / "volume.vti")))
    proxy = inpaint(
        source,
        box=False,
        PhasesArray="Phase",
        EulerAnglesArray="Euler",
        MaskArray="Hole",
        # The file's Ensemble:CrystalStructures field wins over these properties.
        Phase1CrystalStructure="Hexagonal_High",
        Phase2CrystalStructure="Hexagonal_High",
    )
    output, errors = fetch(pv, proxy)
    assert errors == []
    assert_geometry(output)
    known = mask[..., None].repeat(3, -1) == 0
    np.testing.assert_array_equal(
        cell_array(output, "Euler")[known], volume.cell_data["EulerAngles"][known]
    )
    np.testing.assert_array_equal(cell_array(output, "Hole"), mask[..., None])
    assert output.GetCellData().GetArray("Phases") is None
    structures = vtk_to_numpy(output.GetFieldData().GetArray("Ensemble:CrystalStructures"))
    np.testing.assert_array_equal(structures.ravel(), [999, 1, 0])


def test_inpaint_point_centred_arrays(pv, inpaint, volume, tmp_path):
    image = image_from_arrays(
        {"Phases": volume.cell_data["Phases"], "EulerAngles": volume.cell_data["EulerAngles"]},
        point_centred=True,
    )
    source = pv.OpenDataFile(str(write_vti(image, tmp_path / "points.vti")))
    output, errors = fetch(pv, inpaint(source))
    assert errors == []
    assert_geometry(output, point_centred=True)
    _, mask = box_mask()
    assert output.GetCellData().GetNumberOfArrays() == 0
    after = cell_array(output, "EulerAngles", point_data=True)
    np.testing.assert_array_equal(after[~mask], volume.cell_data["EulerAngles"][~mask])
    assert not np.all(after[mask] == volume.cell_data["EulerAngles"][mask])
    assert cell_array(output, "FeatureIds", point_data=True).shape == (*volume.shape, 1)


def test_inpaint_reports_a_missing_array(pv, reader, untrained_model_dir):
    proxy = pv.SDInpaint(Input=reader, Model=str(untrained_model_dir))
    proxy.MaskArray = "NoSuchMask"
    output, errors = fetch(pv, proxy)
    assert output.GetNumberOfCells() == 0
    assert len(errors) == 1
    assert "no array named 'NoSuchMask'" in errors[0]
    assert "FeatureIds" in errors[0]


def test_inpaint_abort_stops_between_steps(pv, inpaint, reader):
    proxy = inpaint(reader, Steps=20)
    algorithm = proxy.GetClientSideObject()
    seen: list[float] = []

    def on_progress(caller, event):
        seen.append(caller.GetProgress())
        if caller.GetProgress() > 0:
            caller.SetAbortExecute(1)

    tag = algorithm.AddObserver("ProgressEvent", on_progress)
    try:
        output, errors = fetch(pv, proxy)
    finally:
        algorithm.RemoveObserver(tag)
    assert errors == []
    assert output.GetNumberOfCells() == 0
    # One 20-step batch, stopped after its first step each time it runs (VTK re-executes
    # an aborted filter on the next update, e.g. Fetch's).
    steps = {round(p * 20, 6) for p in seen if 0 < p < 1}
    assert steps == {1}


def test_autoencode_adds_reconstruction_error(pv, reader, untrained_model_dir):
    proxy = pv.SDAutoencode(Input=reader, Model=str(untrained_model_dir), Axis="y")
    output, errors = fetch(pv, proxy)
    assert errors == []
    assert_geometry(output)
    error = cell_array(output, "ReconstructionError")
    assert error.dtype == np.float32 and error.shape == (8, 32, 32, 1)
    assert 0 < error.min() and error.max() <= 2
    assert set(np.unique(cell_array(output, "Phases"))) <= {1, 2}


def test_generate_source_builds_an_image(pv, untrained_model_dir):
    from vtkmodules.util.numpy_support import vtk_to_numpy

    proxy = pv.SDGenerateMicrostructure(
        Model=str(untrained_model_dir),
        NumberOfSlices=2,
        ImageSize=[32, 16],
        Steps=2,
        Spacing=[0.5, 0.5, 3.0],
        Origin=[1.0, 2.0, 3.0],
    )
    output, errors = fetch(pv, proxy)
    assert errors == []
    assert output.GetDimensions() == (33, 17, 3)
    assert output.GetSpacing() == pytest.approx((0.5, 0.5, 3.0))
    assert output.GetOrigin() == pytest.approx((1.0, 2.0, 3.0))
    phases = cell_array(output, "Phases")
    assert phases.shape == (2, 16, 32, 1) and set(np.unique(phases)) <= {1, 2}
    assert cell_array(output, "EulerAngles").dtype == np.float32
    structures = vtk_to_numpy(output.GetFieldData().GetArray("Ensemble:CrystalStructures"))
    np.testing.assert_array_equal(structures.ravel(), [999, 1, 0])
    first = cell_array(output, "EulerAngles").copy()
    proxy.Seed = 1
    again, _ = fetch(pv, proxy)
    assert not np.array_equal(cell_array(again, "EulerAngles"), first)


def test_predict_orientations_fills_grains_into_the_phase_map(
    pv, volume, orientation_model_dir, tmp_path
):
    from vtkmodules.util.numpy_support import vtk_to_numpy

    image = image_from_arrays({"Phases": volume.cell_data["Phases"]})
    source = pv.OpenDataFile(str(write_vti(image, tmp_path / "phases.vti")))
    proxy = pv.SDPredictGrainOrientations(Input=source, Model=str(orientation_model_dir), Steps=2)
    output, errors = fetch(pv, proxy)
    assert errors == []
    assert_geometry(output)
    np.testing.assert_array_equal(cell_array(output, "Phases"), volume.cell_data["Phases"])
    euler = cell_array(output, "EulerAngles")
    assert euler.dtype == np.float32 and euler.shape == (*volume.shape, 3)
    assert cell_array(output, "FeatureIds").min() >= 1
    agreement = vtk_to_numpy(output.GetFieldData().GetArray("PhaseAgreement"))
    assert 0 <= agreement[0] <= 1


def test_predict_orientations_needs_the_controlnet(pv, reader, untrained_model_dir):
    proxy = pv.SDPredictGrainOrientations(Input=reader, Model=str(untrained_model_dir))
    output, errors = fetch(pv, proxy)
    assert output.GetNumberOfCells() == 0
    assert errors == ["this model has no orientation ControlNet (it has: none)"]


def test_slice_extracts_one_layer_in_place(pv, reader, volume):
    proxy = pv.SDSlice(Input=reader, Axis="y", SliceIndex=5)
    output, errors = fetch(pv, proxy)
    assert errors == []
    assert output.GetDimensions() == (33, 1, 9)
    assert output.GetSpacing() == pytest.approx(SPACING)
    # The plane through the centres of voxel layer y = 5.
    assert output.GetOrigin() == pytest.approx((1.0, -2.0 + 5.5 * 0.25, 0.5))
    np.testing.assert_array_equal(cell_array(output, "Phases"), volume.cell_data["Phases"][:, 5:6])


def test_slice_stack_matches_the_models_slicing(pv, reader, volume):
    from dream3d_sd_filters.tasks import to_slices

    proxy = pv.SDSlice(Input=reader, Axis="x", OutputMode="Stack")
    output, errors = fetch(pv, proxy)
    assert errors == []
    # Slices normal to x are (Z rows, Y columns) images, stacked along the output's z.
    assert output.GetDimensions() == (33, 9, 33)
    assert output.GetSpacing() == pytest.approx((0.25, 2.0, 0.5))
    assert output.GetOrigin() == pytest.approx((-2.0, 0.5, 1.0))
    expected = np.moveaxis(to_slices(volume.cell_data["EulerAngles"], "x"), 1, -1)
    np.testing.assert_array_equal(cell_array(output, "EulerAngles"), expected)


def test_slice_index_out_of_range_is_an_error(pv, reader):
    proxy = pv.SDSlice(Input=reader, Axis="z", SliceIndex=8)
    output, errors = fetch(pv, proxy)
    assert output.GetNumberOfCells() == 0
    assert errors and "slice index 8 is out of range" in errors[0]


@needs_display
def test_render_inpainted_volume_to_png(pv, inpainted_box, tmp_path):
    from PIL import Image

    proxy, _, errors = inpainted_box
    assert errors == []
    view = pv.CreateView("RenderView")
    view.ViewSize = [320, 240]
    display = pv.Show(proxy, view)
    display.SetRepresentationType("Surface")
    pv.ColorBy(display, ("CELLS", "EulerAngles", "Magnitude"))
    view.CameraPosition = [-20, -30, 40]
    view.ResetCamera()
    target = tmp_path / "inpainted.png"
    pv.SaveScreenshot(str(target), view, ImageResolution=[320, 240])
    pv.Delete(view)
    pixels = np.asarray(Image.open(target).convert("RGB")).reshape(-1, 3)
    background = pixels[0]
    assert (pixels != background).any(1).mean() > 0.2, "the volume is not in the picture"
    assert len(np.unique(pixels, axis=0)) > 3, "the picture has no shading or colour map"
