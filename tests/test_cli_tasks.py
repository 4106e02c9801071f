"""``sd-filters reconstruct|generate|interpolate|inpaint`` as a user runs them.

The model is the small untrained pipeline of conftest (plumbing: shapes, geometry,
arrays, files, errors); quality is measured by `sd-filters evaluate`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import accelerate_launch_cpu, file_digest, make_small_volume

from dream3d_sd_filters.cli.main import main
from dream3d_sd_filters.cli.tasks import (
    box_mask,
    expand_inputs,
    phase_map_volume,
    plan_jobs,
)
from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.io import read_volume, write_volume
from dream3d_sd_filters.volume import LAUE_IDS, ensemble_arrays


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_user_error(result: Result, expected: str) -> None:
    """Exit status 2, one line "Error: ..." on stderr, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def volume_file(tmp_path: Path) -> Path:
    """A 32 x 32 x 8 (X, Y, Z) two-phase volume with a uint8 mask array, as .dream3d."""
    volume = make_small_volume((32, 32, 8), seed=1)
    mask = np.zeros((8, 32, 32, 1), dtype=np.uint8)
    mask[1:3, 8:20, 8:20] = 1
    volume = volume.replace(cell_data={**volume.cell_data, "Damaged": mask})
    return write_volume(volume, tmp_path / "grains.dream3d")


def test_help_lists_the_task_commands() -> None:
    listing = run("--help").output
    for command in ("reconstruct", "generate", "interpolate", "inpaint", "demo"):
        assert command in listing
    for option in ("--model", "--device", "--axis", "--box", "--mask-array", "--jump-length"):
        assert option in run("inpaint", "--help").output


def test_surrogate_guidance_help_states_the_core_default() -> None:
    # The option defaults to None so that --help does not import torch; its help says 8.
    from dream3d_sd_filters.pipelines.microstructure_sd import SURROGATE_GUIDANCE_SCALE

    for command in ("generate", "evaluate"):
        text = " ".join(run(command, "--help").output.split())
        assert "--surrogate-guidance FLOAT" in text
        assert f"[default: {SURROGATE_GUIDANCE_SCALE:g}" in text


@pytest.mark.slow
def test_reconstruct_writes_arrays_and_scores(volume_file: Path, untrained_model_dir, tmp_path):
    before = file_digest(volume_file)
    out = tmp_path / "rec.dream3d"
    result = run("reconstruct", volume_file, "-o", out, "--model", untrained_model_dir,
                 "--axis", "y", "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "PSNR phase" in result.stdout and "orientation" in result.stdout
    assert "SSIM phase" in result.stdout
    assert out.with_suffix(".xdmf").is_file()
    original, rec = read_volume(volume_file), read_volume(out)
    assert (rec.dims, rec.spacing, rec.origin) == (original.dims, original.spacing, original.origin)
    error = rec.cell_data["ReconstructionError"]
    assert error.dtype == np.float32 and error.shape == (8, 32, 32, 1)
    assert 0 <= error.min() and error.max() <= 2
    assert set(np.unique(rec.cell_data["Phases"])) <= {1, 2}
    assert file_digest(volume_file) == before


def test_batch_over_a_directory_into_a_folder(untrained_model_dir, tmp_path: Path) -> None:
    inputs = tmp_path / "scans"
    inputs.mkdir()
    for k in range(2):
        write_volume(make_small_volume((32, 32, 2), seed=k), inputs / f"scan{k}.vti")
    out = tmp_path / "results"
    result = run("reconstruct", inputs, "-o", out, "--model", untrained_model_dir,
                 "--format", "npz")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "scan0_reconstructed.npz",
        "scan1_reconstructed.npz",
    ]
    assert result.stdout.count("PSNR phase") == 2
    assert "ReconstructionError" in read_volume(out / "scan1_reconstructed.npz").cell_data


