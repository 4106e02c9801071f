"""`sd-train make-dataset`: shards, split by volume, determinism, resume."""

from __future__ import annotations

import csv
import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from dream3d_sd_filters.cli.train import main as sd_train
from dream3d_sd_filters.data.dataset import load_split, make_dataset
from dream3d_sd_filters.errors import InputError

SMALL = {
    "n_volumes": 6,
    "image_size": 24,
    "axes": "xz",
    "slice_stride": 6,
    "workers": 1,
    "progress": False,
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data") / "ds", seed=3, **SMALL)


def test_layout_and_metadata(dataset):
    settings = json.loads((dataset / "dataset.json").read_text())
    assert settings["encoding"] == "euler" and settings["image_size"] == 24
    shards = sorted((dataset / "shards").glob("volume_*.h5"))
    assert len(shards) == 6
    with h5py.File(shards[0]) as f:
        assert f["images"].shape == (8, 4, 24, 24)  # 2 axes x 24 slices / stride 6
        assert f["images"].dtype == np.float16
        assert f["images"].chunks == (1, 4, 24, 24)
        assert set(f["axis"][()]) == {0, 2}
        params = json.loads(f.attrs["params"])
        assert params["grain_type"] in ("equiaxed", "rolled", "recrystallized")
    rows = list(csv.DictReader(open(dataset / "metadata.csv")))
    assert len(rows) == 48
    assert {r["axis"] for r in rows} == {"x", "z"}


def test_split_is_by_volume_five_to_one(dataset):
    train = load_split(dataset, "train")
    valid = load_split(dataset, "validation")
    assert set(np.unique(valid.volume_ids)) == {5}
    assert not set(np.unique(train.volume_ids)) & set(np.unique(valid.volume_ids))
    assert len(train) == 5 * len(valid)
    assert train.images.min() >= -1 and train.images.max() <= 1
    assert set(np.unique(train.images[:, 0])) <= {-1.0, 1.0}


def test_deterministic_and_resumable(dataset, tmp_path):
    again = make_dataset(tmp_path / "again", seed=3, **{**SMALL, "n_volumes": 3})
    with (
        h5py.File(again / "shards" / "volume_00002.h5") as a,
        h5py.File(dataset / "shards" / "volume_00002.h5") as b,
    ):
        np.testing.assert_array_equal(a["images"][()], b["images"][()])
    first = (again / "shards" / "volume_00000.h5").stat().st_mtime_ns
    make_dataset(tmp_path / "again", seed=3, **SMALL)  # resume: adds volumes 3-5 only
    assert (again / "shards" / "volume_00000.h5").stat().st_mtime_ns == first
    assert len(list((again / "shards").glob("volume_*.h5"))) == 6
    with pytest.raises(InputError, match="different seed"):
        make_dataset(tmp_path / "again", seed=4, **SMALL)


def test_bad_arguments_fail_before_work(tmp_path):
    for kwargs, message in [
        ({"n_volumes": 0}, "n_volumes"),
        ({"image_size": 4}, "image_size"),
        ({"axes": "xw"}, "axes"),
        ({"encoding": "rgb"}, "encoding"),
    ]:
        with pytest.raises(InputError, match=message):
            make_dataset(tmp_path / "bad", **{**SMALL, **kwargs})
    assert not (tmp_path / "bad" / "shards").exists() or not any(
        (tmp_path / "bad" / "shards").iterdir()
    )
    with pytest.raises(InputError, match="not a dataset"):
        load_split(tmp_path, "train")


def test_cli_make_dataset(tmp_path):
    result = CliRunner().invoke(
        sd_train,
        [
            "make-dataset",
            str(tmp_path / "cli"),
            "-n",
            "2",
            "--size",
            "24",
            "--stride",
            "12",
            "-j",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "cli" / "shards").glob("*.h5"))) == 2
    bad = CliRunner().invoke(sd_train, ["make-dataset", str(tmp_path / "x"), "-n", "0"])
    assert bad.exit_code == 2 and "n_volumes must be >= 1" in bad.output
