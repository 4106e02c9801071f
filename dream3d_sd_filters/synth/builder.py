"""Build a synthetic two-phase polycrystal :class:`~dream3d_sd_filters.volume.Volume`.

See ``docs/synth.md`` for the method: a periodic Laguerre tessellation fitted to a
log-normal grain-size distribution, greedy phase assignment, and, for recrystallised
structures, site-saturated nucleation on grain boundaries.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ..orientations import ipf_colors
from ..volume import LAUE_NAMES, Volume, ensemble_arrays
from .measure import connected_pieces
from .params import (
    MAX_EXTENT_FRACTION,
    MAX_GRAINS,
    MIN_MEAN_ESD_VOXELS,
    MIN_RESOLVED_ESD_VOXELS,
    SynthParams,
    sample_truncated_lognormal,
    truncated_lognormal_moment,
)
from .tessellation import fit_power_diagram, label_grid
from .texture import grain_orientations

#: Disconnected pieces of a grain smaller than this (voxels) join their neighbour.
MIN_FRAGMENT_VOXELS = 8
#: Seed/weight fitting iterations on the coarse grid.
FIT_ITERATIONS = 8


def _check_dims(dims: object) -> tuple[int, int, int]:
    try:
        values = [int(d) for d in np.ravel(np.asarray(dims))]
    except (TypeError, ValueError):
        raise InputError(f"dims must be three integers (X, Y, Z), got {dims!r}") from None
    if len(values) != 3:
        raise InputError(f"dims must be three integers (X, Y, Z), got {dims!r}")
    if min(values) < 8:
        raise InputError(f"dims must be at least 8 voxels along each axis, got {tuple(values)}")
    return (values[0], values[1], values[2])


def size_plan(params: SynthParams, dims: tuple[int, int, int]) -> dict[str, float]:
    """Grain-size numbers of a build, in voxels, after checking that grains fit the box.

    Rules (all sizes are equivalent-sphere diameters, ESD):

    * the mean grain, an ellipsoid with diameters ``mean ESD * axis_factors`` along
      (x, y, z), may span at most half the box edge along each axis;
    * the mean ESD must be at least 3 voxels (and so must the mean recrystallised
      grain);
    * the smallest ESD drawn is ``max(exp(mu - min_cutoff*sigma), 2 voxels)``: smaller
      grains cannot be resolved;
    * the largest ESD drawn is ``min(exp(mu + max_cutoff*sigma), box limit)``, where
      the box limit is the ESD whose ellipsoid spans a whole box edge (a larger grain
      would overlap its own periodic image).

    Parameters
    ----------
    params : SynthParams
        Build parameters.
    dims : tuple of int
        Box ``(X, Y, Z)`` in voxels.

    Returns
    -------
    dict
        ``mean_esd`` (expected ESD of the truncated distribution), ``d_min``,
        ``d_max`` (truncation bounds), ``mean_volume`` (expected grain volume) in
        voxel units, and ``n_grains`` (grains to seed).

    Raises
    ------
    InputError
        Dims below 8, or grains too large or too small for the box and spacing.
    """
    dims = _check_dims(dims)
    box = np.asarray(dims, dtype=np.float64)
    factors = params.axis_factors
    mean_esd = math.exp(params.mu + 0.5 * params.sigma**2) / params.spacing
    extent = mean_esd * factors
    limit = MAX_EXTENT_FRACTION * box
    if np.any(extent > limit):
        raise InputError(
            f"grains too large for the box: the mean grain (ESD {mean_esd * params.spacing:.4g} "
            f"um = {mean_esd:.3g} voxels, exp(mu + sigma^2/2)) spans "
            f"{extent[0]:.1f} x {extent[1]:.1f} x {extent[2]:.1f} voxels (x, y, z) but may span "
            f"at most half the box, {limit[0]:.0f} x {limit[1]:.0f} x {limit[2]:.0f}; lower mu, "
            "raise dims or raise spacing"
        )
    if mean_esd < MIN_MEAN_ESD_VOXELS:
        raise InputError(
            f"grains too small for the voxel size: the mean ESD {mean_esd * params.spacing:.4g} um "
            f"is {mean_esd:.3g} voxels (< {MIN_MEAN_ESD_VOXELS:g}); raise mu or lower spacing"
        )
    if params.grain_type == "recrystallized":
        rex_esd = mean_esd * params.rex_size_ratio
        if rex_esd < MIN_MEAN_ESD_VOXELS:
            raise InputError(
                f"recrystallised grains too small for the voxel size: their mean ESD is "
                f"{rex_esd:.3g} voxels (rex_size_ratio {params.rex_size_ratio:g} x {mean_esd:.3g})"
                f", need >= {MIN_MEAN_ESD_VOXELS:g}; raise mu or rex_size_ratio or lower spacing"
            )
    lo, hi = params.esd_bounds()
    d_min = max(lo / params.spacing, MIN_RESOLVED_ESD_VOXELS)
    d_max = min(hi / params.spacing, float(np.min(box / factors)))
    if d_max <= d_min:
        d_max = d_min * (1.0 + 1e-6)
    mean_volume = (
        math.pi
        / 6.0
        * truncated_lognormal_moment(
            params.mu - math.log(params.spacing), params.sigma, d_min, d_max, 3.0
        )
    )
    n_grains = max(2, int(round(float(np.prod(box)) / mean_volume)))
    if n_grains > MAX_GRAINS:
        raise InputError(
            f"{n_grains} grains requested (more than {MAX_GRAINS}); raise mu or lower dims"
        )
    return {
        "mean_esd": mean_esd,
        "d_min": d_min,
        "d_max": d_max,
        "mean_volume": mean_volume,
        "n_grains": float(n_grains),
    }


def connected_grains(labels: np.ndarray, periodic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Split labelled regions into face-connected pieces, periodic-aware.

    Pieces smaller than :data:`MIN_FRAGMENT_VOXELS` that are not the largest piece of
    their region join the neighbouring piece they share most faces with; larger ones
    become grains of their own.

    Parameters
    ----------
    labels : ndarray, shape (Z, Y, X), int
        Region label per voxel, >= 0.
    periodic : bool
        Voxels on opposite faces are neighbours.

    Returns
    -------
    grains : ndarray, shape (Z, Y, X), int32
        Grain index per voxel, ``0 .. m-1``.
    source : ndarray, shape (m,), int64
        Region label of each grain.
    """
    flat_pieces, source = connected_pieces(labels, periodic)
    n_pieces = len(source)
    size = np.bincount(flat_pieces, minlength=n_pieces)
    largest = np.zeros(int(source.max()) + 1, dtype=np.int64)
    np.maximum.at(largest, source, size)
    fragment = (size < largest[source]) & (size < MIN_FRAGMENT_VOXELS)
    if np.any(fragment):
        target = _absorbing_neighbour(flat_pieces, labels.shape, fragment, periodic)
        flat_pieces = np.where(target[flat_pieces] >= 0, target[flat_pieces], flat_pieces)
    present = np.bincount(flat_pieces, minlength=n_pieces) > 0
    compact = np.cumsum(present) - 1
    grains = compact[flat_pieces].astype(np.int32).reshape(labels.shape)
    return grains, source[present]


