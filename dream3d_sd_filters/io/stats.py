"""DREAM.3D StatsGenerator statistics: one :class:`PhaseStatistics` per phase.

DREAM.3D 6.x stores them under ``<CellEnsembleData>/Statistics/<phase>/`` (see
``CubicSingleEquiaxed.dream3d``): ``PhaseFraction``, ``FeatureSize Distribution``
(log-normal ``Average`` = mu and ``Standard Deviation`` = sigma of ln(ESD)),
``Feature_Diameter_Info`` = ``[bin step, max diameter, min diameter]``, ``BinNumber``
(the lower diameter of each size bin), per-bin shape distributions ``FeatureSize Vs B
Over A Distributions`` etc. (beta ``Alpha``/``Beta``), the ``ODF``/``AxisOrientation``/
``MisorientationBins`` tables and optional ``ODF-Weights``/``AxisODF-Weights`` groups.
:func:`read_stats` in :mod:`dream3d_sd_filters.io.dream3d` finds the groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import h5py
import numpy as np

from ..volume import LAUE_NAMES, PHASE_TYPE_NAMES


@dataclass
class Distribution:
    """A per-size-bin distribution as StatsGenerator stores it.

    Attributes
    ----------
    kind : str
        The stored ``Distribution Type``, e.g. ``"Beta Distribution"`` or
        ``"Log Normal Distribution"``.
    parameters : dict of str to ndarray
        Parameter name as stored (``"Alpha"``, ``"Beta"``, ``"Average"``,
        ``"Standard Deviation"``...) to a float array of shape ``(n_bins,)``.
    """

    kind: str
    parameters: dict[str, np.ndarray]


@dataclass
class PhaseStatistics:
    """Statistics of one phase of a StatsGenerator file.

    Attributes
    ----------
    phase : int
        Phase index (1-based).
    name : str
        Phase name from the file, or ``"Phase <n>"``.
    crystal_structure : int
        Laue id (see :data:`dream3d_sd_filters.volume.LAUE_IDS`), e.g. 1 = Cubic_High.
    phase_type : int
        DREAM.3D phase type (0 Primary, 1 Precipitate, 2 Transformation, 3 Matrix).
    stats_type : str
        ``StatsType`` attribute, e.g. ``"PrimaryStatsData"``.
    phase_fraction : float
        Volume fraction of the phase.
    size_mu, size_sigma : float or None
        Log-normal parameters of the equivalent sphere diameter (``ln(ESD) ~ N(mu,
        sigma)``), in the file's length unit; None for a matrix phase.
    bin_step, min_diameter, max_diameter : float or None
        From ``Feature_Diameter_Info``: size-bin width and the diameter cut-offs.
    min_cutoff, max_cutoff : float or None
        The cut-offs in units of sigma: ``(mu - ln(min_diameter)) / sigma`` and
        ``(ln(max_diameter) - mu) / sigma``.
    bin_numbers : ndarray or None
        Lower diameter of each size bin, shape ``(n_bins,)``.
    b_over_a, c_over_a, omega3, neighbors : Distribution or None
        Per-bin distributions of the aspect ratios b/a and c/a (beta), Omega3 (beta)
        and the number of neighbours (log-normal).
    odf, axis_odf, mdf : ndarray or None
        Discretised orientation, axis-orientation and misorientation distributions.
    odf_weights, axis_odf_weights, mdf_weights : dict of str to ndarray or None
        The user-entered texture components (e.g. ``"Euler 1"``, ``"Weight"``,
        ``"Sigma"``), when the file has them.
    """

    phase: int
    name: str
    crystal_structure: int
    phase_type: int
    stats_type: str
    phase_fraction: float
    size_mu: float | None = None
    size_sigma: float | None = None
    bin_step: float | None = None
    min_diameter: float | None = None
    max_diameter: float | None = None
    min_cutoff: float | None = None
    max_cutoff: float | None = None
    bin_numbers: np.ndarray | None = None
    b_over_a: Distribution | None = None
    c_over_a: Distribution | None = None
    omega3: Distribution | None = None
    neighbors: Distribution | None = None
    odf: np.ndarray | None = None
    axis_odf: np.ndarray | None = None
    mdf: np.ndarray | None = None
    odf_weights: dict[str, np.ndarray] | None = None
    axis_odf_weights: dict[str, np.ndarray] | None = None
    mdf_weights: dict[str, np.ndarray] | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for ``sd-filters info``."""
        parts = [
            f"phase {self.phase} {self.name!r}",
            LAUE_NAMES.get(self.crystal_structure, f"Laue id {self.crystal_structure}"),
            PHASE_TYPE_NAMES.get(self.phase_type, f"type {self.phase_type}"),
            f"fraction {self.phase_fraction:.3g}",
        ]
        if self.size_mu is not None and self.size_sigma is not None:
            parts.append(f"ESD log-normal mu={self.size_mu:.4g} sigma={self.size_sigma:.4g}")
        if self.bin_numbers is not None:
            parts.append(f"{self.bin_numbers.size} size bins")
        if self.axis_odf_weights:
            parts.append("axis ODF weights")
        if self.odf_weights:
            parts.append("ODF weights")
        return ", ".join(parts)


