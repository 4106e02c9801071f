"""Builder parameters from a DREAM.3D StatsGenerator file.

What is taken from the file (see ``docs/synth.md``):

* crystal structure of each phase (Cubic_High or Hexagonal_High only);
* phase fractions: a two-phase file sets ``phase2_fraction`` to
  ``f2 / (f1 + f2)``; a single-phase file describes the grains of both phases and
  needs ``phase2_fraction`` from the caller, phase 2 then gets phase 1's crystal
  structure unless ``crystal_structures`` is given;
* the log-normal ESD ``mu``/``sigma`` and the min/max cut-offs (in sigmas); two
  phases with different size statistics are replaced by one log-normal with the
  fraction-weighted mean and variance of ``ln(ESD)``, since the builder draws all
  grains from one distribution;
* the shape: ``b/a`` and ``c/a`` are the means of the per-size-bin beta
  distributions, weighted by the log-normal probability of each bin; the grain type
  is ``rolled`` when either mean is below :data:`ROLLED_BELOW`, else ``equiaxed``.
  The builder always aligns ``a`` with x, ``b`` with y and ``c`` with z, which is the
  axis ODF of a rolled StatsGenerator preset (Euler 0, 0, 0);
* texture: ``random``; the file's ODF is not reproduced.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr

from ..errors import InputError
from ..volume import LAUE_NAMES, PHASE_TYPE_IDS
from .params import SUPPORTED_LAUE_IDS, SynthParams

#: A mean aspect ratio below this makes the grain type ``rolled``.
ROLLED_BELOW = 0.8


def _mean_aspect(distribution: object, stats: object) -> float | None:
    """Mean of per-bin beta distributions, weighted by the log-normal bin probability."""
    if distribution is None:
        return None
    alpha = np.asarray(distribution.parameters.get("Alpha", []), dtype=np.float64)  # type: ignore[attr-defined]
    beta = np.asarray(distribution.parameters.get("Beta", []), dtype=np.float64)  # type: ignore[attr-defined]
    if alpha.size == 0 or alpha.size != beta.size or np.any(alpha + beta <= 0):
        return None
    means = alpha / (alpha + beta)
    edges = getattr(stats, "bin_numbers", None)
    step = getattr(stats, "bin_step", None)
    mu, sigma = stats.size_mu, stats.size_sigma  # type: ignore[attr-defined]
    if edges is None or step is None or len(edges) != len(means) or not sigma:
        return float(means.mean())
    lower = np.log(np.maximum(np.asarray(edges, dtype=np.float64), 1e-300))
    upper = np.log(np.asarray(edges, dtype=np.float64) + step)
    upper[-1] = np.inf
    weight = ndtr((upper - mu) / sigma) - ndtr((lower - mu) / sigma)
    if weight.sum() <= 0:
        return float(means.mean())
    return float(np.sum(weight * means) / weight.sum())


def params_from_stats(
    stats: str | os.PathLike | Sequence[object],
    *,
    phase2_fraction: float | None = None,
    crystal_structures: Sequence[int | str] | None = None,
    grain_type: str | None = None,
    **overrides: object,
) -> SynthParams:
    """Builder parameters that follow a StatsGenerator file.

    Parameters
    ----------
    stats : path-like or list of PhaseStatistics
        A ``.dream3d`` file with StatsGenerator statistics, or what
        :func:`dream3d_sd_filters.io.dream3d.read_stats` returned for one.
    phase2_fraction : float, optional
        Volume fraction of phase 2. Required for single-phase files; overrides the
        file's fractions for two-phase files.
    crystal_structures : pair of int or str, optional
        Overrides the file's crystal structures.
    grain_type : str, optional
        Overrides the grain type inferred from the aspect ratios (e.g.
        ``"recrystallized"``).
    **overrides
        Any other :class:`SynthParams` field (``spacing``, ``texture``, ``mu``...);
        these win over the file.

    Returns
    -------
    SynthParams

    Raises
    ------
    InputError
        Unreadable file, more than two phases, a phase without a size distribution
        (e.g. a matrix phase), an unsupported crystal structure, or a single-phase
        file without ``phase2_fraction``.
    """
    if isinstance(stats, (str, os.PathLike)):
        from ..io.dream3d import read_stats

        source = os.fspath(stats)
        phases = list(read_stats(stats))
    else:
        source = "the statistics"
        phases = list(stats)
    if not phases:
        raise InputError(f"{source} holds no phase statistics")
    if len(phases) > 2:
        raise InputError(
            f"{source} describes {len(phases)} phases; the builder makes two-phase volumes"
        )
    for phase in phases:
        if phase.size_mu is None or not phase.size_sigma:
            kind = {v: k for k, v in PHASE_TYPE_IDS.items()}.get(phase.phase_type, "unknown")
            raise InputError(
                f"phase {phase.phase} of {source} ({kind}) has no log-normal feature-size "
                "distribution; the builder needs one per phase"
            )
        if crystal_structures is None and phase.crystal_structure not in SUPPORTED_LAUE_IDS:
            name = LAUE_NAMES.get(phase.crystal_structure, f"Laue id {phase.crystal_structure}")
            raise InputError(
                f"phase {phase.phase} of {source} is {name}; the builder supports "
                "Cubic_High and Hexagonal_High (pass crystal_structures to override)"
            )
    if len(phases) == 1:
        if phase2_fraction is None:
            raise InputError(
                f"{source} describes a single phase; give phase2_fraction (--phase2-fraction): "
                "both phases of the built volume then follow its statistics"
            )
        structures = [phases[0].crystal_structure] * 2
        fractions = np.array([1.0])
    else:
        structures = [p.crystal_structure for p in phases]
        fractions = np.array([max(p.phase_fraction, 0.0) for p in phases], dtype=np.float64)
        if fractions.sum() <= 0:
            raise InputError(f"{source} gives zero phase fractions")
        fractions /= fractions.sum()
        if phase2_fraction is None:
            phase2_fraction = float(fractions[1])
    mus = np.array([p.size_mu for p in phases], dtype=np.float64)
    sigmas = np.array([p.size_sigma for p in phases], dtype=np.float64)
    mu = float(np.sum(fractions * mus))
    sigma = float(math.sqrt(np.sum(fractions * (sigmas**2 + (mus - mu) ** 2))))
    b_values = [_mean_aspect(p.b_over_a, p) for p in phases]
    c_values = [_mean_aspect(p.c_over_a, p) for p in phases]
    b = _weighted(b_values, fractions)
    c = _weighted(c_values, fractions)
    if b is not None and c is not None:
        b, c = max(b, c), min(b, c)
    values: dict[str, object] = {
        "crystal_structures": tuple(crystal_structures or structures),
        "phase2_fraction": phase2_fraction,
        "mu": mu,
        "sigma": sigma,
        "b_over_a": b,
        "c_over_a": c,
    }
    cutoffs = [(p.min_cutoff, p.max_cutoff) for p in phases]
    if all(lo is not None and lo > 0 for lo, _ in cutoffs):
        values["min_cutoff"] = min(lo for lo, _ in cutoffs)
    if all(hi is not None and hi > 0 for _, hi in cutoffs):
        values["max_cutoff"] = max(hi for _, hi in cutoffs)
    if grain_type is None:
        elongated = any(v is not None and v < ROLLED_BELOW for v in (b, c))
        grain_type = "rolled" if elongated else "equiaxed"
    values["grain_type"] = grain_type
    values.update(overrides)
    return SynthParams(**values)  # type: ignore[arg-type]


def _weighted(values: list[float | None], fractions: np.ndarray) -> float | None:
    if any(v is None for v in values):
        return None
    return float(np.sum(fractions * np.asarray(values, dtype=np.float64)))
