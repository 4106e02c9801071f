"""Physical properties of microstructures.

:func:`coercivity` runs a micromagnetic hysteresis sweep (magnum.np, in worker
subprocesses) and returns the coercive field of a two-phase thin film;
:func:`coercivity_batch` runs many in parallel. Note that the name
``dream3d_sd_filters.properties.coercivity`` is the function; import helpers from
the module with ``from dream3d_sd_filters.properties.coercivity import ...``.
"""

from __future__ import annotations

from .coercivity import (
    CELL_SIZE_NM,
    DEFAULT_MATERIALS,
    SM2CO17,
    SMCO5,
    CoercivityResult,
    Material,
    SimulationError,
    coercivity,
    coercivity_batch,
)

__all__ = [
    "CELL_SIZE_NM",
    "DEFAULT_MATERIALS",
    "SM2CO17",
    "SMCO5",
    "CoercivityResult",
    "Material",
    "SimulationError",
    "coercivity",
    "coercivity_batch",
]
