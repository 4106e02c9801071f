"""The .dream3d reader (v7.0 and v8.0), the v8.0 writer, the XDMF sidecar and read_stats."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import file_digest, make_small_volume

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.io import read_volume, write_volume
from dream3d_sd_filters.io.dream3d import (
    EMPTY_PIPELINE,
    STATS_KIND,
    list_geometries,
    read_dream3d,
    read_dream3d_with_notes,
    read_stats,
    write_dream3d,
)
from dream3d_sd_filters.volume import Volume

ALL_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


# --------------------------------------------------------------------------- real files

#: What each real file must give: ("read", None) or ("refuse", text in the message).
EXPECTED = {
    "PngTest_v8.dream3d": ("read", None),
    "RotateSampleRefFrameTest.dream3d": ("refuse", "holds 4 image geometries ('Original'"),
    "CubicSingleEquiaxed.dream3d": ("refuse", "holds only StatsGenerator statistics"),
    "CubicSingleRolled.dream3d": ("refuse", "holds only StatsGenerator statistics"),
    "CombinedStlFiles_v8.dream3d": (
        "refuse",
        "holds no image geometry: 'TriangleGeometry' (TriangleGeom)",
    ),
}


def test_every_fixture_has_an_expectation(fixtures_dir: Path) -> None:
    assert sorted(p.name for p in fixtures_dir.glob("*.dream3d")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_is_read_or_refused(fixtures_dir: Path, name: str) -> None:
    path = fixtures_dir / name
    before = file_digest(path)
    outcome, text = EXPECTED[name]
    if outcome == "read":
        assert isinstance(read_volume(path), Volume)
    else:
        with pytest.raises(InputError) as error:
            read_volume(path)
        assert text in _one_line(error)
    assert file_digest(path) == before


def test_png_test_v8_early_layout(fixtures_dir: Path) -> None:
    path = fixtures_dir / "PngTest_v8.dream3d"
    volume = read_dream3d(path)
    assert volume.dims == (64, 64, 1)
    assert volume.name == "ImageGeom"
    image = volume.cell_data["ImageArray"]
    assert image.dtype == np.uint8 and image.shape == (1, 64, 64, 3)
    with h5py.File(path, "r") as handle:
        np.testing.assert_array_equal(image, handle["DataStructure/ImageGeom/ImageArray"][()])


def test_legacy_v7_geometry_by_name(fixtures_dir: Path) -> None:
    path = fixtures_dir / "RotateSampleRefFrameTest.dream3d"
    volume = read_volume(path, geometry="Original")
    assert volume.dims == (10, 20, 30)
    data = volume.cell_data["Data"]
    assert data.dtype == np.uint8 and data.shape == (30, 20, 10, 1)
    with h5py.File(path, "r") as handle:
        np.testing.assert_array_equal(data, handle["DataContainers/Original/CellData/Data"][()])
    rotated = read_volume(path, geometry="Rotate_0.0_0.0_1.0_90.0")
    assert rotated.dims == (20, 10, 30)
    assert rotated.length_unit == "Micrometer"


def test_unknown_geometry_name_lists_the_file(fixtures_dir: Path) -> None:
    with pytest.raises(InputError) as error:
        read_volume(fixtures_dir / "RotateSampleRefFrameTest.dream3d", geometry="Nope")
    message = _one_line(error)
    assert "no geometry named 'Nope'" in message and "'Original' (ImageGeom)" in message


def test_triangle_geometry_by_name_is_refused(fixtures_dir: Path) -> None:
    with pytest.raises(InputError) as error:
        read_volume(fixtures_dir / "CombinedStlFiles_v8.dream3d", geometry="TriangleGeometry")
    assert "is a TriangleGeom, not an image geometry" in _one_line(error)


def test_list_geometries(fixtures_dir: Path) -> None:
    assert list_geometries(fixtures_dir / "CombinedStlFiles_v8.dream3d") == [
        ("TriangleGeometry", "TriangleGeom")
    ]
    assert list_geometries(fixtures_dir / "CubicSingleEquiaxed.dream3d") == [
        ("StatsGeneratorDataContainer", STATS_KIND)
    ]
    assert len(list_geometries(fixtures_dir / "RotateSampleRefFrameTest.dream3d")) == 4


@pytest.mark.parametrize(
    ("name", "mu", "sigma"),
    [("CubicSingleEquiaxed.dream3d", 2.3, 0.4), ("CubicSingleRolled.dream3d", 3.0, 0.25)],
)
def test_read_stats(fixtures_dir: Path, name: str, mu: float, sigma: float) -> None:
    (phase,) = read_stats(fixtures_dir / name)
    assert phase.phase == 1
    assert phase.crystal_structure == 1  # Cubic_High
    assert phase.phase_type == 0  # Primary
    assert phase.stats_type == "PrimaryStatsData"
    assert phase.phase_fraction == 1.0
    assert (phase.size_mu, phase.size_sigma) == (mu, sigma)
    assert (phase.min_cutoff, phase.max_cutoff) == (4.0, 3.0)
    assert phase.bin_numbers is not None and phase.bin_numbers.shape == (4,)
    for dist in (phase.b_over_a, phase.c_over_a, phase.omega3):
        assert dist is not None and dist.kind == "Beta Distribution"
        assert dist.parameters["Alpha"].shape == dist.parameters["Beta"].shape == (4,)
    assert phase.neighbors is not None and phase.neighbors.kind == "Log Normal Distribution"
    assert phase.odf is not None and phase.odf.shape == (5832,)


def test_read_stats_axis_odf_weights(fixtures_dir: Path) -> None:
    (equiaxed,) = read_stats(fixtures_dir / "CubicSingleEquiaxed.dream3d")
    (rolled,) = read_stats(fixtures_dir / "CubicSingleRolled.dream3d")
    assert equiaxed.axis_odf_weights is None
    assert rolled.axis_odf_weights is not None
    assert rolled.axis_odf_weights["Weight"].tolist() == [150000.0]
    # Rolled grains are flat: c/a well below 1 (beta mean alpha / (alpha + beta)).
    alpha, beta = rolled.c_over_a.parameters["Alpha"], rolled.c_over_a.parameters["Beta"]
    assert np.all(alpha / (alpha + beta) < 0.2)


def test_read_stats_refuses_file_without_statistics(fixtures_dir: Path) -> None:
    with pytest.raises(InputError) as error:
        read_stats(fixtures_dir / "PngTest_v8.dream3d")
    assert "holds no StatsGenerator statistics" in _one_line(error)


# --------------------------------------------------------------------------- round trip


def _all_dtypes_volume() -> Volume:
    base = make_small_volume()
    rng = np.random.default_rng(1)
    extra = {}
    for dtype in ALL_DTYPES:
        info = np.iinfo(dtype)
        extra[f"A_{dtype}"] = rng.integers(info.min, info.max, (*base.shape, 2), dtype=dtype)
    extra["A_float64"] = rng.normal(size=(*base.shape, 1))
    extra["A_float32_6"] = rng.normal(size=(*base.shape, 6)).astype(np.float32)
    extra["Mask"] = rng.random((*base.shape, 1)) > 0.5
    n_rows = base.feature_data["Phases"].shape[0]
    active = (np.arange(n_rows) % 3 != 0)[:, None]
    features = dict(base.feature_data, Active=active)
    return base.replace(cell_data={**base.cell_data, **extra}, feature_data=features)


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
            assert left[key].dtype == right[key].dtype, key
            assert left[key].shape == right[key].shape, key
            assert left[key].tobytes() == right[key].tobytes(), key


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_round_trip_is_bit_exact(tmp_path: Path, compression: str | None) -> None:
    volume = _all_dtypes_volume()
    path = write_volume(volume, tmp_path / "out.dream3d", compression=compression)
    _assert_same(volume, read_volume(path))
    with h5py.File(path, "r") as handle:
        ds = handle["DataStructure/SmallVolume/Cell Data/EulerAngles"]
        assert ds.compression == compression


@pytest.mark.parametrize("unit", ["Unspecified", "Unknown", "Angstrom", "Yoctometer"])
def test_length_unit_round_trip(tmp_path: Path, small_volume: Volume, unit: str) -> None:
    path = write_dream3d(small_volume.replace(length_unit=unit), tmp_path / "u.dream3d")
    assert read_dream3d(path).length_unit == unit


def test_spacing_is_float32_on_disk(tmp_path: Path, small_volume: Volume) -> None:
    path = write_dream3d(small_volume.replace(spacing=(0.1, 0.2, 0.3)), tmp_path / "s.dream3d")
    assert read_dream3d(path).spacing == tuple(float(np.float32(v)) for v in (0.1, 0.2, 0.3))


def test_phase_names_without_ensemble_arrays(tmp_path: Path, small_volume: Volume) -> None:
    volume = small_volume.replace(ensemble_data={}, phase_names=["Invalid", "A", "B"])
    assert read_dream3d(write_dream3d(volume, tmp_path / "n.dream3d")).phase_names == [
        "Invalid",
        "A",
        "B",
    ]


def test_write_volume_twice_needs_overwrite(tmp_path: Path, small_volume: Volume) -> None:
    path = write_volume(small_volume, tmp_path / "a.dream3d")
    before = file_digest(path)
    with pytest.raises(InputError) as error:
        write_volume(small_volume, path)
    assert "already exists; pass --overwrite" in _one_line(error)
    assert file_digest(path) == before
    write_volume(small_volume.replace(name="Other"), path, overwrite=True)
    assert read_volume(path).name == "Other"


def test_write_volume_refuses_existing_sidecar(tmp_path: Path, small_volume: Volume) -> None:
    (tmp_path / "a.xdmf").write_text("mine")
    with pytest.raises(InputError) as error:
        write_volume(small_volume, tmp_path / "a.dream3d")
    assert "a.xdmf" in _one_line(error)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xdmf"]


def test_write_volume_refuses_input_file(tmp_path: Path, fixtures_dir: Path) -> None:
    copy = tmp_path / "in.dream3d"
    shutil.copy(fixtures_dir / "PngTest_v8.dream3d", copy)
    before = file_digest(copy)
    with pytest.raises(InputError) as error:
        write_volume(read_volume(copy), copy, inputs=[copy])
    assert "refusing to overwrite the input file" in _one_line(error)
    assert file_digest(copy) == before


def test_failed_write_leaves_nothing(tmp_path: Path, small_volume: Volume) -> None:
    # The bad name is met after the HDF5 file was created and half written.
    bad = small_volume.replace(
        cell_data={**small_volume.cell_data, "a/b": small_volume.cell_data["Phases"]}
    )
    with pytest.raises(InputError) as error:
        write_volume(bad, tmp_path / "out.dream3d")
    assert "'a/b'" in _one_line(error)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- layout


def _attr_type(obj: h5py.HLObject, name: str) -> tuple[h5py.h5t.TypeID, tuple[int, ...] | None]:
    aid = h5py.h5a.open(obj.id, name.encode())
    return aid.get_type(), aid.shape


def _assert_fixed_string_attr(obj: h5py.HLObject, name: str, text: str) -> None:
    tid, shape = _attr_type(obj, name)
    assert isinstance(tid, h5py.h5t.TypeStringID), name
    assert not tid.is_variable_str(), name
    assert tid.get_size() == len(text), name
    assert tid.get_strpad() == h5py.h5t.STR_NULLTERM, name
    assert tid.get_cset() == h5py.h5t.CSET_ASCII, name
    assert shape == (), name  # scalar dataspace
    assert obj.attrs[name] == text.encode()


def _assert_numeric_attr(obj: h5py.HLObject, name: str, dtype: str, values: list) -> None:
    tid, shape = _attr_type(obj, name)
    assert tid.dtype == np.dtype(dtype), name
    assert shape == (len(values),), name
    np.testing.assert_array_equal(obj.attrs[name], values)


def test_written_file_matches_v8_layout(tmp_path: Path) -> None:
    volume = _all_dtypes_volume()
    path = write_dream3d(volume, tmp_path / "out.dream3d")
    x, y, z = volume.dims
    with h5py.File(path, "r") as f:
        _assert_fixed_string_attr(f, "FileVersion", "8.0")
        structure = f["DataStructure"]
        assert list(structure) == ["SmallVolume"]
        ids: list[int] = []

        def check_object(name: str, obj: h5py.HLObject) -> None:
            object_type = obj.attrs["ObjectType"].decode()
            _assert_fixed_string_attr(obj, "ObjectType", object_type)
            tid, shape = _attr_type(obj, "ObjectId")
            assert tid.dtype == np.uint64 and shape == (1,)
            _assert_numeric_attr(obj, "Importable", "int32", [1])
            ids.append(int(obj.attrs["ObjectId"][0]))

        structure.visititems(check_object)
        assert len(set(ids)) == len(ids) and min(ids) >= 1
        _assert_numeric_attr(structure, "NextObjectId", "uint64", [max(ids) + 1])

        geom = structure["SmallVolume"]
        assert geom.attrs["ObjectType"] == b"ImageGeom"
        _assert_numeric_attr(geom, "_DIMENSIONS", "uint64", [x, y, z])
        _assert_numeric_attr(geom, "_ORIGIN", "float32", list(volume.origin))
        _assert_numeric_attr(geom, "_SPACING", "float32", list(volume.spacing))
        _assert_numeric_attr(geom, "Units", "uint32", [5])  # Nanometer in simplnx's enum
        assert sorted(geom) == ["Cell Data", "Cell Ensemble Data", "Cell Feature Data"]

        cell = geom["Cell Data"]
        assert cell.attrs["ObjectType"] == b"AttributeMatrix"
        _assert_numeric_attr(geom, "Cell Data ID", "uint64", [int(cell.attrs["ObjectId"][0])])
        _assert_numeric_attr(cell, "TupleDims", "uint64", [z, y, x])
        assert sorted(cell) == sorted(volume.cell_data)
        for name, array in volume.cell_data.items():
            ds = cell[name]
            components = array.shape[3]
            assert ds.shape == (z, y, x, components)
            stored = "bool" if array.dtype == np.bool_ else str(array.dtype)
            assert ds.attrs["ObjectType"] == f"DataArray<{stored}>".encode()
            assert ds.dtype == (np.uint8 if array.dtype == np.bool_ else array.dtype)
            assert ds.dtype.byteorder in ("<", "|", "=")
            _assert_numeric_attr(ds, "TupleDimensions", "uint64", [z, y, x])
            _assert_numeric_attr(ds, "ComponentDimensions", "uint64", [components])
            assert "DataArrayVersion" not in ds.attrs
            assert ds.chunks is None  # contiguous, as simplnx writes

        features = geom["Cell Feature Data"]
        n_rows = volume.feature_data["Phases"].shape[0]
        _assert_numeric_attr(features, "TupleDims", "uint64", [n_rows])
        _assert_numeric_attr(features["AvgEulerAngles"], "ComponentDimensions", "uint64", [3])
        _assert_numeric_attr(features["AvgEulerAngles"], "TupleDimensions", "uint64", [n_rows])
        assert features["Active"].attrs["ObjectType"] == b"DataArray<bool>"

        ensemble = geom["Cell Ensemble Data"]
        _assert_numeric_attr(ensemble, "TupleDims", "uint64", [3])
        np.testing.assert_array_equal(ensemble["CrystalStructures"][()], [[999], [1], [0]])
        names = ensemble["PhaseNames"]
        assert names.attrs["ObjectType"] == b"StringArray"
        assert h5py.check_string_dtype(names.dtype).length is None  # variable length
        _assert_numeric_attr(names, "TupleDimensions", "uint64", [3])
        assert names.asstr()[()].tolist() == volume.phase_names

        pipeline = f["Pipeline"]
        _assert_numeric_attr(pipeline, "Pipeline Version", "int32", [3])
        _assert_fixed_string_attr(pipeline, "Current Pipeline", "Untitled Pipeline")
        ds = pipeline["Pipeline"]
        assert ds.shape == () and not ds.id.get_type().is_variable_str()
        text = json.dumps(EMPTY_PIPELINE)
        assert ds.id.get_type().get_size() == len(text) + 1
        assert json.loads(ds[()].decode()) == EMPTY_PIPELINE


def test_string_attributes_match_a_real_simplnx_file(tmp_path: Path, fixtures_dir: Path) -> None:
    path = write_dream3d(make_small_volume(), tmp_path / "out.dream3d")
    with (
        h5py.File(fixtures_dir / "CombinedStlFiles_v8.dream3d", "r") as real,
        h5py.File(path) as ours,
    ):
        for (r_obj, r_name), (o_obj, o_name) in [
            ((real, "FileVersion"), (ours, "FileVersion")),
            (
                (real["DataStructure/TriangleGeometry"], "ObjectType"),
                (ours["DataStructure/SmallVolume"], "ObjectType"),
            ),
            ((real["Pipeline"], "Current Pipeline"), (ours["Pipeline"], "Current Pipeline")),
        ]:
            r_type, r_shape = _attr_type(r_obj, r_name)
            o_type, o_shape = _attr_type(o_obj, o_name)
            assert (r_type.get_class(), r_type.get_strpad(), r_type.get_cset(), r_shape) == (
                o_type.get_class(),
                o_type.get_strpad(),
                o_type.get_cset(),
                o_shape,
            )
        for key in ("ObjectId", "Importable"):
            r_type, r_shape = _attr_type(real["DataStructure/TriangleGeometry"], key)
            o_type, o_shape = _attr_type(ours["DataStructure/SmallVolume"], key)
            assert (r_type.dtype, r_shape) == (o_type.dtype, o_shape)


def test_pipeline_json_is_stored(tmp_path: Path, small_volume: Volume) -> None:
    pipeline = json.dumps({**EMPTY_PIPELINE, "name": "made by test"})
    path = write_dream3d(small_volume, tmp_path / "p.dream3d", pipeline_json=pipeline)
    with h5py.File(path, "r") as f:
        assert f["Pipeline/Pipeline"][()].decode() == pipeline
        assert f["Pipeline"].attrs["Current Pipeline"] == b"made by test"
    with pytest.raises(InputError) as error:
        write_dream3d(small_volume, tmp_path / "q.dream3d", pipeline_json="{not json")
    assert "not valid JSON" in _one_line(error)
    assert not (tmp_path / "q.dream3d").exists()


# --------------------------------------------------------------------------- xdmf


def test_xdmf_sidecar_points_at_the_datasets(tmp_path: Path) -> None:
    volume = _all_dtypes_volume()
    path = write_dream3d(volume, tmp_path / "my out.dream3d")
    sidecar = tmp_path / "my out.xdmf"
    root = ET.parse(sidecar).getroot()
    x, y, z = volume.dims
    grid = root.find("Domain/Grid")
    assert grid.get("Name") == "SmallVolume"
    topology = grid.find("Topology")
    assert topology.get("TopologyType") == "3DCoRectMesh"
    assert topology.get("Dimensions").split() == [str(z + 1), str(y + 1), str(x + 1)]
    origin, spacing = (item.text.split() for item in grid.findall("Geometry/DataItem"))
    assert [float(v) for v in origin] == list(volume.origin[::-1])
    assert [float(v) for v in spacing] == list(volume.spacing[::-1])
    seen = set()
    with h5py.File(path, "r") as f:
        for item in grid.iter("DataItem"):
            if item.get("Format") != "HDF":
                continue
            file_name, _, h5_path = item.text.strip().partition(":")
            assert file_name == "my out.dream3d"  # bare name: the pair can move together
            ds = f[h5_path]
            assert [int(v) for v in item.get("Dimensions").split()] == list(ds.shape)
            assert int(item.get("Precision")) == ds.dtype.itemsize
            number_type = {"i": "Int", "u": "UInt", "f": "Float"}[ds.dtype.kind]
            if ds.dtype.itemsize == 1:
                number_type = {"Int": "Char", "UInt": "UChar"}[number_type]
            assert item.get("NumberType") == number_type
            seen.add(h5_path.rsplit("/", 1)[-1])
    assert seen == set(volume.cell_data)
    names = {a.get("Name"): a.get("AttributeType") for a in grid.findall("Attribute")}
    assert names["EulerAngles"] == "Vector" and names["FeatureIds"] == "Scalar"
    assert names["A_float32_6 (Component 5)"] == "Scalar"


def test_no_xdmf_when_disabled(tmp_path: Path, small_volume: Volume) -> None:
    write_dream3d(small_volume, tmp_path / "a.dream3d", xdmf=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dream3d"]


# --------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        read_volume(tmp_path / "nothing.dream3d")
    assert _one_line(error) == f"file not found: {tmp_path / 'nothing.dream3d'}"


def test_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "text.dream3d"
    path.write_text("hello, not HDF5\n")
    with pytest.raises(InputError) as error:
        read_volume(path)
    assert "is not an HDF5 file" in _one_line(error)


@pytest.mark.parametrize("name", ["PngTest_v8.dream3d", "RotateSampleRefFrameTest.dream3d"])
def test_truncated_file(tmp_path: Path, fixtures_dir: Path, name: str) -> None:
    path = tmp_path / name
    data = (fixtures_dir / name).read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(InputError) as error:
        read_volume(path, geometry="Original" if "Rotate" in name else None)
    assert "is truncated or damaged" in _one_line(error)


def test_hdf5_without_dream3d_structure(tmp_path: Path) -> None:
    path = tmp_path / "plain.dream3d"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(InputError) as error:
        read_volume(path)
    assert "not a .dream3d file: no FileVersion attribute (top level holds 'x')" in _one_line(error)


def _edit(path: Path, edit) -> Path:  # noqa: ANN001 - a callable taking the open file
    with h5py.File(path, "r+") as f:
        edit(f["DataStructure/SmallVolume/Cell Data"])
    return path


def _replace(cell: h5py.Group, name: str, data: np.ndarray, object_type: str) -> None:
    attrs = dict(cell[name].attrs)
    del cell[name]
    cell[name] = data
    for key, value in attrs.items():
        if key != "ObjectType":
            cell[name].attrs[key] = value
    from dream3d_sd_filters.io.dream3d import write_str_attr

    write_str_attr(cell[name], "ObjectType", object_type)


def test_unsupported_file_version(tmp_path: Path, small_volume: Volume) -> None:
    path = write_dream3d(small_volume, tmp_path / "v.dream3d")
    with h5py.File(path, "r+") as f:
        f.attrs["FileVersion"] = np.bytes_("9.0")
    with pytest.raises(InputError) as error:
        read_volume(path)
    assert "FileVersion '9.0'" in _one_line(error)


def test_dims_mismatch_v8(tmp_path: Path, small_volume: Volume) -> None:
    z, y, x = small_volume.shape
    path = write_dream3d(small_volume, tmp_path / "d.dream3d")
    _edit(
        path,
        lambda c: _replace(c, "Phases", np.ones((z, y, x + 1, 1), np.int32), "DataArray<int32>"),
    )
    with pytest.raises(InputError) as error:
        read_volume(path)
    message = _one_line(error)
    assert "dims mismatch" in message and "'/DataStructure/SmallVolume/Cell Data/Phases'" in message


def test_dims_mismatch_v7(tmp_path: Path) -> None:
    path = tmp_path / "legacy.dream3d"
    with h5py.File(path, "w") as f:
        f.attrs["FileVersion"] = np.bytes_("7.0")
        dc = f.create_group("DataContainers/DC")
        geom = dc.create_group("_SIMPL_GEOMETRY")
        geom.attrs["GeometryType"] = np.array([0], np.uint32)
        geom["DIMENSIONS"] = np.array([4, 3, 2], np.int64)
        geom["ORIGIN"] = np.zeros(3, np.float32)
        geom["SPACING"] = np.ones(3, np.float32)
        cell = dc.create_group("CellData")
        cell.attrs["AttributeMatrixType"] = np.array([3], np.uint32)
        cell.attrs["TupleDimensions"] = np.array([4, 3, 2], np.uint64)
        cell["Phases"] = np.ones((2, 3, 5, 1), np.int32)
        cell["Phases"].attrs["ObjectType"] = np.bytes_("DataArray<int32_t>")
    with pytest.raises(InputError) as error:
        read_volume(path)
    assert "dims mismatch" in _one_line(error)
    with h5py.File(path, "r+") as f:
        cell = f["DataContainers/DC/CellData"]
        del cell["Phases"]
        cell["Phases"] = np.arange(24, dtype=np.int32).reshape(2, 3, 4, 1) % 2 + 1
        cell["Phases"].attrs["ObjectType"] = np.bytes_("DataArray<int32_t>")
        cell["NeighborList"] = np.arange(5, dtype=np.int32)
        cell["NeighborList"].attrs["ObjectType"] = np.bytes_("NeighborList<int32_t>")
    volume, notes = read_dream3d_with_notes(path)
    assert volume.dims == (4, 3, 2) and volume.cell_data["Phases"].max() == 2
    assert notes == ["/DataContainers/DC/CellData/NeighborList: NeighborList<int32_t>"]


@pytest.mark.parametrize(
    ("array", "data", "object_type", "expected"),
    [
        (
            "Phases",
            np.full((4, 5, 6, 1), 1.0, np.float32),
            "DataArray<float32>",
            "expects an integer",
        ),
        ("EulerAngles", np.full((4, 5, 6, 3), np.nan, np.float32), "DataArray<float32>", "NaN"),
        (
            "EulerAngles",
            np.full((4, 5, 6, 3), 90.0, np.float32),
            "DataArray<float32>",
            "looks like degrees",
        ),
        ("Phases", np.ones((4, 5, 6, 1), np.int32), "DataArray<complex>", None),
    ],
)
def test_bad_arrays_in_file(
    tmp_path: Path,
    small_volume: Volume,
    array: str,
    data: np.ndarray,
    object_type: str,
    expected: str | None,
) -> None:
    path = write_dream3d(small_volume, tmp_path / "bad.dream3d")
    _edit(path, lambda c: _replace(c, array, data, object_type))
    if expected is None:  # an unknown element type is skipped and reported, not guessed
        volume, notes = read_dream3d_with_notes(path)
        assert "Phases" not in volume.cell_data
        assert notes == ["/DataStructure/SmallVolume/Cell Data/Phases: DataArray<complex>"]
        return
    with pytest.raises(InputError) as error:
        read_volume(path)
    message = _one_line(error)
    assert message.startswith(str(path)) and expected in message


def test_complex_array_refused_by_volume(small_volume: Volume) -> None:
    with pytest.raises(InputError) as error:
        small_volume.replace(cell_data={"Z": np.zeros((*small_volume.shape, 1), np.complex64)})
    assert "complex64" in _one_line(error)


def test_several_v8_image_geometries(tmp_path: Path, small_volume: Volume) -> None:
    path = write_dream3d(small_volume, tmp_path / "two.dream3d")
    with h5py.File(path, "r+") as f:
        f.copy(f["DataStructure/SmallVolume"], f["DataStructure"], name="Copy")
    with pytest.raises(InputError) as error:
        read_volume(path)
    assert "holds 2 image geometries ('Copy', 'SmallVolume')" in _one_line(error)
    assert read_volume(path, geometry="Copy").name == "Copy"
