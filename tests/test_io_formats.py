"""VTK image data, .npz archives, PNG/TIFF slices and the read_volume/write_volume dispatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_small_volume

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.io import read_volume, write_volume
from dream3d_sd_filters.io.images import (
    phase_gray_levels,
    read_png_stack,
    slice_to_rgb,
    write_png_stack,
)
from dream3d_sd_filters.io.npz import read_npz, write_npz
from dream3d_sd_filters.io.vtk import read_vti, write_vti
from dream3d_sd_filters.volume import Volume

pv = pytest.importorskip("pyvista")
Image = pytest.importorskip("PIL.Image")


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


def _rich_volume() -> Volume:
    base = make_small_volume().replace(spacing=(0.1, 1 / 3, 2 / 7), origin=(1 / 3, -0.7, 1e-9))
    rng = np.random.default_rng(3)
    extra = {
        "Mask": rng.random((*base.shape, 1)) > 0.5,
        # Values near 2**64 make VTK write a NaN norm that its own reader warns about.
        "Big": rng.integers(2**40, 2**41, (*base.shape, 2), dtype=np.uint64),
        "Small": rng.integers(-128, 127, (*base.shape, 1), dtype=np.int8),
        "Real": rng.normal(size=(*base.shape, 6)),
    }
    n_rows = base.feature_data["Phases"].shape[0]
    features = dict(base.feature_data, Active=(np.arange(n_rows) % 2 == 1)[:, None])
    return base.replace(
        cell_data={**base.cell_data, **extra},
        feature_data=features,
        phase_names=["Invalid Phase", "Ferrite", "Ti-\u03b1"],
    )


def _assert_same(a: Volume, b: Volume) -> None:
    assert (a.dims, a.spacing, a.origin, a.length_unit, a.name, a.phase_names) == (
        b.dims,
        b.spacing,
        b.origin,
        b.length_unit,
        b.name,
        b.phase_names,
    )
    for attr in ("cell_data", "feature_data", "ensemble_data"):
        left, right = getattr(a, attr), getattr(b, attr)
        assert sorted(left) == sorted(right), attr
        for key in left:
            assert (left[key].dtype, left[key].shape) == (right[key].dtype, right[key].shape), key
            assert left[key].tobytes() == right[key].tobytes(), key


# --------------------------------------------------------------------------- vti


def test_vti_round_trip(tmp_path: Path) -> None:
    volume = _rich_volume()
    _assert_same(volume, read_vti(write_vti(volume, tmp_path / "v.vti")))


def test_vti_holds_cell_data_on_a_point_grid(tmp_path: Path, small_volume: Volume) -> None:
    grid = pv.read(write_vti(small_volume, tmp_path / "v.vti"))
    x, y, z = small_volume.dims
    assert tuple(grid.dimensions) == (x + 1, y + 1, z + 1)
    assert grid.n_cells == x * y * z
    assert set(grid.cell_data.keys()) == set(small_volume.cell_data)
    assert not grid.point_data.keys()
    assert tuple(grid.spacing) == small_volume.spacing
    assert tuple(grid.origin) == small_volume.origin
    # VTK orders cells X fastest: cell (i, j, k) is FeatureIds[k, j, i].
    ids = np.asarray(grid.cell_data["FeatureIds"])
    i, j, k = 4, 3, 2
    assert ids[i + x * (j + y * k)] == small_volume.cell_data["FeatureIds"][k, j, i, 0]
    assert np.asarray(grid.cell_data["EulerAngles"]).shape == (x * y * z, 3)


def test_vti_written_by_pyvista_alone(tmp_path: Path) -> None:
    grid = pv.ImageData(dimensions=(4, 3, 2), spacing=(2.0, 2.0, 2.0))
    grid.cell_data["Phases"] = np.array([1, 2, 1, 2, 1, 2], dtype=np.int32)
    grid.point_data["ignored"] = np.zeros(grid.n_points)
    grid.save(tmp_path / "plain.vti")
    volume = read_volume(tmp_path / "plain.vti")
    assert volume.dims == (3, 2, 1) and volume.name == "plain"
    assert volume.cell_data["Phases"][0, :, :, 0].tolist() == [[1, 2, 1], [2, 1, 2]]


def test_vti_without_cell_data(tmp_path: Path) -> None:
    grid = pv.ImageData(dimensions=(4, 3, 2))
    grid.point_data["values"] = np.zeros(grid.n_points)
    grid.save(tmp_path / "points.vti")
    with pytest.raises(InputError) as error:
        read_vti(tmp_path / "points.vti")
    assert "has no cell arrays (point arrays: values)" in _one_line(error)


def test_vti_not_vtk(tmp_path: Path) -> None:
    path = tmp_path / "junk.vti"
    path.write_text("this is not XML")
    with pytest.raises(InputError) as error:
        read_vti(path)
    assert f"{path} is not a readable VTK image file" in _one_line(error)


# --------------------------------------------------------------------------- npz


@pytest.mark.parametrize("compress", [False, True])
def test_npz_round_trip(tmp_path: Path, compress: bool) -> None:
    volume = _rich_volume()
    path = write_npz(volume, tmp_path / "v.npz", compress=compress)
    _assert_same(volume, read_npz(path))
    with np.load(path, allow_pickle=False) as archive:
        assert "meta/dims" in archive.files


def test_npz_without_names_or_tables(tmp_path: Path) -> None:
    volume = Volume(dims=(2, 3, 4), cell_data={"X": np.zeros((4, 3, 2, 1), np.float32)})
    _assert_same(volume, read_npz(write_npz(volume, tmp_path / "p.npz")))


def test_npz_bad_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip archive")
    with pytest.raises(InputError) as error:
        read_npz(junk)
    assert "is not a readable .npz archive" in _one_line(error)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(InputError) as error:
        read_npz(foreign)
    assert "was not written by sd-filters" in _one_line(error)


# --------------------------------------------------------------------------- images


def test_phase_gray_levels_are_evenly_spaced() -> None:
    assert phase_gray_levels(np.array([0, 1, 2]), 2).tolist() == [0, 128, 255]
    assert phase_gray_levels(np.array([0, 1, 2, 3, 4]), 4).tolist() == [0, 64, 128, 191, 255]
    assert phase_gray_levels(np.array([1]), 1).tolist() == [255]


def test_slice_to_rgb_shapes(small_volume: Volume) -> None:
    x, y, z = small_volume.dims
    assert slice_to_rgb(small_volume, "z", 0).shape == (y, x, 3)
    assert slice_to_rgb(small_volume, "y", 0).shape == (z, x, 3)
    assert slice_to_rgb(small_volume, "x", 0).shape == (z, y, 3)
    ipf = slice_to_rgb(small_volume, "z", 1, array="IPFColors")
    np.testing.assert_array_equal(ipf, small_volume.cell_data["IPFColors"][1])
    gray = slice_to_rgb(small_volume, "x", 2, array="Phases")
    expected = phase_gray_levels(small_volume.cell_data["Phases"][:, :, 2, 0], 2)
    np.testing.assert_array_equal(gray, np.stack([expected] * 3, axis=-1))
    with pytest.raises(InputError) as error:
        slice_to_rgb(small_volume, "z", z)
    assert f"outside 0..{z - 1}" in _one_line(error)


def test_slice_ipf_computed_from_euler_angles(small_volume: Volume) -> None:
    from dream3d_sd_filters.orientations import ipf_colors

    without = small_volume.replace(
        cell_data={k: v for k, v in small_volume.cell_data.items() if k != "IPFColors"}
    )
    rgb = slice_to_rgb(without, "z", 0, array="IPFColors")
    cell = small_volume.cell_data
    expected = ipf_colors(
        cell["EulerAngles"][0], cell["Phases"][0], small_volume.crystal_structures
    )
    np.testing.assert_array_equal(rgb, expected)
    no_ensemble = without.replace(ensemble_data={}, phase_names=None)
    with pytest.raises(InputError) as error:
        slice_to_rgb(no_ensemble, "z", 0, array="IPFColors")
    assert "no IPFColors and no CrystalStructures" in _one_line(error)


def test_png_stack_phase_and_ipf(tmp_path: Path, small_volume: Volume) -> None:
    x, y, z = small_volume.dims
    files = write_png_stack(small_volume, tmp_path / "phase", axis="z", kind="phase")
    assert [f.name for f in files] == [f"phase_z{i:03d}.png" for i in range(z)]
    with Image.open(files[1]) as image:
        assert image.mode == "L" and image.size == (x, y)
        np.testing.assert_array_equal(
            np.asarray(image), phase_gray_levels(small_volume.cell_data["Phases"][1, ..., 0], 2)
        )
    files = write_png_stack(small_volume, tmp_path / "ipf", axis="x", kind="ipf")
    assert len(files) == x
    with Image.open(files[3]) as image:
        assert image.mode == "RGB" and image.size == (y, z)
        np.testing.assert_array_equal(
            np.asarray(image), small_volume.cell_data["IPFColors"][:, :, 3]
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ipf", "phase"]  # no staging left


def test_png_stack_round_trip_and_tiff(tmp_path: Path, small_volume: Volume) -> None:
    write_png_stack(small_volume, tmp_path / "png", kind="ipf")
    stacked = read_volume(tmp_path / "png")
    assert stacked.dims == small_volume.dims
    np.testing.assert_array_equal(
        stacked.cell_data["ImageData"], small_volume.cell_data["IPFColors"]
    )
    files = write_png_stack(small_volume, tmp_path / "tif", kind="phase", image_format="tiff")
    assert files[0].suffix == ".tif"
    gray = read_png_stack(str(tmp_path / "tif" / "*.tif")).cell_data["ImageData"]
    np.testing.assert_array_equal(gray, phase_gray_levels(small_volume.cell_data["Phases"], 2))


def test_png_stack_refuses_non_empty_directory(tmp_path: Path, small_volume: Volume) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InputError) as error:
        write_png_stack(small_volume, tmp_path)
    assert "is not empty; pass --overwrite" in _one_line(error)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    write_png_stack(small_volume, tmp_path, overwrite=True)
    assert len(list(tmp_path.glob("*.png"))) == small_volume.dims[2]


def test_png_stack_mismatched_images(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(InputError) as error:
        read_png_stack(tmp_path)
    assert "all slices must match" in _one_line(error)


# --------------------------------------------------------------------------- dispatch


def test_read_volume_dispatch_errors(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("1,2")
    cases = {
        tmp_path / "x.csv": "cannot read",
        tmp_path / "missing.vti": "file not found",
        tmp_path / "missing": "file not found",
    }
    for path, expected in cases.items():
        with pytest.raises(InputError) as error:
            read_volume(path)
        assert expected in _one_line(error)
    with pytest.raises(InputError) as error:
        read_volume(tmp_path / "x.npz", geometry="G")
    assert "--geometry applies to .dream3d files only" in _one_line(error)


@pytest.mark.parametrize("suffix", [".dream3d", ".vti", ".npz"])
def test_write_volume_every_format(tmp_path: Path, small_volume: Volume, suffix: str) -> None:
    path = write_volume(small_volume, tmp_path / f"v{suffix}")
    _assert_same(small_volume, read_volume(path))  # its spacing/origin are float32-exact
    with pytest.raises(InputError) as error:
        write_volume(small_volume, path)
    assert "already exists" in _one_line(error)
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp" in p.name]
    assert leftovers == []


def test_write_volume_unknown_extension(tmp_path: Path, small_volume: Volume) -> None:
    with pytest.raises(InputError) as error:
        write_volume(small_volume, tmp_path / "v.h5")
    assert "cannot write" in _one_line(error) and ".dream3d, .vti, .npz" in _one_line(error)
    with pytest.raises(InputError) as error:
        write_volume(small_volume, tmp_path / "nodir" / "v.npz")
    assert "does not exist" in _one_line(error)
    assert list(tmp_path.iterdir()) == []
