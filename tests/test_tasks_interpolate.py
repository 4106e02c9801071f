"""dream3d_sd_filters.tasks.interpolate_volume: the gamma x t grid as a Volume."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_small_volume

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.tasks import Cancelled, interpolate_volume, reconstruct_volume
from dream3d_sd_filters.volume import PHASE_TYPE_IDS


def test_grid_layout_geometry_and_ends(untrained_model):
    first = make_small_volume((32, 32, 2), seed=3)
    second = make_small_volume((32, 32, 1), seed=5)
    grid = interpolate_volume(
        first,
        second,
        untrained_model,
        first_index=-1,
        second_index=0,
        gammas=(0.0, 0.5, 1.0),
        timesteps=(0, 200),
        steps=2,
    )
    assert grid.dims == (32, 32, 6)  # 2 noise levels x 3 gammas
    assert (grid.spacing, grid.origin) == (first.spacing, (0.0, 0.0, 0.0))
    assert grid.length_unit == first.length_unit
    cells = grid.cell_data
    assert cells["Phases"].shape == (6, 32, 32, 1) and set(np.unique(cells["Phases"])) <= {1, 2}
    assert cells["EulerAngles"].dtype == np.float32 and cells["IPFColors"].dtype == np.uint8
    # Slice k = t index * 3 + gamma index; at t = 0 the gamma ends are the autoencoder's
    # reconstructions of the chosen slices.
    ends = [
        reconstruct_volume(v, untrained_model).cell_data["Phases"][k]
        for v, k in ((first, -1), (second, 0))
    ]
    for slice_index, expected in zip((0, 2), ends):
        assert np.mean(cells["Phases"][slice_index] == expected) > 0.99
    # Every slice is its own microstructure: no grain id is shared between two slices.
    ids = [set(np.unique(s)) for s in cells["FeatureIds"][..., 0]]
    assert min(min(s) for s in ids) >= 1
    assert all(not ids[i] & ids[j] for i in range(6) for j in range(i))
    assert grid.crystal_structures.tolist() == first.crystal_structures.tolist()
    primary = PHASE_TYPE_IDS["Primary"]
    assert grid.ensemble_data["PhaseTypes"][:, 0].tolist() == [
        PHASE_TYPE_IDS["Unknown"],
        primary,
        primary,
    ]


def test_slices_along_y_keep_the_slice_frame(untrained_model):
    volume = make_small_volume((32, 3, 32), seed=4)  # slices normal to y are 32 x 32
    grid = interpolate_volume(
        volume, volume, untrained_model, 0, 2, axis="y", gammas=(0.0, 1.0), timesteps=(0,)
    )
    x, y, z = volume.spacing
    assert grid.dims == (32, 32, 2)
    assert grid.spacing == (x, z, y)  # (column, row, slice) of a y-slice


def test_bad_index_and_cancellation(untrained_model):
    volume = make_small_volume((32, 32, 2), seed=3)
    with pytest.raises(InputError, match="second_index is 2 but volume 'SmallVolume' has 2 slices"):
        interpolate_volume(volume, volume, untrained_model, 0, 2)
    calls = []

    def stop(done: int, total: int, message: str) -> bool:
        calls.append(message)
        return True

    with pytest.raises(Cancelled):
        interpolate_volume(
            volume, volume, untrained_model, gammas=(0.0, 1.0), timesteps=(500,), progress=stop
        )
    assert calls == ["interpolating"]
