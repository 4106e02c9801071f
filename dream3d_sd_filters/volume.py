"""The :class:`Volume`: an image geometry with DREAM3D-style attribute arrays.

Conventions (the same as DREAM.3D and DREAM3D-NX):

* ``dims`` is ``(X, Y, Z)`` in voxels, ``spacing`` and ``origin`` are ``(X, Y, Z)``
  in ``length_unit``.
* Cell arrays are stored C-ordered as ``(Z, Y, X, C)``; the component axis is kept
  even when ``C == 1``.
* Phases are 1-based; phase 0 is reserved. Ensemble arrays therefore have
  ``n_phases + 1`` tuples and entry 0 is a placeholder (``CrystalStructures[0] == 999``).
* ``EulerAngles`` are Bunge ZXZ angles in radians.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

#: Laue class ids used by DREAM.3D's ``CrystalStructures`` ensemble array.
LAUE_IDS: dict[str, int] = {
    "Hexagonal_High": 0,
    "Cubic_High": 1,
    "Hexagonal_Low": 2,
    "Cubic_Low": 3,
    "Triclinic": 4,
    "Monoclinic": 5,
    "OrthoRhombic": 6,
    "Tetragonal_Low": 7,
    "Tetragonal_High": 8,
    "Trigonal_Low": 9,
    "Trigonal_High": 10,
    "Unknown": 999,
}
LAUE_NAMES: dict[int, str] = {v: k for k, v in LAUE_IDS.items()}

#: DREAM.3D ``PhaseTypes`` ids.
PHASE_TYPE_IDS: dict[str, int] = {
    "Primary": 0,
    "Precipitate": 1,
    "Transformation": 2,
    "Matrix": 3,
    "Boundary": 4,
    "Unknown": 999,
}
PHASE_TYPE_NAMES: dict[int, str] = {v: k for k, v in PHASE_TYPE_IDS.items()}

#: Length units of a DREAM3D-NX ImageGeom, in the order of simplnx's ``LengthUnit`` enum.
LENGTH_UNITS: tuple[str, ...] = (
    "Yoctometer",
    "Zeptometer",
    "Attometer",
    "Femtometer",
    "Picometer",
    "Nanometer",
    "Micrometer",
    "Millimeter",
    "Centimeter",
    "Decimeter",
    "Meter",
    "Decameter",
    "Hectometer",
    "Kilometer",
    "Megameter",
    "Gigameter",
    "Terameter",
    "Petameter",
    "Exameter",
    "Zettameter",
    "Yottameter",
    "Angstrom",
    "Mil",
    "Inch",
    "Foot",
    "Mile",
    "Fathom",
    "Unspecified",
    "Unknown",
)

#: dtypes a DREAM3D ``DataArray<T>`` can hold.
SUPPORTED_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(t)
    for t in (
        "int8",
        "uint8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "float32",
        "float64",
        "bool",
    )
)

#: Expected dtype kind and component count of the arrays the tasks rely on.
WELL_KNOWN_CELL_ARRAYS: dict[str, tuple[str, int]] = {
    "Phases": ("i", 1),
    "FeatureIds": ("i", 1),
    "EulerAngles": ("f", 3),
    "IPFColors": ("u", 3),
}


def _check_dtype(name: str, array: np.ndarray) -> tuple[float, float] | None:
    """Check the dtype and, for floats, finiteness; returns a float array's (min, max)."""
    if array.dtype not in SUPPORTED_DTYPES:
        raise InputError(
            f"array {name!r} has dtype {array.dtype}, which DREAM3D cannot store; "
            f"use one of {', '.join(str(d) for d in SUPPORTED_DTYPES)}"
        )
    if array.dtype.kind != "f" or not array.size:
        return None
    # min and max propagate NaN and expose infinities without a full-size temporary.
    value_range = (float(array.min()), float(array.max()))
    if not np.isfinite(value_range).all():
        raise InputError(f"array {name!r} contains NaN or infinite values")
    return value_range


def _as_cell_array(name: str, array: np.ndarray, zyx: tuple[int, int, int]) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if array.ndim != 4 or array.shape[:3] != zyx:
        raise InputError(
            f"cell array {name!r} has shape {array.shape}, expected (Z, Y, X, C) with "
            f"(Z, Y, X) = {zyx}"
        )
    value_range = _check_dtype(name, array)
    expected = WELL_KNOWN_CELL_ARRAYS.get(name)
    if expected is not None:
        kind, components = expected
        kind_ok = array.dtype.kind in ("i", "u") if kind in ("i", "u") else array.dtype.kind == kind
        if not kind_ok or array.shape[3] != components:
            raise InputError(
                f"cell array {name!r} has dtype {array.dtype} with {array.shape[3]} "
                f"component(s); DREAM3D expects {'an integer' if kind in 'iu' else 'a float'} "
                f"array with {components} component(s)"
            )
    if name == "EulerAngles" and value_range is not None:
        largest = max(abs(value_range[0]), abs(value_range[1]))
        if largest > 2 * np.pi + 1e-3:
            raise InputError(
                f"EulerAngles reach {largest:.1f}, which looks like degrees; "
                "DREAM3D expects radians (multiply by pi/180)"
            )
    return array


