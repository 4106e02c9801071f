"""Synthetic 3D two-phase polycrystals: equiaxed, rolled and recrystallised grain structures.

>>> from dream3d_sd_filters.synth import SynthParams, build_microstructure
>>> volume = build_microstructure(SynthParams(grain_type="rolled", mu=2.0, sigma=0.3),
...                               dims=(64, 64, 64), seed=1)

See ``docs/synth.md`` for the method, units and truncation rules.
"""

from __future__ import annotations

from .builder import assign_phase2, build_microstructure, connected_grains, size_plan
from .from_stats import params_from_stats
from .params import GRAIN_TYPES, TEXTURES, SynthParams, laue_id

__all__ = [
    "GRAIN_TYPES",
    "TEXTURES",
    "SynthParams",
    "assign_phase2",
    "build_microstructure",
    "connected_grains",
    "laue_id",
    "params_from_stats",
    "size_plan",
]