def test_a_bad_file_in_a_batch_stops_it_before_any_output(untrained_model_dir, tmp_path):
    good = write_volume(make_small_volume((32, 32, 2)), tmp_path / "good.npz")
    volume = make_small_volume((32, 32, 2))
    cells = {k: v for k, v in volume.cell_data.items() if k != "EulerAngles"}
    bad = write_volume(volume.replace(cell_data=cells), tmp_path / "bad.npz")
    out = tmp_path / "results"
    result = run("reconstruct", good, bad, "-o", out, "--model", untrained_model_dir)
    assert_user_error(result, "lacks EulerAngles")
    assert "Phases and EulerAngles and the ensemble array CrystalStructures" in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_inpaint_box_keeps_known_cells_and_stores_the_mask(
    volume_file, untrained_model_dir, tmp_path
):
    before = file_digest(volume_file)
    out = tmp_path / "filled.vti"
    result = run("inpaint", volume_file, "--box", "8", "24", "4", "20", "1", "3", "-o", out,
                 "--model", untrained_model_dir, "--steps", "2", "--jump-length", "1",
                 "--jump-n-sample", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "filled 512 of 8192 cells (consistent); continuity ratio " in result.stdout
    original, filled = read_volume(volume_file), read_volume(out)
    mask = filled.cell_data["InpaintMask"][..., 0].astype(bool)
    assert mask.sum() == 16 * 16 * 2 and mask[1:3, 4:20, 8:24].all()
    for name in ("Phases", "EulerAngles"):
        np.testing.assert_array_equal(
            filled.cell_data[name][~mask], original.cell_data[name][~mask]
        )
    assert file_digest(volume_file) == before


def test_inpaint_mask_array_to_png_folder(volume_file, untrained_model_dir, tmp_path):
    out = tmp_path / "filled"
    result = run("inpaint", volume_file, "--mask-array", "Damaged", "--mode", "independent",
                 "-o", out, "--model", untrained_model_dir, "--steps", "1",
                 "--jump-n-sample", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(independent)" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"ipf_z00{k}.png" for k in range(8)] + [f"phase_z00{k}.png" for k in range(8)]


def test_empty_mask_copies_the_input(volume_file, untrained_model_dir, tmp_path):
    mask_file = tmp_path / "none.npy"
    np.save(mask_file, np.zeros((8, 32, 32), dtype=bool))
    out = tmp_path / "copy.npz"
    result = run("inpaint", volume_file, "--mask", mask_file, "-o", out,
                 "--model", untrained_model_dir)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "filled 0 of 8192 cells" in result.stdout
    original, copy = read_volume(volume_file), read_volume(out)
    for name in ("Phases", "EulerAngles", "FeatureIds", "IPFColors"):
        np.testing.assert_array_equal(copy.cell_data[name], original.cell_data[name])


@pytest.mark.slow
def test_generate_to_vti_and_png_folder(untrained_model_dir, tmp_path: Path) -> None:
    out = tmp_path / "samples.vti"
    result = run("generate", "-n", "2", "--steps", "2", "--size", "32", "64", "--symmetry",
                 "hexagonal", "cubic", "--spacing", "0.5", "--unit", "nanometer", "-o", out,
                 "--model", untrained_model_dir, "--sampler", "ddim")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 2 samples of 32 x 64 pixels (ddim, 2 steps)" in result.stdout
    samples = read_volume(out)
    assert samples.dims == (64, 32, 2) and samples.spacing == (0.5, 0.5, 0.5)
    assert samples.length_unit == "Nanometer"
    assert samples.crystal_structures.tolist() == [999, 0, 1]
    folder = tmp_path / "pngs"
    result = run(
        "generate", "-n", "1", "--steps", "1", "-o", folder, "--model", untrained_model_dir
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["ipf_z000.png", "phase_z000.png"]


@pytest.mark.slow
def test_interpolate_two_slices_writes_grid_and_figure(volume_file, untrained_model_dir, tmp_path):
    out = tmp_path / "morph.npz"
    result = run("interpolate", volume_file, volume_file, "--slice", "z", "0", "--slice", "z",
                 "7", "--gammas", "0,0.5,1", "--timesteps", "0,300", "--steps", "2", "-o", out,
                 "--model", untrained_model_dir)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "morph_grid.png").stat().st_size > 1000
    grid = read_volume(out)
    assert grid.dims == (32, 32, 6)
    gammas = grid.cell_data["InterpolationGamma"][:, 0, 0, 0]
    times = grid.cell_data["InterpolationTimestep"][:, 0, 0, 0]
    assert gammas.tolist() == [0, 0.5, 1] * 2 and times.tolist() == [0] * 3 + [300] * 3
    # A 3D input needs --slice.
    assert_user_error(
        run(
            "interpolate",
            volume_file,
            volume_file,
            "-o",
            tmp_path / "x.npz",
            "--model",
            untrained_model_dir,
        ),  # fmt: skip
        "choose the slice with --slice AXIS INDEX",
    )
    assert_user_error(
        run(
            "interpolate",
            volume_file,
            volume_file,
            "--slice",
            "z",
            "0",
            "--slice",
            "x",
            "0",
            "-o",
            tmp_path / "x.npz",
            "--model",
            untrained_model_dir,
        ),  # fmt: skip
        "the two slices differ in size: 32 x 32 and 8 x 32 (rows x columns)",
    )
    assert not (tmp_path / "x.npz").exists()


def _volume_variant(tmp_path: Path, name: str, **changes) -> Path:
    volume = make_small_volume((32, 32, 2))
    return write_volume(volume.replace(**changes), tmp_path / name)


def test_bad_inputs_give_one_line_and_write_nothing(volume_file, untrained_model_dir, tmp_path):
    model = ["--model", str(untrained_model_dir)]
    out = tmp_path / "out.dream3d"
    small = make_small_volume((32, 32, 2))
    no_euler = _volume_variant(
        tmp_path,
        "no_euler.npz",
        cell_data={k: v for k, v in small.cell_data.items() if k != "EulerAngles"},
    )
    no_structures = _volume_variant(tmp_path, "bare.npz", ensemble_data={}, phase_names=None)
    trigonal = _volume_variant(
        tmp_path,
        "trigonal.npz",
        ensemble_data=ensemble_arrays([LAUE_IDS["Cubic_High"], LAUE_IDS["Trigonal_High"]]),
    )
    np.save(tmp_path / "wrong_shape.npy", np.zeros((8, 32, 31), dtype=bool))
    np.save(tmp_path / "wrong_dtype.npy", np.zeros((8, 32, 32), dtype=np.float32))
    cases = [
        (["reconstruct", tmp_path / "missing.dream3d"], "file not found"),
        (["reconstruct", no_euler], "lacks EulerAngles"),
        (["reconstruct", no_structures], "lacks CrystalStructures"),
        (["reconstruct", trigonal], "phase 2 has crystal structure Trigonal_High"),
        (["generate", "--sampler", "euler"], "unknown sampler 'euler'"),
        (["generate", "--symmetry", "cubic", "trigonal"], "unsupported crystal structure"),
        (["generate", "--size", "30", "32"], "must be a multiple of 16 pixels"),
        (["inpaint", volume_file, "--mask", tmp_path / "wrong_shape.npy"], "has shape (8, 32, 31)"),
        (["inpaint", volume_file, "--mask", tmp_path / "wrong_dtype.npy"], "got dtype float32"),
        (["inpaint", volume_file, "--mask-array", "FeatureIds"], "got dtype int32"),
        (["inpaint", volume_file, "--mask-array", "Nope"], "has no cell array 'Nope'"),
        (["inpaint", volume_file, "--box", "0", "40", "0", "8", "0", "2"], "--box X bounds 0 40"),
        (["inpaint", volume_file], "exactly one of --mask-array, --box or --mask"),
        (
            [
                "inpaint",
                volume_file,
                "--box",
                "0",
                "8",
                "0",
                "8",
                "0",
                "2",
                "--mask-array",
                "Damaged",
            ],
            "(got --mask-array, --box)",
        ),  # fmt: skip
        (["reconstruct", volume_file, "-o", tmp_path / "out.txt"], "unknown extension .txt"),
    ]
    for args, message in cases:
        output = [] if "-o" in args else ["-o", out]
        assert_user_error(run(*args, *output, *model), message)
        assert not out.exists() and not out.with_suffix(".xdmf").exists()
    # The bundled model does not exist yet in a fresh checkout: say so.
    missing = run("reconstruct", volume_file, "-o", out, "--model", tmp_path / "nowhere")
    assert_user_error(missing, "no checkpoint folder or bundled model named")


def test_outputs_are_never_inputs_and_need_overwrite(volume_file, untrained_model_dir, tmp_path):
    model = ["--model", str(untrained_model_dir)]
    before = file_digest(volume_file)
    result = run("reconstruct", volume_file, "-o", volume_file, "--overwrite", *model)
    assert_user_error(result, "is an input; inputs are never modified")
    assert file_digest(volume_file) == before
    out = tmp_path / "taken.npz"
    out.write_bytes(b"keep me")
    assert_user_error(run("reconstruct", volume_file, "-o", out, *model), "already exists")
    assert out.read_bytes() == b"keep me"
    assert run("reconstruct", volume_file, "-o", out, "--overwrite", *model).exit_code == 0
    assert "ReconstructionError" in read_volume(out).cell_data


def _phase_png(path: Path, phases: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(np.where(phases == 2, 255, 128).astype(np.uint8)).save(path)
    return path


def test_png_phase_maps(tmp_path: Path, untrained_model_dir) -> None:
    from dream3d_sd_filters.io.images import read_png_stack

    phases = np.ones((32, 32), dtype=np.int32)
    phases[:, 16:] = 2
    png = _phase_png(tmp_path / "map.png", phases)
    volume = phase_map_volume(read_png_stack([png]), (1, 0), png)
    assert volume.cell_data["Phases"][0, ..., 0].tolist() == phases.tolist()
    assert volume.crystal_structures.tolist() == [999, 1, 0]
    # Without the orientation ControlNet a phase map cannot be reconstructed: say why.
    result = run("reconstruct", png, "-o", tmp_path / "r.npz", "--model", untrained_model_dir)
    assert_user_error(result, "is a phase map without grain orientations")
    assert "IPF-colour PNGs cannot be turned back into orientations" in result.stderr
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    from PIL import Image

    Image.fromarray(rgb).save(tmp_path / "ipf.png")
    assert_user_error(
        run(
            "reconstruct",
            tmp_path / "ipf.png",
            "-o",
            tmp_path / "r.npz",
            "--model",
            untrained_model_dir,
        ),  # fmt: skip
        "holds colour images",
    )
    grays = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(grays).save(tmp_path / "gray.png")
    with pytest.raises(InputError, match="has 64 gray levels"):
        phase_map_volume(read_png_stack([tmp_path / "gray.png"]), (1, 0), "gray.png")


@pytest.mark.slow
def test_png_phase_map_with_the_orientation_controlnet(tmp_path: Path, untrained_model) -> None:
    from dream3d_sd_filters.models.controlnet import build_controlnet
    from dream3d_sd_filters.pipelines import MicrostructureSD

    model = MicrostructureSD(
        untrained_model.vae,
        untrained_model.unet,
        untrained_model.scheduler_config,
        {**untrained_model.card, "controlnets": {"orientation": {}}},
        controlnets={
            "orientation": build_controlnet(
                untrained_model.unet, "orientation", 4, padding="reflect"
            )
        },
    )
    folder = model.save_pretrained(tmp_path / "with_controlnet")
    phases = np.ones((32, 32), dtype=np.int32)
    phases[8:24, 8:24] = 2
    png = _phase_png(tmp_path / "map.png", phases)
    out = tmp_path / "filled.npz"
    result = run("inpaint", png, "--box", "0", "8", "0", "8", "0", "1", "-o", out,
                 "--model", folder, "--steps", "1", "--jump-n-sample", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "orientations predicted by the orientation ControlNet" in result.stderr
    filled = read_volume(out)
    assert "EulerAngles" in filled.cell_data
    known = ~filled.cell_data["InpaintMask"][0, ..., 0].astype(bool)
    np.testing.assert_array_equal(filled.cell_data["Phases"][0, ..., 0][known], phases[known])


def test_expand_inputs_and_plan_jobs(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("b.dream3d", "a.vti", "notes.txt"):
        (folder / name).write_bytes(b"")
    assert expand_inputs([folder]) == ([folder / "a.vti", folder / "b.dream3d"], True)
    assert expand_inputs([str(folder / "*.vti")]) == ([folder / "a.vti"], True)
    assert expand_inputs([folder / "a.vti"]) == ([folder / "a.vti"], False)
    with pytest.raises(InputError, match="no files match"):
        expand_inputs([str(folder / "*.npz")])
    with pytest.raises(InputError, match="is given twice"):
        expand_inputs([folder / "a.vti", str(folder / "*.vti")])
    images = tmp_path / "slices"
    images.mkdir()
    (images / "s0.png").write_bytes(b"")
    assert expand_inputs([images]) == ([images], False)  # a PNG stack is one volume
    jobs = plan_jobs([folder / "a.vti", images], True, tmp_path / "out", "x", "png")
    assert [j.target.name for j in jobs] == ["a_x", "slices_x"]
    with pytest.raises(InputError, match="would both be written to"):
        plan_jobs([folder / "a.vti", tmp_path / "a.vti"], True, tmp_path / "out", "x", "npz")


def test_box_mask_bounds_exclude_the_end() -> None:
    mask = box_mask((4, 5, 6), (1, 3, 0, 5, 2, 4))
    assert mask.sum() == 2 * 5 * 2 and mask[2:4, :, 1:3].all()
    with pytest.raises(InputError, match="--box Z bounds 3 3"):
        box_mask((4, 5, 6), (0, 1, 0, 1, 3, 3))


@pytest.mark.slow
def test_accelerate_launch_splits_a_batch(untrained_model_dir, tmp_path: Path) -> None:
    inputs = tmp_path / "scans"
    inputs.mkdir()
    for k in range(3):
        write_volume(make_small_volume((16, 16, 1), seed=k), inputs / f"scan{k}.npz")
    out = tmp_path / "results"
    done = accelerate_launch_cpu(
        "dream3d_sd_filters.cli.main",
        "reconstruct", str(inputs), "-o", str(out), "--model", str(untrained_model_dir),
        "--format", "npz",
        timeout=120,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [f"scan{k}_reconstructed.npz" for k in range(3)]
    # Only the main process prints, once per file, in input order.
    lines = [line for line in done.stdout.splitlines() if "PSNR phase" in line]
    assert [line.split(" -> ")[0] for line in lines] == [
        str(inputs / f"scan{k}.npz") for k in range(3)
    ]
    shutil.rmtree(out)
