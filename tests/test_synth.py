"""The synthetic polycrystal builder: parameters, arrays, statistics, periodicity."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.io.stats import Distribution, PhaseStatistics
from dream3d_sd_filters.orientations import (
    ipf_colors,
    misorientation_angle,
    reduce_to_fundamental_zone,
)
from dream3d_sd_filters.synth import (
    SynthParams,
    assign_phase2,
    build_microstructure,
    params_from_stats,
    size_plan,
)
from dream3d_sd_filters.synth.measure import (
    aspect_ratios,
    equivalent_diameters,
    face_agreement,
    fit_lognormal,
    pieces_per_feature,
)
from dream3d_sd_filters.synth.tessellation import (
    grid_centres,
    label_grid,
    power_tree,
    query_labels,
)
from dream3d_sd_filters.synth.texture import ROLLING_COMPONENTS_DEG
from dream3d_sd_filters.volume import LAUE_IDS

CUBIC = LAUE_IDS["Cubic_High"]
HEXAGONAL = LAUE_IDS["Hexagonal_High"]


# --- parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"phase2_fraction": 0.0}, "phase2_fraction must be in (0, 1)"),
        ({"phase2_fraction": 1.0}, "phase2_fraction must be in (0, 1)"),
        ({"phase2_fraction": -0.2}, "phase2_fraction must be in (0, 1)"),
        ({"phase2_fraction": float("nan")}, "phase2_fraction must be finite"),
        ({"sigma": 0.0}, "sigma must be > 0"),
        ({"sigma": -0.3}, "sigma must be > 0"),
        ({"grain_type": "columnar"}, "unknown grain type 'columnar'"),
        ({"b_over_a": 0.0}, "b_over_a must be in (0, 1]"),
        ({"b_over_a": 1.5}, "b_over_a must be in (0, 1]"),
        ({"c_over_a": -1.0}, "c_over_a must be in (0, 1]"),
        ({"b_over_a": 0.4, "c_over_a": 0.6}, "c_over_a (0.6) must not exceed b_over_a"),
        ({"texture": "fibre"}, "unknown texture 'fibre'"),
        ({"crystal_structures": ("cubic", "tetragonal")}, "unknown crystal symmetry"),
        ({"crystal_structures": (1, 8)}, "Tetragonal_High (Laue id 8) is not supported"),
        ({"crystal_structures": (1,)}, "one symmetry per phase (2)"),
        ({"spacing": 0.0}, "spacing must be > 0"),
        ({"recrystallized_fraction": 0.0}, "recrystallized_fraction must be in (0, 1]"),
        ({"rex_size_ratio": 2.0}, "rex_size_ratio must be in (0, 1]"),
        ({"min_cutoff": 0.0}, "min_cutoff must be > 0 sigmas"),
        ({"mu": "big"}, "mu must be a number"),
        ({"periodic": "yes"}, "periodic must be True or False"),
    ],
)
def test_bad_parameters_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(InputError) as error:
        SynthParams(**changes)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_parameters_resolve_names_and_defaults() -> None:
    params = SynthParams(grain_type="Rolled", crystal_structures=("cubic", "Hexagonal_High"))
    assert params.grain_type == "rolled"
    assert params.crystal_structures == (CUBIC, HEXAGONAL)
    assert (params.b_over_a, params.c_over_a) == (0.5, 0.25)
    assert (SynthParams().b_over_a, SynthParams().c_over_a) == (1.0, 1.0)
    factors = params.axis_factors
    assert math.isclose(float(np.prod(factors)), 1.0)
    assert np.allclose(factors / factors[0], [1.0, 0.5, 0.25])


def test_parameters_round_trip_through_json() -> None:
    params = SynthParams(
        grain_type="recrystallized",
        crystal_structures=("hexagonal", "cubic"),
        phase2_fraction=0.35,
        mu=2.1,
        sigma=0.33,
        texture="rolled",
        periodic=False,
        spacing=0.5,
    )
    text = json.dumps(params.to_dict())
    assert SynthParams.from_dict(json.loads(text)) == params
    with pytest.raises(InputError, match="unknown synthesis parameter.*colour"):
        SynthParams.from_dict({**params.to_dict(), "colour": 1})


# --- errors before any work ---------------------------------------------------------


def test_bad_dims_fail_before_work() -> None:
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"at least 8 voxels.*\(4, 100000, 100000\)"):
        build_microstructure(SynthParams(), dims=(4, 100_000, 100_000))
    with pytest.raises(InputError, match="three integers"):
        build_microstructure(SynthParams(), dims=(64, 64))
    assert time.perf_counter() - started < 1.0


def test_grains_too_large_for_the_box() -> None:
    with pytest.raises(InputError) as error:
        build_microstructure(SynthParams(mu=4.0, sigma=0.3), dims=(32, 32, 32))
    text = str(error.value)
    assert "grains too large for the box" in text and "57.1 voxels" in text
    assert "16 x 16 x 16" in text
    # Rolled grains are judged by their longest axis along x.
    params = SynthParams(grain_type="rolled", mu=2.0, sigma=0.2, b_over_a=0.5, c_over_a=0.25)
    size_plan(params, (64, 64, 64))
    with pytest.raises(InputError, match="grains too large"):
        size_plan(params, (24, 64, 64))


def test_grains_too_small_fail_before_allocating() -> None:
    started = time.perf_counter()
    with pytest.raises(InputError, match="grains too small for the voxel size"):
        build_microstructure(SynthParams(mu=0.1, sigma=0.2), dims=(4096, 4096, 4096))
    with pytest.raises(InputError, match="recrystallised grains too small"):
        size_plan(SynthParams(grain_type="recrystallized", mu=2.0, sigma=0.2), (64, 64, 64))
    with pytest.raises(InputError, match="must be a SynthParams"):
        build_microstructure({"mu": 2.0}, dims=(16, 16, 16))  # type: ignore[arg-type]
    assert time.perf_counter() - started < 1.0


# --- arrays of a small build ------------------------------------------------------


@pytest.fixture(scope="module")
def two_phase_volume():
    params = SynthParams(
        crystal_structures=("cubic", "hexagonal"), phase2_fraction=0.4, mu=1.8, sigma=0.25
    )
    return params, build_microstructure(params, dims=(40, 32, 24), seed=3)


def test_arrays_have_dream3d_types_and_shapes(two_phase_volume) -> None:
    params, volume = two_phase_volume
    assert volume.dims == (40, 32, 24)
    assert volume.spacing == (1.0, 1.0, 1.0) and volume.length_unit == "Micrometer"
    cells = volume.cell_data
    assert cells["FeatureIds"].dtype == np.int32 and cells["FeatureIds"].shape == (24, 32, 40, 1)
    assert cells["Phases"].dtype == np.int32
    assert cells["EulerAngles"].dtype == np.float32 and cells["EulerAngles"].shape[-1] == 3
    assert cells["IPFColors"].dtype == np.uint8
    ids = cells["FeatureIds"][..., 0]
    n = int(ids.max())
    assert ids.min() == 1 and np.array_equal(np.unique(ids), np.arange(1, n + 1))
    assert set(np.unique(cells["Phases"])) == {1, 2}
    ensemble = volume.ensemble_data
    assert ensemble["CrystalStructures"].dtype == np.uint32
    assert ensemble["CrystalStructures"][:, 0].tolist() == [999, CUBIC, HEXAGONAL]
    assert ensemble["PhaseTypes"][:, 0].tolist() == [999, 0, 0]
    assert volume.phase_names is not None and len(volume.phase_names) == 3
    features = volume.feature_data
    assert features["Phases"].shape == (n + 1, 1)
    assert features["NumElements"][1:, 0].sum() == ids.size
    assert np.array_equal(features["Phases"][ids, 0], cells["Phases"][..., 0])
    esd = np.cbrt(6 * features["NumElements"][1:, 0] / math.pi)
    assert np.allclose(features["EquivalentDiameters"][1:, 0], esd, rtol=1e-5)


def test_orientations_are_per_grain_and_in_the_fundamental_zone(two_phase_volume) -> None:
    params, volume = two_phase_volume
    ids = volume.cell_data["FeatureIds"][..., 0]
    euler = volume.cell_data["EulerAngles"]
    grain_euler = volume.feature_data["AvgEulerAngles"]
    assert np.array_equal(euler, grain_euler[ids])
    grain_phase = volume.feature_data["Phases"][:, 0]
    for phase, laue in ((1, CUBIC), (2, HEXAGONAL)):
        rows = grain_euler[grain_phase == phase].astype(np.float64)
        assert len(rows) > 3
        reduced = reduce_to_fundamental_zone(rows, laue)
        assert np.max(misorientation_angle(rows, reduced, 4)) < 1e-4  # 4: Triclinic
    structures = volume.ensemble_data["CrystalStructures"][:, 0]
    expected = ipf_colors(grain_euler[1:], grain_phase[1:], structures)
    assert np.array_equal(volume.cell_data["IPFColors"], expected[ids - 1])


def test_build_is_deterministic_for_a_seed() -> None:
    params = SynthParams(grain_type="rolled", mu=1.7, sigma=0.2, texture="rolled")
    first = build_microstructure(params, dims=(32, 24, 16), seed=11)
    again = build_microstructure(params, dims=(32, 24, 16), seed=np.random.default_rng(11))
    other = build_microstructure(params, dims=(32, 24, 16), seed=12)
    for name in ("FeatureIds", "Phases", "EulerAngles", "IPFColors"):
        assert np.array_equal(first.cell_data[name], again.cell_data[name])
    assert not np.array_equal(first.cell_data["FeatureIds"], other.cell_data["FeatureIds"])


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9])
def test_phase_fraction_hits_the_target(fraction: float) -> None:
    params = SynthParams(phase2_fraction=fraction, mu=1.7, sigma=0.3)
    volume = build_microstructure(params, dims=(40, 40, 40), seed=1)
    measured = float(np.mean(volume.cell_data["Phases"] == 2))
    assert abs(measured - fraction) < 0.02


def test_assign_phase2_is_greedy_on_volumes() -> None:
    rng = np.random.default_rng(0)
    volumes = rng.lognormal(6.0, 0.5, size=300)
    chosen = assign_phase2(volumes, 0.3, rng)
    assert abs(volumes[chosen].sum() / volumes.sum() - 0.3) < 0.002
    # Two grains: each phase keeps one even for an extreme target.
    assert assign_phase2(np.array([10.0, 10.0]), 0.01, rng).tolist().count(True) == 1


def test_rolled_texture_clusters_about_its_component() -> None:
    base = {"crystal_structures": ("cubic", "hexagonal"), "mu": 1.6, "sigma": 0.2}
    textured = build_microstructure(SynthParams(texture="rolled", **base), (32, 32, 32), seed=2)
    random = build_microstructure(SynthParams(texture="random", **base), (32, 32, 32), seed=2)
    for volume, limit in ((textured, (0, 20)), (random, (30, 90))):
        euler = volume.feature_data["AvgEulerAngles"][1:].astype(np.float64)
        phase = volume.feature_data["Phases"][1:, 0]
        for p, laue in ((1, CUBIC), (2, HEXAGONAL)):
            component = np.deg2rad(ROLLING_COMPONENTS_DEG[laue])
            angle = np.rad2deg(misorientation_angle(euler[phase == p], component, laue))
            assert limit[0] < np.median(angle) < limit[1]


# --- tessellation -----------------------------------------------------------------


@pytest.mark.parametrize("periodic", [True, False])
def test_coarse_to_fine_labels_match_the_exact_power_diagram(periodic: bool) -> None:
    rng = np.random.default_rng(5)
    n = 60
    dims = (40, 36, 32)
    metric = np.array([1.6, 0.8, 1 / 1.28])
    box = np.asarray(dims) * metric
    seeds = rng.uniform(0, 1, (n, 3)) * box
    weights = (rng.lognormal(1.2, 0.5, n)) ** 2
    labels = label_grid(seeds, weights, dims, metric, periodic)
    exact = query_labels(power_tree(seeds, weights, box, periodic), grid_centres(dims, metric))
    assert labels.shape == (32, 36, 40)
    assert np.mean(labels.ravel() == exact) > 0.995


# --- statistics -------------------------------------------------------------------


@pytest.mark.slow
def test_equiaxed_size_distribution_and_phase_fraction_128() -> None:
    params = SynthParams(mu=2.3, sigma=0.4, phase2_fraction=0.3)
    volume = build_microstructure(params, dims=(128, 128, 128), seed=0)
    plan = size_plan(params, (128, 128, 128))
    diameters = equivalent_diameters(volume.cell_data["FeatureIds"], volume.spacing[0])
    assert len(diameters) > 1500
    mu, sigma = fit_lognormal(diameters, plan["d_min"], plan["d_max"])
    assert abs(mu - params.mu) < 0.1 * params.mu
    assert abs(sigma - params.sigma) < 0.1 * params.sigma
    assert abs(float(np.mean(volume.cell_data["Phases"] == 2)) - 0.3) < 0.02
    ids = volume.cell_data["FeatureIds"]
    assert min(face_agreement(ids)) > 0.6
    assert np.all(pieces_per_feature(ids, periodic=True)[1:] == 1)


def test_sizes_follow_the_spacing() -> None:
    # The same physical sizes at half the voxel size: twice the diameters in voxels.
    coarse = SynthParams(mu=1.9, sigma=0.2, spacing=1.0)
    fine = SynthParams(mu=1.9, sigma=0.2, spacing=0.5)
    big = build_microstructure(coarse, (48, 48, 48), seed=4)
    small = build_microstructure(fine, (48, 48, 48), seed=4)
    mu_coarse, _ = fit_lognormal(equivalent_diameters(big.cell_data["FeatureIds"], 1.0))
    mu_fine, _ = fit_lognormal(equivalent_diameters(small.cell_data["FeatureIds"], 0.5))
    assert small.spacing == (0.5, 0.5, 0.5)
    assert abs(mu_coarse - 1.9) < 0.15 and abs(mu_fine - 1.9) < 0.15


@pytest.mark.slow
def test_rolled_aspect_ratios_and_direction() -> None:
    params = SynthParams(grain_type="rolled", mu=2.3, sigma=0.25, b_over_a=0.5, c_over_a=0.25)
    volume = build_microstructure(params, dims=(128, 96, 64), seed=1)
    b_over_a, c_over_a, axes = aspect_ratios(volume.cell_data["FeatureIds"], periodic=True)
    assert len(b_over_a) > 100
    assert abs(b_over_a.mean() - 0.5) < 0.15 * 0.5
    assert abs(c_over_a.mean() - 0.25) < 0.15 * 0.25
    # Longest axis along x (rolling direction), shortest along z (normal direction).
    assert np.median(np.abs(axes[:, 0, 0])) > 0.95
    assert np.median(np.abs(axes[:, 2, 2])) > 0.95


def test_periodic_volumes_are_seamless_and_connected() -> None:
    params = SynthParams(grain_type="rolled", mu=1.8, sigma=0.25)
    periodic = build_microstructure(params, (48, 40, 32), seed=6)
    ids = periodic.cell_data["FeatureIds"]
    assert min(face_agreement(ids)) > 0.5
    assert np.all(pieces_per_feature(ids, periodic=True)[1:] == 1)
    # Grain boundaries are no denser across the periodic seam than inside the box.
    seam = np.mean(ids[:, :, 0] != ids[:, :, -1])
    interior = np.mean(ids[:, :, 1:] != ids[:, :, :-1])
    assert seam < 1.5 * interior
    flat = build_microstructure(
        SynthParams(**{**params.to_dict(), "periodic": False}), (48, 40, 32), seed=6
    )
    flat_ids = flat.cell_data["FeatureIds"]
    assert max(face_agreement(flat_ids)) < 0.2
    assert np.all(pieces_per_feature(flat_ids, periodic=False)[1:] == 1)


def test_recrystallized_structure() -> None:
    params = SynthParams(
        grain_type="recrystallized",
        mu=2.6,
        sigma=0.2,
        recrystallized_fraction=0.4,
        rex_size_ratio=0.35,
        texture="rolled",
        phase2_fraction=0.3,
        crystal_structures=("cubic", "hexagonal"),
    )
    volume = build_microstructure(params, (64, 64, 48), seed=7)
    ids = volume.cell_data["FeatureIds"][..., 0]
    rex = volume.feature_data["Recrystallized"][:, 0].astype(bool)
    assert abs(float(np.mean(rex[ids])) - 0.4) < 0.03
    assert abs(float(np.mean(volume.cell_data["Phases"] == 2)) - 0.3) < 0.02
    size = volume.feature_data["EquivalentDiameters"][:, 0]
    assert np.median(size[rex]) < 0.6 * np.median(size[1:][~rex[1:]])
    assert np.all(pieces_per_feature(ids, periodic=True)[1:] == 1)
    # Deformed grains keep the rolling texture, recrystallised ones are random.
    euler = volume.feature_data["AvgEulerAngles"].astype(np.float64)
    phase = volume.feature_data["Phases"][:, 0]
    cubic = phase == 1
    brass = np.deg2rad(ROLLING_COMPONENTS_DEG[CUBIC])
    deformed = np.rad2deg(misorientation_angle(euler[cubic & ~rex], brass, CUBIC))
    renewed = np.rad2deg(misorientation_angle(euler[cubic & rex], brass, CUBIC))
    assert np.median(deformed) < 20 < np.median(renewed)


# --- measurement helpers ----------------------------------------------------------


def test_fit_lognormal_recovers_truncated_samples() -> None:
    rng = np.random.default_rng(0)
    samples = rng.lognormal(2.0, 0.6, size=20_000)
    kept = samples[(samples > 4.0) & (samples < 20.0)]
    mu, sigma = fit_lognormal(kept, 4.0, 20.0)
    assert abs(mu - 2.0) < 0.03 and abs(sigma - 0.6) < 0.03
    plain_mu, plain_sigma = fit_lognormal(samples)
    assert abs(plain_mu - 2.0) < 0.02 and abs(plain_sigma - 0.6) < 0.02
    with pytest.raises(InputError, match="at least 2 sizes"):
        fit_lognormal(np.array([3.0]))


def test_aspect_ratios_of_a_wrapped_ellipsoid() -> None:
    shape = (24, 32, 48)  # (Z, Y, X)
    zz, yy, xx = np.meshgrid(*[np.arange(n) + 0.5 for n in shape], indexing="ij")
    # Centred on the x = 0 face so that it wraps around.
    dx = (xx - 0.0 + 24) % 48 - 24
    inside = (dx / 16) ** 2 + ((yy - 16) / 8) ** 2 + ((zz - 12) / 4) ** 2 <= 1
    ids = np.where(inside, 2, 1).astype(np.int32)
    b_over_a, c_over_a, axes = aspect_ratios(ids, periodic=True)
    # Feature 1 is the matrix around it; feature 2 the ellipsoid.
    assert abs(b_over_a[1] - 0.5) < 0.02 and abs(c_over_a[1] - 0.25) < 0.02
    assert abs(axes[1, 0, 0]) > 0.999


# --- StatsGenerator files ---------------------------------------------------------


def test_params_from_single_phase_stats_files(fixtures_dir: Path) -> None:
    equiaxed = params_from_stats(fixtures_dir / "CubicSingleEquiaxed.dream3d", phase2_fraction=0.3)
    assert equiaxed.grain_type == "equiaxed"
    assert equiaxed.crystal_structures == (CUBIC, CUBIC)
    assert (equiaxed.mu, equiaxed.sigma) == (2.3, 0.4)
    assert (equiaxed.min_cutoff, equiaxed.max_cutoff) == (4.0, 3.0)
    assert 0.85 < equiaxed.c_over_a <= equiaxed.b_over_a < 0.95
    rolled = params_from_stats(
        fixtures_dir / "CubicSingleRolled.dream3d",
        phase2_fraction=0.5,
        crystal_structures=("cubic", "hexagonal"),
        spacing=4.0,
    )
    assert rolled.grain_type == "rolled" and (rolled.mu, rolled.sigma) == (3.0, 0.25)
    assert abs(rolled.b_over_a - 0.5) < 0.02 and abs(rolled.c_over_a - 0.13) < 0.01
    assert rolled.crystal_structures == (CUBIC, HEXAGONAL) and rolled.spacing == 4.0
    with pytest.raises(InputError, match="describes a single phase; give phase2_fraction"):
        params_from_stats(fixtures_dir / "CubicSingleRolled.dream3d")


def _phase(phase: int, fraction: float, mu: float, sigma: float, laue: int = CUBIC, **kw):
    beta = Distribution("Beta Distribution", {"Alpha": np.array([15.0]), "Beta": np.array([1.5])})
    values = {"b_over_a": beta, "c_over_a": beta, "size_mu": mu, "size_sigma": sigma, **kw}
    return PhaseStatistics(phase, f"P{phase}", laue, 0, "PrimaryStatsData", fraction, **values)


def test_params_from_two_phase_statistics() -> None:
    params = params_from_stats([_phase(1, 0.6, 2.0, 0.2), _phase(2, 0.2, 3.0, 0.4, HEXAGONAL)])
    assert params.crystal_structures == (CUBIC, HEXAGONAL)
    assert math.isclose(params.phase2_fraction, 0.25)
    assert math.isclose(params.mu, 0.75 * 2.0 + 0.25 * 3.0)
    variance = 0.75 * (0.04 + 0.25**2) + 0.25 * (0.16 + 0.75**2)
    assert math.isclose(params.sigma, math.sqrt(variance))
    assert params.grain_type == "equiaxed" and math.isclose(params.b_over_a, 15 / 16.5)
    with pytest.raises(InputError, match="describes 3 phases"):
        params_from_stats([_phase(1, 0.3, 2, 0.2), _phase(2, 0.3, 2, 0.2), _phase(3, 0.4, 2, 0.2)])
    with pytest.raises(InputError, match="phase 2 of the statistics .* no log-normal"):
        params_from_stats([_phase(1, 0.5, 2.0, 0.2), _phase(2, 0.5, None, None)])
    with pytest.raises(InputError, match="Tetragonal_High; the builder supports"):
        params_from_stats(
            [_phase(1, 0.5, 2.0, 0.2, LAUE_IDS["Tetragonal_High"])], phase2_fraction=0.5
        )


def test_build_from_a_stats_file(fixtures_dir: Path) -> None:
    params = params_from_stats(
        fixtures_dir / "CubicSingleRolled.dream3d", phase2_fraction=0.4, spacing=4.0
    )
    volume = build_microstructure(params, (40, 32, 24), seed=0)
    b_over_a, c_over_a, _ = aspect_ratios(volume.cell_data["FeatureIds"], min_voxels=8)
    assert np.mean(c_over_a) < 0.5 < np.mean(b_over_a) + 0.2
    assert abs(float(np.mean(volume.cell_data["Phases"] == 2)) - 0.4) < 0.05
