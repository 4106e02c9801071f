"""Parameters of the synthetic polycrystal builder and the grain-size distribution they imply.

Sizes follow DREAM.3D's StatsGenerator: the equivalent-sphere diameter (ESD) of a grain
is log-normal, ``ln(ESD) ~ N(mu, sigma)``, in physical length units (micrometres by
default), truncated to ``[exp(mu - min_cutoff*sigma), exp(mu + max_cutoff*sigma)]``.
A voxel is ``spacing`` long, so an ESD of ``d`` is ``d / spacing`` voxels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.special import ndtr, ndtri

from ..errors import InputError
from ..volume import LAUE_IDS, LAUE_NAMES

GRAIN_TYPES: tuple[str, ...] = ("equiaxed", "rolled", "recrystallized")
TEXTURES: tuple[str, ...] = ("random", "rolled")

#: Spellings accepted for the two supported crystal symmetries.
SYMMETRY_ALIASES: dict[str, int] = {
    "cubic": LAUE_IDS["Cubic_High"],
    "cubic_high": LAUE_IDS["Cubic_High"],
    "m-3m": LAUE_IDS["Cubic_High"],
    "hexagonal": LAUE_IDS["Hexagonal_High"],
    "hexagonal_high": LAUE_IDS["Hexagonal_High"],
    "hex": LAUE_IDS["Hexagonal_High"],
    "6/mmm": LAUE_IDS["Hexagonal_High"],
}
SUPPORTED_LAUE_IDS: tuple[int, ...] = (LAUE_IDS["Hexagonal_High"], LAUE_IDS["Cubic_High"])

#: Grain shape (b/a, c/a) used when a grain type is given without aspect ratios.
DEFAULT_ASPECTS: dict[str, tuple[float, float]] = {
    "equiaxed": (1.0, 1.0),
    "rolled": (0.5, 0.25),
    "recrystallized": (0.5, 0.25),
}

#: The mean grain may span at most this fraction of the box edge along each axis.
MAX_EXTENT_FRACTION = 0.5
#: Mean grains (and recrystallised grains) must be at least this many voxels across.
MIN_MEAN_ESD_VOXELS = 3.0
#: Smallest ESD drawn, in voxels: smaller grains cannot be resolved on the grid.
MIN_RESOLVED_ESD_VOXELS = 2.0
#: Builds with more grains than this are refused (memory and time).
MAX_GRAINS = 2_000_000


def laue_id(symmetry: int | str) -> int:
    """Laue id of a crystal symmetry given as an id or a name.

    Parameters
    ----------
    symmetry : int or str
        ``1`` / ``"cubic"`` / ``"Cubic_High"`` or ``0`` / ``"hexagonal"`` /
        ``"Hexagonal_High"`` (case-insensitive).

    Returns
    -------
    int
        :data:`~dream3d_sd_filters.volume.LAUE_IDS` value, 1 (Cubic_High) or 0
        (Hexagonal_High).

    Raises
    ------
    InputError
        For any other symmetry.
    """
    if isinstance(symmetry, str):
        key = symmetry.strip().lower()
        if key in SYMMETRY_ALIASES:
            return SYMMETRY_ALIASES[key]
        if key.isdigit():
            symmetry = int(key)
        else:
            raise InputError(f"unknown crystal symmetry {symmetry!r}; use 'cubic' or 'hexagonal'")
    if isinstance(symmetry, (bool, np.bool_)) or not isinstance(symmetry, (int, np.integer)):
        raise InputError(f"crystal symmetry must be a Laue id or a name, got {symmetry!r}")
    if int(symmetry) not in SUPPORTED_LAUE_IDS:
        name = LAUE_NAMES.get(int(symmetry), "unknown")
        raise InputError(
            f"crystal symmetry {name} (Laue id {int(symmetry)}) is not supported by the "
            "builder; use Cubic_High (1, 'cubic') or Hexagonal_High (0, 'hexagonal')"
        )
    return int(symmetry)


def _finite(name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InputError(f"{name} must be finite, got {value!r}")
    return number


@dataclass
class SynthParams:
    """What to build: grain type, phases, sizes, shapes and texture.

    Parameters
    ----------
    grain_type : {'equiaxed', 'rolled', 'recrystallized'}
        ``rolled`` grains are elongated along the rolling direction x (``a``), with
        ``b`` along y (transverse) and ``c`` along z (normal direction).
        ``recrystallized``: coarse deformed grains with the rolled shape, partly
        replaced by fine equiaxed grains that nucleated on their boundaries.
    crystal_structures : tuple of two int or str
        Laue id of phase 1 and phase 2: 1 (Cubic_High) or 0 (Hexagonal_High); the
        names ``'cubic'`` and ``'hexagonal'`` are converted to ids.
    phase2_fraction : float
        Volume fraction of phase 2, in (0, 1).
    mu, sigma : float
        ``ln(ESD) ~ N(mu, sigma)`` with the ESD in physical length units (``spacing``
        units), as DREAM.3D's StatsGenerator. ``sigma > 0``. For ``recrystallized``
        this is the deformed (parent) grains' size.
    b_over_a, c_over_a : float, optional
        Aspect ratios in (0, 1], ``c_over_a <= b_over_a``. Default: 1, 1 for
        ``equiaxed`` and 0.5, 0.25 for ``rolled`` and ``recrystallized``.
    texture : {'random', 'rolled'}
        Orientation distribution of the (deformed) grains. ``rolled`` is one
        rolling component with a Gaussian spread: Brass {110}<112>, Bunge
        (35.26, 45, 0) deg, for cubic phases; basal {0001}<10-10>, (0, 0, 0), for
        hexagonal phases.
    texture_spread_deg : float
        Standard deviation of each component of the rotation vector that scatters a
        textured orientation about its component, in degrees, in [0, 60].
    recrystallized_fraction : float
        Volume fraction taken by recrystallised grains, in (0, 1]; only used by
        ``recrystallized``.
    rex_size_ratio : float
        Mean ESD of the recrystallised grains over that of the deformed grains, in
        (0, 1]; only used by ``recrystallized``.
    periodic : bool
        Grains wrap around opposite faces of the box.
    spacing : float
        Voxel edge length in micrometres (the unit of ``mu``).
    min_cutoff, max_cutoff : float
        The ESD distribution is truncated ``min_cutoff`` sigmas below and
        ``max_cutoff`` sigmas above ``mu`` (DREAM.3D's "Min/Max Cut Off"), both > 0.

    Raises
    ------
    InputError
        For any value outside the ranges above.
    """

    grain_type: str = "equiaxed"
    crystal_structures: tuple[int, int] = (LAUE_IDS["Cubic_High"], LAUE_IDS["Cubic_High"])
    phase2_fraction: float = 0.5
    mu: float = 2.3
    sigma: float = 0.2
    b_over_a: float | None = None
    c_over_a: float | None = None
    texture: str = "random"
    texture_spread_deg: float = 10.0
    recrystallized_fraction: float = 0.5
    rex_size_ratio: float = 0.3
    periodic: bool = True
    spacing: float = 1.0
    min_cutoff: float = 5.0
    max_cutoff: float = 5.0

    def __post_init__(self) -> None:
        grain_type = str(self.grain_type).strip().lower()
        if grain_type not in GRAIN_TYPES:
            raise InputError(
                f"unknown grain type {self.grain_type!r}; use one of {', '.join(GRAIN_TYPES)}"
            )
        self.grain_type = grain_type
        structures = (
            [self.crystal_structures]
            if isinstance(self.crystal_structures, (str, int, np.integer))
            else list(self.crystal_structures)
        )
        if len(structures) != 2:
            raise InputError(
                f"crystal_structures needs one symmetry per phase (2), got {len(structures)}"
            )
        self.crystal_structures = (laue_id(structures[0]), laue_id(structures[1]))
        self.phase2_fraction = _finite("phase2_fraction", self.phase2_fraction)
        if not 0.0 < self.phase2_fraction < 1.0:
            raise InputError(
                f"phase2_fraction must be in (0, 1) (exclusive), got {self.phase2_fraction}"
            )
        self.mu = _finite("mu", self.mu)
        self.sigma = _finite("sigma", self.sigma)
        if self.sigma <= 0:
            raise InputError(f"sigma must be > 0, got {self.sigma}")
        default_b, default_c = DEFAULT_ASPECTS[grain_type]
        self.b_over_a = default_b if self.b_over_a is None else _finite("b_over_a", self.b_over_a)
        self.c_over_a = default_c if self.c_over_a is None else _finite("c_over_a", self.c_over_a)
        for name in ("b_over_a", "c_over_a"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise InputError(f"{name} must be in (0, 1], got {value}")
        if self.c_over_a > self.b_over_a:
            raise InputError(
                f"c_over_a ({self.c_over_a}) must not exceed b_over_a ({self.b_over_a}): "
                "a >= b >= c are the longest, middle and shortest axes"
            )
        texture = str(self.texture).strip().lower()
        if texture not in TEXTURES:
            raise InputError(f"unknown texture {self.texture!r}; use one of {', '.join(TEXTURES)}")
        self.texture = texture
        self.texture_spread_deg = _finite("texture_spread_deg", self.texture_spread_deg)
        if not 0.0 <= self.texture_spread_deg <= 60.0:
            raise InputError(
                f"texture_spread_deg must be in [0, 60] degrees, got {self.texture_spread_deg}"
            )
        self.recrystallized_fraction = _finite(
            "recrystallized_fraction", self.recrystallized_fraction
        )
        if not 0.0 < self.recrystallized_fraction <= 1.0:
            raise InputError(
                f"recrystallized_fraction must be in (0, 1], got {self.recrystallized_fraction}"
            )
        self.rex_size_ratio = _finite("rex_size_ratio", self.rex_size_ratio)
        if not 0.0 < self.rex_size_ratio <= 1.0:
            raise InputError(f"rex_size_ratio must be in (0, 1], got {self.rex_size_ratio}")
        if not isinstance(self.periodic, (bool, np.bool_)):
            raise InputError(f"periodic must be True or False, got {self.periodic!r}")
        self.periodic = bool(self.periodic)
        self.spacing = _finite("spacing", self.spacing)
        if self.spacing <= 0:
            raise InputError(f"spacing must be > 0, got {self.spacing}")
        for name in ("min_cutoff", "max_cutoff"):
            value = _finite(name, getattr(self, name))
            if value <= 0:
                raise InputError(f"{name} must be > 0 sigmas, got {value}")
            setattr(self, name, value)

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable copy of the (resolved) parameters; see :meth:`from_dict`."""
        out = asdict(self)
        out["crystal_structures"] = list(self.crystal_structures)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SynthParams:
        """Parameters from :meth:`to_dict` output.

        Raises
        ------
        InputError
            For unknown keys or invalid values.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(
                f"unknown synthesis parameter(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known))}"
            )
        values = dict(data)
        if "crystal_structures" in values and not isinstance(values["crystal_structures"], str):
            values["crystal_structures"] = tuple(values["crystal_structures"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]

    @property
    def axis_factors(self) -> np.ndarray:
        """Semi-axis lengths of a grain of unit ESD along (x, y, z), shape (3,).

        A grain of equivalent-sphere diameter ``d`` is an ellipsoid with diameters
        ``d * axis_factors``; their product is 1 so the volume is that of the sphere.
        """
        shape = np.array([1.0, self.b_over_a, self.c_over_a])  # type: ignore[list-item]
        return shape / np.cbrt(np.prod(shape))

    def esd_bounds(self) -> tuple[float, float]:
        """Truncation bounds ``(d_min, d_max)`` of the ESD in physical units."""
        return (
            math.exp(self.mu - self.min_cutoff * self.sigma),
            math.exp(self.mu + self.max_cutoff * self.sigma),
        )


def truncated_lognormal_moment(mu: float, sigma: float, lo: float, hi: float, k: float) -> float:
    """``E[D**k]`` of ``ln D ~ N(mu, sigma)`` truncated to ``[lo, hi]``.

    Parameters
    ----------
    mu, sigma : float
        Log-normal parameters.
    lo, hi : float
        Truncation bounds on ``D``, ``0 < lo < hi``.
    k : float
        Moment order.

    Returns
    -------
    float
        The moment, in the units of ``D`` to the power ``k``.
    """
    alpha = (math.log(lo) - mu) / sigma
    beta = (math.log(hi) - mu) / sigma
    mass = ndtr(beta) - ndtr(alpha)
    shifted = ndtr(beta - k * sigma) - ndtr(alpha - k * sigma)
    return float(math.exp(k * mu + 0.5 * (k * sigma) ** 2) * shifted / mass)


def sample_truncated_lognormal(
    n: int, mu: float, sigma: float, lo: float, hi: float, rng: np.random.Generator
) -> np.ndarray:
    """``n`` draws of ``ln D ~ N(mu, sigma)`` truncated to ``[lo, hi]``, float64 (n,)."""
    alpha = ndtr((math.log(lo) - mu) / sigma)
    beta = ndtr((math.log(hi) - mu) / sigma)
    quantiles = rng.uniform(alpha, beta, size=int(n))
    return np.exp(mu + sigma * ndtri(quantiles))
