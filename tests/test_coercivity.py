"""Micromagnetic coercivity: input checks, model set-up, and physics validation.

The slow tests share one worker run (``sweeps`` fixture) of five small films:
two single grains checked against Stoner-Wohlfarth, three soft-phase fractions.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.orientations import euler_to_matrix, random_orientations
from dream3d_sd_filters.properties.coercivity import (
    MU_0,
    SM2CO17,
    SMCO5,
    Material,
    SimulationError,
    _job_arrays,
    _prepare,
    coercivity,
    coercivity_batch,
    easy_axes,
)

HEXAGONAL = [999, 0, 0]


def _single_grain(size: int, phase: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((size, size), phase, dtype=np.int32), np.zeros((size, size, 3))


def _voronoi(size: int, grains: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    axis = np.arange(size) + 0.5
    centres = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    labels = cKDTree(rng.random((grains, 2)) * size, boxsize=size).query(centres)[1]
    return labels.reshape(size, size), random_orientations(grains, rng)


def _prism_demag_zz(a: float, b: float, c: float) -> float:
    """Demagnetizing factor along c of an a x b x c prism (Aharoni, JAP 83, 3432 (1998))."""
    a, b, c = a / 2, b / 2, c / 2  # Aharoni's formula takes half edges
    r = np.sqrt(a * a + b * b + c * c)
    ab, bc, ac = np.sqrt(a * a + b * b), np.sqrt(b * b + c * c), np.sqrt(a * a + c * c)
    pi_n = (
        (b * b - c * c) / (2 * b * c) * np.log((r - a) / (r + a))
        + (a * a - c * c) / (2 * a * c) * np.log((r - b) / (r + b))
        + b / (2 * c) * np.log((ab + a) / (ab - a))
        + a / (2 * c) * np.log((ab + b) / (ab - b))
        + c / (2 * a) * np.log((bc - b) / (bc + b))
        + c / (2 * b) * np.log((ac - a) / (ac + a))
        + 2 * np.arctan(a * b / (c * r))
        + (a**3 + b**3 - 2 * c**3) / (3 * a * b * c)
        + (a * a + b * b - 2 * c * c) / (3 * a * b * c) * r
        + c / (a * b) * (ac + bc)
        - (ab**3 + bc**3 + ac**3) / (3 * a * b * c)
    )
    return float(pi_n / np.pi)


def _stoner_wohlfarth_tesla(material: Material, n_zz: float, n_xx: float, tilt_deg: float):
    """Switching field mu0 H_sw of a uniformly magnetized particle, shape anisotropy included.

    A field along z enters ``K_eff = K1 - mu0 Ms^2 (N_zz - N_xx) / 2`` (the shape
    anisotropy is coaxial with the easy axis z; the field is tilted towards x), and
    the astroid gives ``H_sw = H_K,eff / (cos^(2/3) psi + sin^(2/3) psi)^(3/2)``.
    """
    k_eff = material.k1 - 0.5 * MU_0 * material.ms**2 * (n_zz - n_xx)
    psi = np.deg2rad(tilt_deg)
    astroid = (np.cos(psi) ** (2 / 3) + np.sin(psi) ** (2 / 3)) ** -1.5
    return astroid * 2 * k_eff / material.ms


def test_prism_demag_factors_are_consistent():
    assert _prism_demag_zz(1, 1, 1) == pytest.approx(1 / 3, abs=1e-12)
    total = _prism_demag_zz(16, 16, 1) + 2 * _prism_demag_zz(1, 16, 16)
    assert total == pytest.approx(1.0, abs=1e-12)


def test_easy_axis_is_the_c_axis_in_sample_coordinates():
    rng = np.random.default_rng(3)
    euler = random_orientations(20, rng)
    expected = np.einsum("nij,i->nj", euler_to_matrix(euler), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(easy_axes(euler), expected, atol=1e-12)
    # Phi = 90 deg with phi1 = 0 tips the c-axis from sample z onto -y.
    np.testing.assert_allclose(easy_axes(np.array([0.0, np.pi / 2, 0.3])), [0, -1, 0], atol=1e-12)


def test_job_arrays_materials_couplings_and_boundaries():
    phases = np.array([[1, 1, 2], [1, 1, 2]], dtype=np.int32)
    euler = np.zeros((2, 3, 3))
    feature_ids = np.array([[1, 3, 2], [1, 3, 2]])
    job = _prepare(
        phases,
        euler,
        HEXAGONAL,
        feature_ids=feature_ids,
        cell_size_nm=2.0,
        thickness_cells=2,
        exchange_scaling_across_boundaries=0.25,
        periodic=False,
    )
    arrays = _job_arrays(job)
    assert arrays["ms"].shape == (3, 2, 2)  # (nx, ny, nz): x runs along image columns
    assert arrays["ms"][0, 0, 0] == SMCO5.ms and arrays["ms"][2, 1, 1] == SM2CO17.ms
    assert arrays["ku"][2, 0, 0] == SM2CO17.k1
    np.testing.assert_allclose(arrays["axis"][..., 2], 1.0)
    dx2 = (2e-9) ** 2
    cx, cy, cz = arrays["coupling"]
    harmonic = 2 * SMCO5.a * SM2CO17.a / (SMCO5.a + SM2CO17.a)
    assert cx[0, 0, 0] == pytest.approx(0.25 * SMCO5.a / dx2)  # grain 1 | grain 3
    assert cx[1, 0, 0] == pytest.approx(0.25 * harmonic / dx2)  # grain 3 | grain 2, phases differ
    assert np.all(cx[2] == 0) and np.all(cy[:, 1] == 0)  # open edges
    assert cy[0, 0, 0] == pytest.approx(SMCO5.a / dx2)  # same grain along y
    assert cz[0, 0, 0] == pytest.approx(SMCO5.a / dx2) and np.all(cz[:, :, 1] == 0)
    tilt = np.deg2rad(1.0)
    np.testing.assert_allclose(arrays["field_unit"], [np.sin(tilt), 0, np.cos(tilt)])

    periodic = _job_arrays(_prepare(phases, euler, HEXAGONAL, periodic=True))
    assert periodic["coupling"][0][2, 0, 0] == pytest.approx(harmonic / 1e-18)  # wraps around


def test_boundaries_are_segmented_without_feature_ids():
    phases = np.ones((2, 4), dtype=np.int32)
    euler = np.zeros((2, 4, 3))
    euler[:, 2:, 1] = 0.5  # a second grain, c-axes 29 degrees apart
    job = _prepare(phases, euler, HEXAGONAL, exchange_scaling_across_boundaries=0.0)
    cx = _job_arrays(job)["coupling"][0]
    assert cx[0, 0, 0] > 0 and cx[1, 0, 0] == 0 and cx[3, 0, 0] == 0  # periodic wrap too


def test_cache_key_covers_inputs_and_parameters_only():
    phases, euler = _single_grain(4, 1)
    key = _prepare(phases, euler, HEXAGONAL).key
    assert _prepare(phases.astype(np.int64), euler.astype(np.float32), HEXAGONAL).key == key
    assert _prepare(phases, euler + 1e-9, HEXAGONAL).key != key
    assert _prepare(phases, euler, HEXAGONAL, cell_size_nm=2.0).key != key
    assert _prepare(phases, euler, HEXAGONAL, materials={1: SM2CO17}).key != key
    assert _prepare(phases, euler, HEXAGONAL, max_field_tesla=10.0).key != key


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"phases": np.ones((4,), dtype=np.int32)}, "phases must be a 2D (H, W) array"),
        ({"phases": np.ones((4, 4))}, "phases must be integers 1 or 2, got dtype float64"),
        ({"phases": np.full((4, 4), 3)}, "phases must be 1 or 2, found [3]"),
        ({"euler": np.zeros((4, 5, 3))}, "euler must have shape (H, W, 3) = (4, 4, 3)"),
        ({"euler": np.full((4, 4, 3), 90.0)}, "euler look like degrees (max 90 > 2*pi)"),
        ({"crystal_structures": [999]}, "crystal_structures has 1 entries"),
        ({"crystal_structures": [999, 999, 0]}, "crystal structure of phase 1 is unknown"),
        ({"materials": {2: SM2CO17}}, "materials has no Material for phase 1"),
        ({"materials": {1: Material(ms=-1.0, k1=1e6, a=1e-11)}}, "invalid ms = -1.0"),
        ({"cell_size_nm": 0.0}, "cell_size_nm must be a positive number"),
        ({"cell_size_nm": "big"}, "cell_size_nm must be a number, got 'big'"),
        ({"phases": np.ones((1, 4), dtype=np.int32)}, "with H, W >= 2, got shape (1, 4)"),
        ({"thickness_cells": 1.5}, "thickness_cells must be a positive integer, got 1.5"),
        ({"field_tilt_deg": 60}, "field_tilt_deg must be in [0, 45], got 60"),
        ({"thickness_cells": 0}, "thickness_cells must be a positive integer"),
        ({"field_direction": (0, 0, 0)}, "field_direction must not be the zero vector"),
        ({"exchange_scaling_across_boundaries": 1.5}, "must be in [0, 1], got 1.5"),
        ({"feature_ids": np.ones((3, 3), dtype=int)}, "feature_ids must be an integer array"),
        ({"max_field_tesla": -1.0}, "max_field_tesla must be a positive number"),
        ({"device": "gpu"}, "device must be 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
        ({"timeout": 0}, "timeout must be a positive number of seconds"),
    ],
)
def test_bad_input_is_rejected_before_any_simulation(change, message, tmp_path):
    phases, euler = _single_grain(4, 1)
    arguments = {"phases": phases, "euler": euler, "crystal_structures": HEXAGONAL, **change}
    with pytest.raises(InputError) as error:
        coercivity(**arguments, cache_dir=tmp_path)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert not list(tmp_path.iterdir())


def test_batch_names_the_bad_item(tmp_path):
    phases, euler = _single_grain(4, 1)
    with pytest.raises(InputError, match=r"^item 1: phases must be 1 or 2, found \[0\]"):
        coercivity_batch(
            [(phases, euler, HEXAGONAL), (phases * 0, euler, HEXAGONAL)], cache_dir=tmp_path
        )
    with pytest.raises(InputError, match="^item 0: unknown option 'tilt'$"):
        coercivity_batch(
            [{"phases": phases, "euler": euler, "crystal_structures": HEXAGONAL, "tilt": 1}]
        )


def test_timeout_kills_the_worker(tmp_path):
    phases, euler = _single_grain(8, 1)
    start = time.perf_counter()
    with pytest.raises(SimulationError, match="exceeded the timeout of 0.5 s"):
        coercivity(phases, euler, HEXAGONAL, cache_dir=tmp_path, timeout=0.5)
    assert time.perf_counter() - start < 10
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.slow
def test_unavailable_cuda_device_is_an_input_error(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this torch has a CUDA device")
    phases, euler = _single_grain(4, 1)
    with pytest.raises(InputError, match="device cuda:0 requested, but this torch"):
        coercivity(phases, euler, HEXAGONAL, cache_dir=tmp_path, device="cuda")


SOFT_FRACTIONS_SIZE = 24


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """One worker run over the validation films; returns (items, results, cache dir)."""
    import torch  # imported first so that the test sees torch's defaults in this process

    cache = tmp_path_factory.mktemp("coercivity-cache")
    dtype_before = torch.get_default_dtype()
    hard, zeros = _single_grain(16, 1)
    soft, _ = _single_grain(16, 2)
    items = [
        {"phases": hard, "euler": zeros, "crystal_structures": HEXAGONAL, "periodic": True},
        {"phases": soft, "euler": zeros, "crystal_structures": HEXAGONAL, "periodic": False},
    ]
    labels, grain_euler = _voronoi(SOFT_FRACTIONS_SIZE, grains=9, seed=5)
    order = np.random.default_rng(6).permutation(9)  # grains turn soft in this order
    for fraction in (0.25, 0.5, 0.75):
        volumes = np.bincount(labels.ravel(), minlength=9)[order].cumsum() / labels.size
        soft_grains = order[: int(np.searchsorted(volumes, fraction)) + 1]
        phases = np.where(np.isin(labels, soft_grains), 2, 1).astype(np.int32)
        items.append(
            {"phases": phases, "euler": grain_euler[labels], "crystal_structures": HEXAGONAL}
        )
    results = coercivity_batch(items, workers=1, progress=False, cache_dir=cache)
    return items, results, cache, dtype_before


@pytest.mark.slow
def test_aligned_hard_grain_switches_at_stoner_wohlfarth_field(sweeps):
    _, results, _, _ = sweeps
    expected = _stoner_wohlfarth_tesla(SMCO5, n_zz=1.0, n_xx=0.0, tilt_deg=1.0)  # infinite film
    assert 30 < expected < 40
    assert results[0].coercive_field_tesla == pytest.approx(expected, rel=0.10)
    assert results[0].m_along_field[0] > 0.99 and results[0].m_along_field[-1] < -0.9


@pytest.mark.slow
def test_aligned_soft_platelet_switches_at_stoner_wohlfarth_field_with_shape_anisotropy(sweeps):
    _, results, _, _ = sweeps
    n_zz = _prism_demag_zz(16, 16, 1)
    n_xx = _prism_demag_zz(1, 16, 16)
    expected = _stoner_wohlfarth_tesla(SM2CO17, n_zz, n_xx, tilt_deg=1.0)
    without_shape = _stoner_wohlfarth_tesla(SM2CO17, 0.0, 0.0, tilt_deg=1.0)
    assert expected < 0.9 * without_shape  # the shape term is large enough to matter
    assert results[1].coercive_field_tesla == pytest.approx(expected, rel=0.10)


@pytest.mark.slow
def test_coercivity_falls_as_the_soft_fraction_grows(sweeps):
    items, results, _, _ = sweeps
    fractions = [float(np.mean(item["phases"] == 2)) for item in items[2:]]
    coercive = [result.coercive_field_tesla for result in results[2:]]
    assert fractions == sorted(fractions) and fractions[0] < 0.4 and fractions[-1] > 0.6
    assert coercive[0] > coercive[1] > coercive[2] > 0, coercive
    for result in results:
        assert result.fields_tesla[0] == 0 and np.all(np.diff(result.fields_tesla) < 0)
        assert len(result.fields_tesla) == result.field_steps + 1
        assert not result.cached and result.unconverged == 0


@pytest.mark.slow
def test_cache_hit_returns_the_stored_result_without_a_worker(sweeps):
    items, results, cache, _ = sweeps
    start = time.perf_counter()
    again = coercivity(**items[1], cache_dir=cache)
    assert time.perf_counter() - start < 0.5  # a worker needs seconds just to import torch
    assert again.cached
    assert again.coercive_field_tesla == results[1].coercive_field_tesla
    np.testing.assert_array_equal(again.m_along_field, results[1].m_along_field)
    assert again.key == results[1].key and again.runtime_seconds == results[1].runtime_seconds
    assert len(list(cache.glob("*.json"))) == len(items)


@pytest.mark.slow
def test_parent_process_keeps_torch_defaults(sweeps):
    import torch

    assert "magnumnp" not in sys.modules
    assert torch.get_default_dtype() == sweeps[3] == torch.float32
    assert torch.empty(1).device.type == "cpu"