def _absorbing_neighbour(
    flat_pieces: np.ndarray, shape: tuple[int, ...], fragment: np.ndarray, periodic: bool
) -> np.ndarray:
    """For each fragment piece, the non-fragment piece sharing most faces with it (or -1)."""
    voxels = np.flatnonzero(fragment[flat_pieces])
    position = np.unravel_index(voxels, shape)
    frag_ids, neigh_ids = [], []
    for axis in range(3):
        for step in (-1, 1):
            moved = [p.copy() if a == axis else p for a, p in enumerate(position)]
            moved[axis] += step
            if periodic:
                moved[axis] %= shape[axis]
                inside = np.ones(len(voxels), dtype=bool)
            else:
                inside = (moved[axis] >= 0) & (moved[axis] < shape[axis])
            neighbour = flat_pieces[np.ravel_multi_index([m[inside] for m in moved], shape)]
            keep = ~fragment[neighbour]
            frag_ids.append(flat_pieces[voxels[inside]][keep])
            neigh_ids.append(neighbour[keep])
    frag = np.concatenate(frag_ids)
    neigh = np.concatenate(neigh_ids)
    target = np.full(len(fragment), -1, dtype=np.int64)
    if len(frag) == 0:
        return target
    pairs, counts = np.unique(np.stack([frag, neigh], axis=1), axis=0, return_counts=True)
    # Sort by fragment, then count, so the last row per fragment is its best neighbour.
    order = np.lexsort((counts, pairs[:, 0]))
    pairs = pairs[order]
    last = np.r_[pairs[1:, 0] != pairs[:-1, 0], True]
    target[pairs[last, 0]] = pairs[last, 1]
    return target


