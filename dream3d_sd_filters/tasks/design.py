"""Inverse design: generate microstructures for a target property and check every one.

The property ControlNet proposes candidates, steered by the gradient of the property
surrogate; each is then verified, by micromagnetic simulation or by the surrogate CNN,
ranked by its distance to the target, and counted as a hit when within a relative
tolerance (default ±15%). Only simulation is an independent check of steered candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..pipelines.microstructure_sd import SURROGATE_GUIDANCE_SCALE, MicrostructureSD
from ..volume import LAUE_IDS, Volume
from .progress import Progress
from .volume_tasks import generate_volume

VERIFY_METHODS = ("simulation", "surrogate")


_VERIFIED_SUFFIX = {"simulation": "Simulated", "surrogate": "Surrogate"}


def verified_array_name(prop: str, method: str) -> str:
    """Cell array of a design volume holding each slice's verified property, e.g.
    "CoercivitySimulated" (the value repeated over the slice's cells)."""
    return "".join(word.title() for word in prop.split("_")) + _VERIFIED_SUFFIX[method]


@dataclass
class DesignResult:
    """Candidates for a target, best first.

    Attributes
    ----------
    volume : Volume
        The candidates as z-slices, ranked by |verified - target| (best first), with the
        verified values as the float32 cell array :func:`verified_array_name` (e.g.
        "CoercivitySimulated", in tesla); `sd-train surrogate --designs` learns from
        simulated ones.
    target : dict
        The requested property values.
    verified : ndarray, shape (n,)
        Property of each candidate (in the volume's order) by ``method``.
    method : str
        "simulation" or "surrogate".
    relative_error : ndarray, shape (n,)
        |verified - target| / |target|.
    hits : ndarray of bool, shape (n,)
        Within the tolerance.
    tolerance : float
    """

    volume: Volume
    target: dict[str, float]
    verified: np.ndarray
    method: str
    relative_error: np.ndarray
    hits: np.ndarray
    tolerance: float

    @property
    def hit_rate(self) -> float:
        """Fraction of candidates within the tolerance."""
        return float(self.hits.mean())


def design_microstructures(
    model: MicrostructureSD,
    target: dict[str, float],
    n: int = 16,
    verify: str = "surrogate",
    tolerance: float = 0.15,
    crystal_structures: tuple[int, int] = (LAUE_IDS["Hexagonal_High"], LAUE_IDS["Hexagonal_High"]),
    guidance_scale: float = 2.0,
    surrogate_guidance_scale: float = SURROGATE_GUIDANCE_SCALE,
    steps: int = 25,
    seed: int = 0,
    simulation_workers: int = 2,
    progress: Progress | None = None,
    **simulation_options,
) -> DesignResult:
    """Generate ``n`` candidates for ``target`` and verify each one.

    Parameters
    ----------
    target : dict
        One property and its value, e.g. ``{"coercivity": 2.0}`` (tesla).
    verify : {"simulation", "surrogate"}
        Micromagnetics (seconds per candidate, the reference) or the bundled surrogate CNN
        (milliseconds). The surrogate also steers the sampling unless
        ``surrogate_guidance_scale`` is 0, and then it does not check independently.
    tolerance : float
        Relative tolerance of a hit.
    crystal_structures : (int, int)
        Laue ids of phases 1 and 2 (SmCo5 and Sm2Co17 are hexagonal/trigonal; the
        default decodes both as Hexagonal_High).
    guidance_scale, surrogate_guidance_scale : float
        Classifier-free guidance of the property ControlNet and the weight of the
        surrogate's gradient (see :meth:`MicrostructureSD.generate`).
    **simulation_options
        Keyword options of :func:`dream3d_sd_filters.properties.coercivity`.

    Returns
    -------
    DesignResult
        Its volume holds the candidates as z-slices, best first, with cells of the
        simulation's size (``cell_size_nm``, default 1 nm) in nanometres: the scale at
        which the target property holds.
    """
    from ..properties.coercivity import CELL_SIZE_NM

    if verify not in VERIFY_METHODS:
        raise InputError(f"unknown verification {verify!r}; use one of {VERIFY_METHODS}")
    if len(target) != 1:
        raise InputError(f"give exactly one target property, got {', '.join(target) or 'none'}")
    prop, value = next(iter(target.items()))
    if prop != "coercivity" and verify == "simulation":
        raise InputError(f"only coercivity can be simulated, not {prop!r}")
    if verify == "surrogate" and prop not in model.surrogates:
        raise InputError(f"this model has no {prop} surrogate; use --verify simulation")
    if not tolerance > 0:
        raise InputError(f"tolerance must be > 0, got {tolerance}")
    cell = float(simulation_options.get("cell_size_nm", CELL_SIZE_NM))
    volume = generate_volume(
        model,
        n,
        crystal_structures=crystal_structures,
        spacing=(cell, cell, cell),
        length_unit="Nanometer",
        steps=steps,
        seed=seed,
        target=target,
        guidance_scale=guidance_scale,
        surrogate_guidance_scale=surrogate_guidance_scale,
        progress=progress,
    )
    if verify == "surrogate":
        from .slicing import volume_to_images

        images = torch.from_numpy(volume_to_images(volume, "z", model.encoding))
        verified = model.surrogates[prop].predict(images)[:, 0].numpy().astype(np.float64)
    else:
        from ..properties.coercivity import coercivity_batch

        cells = volume.cell_data
        items = [
            {
                "phases": cells["Phases"][k, ..., 0],
                "euler": cells["EulerAngles"][k],
                "crystal_structures": volume.crystal_structures,
                "feature_ids": cells["FeatureIds"][k, ..., 0],
            }
            for k in range(n)
        ]
        results = coercivity_batch(
            items, workers=simulation_workers, progress=progress is not None, **simulation_options
        )
        verified = np.array([r.coercive_field_tesla for r in results], dtype=np.float64)
    error = np.abs(verified - value) / max(abs(value), 1e-12)
    error = np.where(np.isfinite(error), error, np.inf)
    order = np.argsort(error, kind="stable")
    cells = {name: array[order] for name, array in volume.cell_data.items()}
    per_cell = np.ones(cells["Phases"].shape, dtype=np.float32)
    cells[verified_array_name(prop, verify)] = per_cell * verified[order, None, None, None]
    ranked = volume.replace(cell_data=cells)
    return DesignResult(
        ranked,
        dict(target),
        verified[order],
        verify,
        error[order],
        error[order] <= tolerance,
        tolerance,
    )