_DISTRIBUTIONS = {
    "b_over_a": "FeatureSize Vs B Over A Distributions",
    "c_over_a": "FeatureSize Vs C Over A Distributions",
    "omega3": "FeatureSize Vs Omega3 Distributions",
    "neighbors": "FeatureSize Vs Neighbors Distributions",
}
_TABLES = {"odf": "ODF", "axis_odf": "AxisOrientation", "mdf": "MisorientationBins"}
_WEIGHTS = {
    "odf_weights": "ODF-Weights",
    "axis_odf_weights": "AxisODF-Weights",
    "mdf_weights": "MDF-Weights",
}
_KNOWN = {
    "PhaseFraction",
    "FeatureSize Distribution",
    "Feature_Diameter_Info",
    "BinNumber",
    *_DISTRIBUTIONS.values(),
    *_TABLES.values(),
    *_WEIGHTS.values(),
}


def _floats(ds: h5py.Dataset) -> np.ndarray:
    return np.ravel(ds[()]).astype(np.float64)


def _decimal(value: np.floating) -> float:
    # StatsGenerator stores float32; its shortest repr is what the user typed (2.3, not
    # 2.299999952316284).
    return float(str(value))


def _scalar(group: h5py.Group, name: str) -> float | None:
    ds = group.get(name)
    return (
        None if not isinstance(ds, h5py.Dataset) or ds.size == 0 else _decimal(np.ravel(ds[()])[0])
    )


def _str(value: object) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0]
    return (
        value.decode("ascii", "replace").rstrip("\x00") if isinstance(value, bytes) else str(value)
    )


def _distribution(group: h5py.Group | None) -> Distribution | None:
    if not isinstance(group, h5py.Group):
        return None
    kind = _str(group.attrs.get("Distribution Type", b"unknown"))
    params = {k: _floats(v) for k, v in group.items() if isinstance(v, h5py.Dataset)}
    return Distribution(kind, params)


def _weights(group: h5py.Group | None) -> dict[str, np.ndarray] | None:
    if not isinstance(group, h5py.Group):
        return None
    return {k: _floats(v) for k, v in group.items() if isinstance(v, h5py.Dataset)}


def read_phase_statistics(
    group: h5py.Group, phase: int, crystal_structure: int, phase_type: int, name: str
) -> PhaseStatistics:
    """Parse one ``Statistics/<phase>`` group.

    Parameters
    ----------
    group : h5py.Group
        The ``Statistics/<phase>`` group.
    phase : int
        Phase index.
    crystal_structure, phase_type : int
        From the ensemble's ``CrystalStructures``/``PhaseTypes`` arrays; the group's own
        ``PhaseType`` attribute wins when present.
    name : str
        Phase name.

    Returns
    -------
    PhaseStatistics
    """
    stored_type = group.attrs.get("PhaseType")
    if stored_type is not None:
        phase_type = int(np.ravel(stored_type)[0])
    stats = PhaseStatistics(
        phase=phase,
        name=name,
        crystal_structure=crystal_structure,
        phase_type=phase_type,
        stats_type=_str(group.attrs.get("StatsType", b"")),
        phase_fraction=_scalar(group, "PhaseFraction") or 0.0,
    )
    size = group.get("FeatureSize Distribution")
    if isinstance(size, h5py.Group):
        stats.size_mu = _scalar(size, "Average")
        stats.size_sigma = _scalar(size, "Standard Deviation")
    info = group.get("Feature_Diameter_Info")
    if isinstance(info, h5py.Dataset) and info.size >= 3:
        stats.bin_step, stats.max_diameter, stats.min_diameter = map(
            _decimal, np.ravel(info[()])[:3]
        )
        if stats.size_mu is not None and stats.size_sigma:
            # float32 storage makes the recovered cut-offs 3.0000002 etc.; 4 decimals suffice.
            mu, sigma = stats.size_mu, stats.size_sigma
            if stats.min_diameter > 0:
                stats.min_cutoff = round((mu - np.log(stats.min_diameter)) / sigma, 4)
            if stats.max_diameter > 0:
                stats.max_cutoff = round((np.log(stats.max_diameter) - mu) / sigma, 4)
    if isinstance(group.get("BinNumber"), h5py.Dataset):
        stats.bin_numbers = _floats(group["BinNumber"])
    for attr, key in _DISTRIBUTIONS.items():
        setattr(stats, attr, _distribution(group.get(key)))
    for attr, key in _TABLES.items():
        if isinstance(group.get(key), h5py.Dataset):
            setattr(stats, attr, _floats(group[key]))
    for attr, key in _WEIGHTS.items():
        setattr(stats, attr, _weights(group.get(key)))
    stats.extra = {
        k: _floats(v)
        for k, v in group.items()
        if k not in _KNOWN and isinstance(v, h5py.Dataset) and v.dtype.kind in "iuf"
    }
    return stats