def assign_phase2(volumes: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Pick grains for phase 2 so their total volume is closest to ``fraction``.

    Grains are taken in random order until the next one would overshoot, then single
    grains are added or removed while that brings the total closer to the target.

    Parameters
    ----------
    volumes : ndarray, shape (n,)
        Grain volumes.
    fraction : float
        Target volume fraction of phase 2, in (0, 1).
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    ndarray, shape (n,), bool
        True for phase-2 grains; at least one grain of each phase when n >= 2.
    """
    volumes = np.asarray(volumes, dtype=np.float64)
    target = fraction * volumes.sum()
    order = rng.permutation(len(volumes))
    cumulative = np.cumsum(volumes[order])
    count = int(np.searchsorted(cumulative, target))
    if count < len(order) and abs(cumulative[count] - target) < abs(
        (cumulative[count - 1] if count else 0.0) - target
    ):
        count += 1
    chosen = np.zeros(len(volumes), dtype=bool)
    chosen[order[:count]] = True
    for _ in range(64):
        gap = target - volumes[chosen].sum()
        pool = np.flatnonzero(~chosen if gap > 0 else chosen)
        if len(pool) == 0:
            break
        best = pool[np.argmin(np.abs(volumes[pool] - abs(gap)))]
        if abs(abs(gap) - volumes[best]) >= abs(gap):
            break
        chosen[best] = not chosen[best]
    if len(volumes) >= 2 and not chosen.any():
        chosen[np.argmin(volumes)] = True
    if len(volumes) >= 2 and chosen.all():
        chosen[np.argmin(volumes)] = False
    return chosen


def _boundary_mask(labels: np.ndarray, periodic: bool) -> np.ndarray:
    mask = np.zeros(labels.shape, dtype=bool)
    for axis in range(3):
        n = labels.shape[axis]
        differs = np.diff(labels, axis=axis) != 0
        lead = [slice(None)] * 3
        follow = [slice(None)] * 3
        lead[axis] = slice(0, n - 1)
        follow[axis] = slice(1, n)
        mask[tuple(lead)] |= differs
        mask[tuple(follow)] |= differs
        if periodic:
            wrap = np.take(labels, 0, axis=axis) != np.take(labels, n - 1, axis=axis)
            first = [slice(None)] * 3
            last = [slice(None)] * 3
            first[axis] = 0
            last[axis] = n - 1
            mask[tuple(first)] |= wrap
            mask[tuple(last)] |= wrap
    return mask


def _recrystallize(
    parents: np.ndarray,
    parent_phase: np.ndarray,
    params: SynthParams,
    plan: dict[str, float],
    rng: np.random.Generator,
    workers: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Replace part of the deformed grains by grains nucleated on their boundaries.

    Site-saturated nucleation: nuclei appear at once on random grain-boundary voxels
    and grow at one rate, each inside its own phase, until the recrystallised
    volume fraction is reached. A voxel is recrystallised when its nearest nucleus of
    the same phase is within the growth radius, which is the
    ``recrystallized_fraction`` quantile of that distance.

    Returns
    -------
    labels : ndarray, shape (Z, Y, X), int64
        Parent label (``0 .. n_parents-1``) or ``n_parents + nucleus`` per voxel.
    nucleus_phase : ndarray, shape (n_nuclei,), int
        Phase of each nucleus.
    """
    nz, ny, nx = parents.shape
    n_voxels = parents.size
    rex_volume = plan["mean_volume"] * params.rex_size_ratio**3
    boundary = np.flatnonzero(_boundary_mask(parents, params.periodic).ravel())
    if len(boundary) == 0:
        boundary = np.arange(n_voxels)
    n_nuclei = int(round(params.recrystallized_fraction * n_voxels / rex_volume))
    n_nuclei = int(np.clip(n_nuclei, 1, len(boundary)))
    sites = np.sort(rng.choice(boundary, size=n_nuclei, replace=False))
    z, y, x = np.unravel_index(sites, parents.shape)
    # Jitter inside the site voxel so nuclei are not on the voxel lattice (ties).
    nuclei = np.stack([x, y, z], axis=1) + rng.uniform(0.0, 1.0, size=(n_nuclei, 3))
    nucleus_phase = parent_phase[parents.ravel()[sites]]
    voxel_phase = parent_phase[parents]
    nearest = np.full(parents.shape, -1, dtype=np.int64)
    distance_sq = np.full(parents.shape, np.inf)
    box = np.array([nx, ny, nz], dtype=np.float64)
    zz, yy, xx = np.meshgrid(
        np.arange(nz) + 0.5, np.arange(ny) + 0.5, np.arange(nx) + 0.5, indexing="ij", sparse=True
    )
    for phase in np.unique(nucleus_phase):
        members = np.flatnonzero(nucleus_phase == phase)
        local = label_grid(
            nuclei[members],
            np.zeros(len(members)),
            (nx, ny, nz),
            np.ones(3),
            params.periodic,
            workers,
        )
        inside = voxel_phase == phase
        owner = members[local]
        d2 = np.zeros(parents.shape)
        for axis, coord in enumerate((xx, yy, zz)):
            delta = coord - nuclei[owner, axis]
            if params.periodic:
                delta -= box[axis] * np.round(delta / box[axis])
            d2 += delta * delta
        nearest[inside] = owner[inside]
        distance_sq[inside] = d2[inside]
    radius_sq = np.quantile(distance_sq, params.recrystallized_fraction)
    grown = (distance_sq <= radius_sq) & (nearest >= 0)
    labels = parents.astype(np.int64)
    labels[grown] = parents.max() + 1 + nearest[grown]
    return labels, nucleus_phase


def _grain_volumes(
    params: SynthParams, plan: dict[str, float], box_volume: float, rng: np.random.Generator
) -> np.ndarray:
    """Target grain volumes in voxels: log-normal ESD draws until the box is full.

    Drawing until the volumes add up to the box (as DREAM.3D's packing does),
    rather than drawing a fixed number and rescaling, keeps one heavy-tailed draw
    from shrinking or inflating every other grain. The last draw that brings the
    total closest to the box volume ends the list; the small remainder is spread
    over all grains.
    """
    expected = int(plan["n_grains"])
    chunks: list[np.ndarray] = []
    total = 0.0
    while total < box_volume:
        draw = sample_truncated_lognormal(
            expected // 2 + 16,
            params.mu - math.log(params.spacing),
            params.sigma,
            plan["d_min"],
            plan["d_max"],
            rng,
        )
        chunks.append(math.pi / 6.0 * draw**3)
        total += float(chunks[-1].sum())
    volumes = np.concatenate(chunks)
    cumulative = np.cumsum(volumes)
    count = int(np.searchsorted(cumulative, box_volume)) + 1
    if count > 1 and abs(cumulative[count - 2] - box_volume) < abs(
        cumulative[count - 1] - box_volume
    ):
        count -= 1
    count = max(count, 2)
    volumes = volumes[:count]
    return volumes * (box_volume / volumes.sum())


def build_microstructure(
    params: SynthParams,
    dims: tuple[int, int, int] = (64, 64, 64),
    seed: int | np.random.Generator = 0,
    progress: bool = False,
    workers: int = -1,
) -> Volume:
    """Build a synthetic two-phase polycrystal.

    Parameters
    ----------
    params : SynthParams
        What to build (grain type, phases, sizes in micrometres, shapes, texture).
    dims : tuple of int
        Box ``(X, Y, Z)`` in voxels, each >= 8. Voxels are ``params.spacing``
        micrometres wide.
    seed : int or numpy.random.Generator
        Random source; the same seed and parameters give the same volume.
    progress : bool
        Show a progress bar over the build stages (on stderr).
    workers : int
        Threads for the KD-tree queries (-1: all cores; use 1 inside worker
        processes).

    Returns
    -------
    Volume
        Cell arrays ``FeatureIds`` (int32, 1-based), ``Phases`` (int32, 1 or 2),
        ``EulerAngles`` (float32 radians, per grain, in the fundamental zone of its
        phase) and ``IPFColors`` (uint8, reference direction [001]); feature arrays
        ``Phases`` (int32), ``EquivalentDiameters`` (float32, micrometres),
        ``NumElements`` (int32 voxels), ``AvgEulerAngles`` (float32 radians) and
        ``Recrystallized`` (uint8, 1 for recrystallised grains); ensemble arrays
        ``CrystalStructures`` and ``PhaseTypes`` (uint32, entry 0 = 999). Spacing is
        ``params.spacing`` micrometres.

    Raises
    ------
    InputError
        Before any work: dims below 8, or grains too large (the mean grain spans more
        than half the box along an axis) or too small (mean ESD below 3 voxels); see
        :func:`size_plan`.
    """
    if not isinstance(params, SynthParams):
        raise InputError(f"params must be a SynthParams, got {type(params).__name__}")
    dims = _check_dims(dims)
    plan = size_plan(params, dims)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    stages = ["seeds", "fit", "label", "grains", "phases"]
    if params.grain_type == "recrystallized":
        stages.append("recrystallize")
    stages.append("orientations")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(stages), desc="synth", unit="stage", leave=False)

    def advance(stage: str) -> None:
        if bar is not None:
            bar.set_postfix_str(stage)
            bar.update(1)

    box_voxels = np.asarray(dims, dtype=np.float64)
    metric = 1.0 / params.axis_factors
    targets = _grain_volumes(params, plan, float(np.prod(box_voxels)), rng)
    n = len(targets)
    seeds = rng.uniform(0.0, 1.0, size=(n, 3)) * box_voxels * metric
    advance("seeds")
    seeds, weights, _ = fit_power_diagram(
        seeds, targets, dims, metric, params.periodic, FIT_ITERATIONS, workers=workers
    )
    advance("fit")
    cells = label_grid(seeds, weights, dims, metric, params.periodic, workers)
    advance("label")
    grains, _ = connected_grains(cells, params.periodic)
    n_grains = int(grains.max()) + 1
    advance("grains")
    volumes = np.bincount(grains.ravel(), minlength=n_grains)
    is_phase2 = assign_phase2(volumes, params.phase2_fraction, rng)
    grain_phase = np.where(is_phase2, 2, 1)
    advance("phases")
    laue = np.asarray(params.crystal_structures)
    grain_euler = grain_orientations(
        laue[grain_phase - 1], params.texture, params.texture_spread_deg, rng
    )
    recrystallized = np.zeros(n_grains, dtype=np.uint8)
    if params.grain_type == "recrystallized":
        labels, nucleus_phase = _recrystallize(grains, grain_phase, params, plan, rng, workers)
        grains, source = connected_grains(labels, params.periodic)
        is_rex = source >= n_grains
        rex_euler = grain_orientations(
            laue[nucleus_phase - 1], "random", params.texture_spread_deg, rng
        )
        new_phase = np.where(
            is_rex,
            nucleus_phase[np.maximum(source - n_grains, 0)],
            grain_phase[np.minimum(source, n_grains - 1)],
        )
        new_euler = np.where(
            is_rex[:, None],
            rex_euler[np.maximum(source - n_grains, 0)],
            grain_euler[np.minimum(source, n_grains - 1)],
        )
        grain_phase, grain_euler = new_phase, new_euler
        recrystallized = is_rex.astype(np.uint8)
        advance("recrystallize")
    volume = _assemble(grains, grain_phase, grain_euler, recrystallized, params, dims)
    advance("orientations")
    if bar is not None:
        bar.close()
    return volume


