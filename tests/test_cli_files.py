"""``sd-filters info`` and ``sd-filters convert`` as a user runs them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import file_digest

from dream3d_sd_filters.cli.main import main
from dream3d_sd_filters.io import read_volume, write_volume
from dream3d_sd_filters.io.npz import write_npz
from dream3d_sd_filters.volume import Volume


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_user_error(result: Result, expected: str) -> None:
    """Exit status 2, one line "Error: ..." on stderr, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash


def test_help_texts() -> None:
    for command in ("info", "convert"):
        result = run(command, "--help")
        assert result.exit_code == 0
        assert ".dream3d" in result.output
    assert "--overwrite" in run("convert", "--help").output


def test_info_image_file(fixtures_dir: Path) -> None:
    result = run("info", fixtures_dir / "PngTest_v8.dream3d")
    assert result.exit_code == 0, result.output
    assert "file version 8.0 (DREAM3D-NX)" in result.stdout
    assert "64 x 64 x 1 voxels" in result.stdout
    assert "ImageArray: uint8 (1, 64, 64, 3) range [0, 255]" in result.stdout


def test_info_shows_phases_and_skipped_arrays(tmp_path: Path, small_volume: Volume) -> None:
    path = write_volume(small_volume, tmp_path / "v.dream3d")
    result = run("info", path)
    assert result.exit_code == 0, result.output
    assert "phase 2, 'Alpha-Ti', Hexagonal_High, Primary" in result.stdout
    assert "EulerAngles: float32 (4, 5, 6, 3)" in result.stdout
    assert "not loaded" not in result.stdout
    npz = write_volume(small_volume, tmp_path / "v.npz")
    assert "SmallVolume" in run("info", npz).stdout


@pytest.mark.parametrize(
    ("name", "holds", "message"),
    [
        ("CombinedStlFiles_v8.dream3d", "'TriangleGeometry' (TriangleGeom)", "no image geometry"),
        ("CubicSingleEquiaxed.dream3d", "mu=2.3 sigma=0.4", "use `sd-filters synth --stats"),
        ("RotateSampleRefFrameTest.dream3d", "'Original' (ImageGeom)", "--geometry NAME"),
    ],
)
def test_info_without_a_single_image(
    fixtures_dir: Path, name: str, holds: str, message: str
) -> None:
    result = run("info", fixtures_dir / name)
    assert holds in result.stdout
    assert_user_error(result, message)


def test_info_geometry_option(fixtures_dir: Path) -> None:
    result = run("info", fixtures_dir / "RotateSampleRefFrameTest.dream3d", "-g", "Original")
    assert result.exit_code == 0 and "10 x 20 x 30 voxels" in result.stdout


def test_convert_chain_is_lossless(tmp_path: Path, small_volume: Volume) -> None:
    start = write_volume(small_volume, tmp_path / "a.dream3d")
    steps = [start, tmp_path / "b.vti", tmp_path / "c.npz", tmp_path / "d.dream3d"]
    for source, target in zip(steps, steps[1:]):
        result = run("convert", source, target)
        assert result.exit_code == 0, result.output
        assert f"wrote {target}" in result.stdout
    assert (tmp_path / "d.xdmf").exists()
    final = read_volume(steps[-1])
    for key, array in small_volume.cell_data.items():
        assert final.cell_data[key].tobytes() == array.tobytes()
    assert final.phase_names == small_volume.phase_names


def test_convert_real_file_leaves_it_untouched(tmp_path: Path, fixtures_dir: Path) -> None:
    source = fixtures_dir / "RotateSampleRefFrameTest.dream3d"
    before = file_digest(source)
    result = run("convert", source, tmp_path / "nx.dream3d", "--geometry", "Original", "--compress")
    assert result.exit_code == 0, result.output
    assert file_digest(source) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nx.dream3d", "nx.xdmf"]
    assert read_volume(tmp_path / "nx.dream3d").dims == (10, 20, 30)


def test_convert_to_png_stack(tmp_path: Path, small_volume: Volume) -> None:
    source = write_volume(small_volume, tmp_path / "v.npz")
    result = run("convert", source, tmp_path / "slices", "--kind", "ipf", "--axis", "y")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "slices").glob("ipf_y*.png"))) == small_volume.dims[1]
    back = run("convert", tmp_path / "slices", tmp_path / "back.npz")
    assert back.exit_code == 0, back.output