def _as_table(kind: str, name: str, array: np.ndarray, n_tuples: int | None) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind in ("U", "S", "O"):
        raise InputError(f"{kind} array {name!r} holds strings; pass phase names as phase_names")
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim < 2:
        raise InputError(f"{kind} array {name!r} must have a tuple axis, got shape {array.shape}")
    if n_tuples is not None and array.shape[0] != n_tuples:
        raise InputError(f"{kind} array {name!r} has {array.shape[0]} tuples, expected {n_tuples}")
    _check_dtype(name, array)
    return array


@dataclass
class Volume:
    """A 3D image geometry with named cell, feature and ensemble arrays.

    Parameters
    ----------
    dims : tuple of int
        Number of voxels ``(X, Y, Z)``; all >= 1.
    spacing : tuple of float, optional
        Voxel size ``(dx, dy, dz)`` in ``length_unit``; all > 0.
    origin : tuple of float, optional
        Position of the voxel corner at index (0, 0, 0), in ``length_unit``.
    length_unit : str, optional
        One of :data:`LENGTH_UNITS`, e.g. ``"Micrometer"``.
    cell_data : mapping of str to ndarray, optional
        Per-voxel arrays of shape ``(Z, Y, X, C)`` (a ``(Z, Y, X)`` array is given
        ``C = 1``). dtype must be a DREAM3D type; floats must be finite.
    feature_data : mapping of str to ndarray, optional
        Per-grain arrays of shape ``(n_features + 1, C)``; entry 0 is unused.
    ensemble_data : mapping of str to ndarray, optional
        Per-phase arrays of shape ``(n_phases + 1, C)``, e.g. ``CrystalStructures``
        (uint32 Laue ids, see :data:`LAUE_IDS`) and ``PhaseTypes`` (uint32, see
        :data:`PHASE_TYPE_IDS`). Entry 0 is the reserved phase 0.
    phase_names : list of str, optional
        ``n_phases + 1`` names; entry 0 is usually ``"Invalid Phase"``.
    name : str, optional
        Name of the geometry (the DREAM3D data container).

    Raises
    ------
    InputError
        If a shape, dtype or value is inconsistent.
    """

    dims: tuple[int, int, int]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    length_unit: str = "Micrometer"
    cell_data: dict[str, np.ndarray] = field(default_factory=dict)
    feature_data: dict[str, np.ndarray] = field(default_factory=dict)
    ensemble_data: dict[str, np.ndarray] = field(default_factory=dict)
    phase_names: list[str] | None = None
    name: str = "DataContainer"

    def __post_init__(self) -> None:
        dims = tuple(int(d) for d in np.ravel(self.dims))
        if len(dims) != 3 or min(dims) < 1:
            raise InputError(f"dims must be three positive integers (X, Y, Z), got {self.dims}")
        self.dims = dims  # type: ignore[assignment]
        self.spacing = self._triple("spacing", self.spacing, positive=True)
        self.origin = self._triple("origin", self.origin, positive=False)
        if self.length_unit not in LENGTH_UNITS:
            raise InputError(
                f"unknown length unit {self.length_unit!r}; use one of {', '.join(LENGTH_UNITS)}"
            )
        zyx = self.shape
        self.cell_data = {k: _as_cell_array(k, v, zyx) for k, v in dict(self.cell_data).items()}
        self.feature_data = {
            k: _as_table("feature", k, v, None) for k, v in dict(self.feature_data).items()
        }
        n_ensemble = {v.shape[0] for v in map(np.asarray, self.ensemble_data.values())}
        if len(n_ensemble) > 1:
            raise InputError(
                f"ensemble arrays disagree on the number of phases: {sorted(n_ensemble)}"
            )
        self.ensemble_data = {
            k: _as_table("ensemble", k, v, None) for k, v in dict(self.ensemble_data).items()
        }
        lengths = {v.shape[0] for v in self.feature_data.values()}
        if len(lengths) > 1:
            raise InputError(
                f"feature arrays disagree on the number of features: {sorted(lengths)}"
            )
        if self.phase_names is not None:
            self.phase_names = [str(n) for n in self.phase_names]
            if self.ensemble_data and len(self.phase_names) != self.n_phases + 1:
                raise InputError(
                    f"{len(self.phase_names)} phase names given for {self.n_phases} phases "
                    "(plus the reserved phase 0)"
                )
        if "Phases" in self.cell_data and self.ensemble_data:
            top = int(self.cell_data["Phases"].max(initial=0))
            if top > self.n_phases:
                raise InputError(
                    f"Phases reaches {top} but the ensemble arrays describe {self.n_phases} phase(s)"
                )

    @staticmethod
    def _triple(name: str, value: object, positive: bool) -> tuple[float, float, float]:
        arr = np.asarray(value, dtype=np.float64).ravel()
        if arr.size != 3 or not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
            need = "three positive numbers" if positive else "three finite numbers"
            raise InputError(f"{name} must be {need} (X, Y, Z), got {value}")
        return (float(arr[0]), float(arr[1]), float(arr[2]))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Cell-array tuple shape ``(Z, Y, X)``."""
        x, y, z = self.dims
        return (z, y, x)

    @property
    def n_cells(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.dims))

    @property
    def n_phases(self) -> int:
        """Number of real phases (ensemble tuples minus the reserved phase 0)."""
        if self.ensemble_data:
            return next(iter(self.ensemble_data.values())).shape[0] - 1
        if "Phases" in self.cell_data:
            return int(self.cell_data["Phases"].max(initial=0))
        return 0

    @property
    def crystal_structures(self) -> np.ndarray | None:
        """Laue ids per phase, shape ``(n_phases + 1,)``, or None if unknown."""
        cs = self.ensemble_data.get("CrystalStructures")
        return None if cs is None else cs[:, 0]

    def require(self, *names: str) -> None:
        """Raise :class:`InputError` naming every cell array in ``names`` that is missing."""
        missing = [n for n in names if n not in self.cell_data]
        if missing:
            have = ", ".join(sorted(self.cell_data)) or "none"
            raise InputError(
                f"volume {self.name!r} lacks cell array(s) {', '.join(missing)} (it has: {have})"
            )

    def replace(self, **changes: object) -> Volume:
        """A new Volume with some fields changed; arrays not changed are shared, not copied."""
        fields = {
            "dims": self.dims,
            "spacing": self.spacing,
            "origin": self.origin,
            "length_unit": self.length_unit,
            "cell_data": dict(self.cell_data),
            "feature_data": dict(self.feature_data),
            "ensemble_data": dict(self.ensemble_data),
            "phase_names": None if self.phase_names is None else list(self.phase_names),
            "name": self.name,
        }
        fields.update(changes)
        return Volume(**fields)  # type: ignore[arg-type]

    def summary(self) -> str:
        """A human-readable multi-line description (what ``sd-filters info`` prints)."""
        x, y, z = self.dims
        lines = [
            f"ImageGeom {self.name!r}: {x} x {y} x {z} voxels (X, Y, Z)",
            f"  spacing {self.spacing} {self.length_unit}, origin {self.origin}",
            f"  cell arrays ({len(self.cell_data)}):",
        ]
        for key, arr in sorted(self.cell_data.items()):
            lines.append("    " + _describe(key, arr))
        if self.feature_data:
            lines.append(f"  feature arrays ({len(self.feature_data)}):")
            for key, arr in sorted(self.feature_data.items()):
                lines.append("    " + _describe(key, arr))
        if self.ensemble_data or self.phase_names:
            lines.append(f"  ensemble: {self.n_phases} phase(s)")
            cs = self.crystal_structures
            pt = self.ensemble_data.get("PhaseTypes")
            for phase in range(1, self.n_phases + 1):
                parts = [f"phase {phase}"]
                if self.phase_names:
                    parts.append(repr(self.phase_names[phase]))
                if cs is not None:
                    parts.append(LAUE_NAMES.get(int(cs[phase]), f"Laue id {int(cs[phase])}"))
                if pt is not None:
                    parts.append(
                        PHASE_TYPE_NAMES.get(int(pt[phase, 0]), f"type {int(pt[phase, 0])}")
                    )
                lines.append("    " + ", ".join(parts))
        return "\n".join(lines)


def _describe(name: str, array: np.ndarray) -> str:
    if array.size:
        lo, hi = array.min(), array.max()
        rng = f"[{lo:.4g}, {hi:.4g}]" if array.dtype.kind == "f" else f"[{lo}, {hi}]"
    else:
        rng = "(empty)"
    return f"{name}: {array.dtype} {tuple(array.shape)} range {rng}"


def ensemble_arrays(
    crystal_structures: list[int], phase_types: list[int] | None = None
) -> dict[str, np.ndarray]:
    """Build ``CrystalStructures`` and ``PhaseTypes`` with the reserved phase 0 prepended.

    Parameters
    ----------
    crystal_structures : list of int
        Laue id of each real phase (see :data:`LAUE_IDS`).
    phase_types : list of int, optional
        DREAM.3D phase type of each phase; defaults to Primary for all.

    Returns
    -------
    dict
        ``{"CrystalStructures": uint32 (n+1, 1), "PhaseTypes": uint32 (n+1, 1)}``.
    """
    n = len(crystal_structures)
    if phase_types is None:
        phase_types = [PHASE_TYPE_IDS["Primary"]] * n
    if len(phase_types) != n:
        raise InputError(f"{len(phase_types)} phase types given for {n} crystal structures")
    cs = np.array([LAUE_IDS["Unknown"], *crystal_structures], dtype=np.uint32)[:, None]
    pt = np.array([PHASE_TYPE_IDS["Unknown"], *phase_types], dtype=np.uint32)[:, None]
    return {"CrystalStructures": cs, "PhaseTypes": pt}