def _assemble(
    grains: np.ndarray,
    grain_phase: np.ndarray,
    grain_euler: np.ndarray,
    recrystallized: np.ndarray,
    params: SynthParams,
    dims: tuple[int, int, int],
) -> Volume:
    n = len(grain_phase)
    structures = np.array([999, *params.crystal_structures], dtype=np.int64)
    colors = ipf_colors(grain_euler, grain_phase, structures)
    counts = np.bincount(grains.ravel(), minlength=n)
    feature_ids = (grains + 1).astype(np.int32)
    pad = lambda a: np.concatenate([np.zeros((1,) + a.shape[1:], a.dtype), a])  # noqa: E731
    euler32 = grain_euler.astype(np.float32)
    esd = np.cbrt(6.0 * counts / math.pi) * params.spacing
    names = ["Invalid Phase"] + [
        f"Phase {k} ({LAUE_NAMES[params.crystal_structures[k - 1]]})" for k in (1, 2)
    ]
    return Volume(
        dims=dims,
        spacing=(params.spacing,) * 3,
        length_unit="Micrometer",
        cell_data={
            "FeatureIds": feature_ids,
            "Phases": grain_phase.astype(np.int32)[grains],
            "EulerAngles": euler32[grains],
            "IPFColors": colors[grains],
        },
        feature_data={
            "Phases": pad(grain_phase.astype(np.int32))[:, None],
            "EquivalentDiameters": pad(esd.astype(np.float32))[:, None],
            "NumElements": pad(counts.astype(np.int32))[:, None],
            "AvgEulerAngles": pad(euler32),
            "Recrystallized": pad(recrystallized.astype(np.uint8))[:, None],
        },
        ensemble_data=ensemble_arrays(list(params.crystal_structures)),
        phase_names=names,
        name="SyntheticVolume",
    )