def _only(directory: Path, *names: str) -> None:
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)


def test_convert_missing_input(tmp_path: Path) -> None:
    result = run("convert", tmp_path / "nope.dream3d", tmp_path / "out.vti")
    assert_user_error(result, "file not found")
    _only(tmp_path)


def test_convert_truncated_input(tmp_path: Path, fixtures_dir: Path) -> None:
    data = (fixtures_dir / "PngTest_v8.dream3d").read_bytes()
    (tmp_path / "cut.dream3d").write_bytes(data[: len(data) // 2])
    result = run("convert", tmp_path / "cut.dream3d", tmp_path / "out.dream3d")
    assert_user_error(result, "is truncated or damaged")
    _only(tmp_path, "cut.dream3d")


def test_convert_not_hdf5(tmp_path: Path) -> None:
    (tmp_path / "fake.dream3d").write_text("plain text")
    result = run("convert", tmp_path / "fake.dream3d", tmp_path / "out.npz")
    assert_user_error(result, "is not an HDF5 file")
    _only(tmp_path, "fake.dream3d")


def test_convert_failing_mid_write_leaves_nothing(tmp_path: Path, small_volume: Volume) -> None:
    # A name HDF5 cannot hold is met after the output file was created and half written.
    bad = small_volume.replace(
        cell_data={**small_volume.cell_data, "a/b": small_volume.cell_data["Phases"]}
    )
    write_npz(bad, tmp_path / "bad.npz")
    result = run("convert", tmp_path / "bad.npz", tmp_path / "out.dream3d")
    assert_user_error(result, "'a/b'")
    _only(tmp_path, "bad.npz")


def test_convert_bad_arrays(tmp_path: Path, small_volume: Volume) -> None:
    euler = small_volume.cell_data["EulerAngles"].copy()
    euler[0, 0, 0, 0] = np.nan
    members = {"meta/dims": np.array(small_volume.dims), "cell/EulerAngles": euler}
    np.savez(tmp_path / "nan.npz", **members)
    result = run("convert", tmp_path / "nan.npz", tmp_path / "out.vti")
    assert_user_error(result, "contains NaN")
    members["cell/EulerAngles"] = np.degrees(small_volume.cell_data["EulerAngles"])
    np.savez(tmp_path / "deg.npz", **members)
    assert_user_error(
        run("convert", tmp_path / "deg.npz", tmp_path / "out.vti"), "looks like degrees"
    )
    _only(tmp_path, "nan.npz", "deg.npz")


def test_convert_overwrite_rules(tmp_path: Path, small_volume: Volume) -> None:
    source = write_volume(small_volume, tmp_path / "in.dream3d")
    source_digest = file_digest(source)
    assert_user_error(run("convert", source, source), "refusing to overwrite the input file")
    assert file_digest(source) == source_digest
    target = write_volume(small_volume.replace(name="Old"), tmp_path / "out.vti")
    target_digest = file_digest(target)
    assert_user_error(run("convert", source, target), "already exists; pass --overwrite")
    assert file_digest(target) == target_digest
    result = run("convert", source, target, "--overwrite")
    assert result.exit_code == 0, result.output
    assert read_volume(target).name == "SmallVolume"
    _only(tmp_path, "in.dream3d", "in.xdmf", "out.vti")


def test_convert_unknown_output_extension(tmp_path: Path, small_volume: Volume) -> None:
    source = write_volume(small_volume, tmp_path / "in.npz")
    assert_user_error(run("convert", source, tmp_path / "out.csv"), "cannot write")
    _only(tmp_path, "in.npz")


def test_convert_into_non_empty_directory(tmp_path: Path, small_volume: Volume) -> None:
    source = write_volume(small_volume, tmp_path / "in.npz")
    (tmp_path / "slices").mkdir()
    (tmp_path / "slices" / "keep.txt").write_text("mine")
    assert_user_error(run("convert", source, tmp_path / "slices"), "is not empty")
    _only(tmp_path / "slices", "keep.txt")


def test_input_copy_is_byte_identical_after_info(tmp_path: Path, fixtures_dir: Path) -> None:
    copies = []
    for path in sorted(fixtures_dir.glob("*.dream3d")):
        copy = tmp_path / path.name
        shutil.copy(path, copy)
        copies.append((copy, file_digest(copy)))
        run("info", copy)
    assert all(file_digest(copy) == digest for copy, digest in copies)
